"""NaViT "Patch n' Pack" for video: clips of any length and resolution in fixed-length sequences.

Instead of resizing every clip to one shape, or padding every clip to the longest, the token
sequences of several clips are laid end to end in rows of `max_len` tokens. A block-diagonal mask
keeps each clip attending only to itself, and 3D position ids `(t, h, w)` per token let axial 3D
RoPE rotate every token exactly as if its clip were alone (RoPE only sees positions, never the
index in the row). So a transformer on a packed batch gives each clip the output it would get
alone; `tests/test_packing.py` proves it.

Packing strategies (lengths counted in tokens):
- `"next_fit"`: clips in the given order; a clip that does not fit starts a new row. This is
  lucidrains/vit-pytorch `group_images_by_max_seq_len` (NaViT has no official code); order is kept.
- `"first_fit_decreasing"`: longest first, each into the first row with room. Wastes less;
  `waste_report` measures both.

Padding: padded slots carry clip id -1 and form a block of their own, so a padding query attends
to padding only (HunyuanVideo does the same with a separate varlen segment). No row of the mask is
empty, hence no NaN from SDPA, and no real token ever sees padding. NaViT's `key_pad_mask` was
True on padding up to vit-pytorch 1.6.6 (a bug when `&`-ed with the clip mask); here `key_valid`
is True on real tokens.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from minivid.layers.rope import grid_positions

STRATEGIES = ("next_fit", "first_fit_decreasing")


@dataclass
class PackedBatch:
    tokens: Tensor  # B L C
    clip_ids: Tensor  # B L, index of the clip in the input list; -1 on padding
    key_valid: Tensor  # B L bool, True on real tokens
    positions: Tensor  # B L 3, (t, h, w) of each token inside its own clip; 0 on padding
    attn_mask: Tensor  # B L L bool, True = may attend (same clip id)
    slots: list[tuple[int, int, int]]  # per input clip: (row, start, length)


def group_by_max_len(lengths: list[int], max_len: int, strategy: str = "next_fit") -> list[list[int]]:
    """Greedy bin packing of clip lengths into rows of at most `max_len`; returns clip indices per row."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    too_long = [(i, n) for i, n in enumerate(lengths) if n > max_len]
    if too_long:
        raise ValueError(f"clips longer than max_len={max_len} (index, tokens): {too_long}; "
                         f"raise max_len, or shorten/downscale those clips")
    rows: list[list[int]] = []
    used: list[int] = []
    if strategy == "next_fit":
        for i, n in enumerate(lengths):
            if not rows or used[-1] + n > max_len:
                rows.append([])
                used.append(0)
            rows[-1].append(i)
            used[-1] += n
        return rows
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, u in enumerate(used) if u + lengths[i] <= max_len), None)
        if row is None:
            rows.append([])
            used.append(0)
            row = len(rows) - 1
        rows[row].append(i)
        used[row] += lengths[i]
    return rows


def packing_mask(clip_ids: Tensor) -> Tensor:
    """`B L` clip ids → `B L L` block-diagonal mask; padding (-1) is a block of its own."""
    return clip_ids[:, :, None] == clip_ids[:, None, :]


def pack_clips(clips: list[Tensor], grids: list[tuple[int, int, int]], max_len: int,
               strategy: str = "next_fit") -> PackedBatch:
    """Pack clips (each `N_i C` tokens in `(t h w)` order, with its grid `(t, h, w)`) into `B max_len C`."""
    if len(clips) == 0:
        raise ValueError("pack_clips needs at least one clip; got an empty list")
    if len(grids) != len(clips):
        raise ValueError(f"one (t, h, w) grid per clip: got {len(clips)} clips and {len(grids)} grids")
    channels = clips[0].shape[-1]
    for i, (clip, grid) in enumerate(zip(clips, grids)):
        if clip.dim() != 2 or clip.shape[1] != channels:
            raise ValueError(f"every clip must be (N_i, {channels}) tokens like clip 0; "
                             f"clip {i} is {tuple(clip.shape)}")
        t, h, w = grid
        if clip.shape[0] != t * h * w:
            raise ValueError(f"clip {i} has {clip.shape[0]} tokens but its grid {tuple(grid)} "
                             f"has {t * h * w}")
    rows = group_by_max_len([len(c) for c in clips], max_len, strategy)

    device = clips[0].device
    tokens = clips[0].new_zeros(len(rows), max_len, channels)  # B L C
    clip_ids = torch.full((len(rows), max_len), -1, dtype=torch.long, device=device)  # B L
    positions = torch.zeros(len(rows), max_len, 3, dtype=torch.long, device=device)  # B L 3
    slots = [(0, 0, 0)] * len(clips)
    for r, members in enumerate(rows):
        start = 0
        for i in members:
            n = len(clips[i])
            tokens[r, start:start + n] = clips[i]
            clip_ids[r, start:start + n] = i
            positions[r, start:start + n] = grid_positions(*grids[i], device=device)
            slots[i] = (r, start, n)
            start += n
    return PackedBatch(tokens, clip_ids, clip_ids >= 0, positions, packing_mask(clip_ids), slots)


def unpack(x: Tensor, packed: PackedBatch) -> list[Tensor]:
    """Packed outputs `B max_len C'` → per-clip outputs `N_i C'`, in the original clip order."""
    return [x[row, start:start + n] for row, start, n in packed.slots]


# --- how much is wasted ---------------------------------------------------------------------------

def padding_waste(lengths: list[int]) -> float:
    """Fraction of slots that are padding when every clip is padded to the longest one."""
    return 1 - sum(lengths) / (len(lengths) * max(lengths))


def packing_waste(lengths: list[int], max_len: int, strategy: str = "next_fit") -> float:
    """Fraction of slots that are padding when the clips are packed into rows of `max_len`."""
    rows = group_by_max_len(lengths, max_len, strategy)
    return 1 - sum(lengths) / (len(rows) * max_len)


def waste_report(lengths: list[int], max_len: int) -> dict[str, float]:
    """Padding-to-longest vs both packing strategies, as fractions of all token slots."""
    return {"clips": len(lengths), "tokens": sum(lengths), "longest": max(lengths), "max_len": max_len,
            "padding_waste": padding_waste(lengths),
            **{f"{s}_waste": packing_waste(lengths, max_len, s) for s in STRATEGIES},
            **{f"{s}_rows": len(group_by_max_len(lengths, max_len, s)) for s in STRATEGIES}}


def mixed_clip_grids(num_clips: int, seed: int = 0,
                     frames: tuple[int, ...] = (5, 9, 13, 17),
                     sizes: tuple[tuple[int, int], ...] = ((256, 256), (256, 448), (448, 256),
                                                           (320, 576), (576, 320), (192, 336)),
                     vae_stride: tuple[int, int, int] = (4, 8, 8),
                     patch: tuple[int, int, int] = (1, 2, 2)) -> list[tuple[int, int, int]]:
    """A seeded, realistic mix of clips as token grids `(t, h, w)`: 1+4n frames at several
    resolutions and aspect ratios, through a 4×8×8 causal VAE and a 1×2×2 patch (Wan's numbers)."""
    rng = random.Random(seed)
    grids = []
    for _ in range(num_clips):
        f, (height, width) = rng.choice(frames), rng.choice(sizes)
        latent_t = 1 + (f - 1) // vae_stride[0]
        grids.append((latent_t // patch[0], height // vae_stride[1] // patch[1],
                      width // vae_stride[2] // patch[2]))
    return grids
