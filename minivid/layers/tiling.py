"""Tiled processing with blended overlaps: run a memory-hungry map on overlapping crops, then blend.

A VAE decoder's activations at 720p are tens of GB. Cutting the frame into tiles bounds the memory by
the tile size; cutting it into tiles that *overlap*, and fading each tile out across the overlap while
its neighbour fades in, hides the seams that a model with a large receptive field would otherwise leave
(HunyuanVideo's VAE, diffusers' `tiled_decode` for CogVideoX, HunyuanVideo and Wan). Any VAE of the
course tiles through `tiled_apply`; only the map and the scale between its input and output differ.

    out[p] = Σ_tiles weight_tile(p) · fn(tile)[p] / Σ_tiles weight_tile(p)

Each tile's weight is 1 in its interior and ramps linearly to ~0 across each overlap; dividing by the
total weight makes the blend a weighted mean, so a constant map stays exactly constant.
"""
from __future__ import annotations

from typing import Callable

import torch


def tile_spans(size: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Tiles `[start, end)` of width `tile` every `stride` along an axis of length `size`; the last tile is
    moved back flush with the end, so every tile is full size (one tile covers an axis up to `tile`)."""
    if size <= tile:
        return [(0, size)]
    return [(s, s + tile) for s in [*range(0, size - tile, stride), size - tile]]


def blend_ramps(spans: list[tuple[int, int]], like: torch.Tensor) -> list[torch.Tensor]:
    """Per-tile 1-D weights: a linear ramp up over the overlap with the previous tile, down over the next.
    The ramp samples pixel centres, (i + 0.5) / overlap, so overlapping weights sum to exactly 1."""
    ramps = []
    for k, (start, end) in enumerate(spans):
        w = like.new_ones(end - start)
        for overlap, flip in ((spans[k - 1][1] - start if k else 0, False),
                              (end - spans[k + 1][0] if k + 1 < len(spans) else 0, True)):
            if overlap > 0:
                ramp = (torch.arange(overlap, dtype=like.dtype, device=like.device) + 0.5) / overlap
                if flip:
                    w[-overlap:] *= ramp.flip(0)
                else:
                    w[:overlap] *= ramp
        ramps.append(w)
    return ramps


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, stride: int,
                scale: float) -> torch.Tensor:
    """Apply `fn` to overlapping `tile` x `tile` crops of `x` (`... h w`) every `stride` pixels; blend.

    `fn` maps `B C T h w` to `B C' T' (h*scale) (w*scale)` (encoder: scale 1/8; decoder: 8). Each output
    pixel is the weighted mean of the tiles covering it, weights ramping linearly across each overlap.
    """
    if not 0 < stride <= tile:
        raise ValueError(f"need 0 < tile_stride <= tile_size, got tile {tile}, stride {stride}; a stride "
                         f"of about 3/4 of the tile (e.g. tile 256, stride 192) blends a quarter of each tile")
    rows, cols = tile_spans(x.shape[-2], tile, stride), tile_spans(x.shape[-1], tile, stride)
    out_rows, out_cols = ([(round(a * scale), round(b * scale)) for a, b in spans] for spans in (rows, cols))
    out = total = None
    for (h0, h1), (oh0, oh1), wy in zip(rows, out_rows, blend_ramps(out_rows, x)):
        for (w0, w1), (ow0, ow1), wx in zip(cols, out_cols, blend_ramps(out_cols, x)):
            y = fn(x[..., h0:h1, w0:w1])  # B C' T' h' w'
            if out is None:
                out = y.new_zeros(*y.shape[:-2], out_rows[-1][1], out_cols[-1][1])
                total = y.new_zeros(out_rows[-1][1], out_cols[-1][1])
            weight = wy[:, None] * wx[None, :]
            out[..., oh0:oh1, ow0:ow1] += y * weight
            total[oh0:oh1, ow0:ow1] += weight
    return out / total
