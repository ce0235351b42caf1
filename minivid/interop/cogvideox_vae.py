"""diffusers `AutoencoderKLCogVideoX` <-> minivid `CogVideoXVAE`: configs, state dicts, `from_pretrained`.

A pure renaming: diffusers wraps every causal conv in a module that holds an `nn.Conv3d` as `.conv`
(`conv_in.conv.weight`), calls the spatial norm's GroupNorm `norm_layer`, and the stages
`down_blocks` / `up_blocks` with `resnets`, `downsamplers.0`, `upsamplers.0`, `mid_block`; minivid
names them `stages.i.blocks.j`, `resample`, `mid` and keeps the convs flat.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from minivid.interop.keys import convert, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.cogvideox_vae import CogVideoXVAE, CogVideoXVAEConfig

DIFFUSERS_CLASS = "AutoencoderKLCogVideoX"
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "."
    (r"^\.encoder\.stages\.", ".encoder.down_blocks."),
    (r"^\.decoder\.stages\.", ".decoder.up_blocks."),
    (r"^(\.encoder\..*)\.resample\.", r"\1.downsamplers.0."),
    (r"^(\.decoder\..*)\.resample\.", r"\1.upsamplers.0."),
    (r"\.mid\.", ".mid_block."),
    (r"\.blocks\.", ".resnets."),
    (r"\.shortcut\.", ".conv_shortcut."),
    (r"(\.norm1|\.norm2|\.norm_out)\.norm\.", r"\1.norm_layer."),  # the decoder's spatial norms
    (r"\.(conv_in|conv1|conv2|conv_out|conv_y|conv_b)\.(weight|bias)$", r".\1.conv.\2"),  # causal conv wrappers
]


def key_map(config: CogVideoXVAEConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every parameter of `CogVideoXVAE(config)`."""
    return build_key_map(lambda: CogVideoXVAE(config), lambda key: rename(key, _RENAMES))


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: CogVideoXVAEConfig) -> dict[str, torch.Tensor]:
    return convert(state_dict, key_map(config), "minivid state dict")


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: CogVideoXVAEConfig) -> dict[str, torch.Tensor]:
    return convert(state_dict, invert(key_map(config)), "diffusers state dict")


def config_from_diffusers(cfg: Mapping[str, Any]) -> CogVideoXVAEConfig:
    """`CogVideoXVAEConfig` from an `AutoencoderKLCogVideoX.config` (missing keys: diffusers defaults)."""
    for name, value in dict(in_channels=3, out_channels=3, act_fn="silu", use_quant_conv=False,
                            use_post_quant_conv=False, invert_scale_latents=False).items():
        if cfg.get(name, value) != value:
            raise ValueError(f"minivid's CogVideoX VAE needs {name}={value!r} (every released CogVideoX); "
                             f"got {cfg.get(name)!r}")
    if cfg.get("norm_eps", 1e-6) != 1e-6:
        raise ValueError(f"norm_eps must be 1e-6 (every released CogVideoX VAE); got {cfg.get('norm_eps')}")
    ratio = cfg.get("temporal_compression_ratio", 4)
    if int(ratio) != ratio or int(ratio) & (int(ratio) - 1):
        raise ValueError(f"temporal_compression_ratio must be a power of two, got {ratio}")
    return CogVideoXVAEConfig(block_out_channels=tuple(cfg.get("block_out_channels", (128, 256, 256, 512))),
                              latent_channels=cfg.get("latent_channels", 16), layers_per_block=cfg.get("layers_per_block", 3),
                              norm_groups=cfg.get("norm_num_groups", 32), temporal_compression=int(ratio),
                              scaling_factor=cfg.get("scaling_factor", 1.15258426))


def config_to_diffusers(config: CogVideoXVAEConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.AutoencoderKLCogVideoX` equal to `config`."""
    return dict(block_out_channels=list(config.block_out_channels), latent_channels=config.latent_channels,
                layers_per_block=config.layers_per_block, norm_num_groups=config.norm_groups,
                temporal_compression_ratio=config.temporal_compression, scaling_factor=config.scaling_factor)


PEER = Peer(CogVideoXVAE, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
