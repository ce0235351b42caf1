"""diffusers `HunyuanVideoTransformer3DModel` <-> minivid `HunyuanVideoModel`: configs, state dicts,
`from_pretrained`.

minivid keeps the official module names (`hyvideo/modules/models.py`); diffusers renames them and splits the
fused projections (its `scripts/convert_hunyuan_video_to_diffusers.py` does the same splits):

    minivid (= official, mostly)              diffusers
    img_in.proj                               x_embedder.proj
    txt_in.input_embedder / t_embedder.mlp.{0,2} / c_embedder.{0,2}
                                              context_embedder.proj_in / time_text_embed.timestep_embedder.
                                              linear_{1,2} / time_text_embed.text_embedder.linear_{1,2}
    txt_in.blocks.N.attn_qkv (3D rows)        context_embedder.token_refiner.refiner_blocks.N.attn.to_{q,k,v}
    txt_in.blocks.N.{attn_proj,mlp.0,mlp.2,gates.1}   ....attn.to_out.0, ff.net.0.proj, ff.net.2, norm_out.linear
    time_in.mlp / vector_in / guidance_in.mlp  time_text_embed.{timestep_embedder,text_embedder,guidance_embedder}
    double_blocks.N.video.attn_qkv            transformer_blocks.N.attn.to_{q,k,v}
    double_blocks.N.text.attn_qkv             transformer_blocks.N.attn.add_{q,k,v}_proj
    double_blocks.N.{video,text}.mod.1        norm1.linear / norm1_context.linear
    double_blocks.N.{video,text}.attn_norm.{q,k}_norm   attn.norm_{q,k} / attn.norm_added_{q,k}
    double_blocks.N.{video,text}.attn_proj    attn.to_out.0 / attn.to_add_out
    double_blocks.N.{video,text}.mlp.{0,2}    ff.net.{0.proj,2} / ff_context.net.{0.proj,2}
    single_blocks.N.linear1 (3D + 4D rows)    single_transformer_blocks.N.attn.to_{q,k,v} + proj_mlp
    single_blocks.N.{linear2,modulation.1}    proj_out / norm.linear
    final_layer.adaLN_modulation.1 (shift, scale)   norm_out.linear (scale, shift: halves swapped)
    final_layer.linear                        proj_out
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from minivid.interop.keys import check_keys, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.hunyuan import HunyuanVideoConfig, HunyuanVideoModel

DIFFUSERS_CLASS = "HunyuanVideoTransformer3DModel"
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "."
    (r"^\.img_in\.", ".x_embedder."),
    (r"^\.txt_in\.input_embedder\.", ".context_embedder.proj_in."),
    (r"^\.txt_in\.t_embedder\.mlp\.", ".context_embedder.time_text_embed.timestep_embedder.mlp."),
    (r"^\.txt_in\.c_embedder\.", ".context_embedder.time_text_embed.text_embedder.mlp."),
    (r"^\.txt_in\.blocks\.", ".context_embedder.token_refiner.refiner_blocks."),
    (r"^\.time_in\.mlp\.", ".time_text_embed.timestep_embedder.mlp."),
    (r"^\.vector_in\.", ".time_text_embed.text_embedder.mlp."),
    (r"^\.guidance_in\.mlp\.", ".time_text_embed.guidance_embedder.mlp."),
    (r"\.mlp\.0\.(weight|bias)$", r".linear_1.\1"), (r"\.mlp\.2\.(weight|bias)$", r".linear_2.\1"),  # embedders
    (r"\.attn_proj\.", ".attn.to_out.0."),
    (r"\.gates\.1\.", ".norm_out.linear."),
    (r"\.refiner_blocks\.(\d+)\.linear_1\.", r".refiner_blocks.\1.ff.net.0.proj."),
    (r"\.refiner_blocks\.(\d+)\.linear_2\.", r".refiner_blocks.\1.ff.net.2."),
    (r"^\.double_blocks\.", ".transformer_blocks."),
    (r"\.video\.mod\.1\.", ".norm1.linear."), (r"\.text\.mod\.1\.", ".norm1_context.linear."),
    (r"\.video\.attn_norm\.(q|k)_norm\.", r".attn.norm_\1."),
    (r"\.text\.attn_norm\.(q|k)_norm\.", r".attn.norm_added_\1."),
    (r"\.video\.attn\.to_out\.0\.", ".attn.to_out.0."), (r"\.text\.attn\.to_out\.0\.", ".attn.to_add_out."),
    (r"\.video\.linear_1\.", ".ff.net.0.proj."), (r"\.video\.linear_2\.", ".ff.net.2."),
    (r"\.text\.linear_1\.", ".ff_context.net.0.proj."), (r"\.text\.linear_2\.", ".ff_context.net.2."),
    (r"^\.single_blocks\.", ".single_transformer_blocks."),
    (r"\.modulation\.1\.", ".norm.linear."),
    (r"\.attn_norm\.(q|k)_norm\.", r".attn.norm_\1."),
    (r"\.linear2\.", ".proj_out."),
    (r"^\.final_layer\.adaLN_modulation\.1\.", ".norm_out.linear."),
    (r"^\.final_layer\.linear\.", ".proj_out."),
]
_QKV = re.compile(r"^(.*)\.(attn_qkv|linear1)\.(weight|bias)$")  # fused in minivid, split in diffusers
_FINAL = re.compile(r"^final_layer\.adaLN_modulation\.1\.(weight|bias)$")  # halves swapped


def _split_keys(key: str, config: HunyuanVideoConfig) -> dict[str, int]:
    """{diffusers key: rows} of a fused minivid projection, in minivid's row order."""
    prefix, kind, param = _QKV.match(key).groups()
    theirs = rename(prefix + ".x", _RENAMES)[:-2]
    d = config.dim
    if kind == "linear1":  # single block: q, k, v, then the MLP input
        names = [f"attn.to_{p}" for p in "qkv"] + ["proj_mlp"]
        return {f"{theirs}.{n}.{param}": rows for n, rows in zip(names, [d, d, d, config.mlp_dim])}
    if ".text" in prefix:  # double block, text stream
        theirs = theirs.removesuffix(".text")
        return {f"{theirs}.attn.add_{p}_proj.{param}": d for p in "qkv"}
    theirs = theirs.removesuffix(".video")
    return {f"{theirs}.attn.to_{p}.{param}": d for p in "qkv"}


def key_map(config: HunyuanVideoConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every entry that is only renamed (not the fused projections)."""
    names = build_key_map(lambda: HunyuanVideoModel(config), lambda key: rename(key, _RENAMES))
    return {ours: theirs for ours, theirs in names.items() if not _QKV.match(ours)}


def _fused_keys(config: HunyuanVideoConfig) -> list[str]:
    with torch.device("meta"):
        return [key for key in HunyuanVideoModel(config).state_dict() if _QKV.match(key)]


def _swap_halves(tensor: torch.Tensor) -> torch.Tensor:  # (shift, scale) <-> (scale, shift)
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first])


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: HunyuanVideoConfig) -> dict[str, torch.Tensor]:
    """A `HunyuanVideoModel` state dict in the `HunyuanVideoTransformer3DModel` layout."""
    names, fused = key_map(config), _fused_keys(config)
    check_keys(state_dict, set(names) | set(fused), "minivid state dict")
    out = {names[k]: (_swap_halves(v) if _FINAL.match(k) else v) for k, v in state_dict.items() if k in names}
    for key in fused:
        parts = _split_keys(key, config)
        out.update(zip(parts, state_dict[key].split(list(parts.values()), dim=0)))
    return out


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: HunyuanVideoConfig) -> dict[str, torch.Tensor]:
    """A `HunyuanVideoTransformer3DModel` state dict in the `HunyuanVideoModel` layout."""
    names, fused = invert(key_map(config)), {key: _split_keys(key, config) for key in _fused_keys(config)}
    check_keys(state_dict, set(names) | {k for parts in fused.values() for k in parts}, "diffusers state dict")
    out = {names[k]: v for k, v in state_dict.items() if k in names}
    for key in [k for k in out if _FINAL.match(k)]:
        out[key] = _swap_halves(out[key])
    for ours, parts in fused.items():
        out[ours] = torch.cat([state_dict[k] for k in parts])
    return out


def config_from_diffusers(cfg: Mapping[str, Any]) -> HunyuanVideoConfig:
    """`HunyuanVideoConfig` from a `HunyuanVideoTransformer3DModel.config` / `config.json` (missing: defaults)."""
    if cfg.get("qk_norm", "rms_norm") != "rms_norm":
        raise ValueError(f"minivid's HunyuanVideo needs qk_norm='rms_norm' (every release); got {cfg.get('qk_norm')!r}")
    in_channels = cfg.get("in_channels", 16)
    return HunyuanVideoConfig(
        heads=cfg.get("num_attention_heads", 24), head_dim=cfg.get("attention_head_dim", 128),
        double_layers=cfg.get("num_layers", 20), single_layers=cfg.get("num_single_layers", 40),
        refiner_layers=cfg.get("num_refiner_layers", 2), mlp_ratio=cfg.get("mlp_ratio", 4.0),
        in_channels=in_channels, out_channels=cfg.get("out_channels") or in_channels,
        patch=cfg.get("patch_size", 2), patch_t=cfg.get("patch_size_t", 1), text_dim=cfg.get("text_embed_dim", 4096),
        pooled_dim=cfg.get("pooled_projection_dim", 768), guidance_embed=cfg.get("guidance_embeds", True),
        rope_axes=tuple(cfg.get("rope_axes_dim", (16, 56, 56))), rope_theta=cfg.get("rope_theta", 256.0),
        image_condition=cfg.get("image_condition_type"))


def config_to_diffusers(config: HunyuanVideoConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.HunyuanVideoTransformer3DModel` equal to `config`."""
    return dict(in_channels=config.in_channels, out_channels=config.out_channels, num_attention_heads=config.heads,
                attention_head_dim=config.head_dim, num_layers=config.double_layers,
                num_single_layers=config.single_layers, num_refiner_layers=config.refiner_layers,
                mlp_ratio=config.mlp_ratio, patch_size=config.patch, patch_size_t=config.patch_t, qk_norm="rms_norm",
                guidance_embeds=config.guidance_embed, text_embed_dim=config.text_dim,
                pooled_projection_dim=config.pooled_dim, rope_theta=config.rope_theta,
                rope_axes_dim=tuple(config.rope_axes), image_condition_type=config.image_condition)


PEER = Peer(HunyuanVideoModel, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
