"""The factorisations of video attention, each written twice: as a reshape and as a mask.

A latent grid of `T×H×W` tokens is flattened in `(t h w)` order
(`rearrange(x, "b c t h w -> b (t h w) c")`). Every variant below restricts which keys a query may
see. The *reshape* form folds the allowed groups into the batch and runs the attention core on
short sequences (what real models do, and why it is cheap); the *mask* form runs the same core over
the whole `(t h w)` sequence with an `L×L` boolean mask (what the variant *means*). The tests prove
the two agree for every variant.

| variant                 | a query at frame t, position (h, w) sees        | used by                     |
| ----------------------- | ----------------------------------------------- | --------------------------- |
| `full`                  | every token                                     | Wan, CogVideoX, Hunyuan     |
| `spatial`               | its own frame                                   | Latte, LVDM, AnimateDiff    |
| `temporal`              | the same (h, w) in every frame                  | Latte, LVDM, AnimateDiff    |
| `spatial_window`        | its own `wh×ww` window of its own frame         | W.A.L.T spatial layers      |
| `spatiotemporal_window` | its own `wh×ww` window in every frame           | W.A.L.T spatiotemporal      |
| `sparse_causal`         | frames 0 and t-1 (frames 0 and 1: frame 0 only) | Tune-A-Video                |
| `frame_causal`          | frames 0..t (block-causal by frame)             | HunyuanVideo VAE, TECO      |
| `factorised_heads`      | half the heads temporal, half spatial           | ViViT model 4               |

Tune-A-Video (showlab/Tune-A-Video `SparseCausalAttention`): keys are frame 0 and frame
`max(i-1, 0)` concatenated, so frames 0 and 1 see frame 0 twice (a duplicated key set gives the
same softmax as the set once) and frame i ≥ 2 does **not** see itself.
ViViT model 4 follows scenic `factorized_dot_product_attention`: heads split in axis order (t, hw).
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

from minivid.layers.attention import attention
from minivid.layers.rope import grid_positions

VARIANTS = ("full", "spatial", "temporal", "spatial_window", "spatiotemporal_window",
            "sparse_causal", "frame_causal", "factorised_heads")
WINDOWED = ("spatial_window", "spatiotemporal_window")


def check_variant(variant: str, grid: tuple[int, int, int], window: tuple[int, int] | None,
                  heads: int | None = None) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    if variant in WINDOWED:
        if window is None:
            raise ValueError(f"{variant} needs window=(wh, ww) in tokens")
        t, h, w = grid
        if h % window[0] or w % window[1]:
            raise ValueError(f"window {tuple(window)} must divide the spatial grid {(h, w)}; "
                             f"pick a window whose sides divide h and w (or pad the latent)")
    if variant == "factorised_heads" and heads is not None and heads % 2:
        raise ValueError(f"factorised_heads splits heads into a temporal and a spatial half; "
                         f"heads must be even, got {heads}")


# --- reshape implementations: q, k, v are B heads (t h w) d ---------------------------------------

def folded_attention(q: Tensor, k: Tensor, v: Tensor, pattern: str, **sizes: int) -> Tensor:
    """Attention within groups: `pattern` folds `b n L d` into `(b groups) n l d`; unfolded after."""
    source, target = (side.strip() for side in pattern.split("->"))
    q, k, v = (rearrange(x, pattern, **sizes) for x in (q, k, v))
    return rearrange(attention(q, k, v), f"{target} -> {source}", **sizes)


def sparse_causal_attention(q: Tensor, k: Tensor, v: Tensor, t: int) -> Tensor:
    """Tune-A-Video: frame i's queries attend to `[frame 0 ; frame max(i-1, 0)]` keys (2·hw of them)."""
    previous = (torch.arange(t, device=q.device) - 1).clamp(min=0)  # official: former_frame_index[0] = 0
    first = torch.zeros_like(previous)

    def gather(x: Tensor) -> Tensor:
        x = rearrange(x, "b n (t s) d -> b n t s d", t=t)
        x = torch.cat([x[:, :, first], x[:, :, previous]], dim=3)  # b n t (2 s) d
        return rearrange(x, "b n t s d -> (b t) n s d")

    out = attention(rearrange(q, "b n (t s) d -> (b t) n s d", t=t), gather(k), gather(v))
    return rearrange(out, "(b t) n s d -> b n (t s) d", t=t)


def frame_causal_attention(q: Tensor, k: Tensor, v: Tensor, t: int) -> Tensor:
    """Block-causal by frame, computed frame by frame against the growing prefix (a KV cache)."""
    s = q.shape[2] // t
    frames = [attention(q[:, :, i * s:(i + 1) * s], k[:, :, :(i + 1) * s], v[:, :, :(i + 1) * s])
              for i in range(t)]
    return torch.cat(frames, dim=2)


def spacetime_attention(q: Tensor, k: Tensor, v: Tensor, variant: str, grid: tuple[int, int, int],
                        window: tuple[int, int] | None = None) -> Tensor:
    """The reshape form: q, k, v `B heads (t h w) d` → `B heads (t h w) d`."""
    check_variant(variant, grid, window, q.shape[1])
    t, h, w = grid
    if q.shape[2] != t * h * w:
        raise ValueError(f"sequence length {q.shape[2]} does not match grid {grid} ({t * h * w} tokens)")
    if variant == "full":
        return attention(q, k, v)
    if variant == "spatial":
        return folded_attention(q, k, v, "b n (t h w) d -> (b t) n (h w) d", t=t, h=h, w=w)
    if variant == "temporal":
        return folded_attention(q, k, v, "b n (t h w) d -> (b h w) n t d", t=t, h=h, w=w)
    if variant in WINDOWED:
        wh, ww = window
        sizes = dict(t=t, nh=h // wh, wh=wh, nw=w // ww, ww=ww)
        if variant == "spatial_window":
            return folded_attention(q, k, v, "b n (t nh wh nw ww) d -> (b t nh nw) n (wh ww) d", **sizes)
        return folded_attention(q, k, v, "b n (t nh wh nw ww) d -> (b nh nw) n (t wh ww) d", **sizes)
    if variant == "sparse_causal":
        return sparse_causal_attention(q, k, v, t)
    if variant == "frame_causal":
        return frame_causal_attention(q, k, v, t)
    half = q.shape[1] // 2  # factorised_heads
    temporal = spacetime_attention(q[:, :half], k[:, :half], v[:, :half], "temporal", grid)
    spatial = spacetime_attention(q[:, half:], k[:, half:], v[:, half:], "spatial", grid)
    return torch.cat([temporal, spatial], dim=1)


# --- masks over the full (t h w) sequence ---------------------------------------------------------

def spacetime_mask(variant: str, grid: tuple[int, int, int], window: tuple[int, int] | None = None,
                   heads: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """The mask form: `L×L` boolean (True = may attend), L = t·h·w in `(t h w)` order.
    `factorised_heads` needs `heads` and returns `1×heads×L×L` (one mask per head, any batch)."""
    check_variant(variant, grid, window, heads)
    ti, hi, wi = grid_positions(*grid, device=device).long().unbind(-1)  # each L: a token's t, h, w

    def same(a: Tensor) -> Tensor:  # L L: query and key share this coordinate
        return a[:, None] == a[None, :]

    if variant == "full":
        return torch.ones(len(ti), len(ti), dtype=torch.bool, device=device)
    if variant == "spatial":
        return same(ti)
    if variant == "temporal":
        return same(hi) & same(wi)
    if variant in WINDOWED:
        in_window = same(hi // window[0]) & same(wi // window[1])
        return in_window & same(ti) if variant == "spatial_window" else in_window
    if variant == "sparse_causal":
        previous = (ti - 1).clamp(min=0)
        return (ti[None, :] == 0) | (ti[None, :] == previous[:, None])
    if variant == "frame_causal":
        return ti[None, :] <= ti[:, None]
    if heads is None:
        raise ValueError("factorised_heads needs heads= to build a per-head mask")
    temporal, spatial = (spacetime_mask(kind, grid, device=device) for kind in ("temporal", "spatial"))
    return torch.stack([temporal] * (heads // 2) + [spatial] * (heads // 2))[None]


# --- cost -----------------------------------------------------------------------------------------

def attention_cost(variant: str, t: int, h: int, w: int, dim: int, heads: int,
                   window: tuple[int, int] | None = None) -> dict[str, float]:
    """Cost of one attention layer on a `t×h×w` token grid (batch 1), as the reshape form computes it.

    Convention: a `(M×K)·(K×N)` matmul costs 2·M·K·N FLOPs, so QKᵀ and AV each cost 2·L·L_k·head_dim
    per head; projections and softmax are not counted. `scores` is the number of logits (query-key
    pairs × heads), i.e. the score matrix a non-fused kernel materialises. `mask_bytes` is what the
    mask form would need for its `L×L` boolean mask. `sparse_causal` counts 2·h·w keys per query, as
    the official code computes them (frames 0 and 1 attend to frame 0 twice).
    """
    check_variant(variant, (t, h, w), window, heads)
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
    tokens, frame = t * h * w, h * w
    keys = {"full": tokens, "spatial": frame, "temporal": t, "sparse_causal": 2 * frame,
            "frame_causal": frame * (t + 1) / 2, "factorised_heads": (frame + t) / 2}
    if variant in WINDOWED:
        keys[variant] = window[0] * window[1] * (1 if variant == "spatial_window" else t)
    keys_per_query = keys[variant]  # averaged over queries (frame_causal) and heads (factorised)
    scores = tokens * keys_per_query * heads
    return {"tokens": tokens, "keys_per_query": keys_per_query,
            "flops": 2 * (2 * scores * (dim // heads)),
            "scores": scores, "score_bytes_bf16": 2 * scores, "score_bytes_fp32": 4 * scores,
            "mask_bytes": tokens * tokens}
