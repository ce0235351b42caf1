"""diffusers `AutoencoderKLWan` <-> minivid `WanVAE`: configs and state dicts, both directions, and `from_pretrained`.

minivid names modules for the reader (`encoder.stages.1.blocks.0`, `to_moments`, `mid.attn`); diffusers
keeps names close to the official checkpoints (`encoder.down_blocks.3`, `quant_conv`,
`mid_block.attentions.0`). The mapping is a pure renaming plus two reshapes: RMSNorm gains are `C` in
minivid but `C 1 1 1` (`C 1 1` in attention) in diffusers, and the attention projections are `nn.Linear`
in minivid but 1x1 `nn.Conv2d` in diffusers.

One structural difference needs the config: in the Wan2.1 layout diffusers stores each encoder stage's
residual blocks and its downsampler in one flat list (`down_blocks.{i * (num_res_blocks + 1) + j}`),
while Wan2.2 and minivid group them per stage.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from minivid.interop.keys import convert, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.vae import WanVAE, WanVAEConfig

DIFFUSERS_CLASS = "AutoencoderKLWan"
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "." so that rules match whole names
    (r"\.norm(\w*)\.weight$", r".norm\1.gamma"),
    (r"\.shortcut\.", ".conv_shortcut."),
    (r"\.mid\.block1\.", ".mid_block.resnets.0."),
    (r"\.mid\.block2\.", ".mid_block.resnets.1."),
    (r"\.mid\.attn\.", ".mid_block.attentions.0."),
    (r"^\.to_moments\.", ".quant_conv."),
    (r"^\.from_latent\.", ".post_quant_conv."),
]
_STAGE = re.compile(r"^(encoder|decoder)\.stages\.(\d+)\.(?:blocks\.(\d+)|resample)\.(.*)$")


def _diffusers_key(key: str, config: WanVAEConfig) -> str:
    """The diffusers name of one minivid state-dict key."""
    match = _STAGE.match(key)
    if match:
        part, i, j, rest = match.group(1), int(match.group(2)), match.group(3), match.group(4)
        if j is None:  # the stage's resampler; its spatial conv is `resample.1` (an nn.Sequential) there
            rest = re.sub(r"^conv\.", "resample.1.", rest)
        if part == "encoder" and not config.is_residual:
            flat = i * (config.num_res_blocks + 1) + (int(j) if j is not None else config.num_res_blocks)
            key = f"encoder.down_blocks.{flat}.{rest}"
        elif part == "encoder":
            key = f"encoder.down_blocks.{i}." + (f"resnets.{j}" if j is not None else "downsampler") + f".{rest}"
        else:
            sampler = "upsampler" if config.is_residual else "upsamplers.0"
            key = f"decoder.up_blocks.{i}." + (f"resnets.{j}" if j is not None else sampler) + f".{rest}"
    return rename(key, _RENAMES)


def key_map(config: WanVAEConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every parameter of `WanVAE(config)`."""
    return build_key_map(lambda: WanVAE(config), lambda key: _diffusers_key(key, config))


def _to_diffusers_shape(key: str, tensor: torch.Tensor) -> torch.Tensor:
    if key.endswith(".gamma"):  # Wan's RMS_norm keeps a broadcastable (C, 1, 1[, 1]) gain
        return tensor.reshape((-1, 1, 1) if ".attentions." in key else (-1, 1, 1, 1))
    if ".attentions." in key and tensor.ndim == 2:  # nn.Linear -> 1x1 nn.Conv2d
        return tensor.reshape(*tensor.shape, 1, 1)
    return tensor



def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: WanVAEConfig) -> dict[str, torch.Tensor]:
    """A `WanVAE` state dict in the diffusers `AutoencoderKLWan` layout."""
    return convert(state_dict, key_map(config), "minivid state dict", reshape=_to_diffusers_shape)


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: WanVAEConfig) -> dict[str, torch.Tensor]:
    """A diffusers `AutoencoderKLWan` state dict in the `WanVAE` layout."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in WanVAE(config).state_dict().items()}
    return convert(state_dict, invert(key_map(config)), "diffusers state dict",
                   reshape=lambda key, tensor: tensor.reshape(shapes[key]))


def config_from_diffusers(cfg: Mapping[str, Any]) -> WanVAEConfig:
    """`WanVAEConfig` from an `AutoencoderKLWan.config` (or the kwargs that build one)."""
    if list(cfg.get("attn_scales", [])):
        raise ValueError("attn_scales must be empty: no released Wan VAE has attention outside the middle block")
    patch = cfg.get("patch_size") or 1
    image_channels = cfg.get("in_channels", 3) // patch ** 2
    if cfg.get("out_channels", 3) != cfg.get("in_channels", 3):
        raise ValueError("minivid's WanVAE decodes to as many channels as it encodes; got in/out "
                         f"{cfg.get('in_channels')}/{cfg.get('out_channels')}")
    z_dim = cfg.get("z_dim", 16)
    for name in ("latents_mean", "latents_std"):
        values = cfg.get(name)
        if values is not None and len(values) != z_dim:
            raise ValueError(f"{name} has {len(values)} values but z_dim is {z_dim}: one per latent channel. "
                             f"diffusers' defaults are Wan2.1's 16; pass {name}=[...] with {z_dim} values "
                             f"(measured on your VAE's latents; 0.0 means and 1.0 stds leave them unnormalised)")
    return WanVAEConfig(
        base_dim=cfg.get("base_dim", 96), decoder_base_dim=cfg.get("decoder_base_dim"), z_dim=z_dim,
        dim_mult=tuple(cfg.get("dim_mult", (1, 2, 4, 4))), num_res_blocks=cfg.get("num_res_blocks", 2),
        temporal_downsample=tuple(cfg.get("temperal_downsample", (False, True, True))),
        dropout=cfg.get("dropout", 0.0), is_residual=cfg.get("is_residual", False), patch_size=patch,
        image_channels=image_channels,
        latents_mean=tuple(cfg["latents_mean"]) if cfg.get("latents_mean") is not None else None,
        latents_std=tuple(cfg["latents_std"]) if cfg.get("latents_std") is not None else None)


def config_to_diffusers(config: WanVAEConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.AutoencoderKLWan` equal to `config`."""
    return dict(
        base_dim=config.base_dim, decoder_base_dim=config.decoder_base_dim, z_dim=config.z_dim,
        dim_mult=list(config.dim_mult), num_res_blocks=config.num_res_blocks, attn_scales=[],
        temperal_downsample=list(config.temporal_downsample), dropout=config.dropout,
        latents_mean=list(config.latents_mean or [0.0] * config.z_dim),
        latents_std=list(config.latents_std or [1.0] * config.z_dim),
        is_residual=config.is_residual, in_channels=config.in_channels, out_channels=config.in_channels,
        patch_size=config.patch_size if config.patch_size > 1 else None,
        scale_factor_temporal=config.temporal_stride, scale_factor_spatial=config.spatial_stride)


PEER = Peer(WanVAE, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers, build_on_meta=False)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
