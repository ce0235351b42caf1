"""Tiled processing with blended overlaps: run a memory-hungry map on overlapping crops, then blend.

A VAE decoder's activations at 720p are tens of GB. Cutting the frame into tiles bounds the memory by
the tile size; cutting it into tiles that *overlap*, and fading each tile out across the overlap while
its neighbour fades in, hides the seams that a model with a large receptive field would otherwise leave
(HunyuanVideo's VAE, diffusers' `tiled_decode` for CogVideoX, HunyuanVideo and Wan). Any VAE of the
course tiles through `tiled_apply`; only the map and the scale between its input and output differ.

    out[p] = Σ_tiles weight_tile(p) · fn(tile)[p] / Σ_tiles weight_tile(p)

Each tile's weight is 1 in its interior and ramps linearly to ~0 across each overlap; dividing by the
total weight makes the blend a weighted mean, so a constant map stays exactly constant.

HunyuanVideo's VAE (official `hyvideo/vae/autoencoder_kl_causal_3d.py`, and diffusers'
`AutoencoderKLHunyuanVideo` with `enable_tiling()`) blends differently, and its numbers can only be
reproduced with its own rule, so it has its own functions here (`crossfade_tiled_apply` in space,
`crossfade_frames_apply` in time):

- tiles start at every multiple of the stride below the size, so the last ones may be short (no tile is
  moved back flush with the end);
- in order, each tile's first `extent` rows are *replaced* by a crossfade from the previous tile,
  `prev[-extent + y] * (1 - y / extent) + tile[y] * (y / extent)` (`crossfade`): the seam's first row
  is all previous tile, and the previous tile is the one already blended with *its* neighbours;
- then each tile keeps its first `stride` rows and the kept pieces are concatenated.

So weights do not sample pixel centres, a tile's far overlap is simply cut off rather than faded, and
in 2D the corners depend on the order (rows top to bottom, tiles left to right).
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


# ---- HunyuanVideo's crossfade tiling (official code and diffusers' `enable_tiling()`) ----------------------

def crossfade_starts(size: int, stride: int) -> list[int]:
    """Where the tiles of one axis start: every multiple of `stride` below `size` (the last tiles may be
    short, as `range(0, size, stride)` in the official code)."""
    return list(range(0, size, stride))


def crossfade(previous: torch.Tensor, tile: torch.Tensor, extent: int, dim: int) -> torch.Tensor:
    """`tile` with its first `extent` entries along `dim` faded in from the last `extent` of `previous`:
    entry y becomes `previous[-extent + y] * (1 - y / extent) + tile[y] * (y / extent)` (the official
    `blend_v` / `blend_h` / `blend_t`). `extent` shrinks to the shorter tile. A new tensor; inputs untouched."""
    extent = min(previous.shape[dim], tile.shape[dim], extent)
    if extent <= 0:
        return tile
    shape = [1] * tile.ndim
    shape[dim] = extent
    w = (torch.arange(extent, dtype=tile.dtype, device=tile.device) / extent).reshape(shape)
    faded = previous.narrow(dim, previous.shape[dim] - extent, extent) * (1 - w) + tile.narrow(dim, 0, extent) * w
    return torch.cat([faded, tile.narrow(dim, extent, tile.shape[dim] - extent)], dim=dim)


def _keep(tile: torch.Tensor, count: int, dim: int) -> torch.Tensor:
    return tile.narrow(dim, 0, min(count, tile.shape[dim]))


def crossfade_chain(tiles: list[torch.Tensor], extent: int, dim: int) -> list[torch.Tensor]:
    """Crossfade every tile into the one before it, in order (each against its already-blended predecessor)."""
    out = tiles[:1]
    for tile in tiles[1:]:
        out.append(crossfade(out[-1], tile, extent, dim))
    return out


def crossfade_tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, stride: int,
                          scale: float) -> torch.Tensor:
    """HunyuanVideo's spatial tiling of `fn` over `x` (`... h w`): `tile` x `tile` crops every `stride`,
    crossfaded over `(tile - stride) * scale` output rows and columns, `stride * scale` of each kept.

    `fn` maps `... h w` to `... (h*scale) (w*scale)`. Runs `fn(x)` whole unless h or w exceeds `tile`; then
    both axes are tiled (as the official `spatial_tiled_encode` / `spatial_tiled_decode`).
    """
    if not 0 < stride <= tile:
        raise ValueError(f"need 0 < tile_stride <= tile_size, got tile {tile}, stride {stride}")
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return fn(x)
    extent, keep = round((tile - stride) * scale), round(stride * scale)
    rows, previous = [], None
    for i in crossfade_starts(height, stride):
        row = [fn(x[..., i:i + tile, j:j + tile]) for j in crossfade_starts(width, stride)]
        if previous is not None:  # the tile above, already blended with its own neighbours
            row = [crossfade(above, t, extent, -2) for above, t in zip(previous, row)]
        previous = crossfade_chain(row, extent, -1)
        rows.append(torch.cat([_keep(t, keep, -1) for t in previous], dim=-1))
    out = torch.cat([_keep(r, keep, -2) for r in rows], dim=-2)
    return out[..., :round(height * scale), :round(width * scale)]


def crossfade_frames_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, stride: int,
                           scale: float) -> torch.Tensor:
    """HunyuanVideo's temporal tiling of a causal video map `fn` over `x` `B C T H W`: windows of `1 + tile`
    frames every `stride`, crossfaded over `(tile - stride) * scale` output frames.

    A causal VAE maps 1 + 4k frames to 1 + k (encoder, scale 1/4) or back (decoder, scale 4). Each window
    takes one frame more than `tile` so it has that 1 + 4k shape; every window but the first drops its
    first output frame (that frame was coded as a lone image: it only restarts the causal history), keeps
    `stride * scale` frames after the crossfade, and the first keeps one more. Runs `fn(x)` whole unless T
    exceeds `tile` (the official `temporal_tiled_encode` / `temporal_tiled_decode`).
    """
    if not 0 < stride <= tile:
        raise ValueError(f"need 0 < frame stride <= tile frames, got tile {tile}, stride {stride}")
    frames = x.shape[2]
    if frames <= tile:
        return fn(x)
    extent, keep = round((tile - stride) * scale), round(stride * scale)
    pieces = [fn(x[:, :, i:i + tile + 1]) for i in crossfade_starts(frames, stride)]
    pieces = pieces[:1] + [p[:, :, 1:] for p in pieces[1:]]
    pieces = crossfade_chain(pieces, extent, 2)
    out = torch.cat([_keep(p, keep + (k == 0), 2) for k, p in enumerate(pieces)], dim=2)
    return out[:, :, :round((frames - 1) * scale) + 1]
