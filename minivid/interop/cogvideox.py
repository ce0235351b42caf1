"""diffusers `CogVideoXTransformer3DModel` <-> minivid `CogVideoXModel`: configs, state dicts, `from_pretrained`.

Mostly renaming; two tensors change shape:

    minivid                                  diffusers                                  official (SAT)
    patch_embedding.proj (Conv3d D C pt p p)  patch_embed.proj (v1.0 Conv2d D C p p;     mixins.patch_embed.proj
                                              v1.5 Linear D (C pt p p))
    text_projection                          patch_embed.text_proj                      mixins.patch_embed.text_proj
    time_embedding.{0,2}                     time_embedding.linear_{1,2}                time_embed.{0,2}
    learned_positions (5B-I2V)               patch_embed.pos_embedding                  mixins.pos_embed.pos_embedding
    blocks.N.attn_norm / mlp_norm            transformer_blocks.N.norm1.norm / norm2.norm  layers.N.input_layernorm / ...
    blocks.N.attn.to_{q,k,v,out}, norm_{q,k} transformer_blocks.N.attn1.to_{q,k,v,out.0}, norm_{q,k}
    blocks.N.mlp.{0,2}                       transformer_blocks.N.ff.net.{0.proj,2}
    blocks.N.modulation.1 (12·D rows)         norm1.linear (6·D) + norm2.linear (6·D)    adaln_layer.adaLN_modulations.N.1
    final_norm / head_norm / head_modulation.1 / head   norm_final / norm_out.norm / norm_out.linear / proj_out

The expert adaLN is one `Linear(512, 12·D)` per block in the official code and in minivid, chunked
(video: shift, scale, gate for attention, the same for the MLP; then text: the same six). diffusers
splits it into the attention half (video 0:3, text 6:9 → `norm1.linear`) and the MLP half (video 3:6,
text 9:12 → `norm2.linear`), exactly as its conversion script `reassign_adaln_norm_inplace` does.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from minivid.interop.keys import check_keys, invert, key_map as build_key_map, rename
from minivid.interop.peer import Peer
from minivid.models.cogvideox import CogVideoXConfig, CogVideoXModel

DIFFUSERS_CLASS = "CogVideoXTransformer3DModel"
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "."
    (r"^\.patch_embedding\.proj\.", ".patch_embed.proj."),
    (r"^\.text_projection\.", ".patch_embed.text_proj."),
    (r"^\.time_embedding\.0\.", ".time_embedding.linear_1."),
    (r"^\.time_embedding\.2\.", ".time_embedding.linear_2."),
    (r"^\.ofs_embedding\.0\.", ".ofs_embedding.linear_1."),
    (r"^\.ofs_embedding\.2\.", ".ofs_embedding.linear_2."),
    (r"^\.learned_positions$", ".patch_embed.pos_embedding"),
    (r"^\.blocks\.", ".transformer_blocks."),
    (r"\.attn_norm\.", ".norm1.norm."),
    (r"\.mlp_norm\.", ".norm2.norm."),
    (r"\.attn\.to_out\.", ".attn1.to_out.0."),
    (r"\.attn\.", ".attn1."),
    (r"\.mlp\.0\.", ".ff.net.0.proj."),
    (r"\.mlp\.2\.", ".ff.net.2."),
    (r"^\.final_norm\.", ".norm_final."),
    (r"^\.head_norm\.", ".norm_out.norm."),
    (r"^\.head_modulation\.1\.", ".norm_out.linear."),
    (r"^\.head\.", ".proj_out."),
]
_MODULATION = re.compile(r"^blocks\.(\d+)\.modulation\.1\.(weight|bias)$")
_HALVES = {"norm1": (slice(0, 3), slice(6, 9)), "norm2": (slice(3, 6), slice(9, 12))}  # of the 12 chunks


def key_map(config: CogVideoXConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every entry except the expert adaLN (split in two, see top)."""
    names = build_key_map(lambda: CogVideoXModel(config), lambda key: rename(key, _RENAMES))
    return {ours: theirs for ours, theirs in names.items() if not _MODULATION.match(ours)}


def _modulation_halves(key: str) -> dict[str, str]:
    block, kind = _MODULATION.match(key).groups()
    return {half: f"transformer_blocks.{block}.{half}.linear.{kind}" for half in _HALVES}


def _patch_shape(config: CogVideoXConfig) -> tuple[int, ...]:
    """The diffusers shape of the patch weight: a Conv2d (v1.0) or a Linear over flattened tubes (v1.5)."""
    d, c, (pt, p, _) = config.dim, config.in_channels, config.patch_size
    return (d, c, p, p) if config.patch_t is None else (d, c * pt * p * p)


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: CogVideoXConfig) -> dict[str, torch.Tensor]:
    """A `CogVideoXModel` state dict in the `CogVideoXTransformer3DModel` layout."""
    names = key_map(config)
    modulation = [k for k in state_dict if _MODULATION.match(k)]
    check_keys(set(state_dict) - set(modulation), names, "minivid state dict")
    if len(modulation) != 2 * config.layers:
        raise ValueError(f"minivid state dict has {len(modulation)} block modulation tensors, expected "
                         f"{2 * config.layers} (weight and bias of {config.layers} blocks)")
    out = {names[k]: v for k, v in state_dict.items() if k in names}
    out["patch_embed.proj.weight"] = out["patch_embed.proj.weight"].reshape(_patch_shape(config))
    for key in modulation:
        chunks = state_dict[key].chunk(12, dim=0)
        for half, theirs in _modulation_halves(key).items():
            first, second = _HALVES[half]
            out[theirs] = torch.cat(chunks[first] + chunks[second])
    return out


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: CogVideoXConfig) -> dict[str, torch.Tensor]:
    """A `CogVideoXTransformer3DModel` state dict in the `CogVideoXModel` layout."""
    names = invert(key_map(config))
    modulation = {f"blocks.{i}.modulation.1.{kind}": _modulation_halves(f"blocks.{i}.modulation.1.{kind}")
                  for i in range(config.layers) for kind in ("weight", "bias")}
    check_keys(state_dict, set(names) | {k for halves in modulation.values() for k in halves.values()},
               "diffusers state dict")
    out = {names[k]: v for k, v in state_dict.items() if k in names}
    d, (pt, p, _) = config.dim, config.patch_size
    out["patch_embedding.proj.weight"] = out["patch_embedding.proj.weight"].reshape(d, config.in_channels, pt, p, p)
    for ours, halves in modulation.items():
        attn, mlp = (state_dict[halves[half]].chunk(6, dim=0) for half in ("norm1", "norm2"))
        out[ours] = torch.cat(attn[:3] + mlp[:3] + attn[3:] + mlp[3:])  # video msa, mlp; text msa, mlp
    return out


def config_from_diffusers(cfg: Mapping[str, Any]) -> CogVideoXConfig:
    """`CogVideoXConfig` from a `CogVideoXTransformer3DModel.config` / `config.json` (missing: diffusers defaults)."""
    expected = dict(flip_sin_to_cos=True, freq_shift=0, activation_fn="gelu-approximate",
                    timestep_activation_fn="silu", norm_elementwise_affine=True, attention_bias=True)
    for name, value in expected.items():
        if cfg.get(name, value) != value:
            raise ValueError(f"minivid's CogVideoX needs {name}={value!r} (every released CogVideoX); got {cfg.get(name)!r}")
    rope, learned = cfg.get("use_rotary_positional_embeddings", False), cfg.get("use_learned_positional_embeddings", False)
    if learned and not rope:
        raise ValueError("learned positions without RoPE: no CogVideoX release has them")
    compression = cfg.get("temporal_compression_ratio", 4)
    in_channels = cfg.get("in_channels", 16)
    return CogVideoXConfig(
        heads=cfg.get("num_attention_heads", 30), head_dim=cfg.get("attention_head_dim", 64),
        layers=cfg.get("num_layers", 30), in_channels=in_channels, out_channels=cfg.get("out_channels") or in_channels,
        time_embed_dim=cfg.get("time_embed_dim", 512), text_dim=cfg.get("text_embed_dim", 4096),
        patch=cfg.get("patch_size", 2), patch_t=cfg.get("patch_size_t"),
        positions="rope+learned" if learned else "rope" if rope else "sincos",
        text_length=cfg.get("max_text_seq_length", 226),
        sample_grid=((cfg.get("sample_frames", 49) - 1) // compression + 1, cfg.get("sample_height", 60),
                     cfg.get("sample_width", 90)),
        spatial_interpolation=cfg.get("spatial_interpolation_scale", 1.875),
        temporal_interpolation=cfg.get("temporal_interpolation_scale", 1.0),
        ofs_embed_dim=cfg.get("ofs_embed_dim"), norm_eps=cfg.get("norm_eps", 1e-5),
        patch_bias=cfg.get("patch_bias", True))


def config_to_diffusers(config: CogVideoXConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.CogVideoXTransformer3DModel` equal to `config`."""
    frames, height, width = config.sample_grid
    return dict(num_attention_heads=config.heads, attention_head_dim=config.head_dim, in_channels=config.in_channels,
                out_channels=config.out_channels, time_embed_dim=config.time_embed_dim,
                ofs_embed_dim=config.ofs_embed_dim, text_embed_dim=config.text_dim, num_layers=config.layers,
                sample_width=width, sample_height=height, sample_frames=(frames - 1) * 4 + 1,
                patch_size=config.patch, patch_size_t=config.patch_t, temporal_compression_ratio=4,
                max_text_seq_length=config.text_length, norm_eps=config.norm_eps,
                spatial_interpolation_scale=config.spatial_interpolation,
                temporal_interpolation_scale=config.temporal_interpolation,
                use_rotary_positional_embeddings=config.positions != "sincos",
                use_learned_positional_embeddings=config.positions == "rope+learned", patch_bias=config.patch_bias)


PEER = Peer(CogVideoXModel, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
