"""diffusers `WanTransformer3DModel` <-> minivid `WanModel`: configs, state dicts, and `from_pretrained`.

The mapping is a pure renaming, no reshapes. minivid names each norm by what it normalises
(`self_attn_norm`, `cross_attn_norm`, `ffn_norm`); only the affine `cross_attn_norm` has weights, and it
is the official `norm3` but diffusers' `norm2` (the diffusers converter swaps norm2/norm3 so that they
count in data-flow order). The rest:

    minivid                              diffusers                                      official Wan
    patch_embedding.proj                 patch_embedding                                patch_embedding
    text_embedding.{0,2}                 condition_embedder.text_embedder.linear_{1,2}  text_embedding.{0,2}
    time_embedding.{0,2}                 condition_embedder.time_embedder.linear_{1,2}  time_embedding.{0,2}
    time_projection.1                    condition_embedder.time_proj                   time_projection.1
    image_embedding.{0,1,3,4}            condition_embedder.image_embedder.{norm1,      img_emb.proj.{0,1,3,4}
                                           ff.net.0.proj, ff.net.2, norm2}
    blocks.N.self_attn.to_{q,k,v,out}    blocks.N.attn1.to_{q,k,v,out.0}                blocks.N.self_attn.{q,k,v,o}
    blocks.N.cross_attn.to_{k,v}_img     blocks.N.attn2.add_{k,v}_proj                  blocks.N.cross_attn.{k,v}_img
    blocks.N.cross_attn.norm_k_img       blocks.N.attn2.norm_added_k                    blocks.N.cross_attn.norm_k_img
    blocks.N.cross_attn_norm             blocks.N.norm2                                 blocks.N.norm3
    blocks.N.ffn.{0,2}                   blocks.N.ffn.net.{0.proj,2}                    blocks.N.ffn.{0,2}
    blocks.N.modulation                  blocks.N.scale_shift_table                     blocks.N.modulation
    head.proj / head.modulation          proj_out / scale_shift_table                   head.head / head.modulation
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from minivid.interop.keys import convert, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.wan import WanConfig, WanModel

DIFFUSERS_CLASS = "WanTransformer3DModel"
_RENAMES = [  # minivid -> diffusers, applied in order to keys written with a leading "."
    (r"^\.patch_embedding\.proj\.", ".patch_embedding."),
    (r"^\.text_embedding\.0\.", ".condition_embedder.text_embedder.linear_1."),
    (r"^\.text_embedding\.2\.", ".condition_embedder.text_embedder.linear_2."),
    (r"^\.time_embedding\.0\.", ".condition_embedder.time_embedder.linear_1."),
    (r"^\.time_embedding\.2\.", ".condition_embedder.time_embedder.linear_2."),
    (r"^\.time_projection\.1\.", ".condition_embedder.time_proj."),
    (r"^\.image_embedding\.0\.", ".condition_embedder.image_embedder.norm1."),
    (r"^\.image_embedding\.1\.", ".condition_embedder.image_embedder.ff.net.0.proj."),
    (r"^\.image_embedding\.3\.", ".condition_embedder.image_embedder.ff.net.2."),
    (r"^\.image_embedding\.4\.", ".condition_embedder.image_embedder.norm2."),
    (r"\.self_attn\.", ".attn1."),
    (r"\.cross_attn\.", ".attn2."),
    (r"\.to_out\.", ".to_out.0."),
    (r"\.to_k_img\.", ".add_k_proj."),
    (r"\.to_v_img\.", ".add_v_proj."),
    (r"\.norm_k_img\.", ".norm_added_k."),
    (r"\.cross_attn_norm\.", ".norm2."),
    (r"\.ffn\.0\.", ".ffn.net.0.proj."),
    (r"\.ffn\.2\.", ".ffn.net.2."),
    (r"^\.head\.proj\.", ".proj_out."),
    (r"\.modulation$", ".scale_shift_table"),
    (r"^\.head\.scale_shift_table$", ".scale_shift_table"),
]
_IGNORED = ("norm_added_q",)  # in some diffusers checkpoints, unused by the model (diffusers ignores it too)


def key_map(config: WanConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every parameter of `WanModel(config)` (a pure renaming)."""
    return build_key_map(lambda: WanModel(config), lambda key: rename(key, _RENAMES))


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: WanConfig) -> dict[str, torch.Tensor]:
    """A `WanModel` state dict in the diffusers `WanTransformer3DModel` layout (same tensors, new names)."""
    return convert(state_dict, key_map(config), "minivid state dict")


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: WanConfig) -> dict[str, torch.Tensor]:
    """A diffusers `WanTransformer3DModel` state dict in the `WanModel` layout."""
    state_dict = {k: v for k, v in state_dict.items() if not any(part in k for part in _IGNORED)}
    return convert(state_dict, invert(key_map(config)), "diffusers state dict")


def config_from_diffusers(cfg: Mapping[str, Any]) -> WanConfig:
    """`WanConfig` from a `WanTransformer3DModel.config` / `config.json` (missing keys: diffusers defaults)."""
    heads, head_dim = cfg.get("num_attention_heads", 40), cfg.get("attention_head_dim", 128)
    dim = heads * head_dim
    if cfg.get("qk_norm", "rms_norm_across_heads") != "rms_norm_across_heads":
        raise ValueError(f"qk_norm must be 'rms_norm_across_heads' (every released Wan); got {cfg.get('qk_norm')!r}")
    if not cfg.get("cross_attn_norm", True):
        raise ValueError("cross_attn_norm must be True: every released Wan has the affine cross-attention norm")
    if cfg.get("pos_embed_seq_len") is not None:
        raise ValueError("pos_embed_seq_len is set: that is Wan2.1 FLF2V (first+last frame), not supported")
    image_dim, added_kv = cfg.get("image_dim"), cfg.get("added_kv_proj_dim")
    if (image_dim is None) != (added_kv is None) or added_kv not in (None, dim):
        raise ValueError(f"image_dim and added_kv_proj_dim go together, with added_kv_proj_dim == dim ({dim}); "
                         f"got image_dim={image_dim}, added_kv_proj_dim={added_kv}")
    in_channels = cfg.get("in_channels", 16)
    return WanConfig(dim=dim, ffn_dim=cfg.get("ffn_dim", 13824), heads=heads, layers=cfg.get("num_layers", 40),
                     in_channels=in_channels, out_channels=cfg.get("out_channels") or in_channels,
                     text_dim=cfg.get("text_dim", 4096), freq_dim=cfg.get("freq_dim", 256),
                     patch=tuple(cfg.get("patch_size", (1, 2, 2))), image_dim=image_dim, eps=cfg.get("eps", 1e-6))


def config_to_diffusers(config: WanConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.WanTransformer3DModel` equal to `config`."""
    return dict(patch_size=tuple(config.patch), num_attention_heads=config.heads, attention_head_dim=config.head_dim,
                in_channels=config.in_channels, out_channels=config.out_channels, text_dim=config.text_dim,
                freq_dim=config.freq_dim, ffn_dim=config.ffn_dim, num_layers=config.layers, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=config.eps, image_dim=config.image_dim,
                added_kv_proj_dim=config.dim if config.image_dim is not None else None)


PEER = Peer(WanModel, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
