"""diffusers `AutoencoderKLHunyuanVideo` <-> minivid `HunyuanVideoVAE`: configs, state dicts, `from_pretrained`.

A pure renaming (diffusers' names are the official `hyvideo/vae` ones). minivid -> diffusers:

| minivid                                   | diffusers                                            |
| ----------------------------------------- | ---------------------------------------------------- |
| `encoder.stages.i` / `decoder.stages.i`   | `encoder.down_blocks.i` / `decoder.up_blocks.i`      |
| `...blocks.j`                             | `...resnets.j`                                       |
| `conv_in`, `conv1`, `conv2`, `conv_out`   | the same name + `.conv` (a wrapper around `Conv3d`)  |
| `...blocks.j.shortcut`                    | `...resnets.j.conv_shortcut.conv`                    |
| `encoder.stages.i.resample` (a conv)      | `encoder.down_blocks.i.downsamplers.0.conv.conv`     |
| `decoder.stages.i.resample.conv`          | `decoder.up_blocks.i.upsamplers.0.conv.conv`         |
| `mid.blocks.j`                            | `mid_block.resnets.j`                                |
| `mid.attn.norm`                           | `mid_block.attentions.0.group_norm`                  |
| `mid.attn.to_q/to_k/to_v`, `to_out`       | `mid_block.attentions.0.to_q/to_k/to_v`, `to_out.0`  |
| `norm_out`                                | `conv_norm_out`                                      |
| `quant_conv`, `post_quant_conv`           | the same                                             |
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from minivid.interop.keys import convert, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.hunyuan_vae import HunyuanVideoVAE, HunyuanVideoVAEConfig

DIFFUSERS_CLASS = "AutoencoderKLHunyuanVideo"
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "."
    (r"^\.encoder\.stages\.", ".encoder.down_blocks."),
    (r"^\.decoder\.stages\.", ".decoder.up_blocks."),
    (r"^(\.encoder\..*)\.resample\.(weight|bias)$", r"\1.downsamplers.0.conv.conv.\2"),
    (r"^(\.decoder\..*)\.resample\.conv\.", r"\1.upsamplers.0.conv.conv."),
    (r"\.mid\.", ".mid_block."),
    (r"\.blocks\.", ".resnets."),
    (r"\.shortcut\.", ".conv_shortcut.conv."),
    (r"\.attn\.norm\.", ".attentions.0.group_norm."),
    (r"\.attn\.to_out\.", ".attentions.0.to_out.0."),
    (r"\.attn\.", ".attentions.0."),
    (r"\.norm_out\.", ".conv_norm_out."),
    (r"\.(conv_in|conv1|conv2|conv_out)\.(weight|bias)$", r".\1.conv.\2"),  # causal conv wrappers
]


def key_map(config: HunyuanVideoVAEConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every parameter of `HunyuanVideoVAE(config)`."""
    return build_key_map(lambda: HunyuanVideoVAE(config), lambda key: rename(key, _RENAMES))


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor],
                         config: HunyuanVideoVAEConfig) -> dict[str, torch.Tensor]:
    return convert(state_dict, key_map(config), "minivid state dict")


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor],
                         config: HunyuanVideoVAEConfig) -> dict[str, torch.Tensor]:
    return convert(state_dict, invert(key_map(config)), "diffusers state dict")


def config_from_diffusers(cfg: Mapping[str, Any]) -> HunyuanVideoVAEConfig:
    """`HunyuanVideoVAEConfig` from an `AutoencoderKLHunyuanVideo.config` (missing keys: diffusers defaults)."""
    for name, value in dict(in_channels=3, out_channels=3, act_fn="silu").items():
        if cfg.get(name, value) != value:
            raise ValueError(f"minivid's HunyuanVideo VAE needs {name}={value!r} (the released VAE); "
                             f"got {cfg.get(name)!r}")
    blocks = tuple(cfg.get("block_out_channels", (128, 256, 512, 512)))
    for name, kind in (("down_block_types", "HunyuanVideoDownBlock3D"), ("up_block_types", "HunyuanVideoUpBlock3D")):
        types = tuple(cfg.get(name, (kind,) * len(blocks)))
        if types != (kind,) * len(blocks):
            raise ValueError(f"{name} must be {len(blocks)} x {kind!r} (one per block_out_channels), got {types}")
    return HunyuanVideoVAEConfig(block_out_channels=blocks, latent_channels=cfg.get("latent_channels", 16),
                                 layers_per_block=cfg.get("layers_per_block", 2),
                                 norm_groups=cfg.get("norm_num_groups", 32),
                                 temporal_compression=cfg.get("temporal_compression_ratio", 4),
                                 spatial_compression=cfg.get("spatial_compression_ratio", 8),
                                 scaling_factor=cfg.get("scaling_factor", 0.476986),
                                 mid_attention=cfg.get("mid_block_add_attention", True))


def config_to_diffusers(config: HunyuanVideoVAEConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.AutoencoderKLHunyuanVideo` equal to `config`."""
    n = len(config.block_out_channels)
    return dict(block_out_channels=list(config.block_out_channels), latent_channels=config.latent_channels,
                layers_per_block=config.layers_per_block, norm_num_groups=config.norm_groups,
                temporal_compression_ratio=config.temporal_compression,
                spatial_compression_ratio=config.spatial_compression, scaling_factor=config.scaling_factor,
                mid_block_add_attention=config.mid_attention,
                down_block_types=["HunyuanVideoDownBlock3D"] * n, up_block_types=["HunyuanVideoUpBlock3D"] * n)


PEER = Peer(HunyuanVideoVAE, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
