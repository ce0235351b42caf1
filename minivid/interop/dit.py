"""diffusers `DiTTransformer2DModel` <-> minivid `DiT`: configs and state dicts, both directions, `from_pretrained`.

Most of the mapping is renaming (`attn1.to_out.0` → `attn.to_out`, `ff.net.0.proj` → `mlp.0`,
`norm1.linear` → `adaLN_modulation.1`, `proj_out_1/2` → `final_layer`). One difference is
structural: minivid, like the official code, has one timestep+label embedder shared by all blocks;
diffusers stores a copy in every block (`transformer_blocks.{i}.norm1.emb`) and reads block 0's for
its final layer. Its conversion script writes the same official tensors into all 28 copies, so in a
converted checkpoint they are equal. They drift apart only if the model was trained in diffusers;
minivid cannot represent that, so `diffusers_to_minivid` raises unless the copies agree within
`atol` (then it takes block 0's, the one diffusers' final layer uses). Going back, the shared
embedder is copied into every block.

Three conventions are not weights and cannot be converted: the diffusers port divides the timestep
frequencies by 127 instead of 128 (`Timesteps(downscale_freq_shift=1)`), its MLP LayerNorm has
eps = `norm_eps` (default 1e-5, official 1e-6), and it rescales positions on grids other than the
trained one. `config_from_diffusers` sets minivid's flags for all three, so the converted model
computes what diffusers computes. Note that diffusers' own DiT checkpoints are the official
weights run with the 127 divisor, i.e. not exactly the official model.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import torch

from minivid.interop.keys import check_keys, invert, key_map, rename
from minivid.interop.peer import Peer
from minivid.models.dit import DiT, DiTConfig

DIFFUSERS_CLASS = "DiTTransformer2DModel"
_EMBEDDER = {  # minivid's shared embedder -> the name of each copy inside `transformer_blocks.{i}.norm1.emb.`
    "t_embedder.mlp.0.weight": "timestep_embedder.linear_1.weight",
    "t_embedder.mlp.0.bias": "timestep_embedder.linear_1.bias",
    "t_embedder.mlp.2.weight": "timestep_embedder.linear_2.weight",
    "t_embedder.mlp.2.bias": "timestep_embedder.linear_2.bias",
    "y_embedder.embedding_table.weight": "class_embedder.embedding_table.weight",
}
_RENAMES = [  # minivid -> diffusers, on keys written with a leading "." (each key matches one rule at most)
    (r"^\.x_embedder\.", ".pos_embed.proj."),
    (r"^\.blocks\.(\d+)\.adaLN_modulation\.1\.", r".transformer_blocks.\1.norm1.linear."),
    (r"^\.blocks\.(\d+)\.attn\.to_out\.", r".transformer_blocks.\1.attn1.to_out.0."),
    (r"^\.blocks\.(\d+)\.attn\.", r".transformer_blocks.\1.attn1."),
    (r"^\.blocks\.(\d+)\.mlp\.0\.", r".transformer_blocks.\1.ff.net.0.proj."),
    (r"^\.blocks\.(\d+)\.mlp\.2\.", r".transformer_blocks.\1.ff.net.2."),
    (r"^\.final_layer\.adaLN_modulation\.1\.", ".proj_out_1."),
    (r"^\.final_layer\.linear\.", ".proj_out_2."),
]


def _embedder_copy(key: str, block: int) -> str:
    return f"transformer_blocks.{block}.norm1.emb.{_EMBEDDER[key]}"


def _key_map(config: DiTConfig) -> dict[str, str]:
    """minivid key -> diffusers key for every parameter outside the shared embedder."""
    if config.conditioning != "adaln_zero":
        raise ValueError(f"diffusers' DiTTransformer2DModel has adaLN-Zero blocks only; got conditioning "
                         f"{config.conditioning!r}")
    names = key_map(lambda: DiT(config), lambda key: rename(key, _RENAMES))
    return {ours: theirs for ours, theirs in names.items() if ours not in _EMBEDDER}


def minivid_to_diffusers(state_dict: Mapping[str, torch.Tensor], config: DiTConfig) -> dict[str, torch.Tensor]:
    """A `DiT` state dict in the `DiTTransformer2DModel` layout (the embedder copied into every block)."""
    names = _key_map(config)
    check_keys(state_dict, set(names) | set(_EMBEDDER), "minivid state dict")
    out = {names[key]: tensor for key, tensor in state_dict.items() if key in names}
    for key in _EMBEDDER:
        for block in range(config.depth):  # real copies: safetensors refuses tensors that share memory
            out[_embedder_copy(key, block)] = state_dict[key].clone()
    return out


def diffusers_to_minivid(state_dict: Mapping[str, torch.Tensor], config: DiTConfig,
                         atol: float = 0.0) -> dict[str, torch.Tensor]:
    """A `DiTTransformer2DModel` state dict in the `DiT` layout.

    Every block's embedder copy must equal block 0's within `atol` (exactly, by default: converted
    checkpoints hold identical copies); otherwise a ValueError names the first block that differs.
    """
    names = invert(_key_map(config))
    copies = {_embedder_copy(k, b) for k in _EMBEDDER for b in range(config.depth)}
    check_keys(state_dict, set(names) | copies, "diffusers state dict")
    out = {ours: state_dict[theirs] for theirs, ours in names.items()}
    for key in _EMBEDDER:
        shared = state_dict[_embedder_copy(key, 0)]
        for block in range(1, config.depth):
            gap = (state_dict[_embedder_copy(key, block)].float() - shared.float()).abs().max().item()
            if gap > atol:
                raise ValueError(
                    f"diffusers block {block} has its own timestep/label embedder ({_EMBEDDER[key]} differs from "
                    f"block 0's by up to {gap:.3g} > atol {atol}), as after training in diffusers; minivid's DiT "
                    f"shares one embedder. Pass a larger atol to take block 0's (the one diffusers' final layer "
                    f"reads) and accept different outputs.")
        out[key] = shared
    return out


def config_from_diffusers(cfg: Mapping[str, Any]) -> DiTConfig:
    """`DiTConfig` from a `DiTTransformer2DModel.config` (or its kwargs), with diffusers' conventions."""
    expected = dict(norm_type="ada_norm_zero", norm_elementwise_affine=False, activation_fn="gelu-approximate",
                    attention_bias=True)
    for name, value in expected.items():
        if cfg.get(name, value) != value:
            raise ValueError(f"minivid's DiT needs {name}={value!r} (as every DiT); got {cfg.get(name)!r}")
    in_channels = cfg.get("in_channels", 4)
    out_channels = cfg.get("out_channels") or in_channels
    if out_channels not in (in_channels, 2 * in_channels):
        raise ValueError(f"out_channels must be in_channels (eps only) or 2 * in_channels (learn_sigma); "
                         f"got in {in_channels}, out {out_channels}")
    heads = cfg.get("num_attention_heads", 16)
    return DiTConfig(
        input_size=cfg.get("sample_size", 32), patch_size=cfg.get("patch_size", 2), in_channels=in_channels,
        hidden_size=heads * cfg.get("attention_head_dim", 72), depth=cfg.get("num_layers", 28), num_heads=heads,
        class_dropout_prob=0.1,  # hard-coded in diffusers' CombinedTimestepLabelEmbeddings
        num_classes=cfg.get("num_embeds_ada_norm", 1000), learn_sigma=out_channels == 2 * in_channels,
        timestep_freq_shift=1.0, mlp_norm_eps=cfg.get("norm_eps", 1e-5), pos_embed_rescale=True)


def config_to_diffusers(config: DiTConfig) -> dict[str, Any]:
    """Keyword arguments for `diffusers.DiTTransformer2DModel` equal to `config` (up to the sinusoid: see top)."""
    if config.mlp_ratio != 4.0 or config.frequency_dim != 256 or config.class_dropout_prob <= 0:
        raise ValueError("diffusers' DiT fixes mlp_ratio 4, a 256-dim timestep sinusoid and a null-label row "
                         "(class_dropout_prob > 0)")
    if config.timestep_freq_shift != 1.0:
        warnings.warn(f"diffusers' DiT divides the timestep frequencies by 127 (freq_shift 1); this model uses "
                      f"freq_shift {config.timestep_freq_shift}, so the two will differ slightly", stacklevel=2)
    return dict(num_attention_heads=config.num_heads, attention_head_dim=config.hidden_size // config.num_heads,
                in_channels=config.in_channels, out_channels=config.out_channels, num_layers=config.depth,
                sample_size=config.input_size, patch_size=config.patch_size, attention_bias=True,
                activation_fn="gelu-approximate", num_embeds_ada_norm=config.num_classes, norm_type="ada_norm_zero",
                norm_elementwise_affine=False, norm_eps=config.mlp_norm_eps)


PEER = Peer(DiT, DIFFUSERS_CLASS, config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
            minivid_to_diffusers)


# from_diffusers(model) / to_diffusers(model): a model in memory, one way or the other (same device and
# dtype); from_pretrained(folder, device="cpu", dtype=torch.float32): a diffusers-layout folder, in eval mode
from_diffusers, to_diffusers, from_pretrained = PEER.from_diffusers, PEER.to_diffusers, PEER.from_pretrained
