"""Rotary position embedding (RoPE): 1D, and axial 3D over the (t, h, w) latent grid of a video.

RoPE rotates each pair of query/key channels by an angle `position * frequency`. A rotation by
`a` followed by the inverse of a rotation by `b` is a rotation by `a - b`, so the score `q . k`
depends only on the *offset* between the two positions, never on where they sit.

Axial 3D RoPE splits the head dimension into three slices, one per axis: the t slice turns with
the frame index, the h slice with the row, the w slice with the column. Each axis has its own
frequency ladder `1 / theta^(2i / d_axis)`, normalised by that axis' width (Wan `rope_params`,
CogVideoX `Rotary3DPositionEmbeddingMixin`, HunyuanVideo `get_nd_rotary_pos_embed`).

The splits of the published models (`rope_dims`, `ROPE_THETA`):
    Wan2.1/2.2     d - 4(d//6), 2(d//6), 2(d//6)  -> 44/42/42 for d=128, theta 10000
    CogVideoX-5B   d/4, 3d/8, 3d/8                -> 16/24/24 for d=64,  theta 10000, video tokens only
    HunyuanVideo   16, 56, 56 (rope_dim_list)     -> d=128,              theta 256
"""
from __future__ import annotations

import torch
from einops import rearrange

ROPE_THETA = {"wan": 10000.0, "cogvideox": 10000.0, "hunyuanvideo": 256.0}

# Where the two channels of a pair sit inside head_dim: neighbours, or one in each half.
PAIR_LAYOUT = {"adjacent": "(d r)", "half": "(r d)"}
PAIRINGS = tuple(PAIR_LAYOUT)


def check_rope_dims(dims: tuple[int, ...], head_dim: int) -> None:
    """Raise ValueError unless the per-axis widths are even and add up to `head_dim`."""
    if sum(dims) != head_dim:
        raise ValueError(f"RoPE axis widths {tuple(dims)} add up to {sum(dims)}, but head_dim is "
                         f"{head_dim}; choose widths that sum to the head dimension")
    odd = [d for d in dims if d % 2]
    if odd:
        raise ValueError(f"RoPE axis widths {tuple(dims)} contain odd widths {odd}: every axis "
                         f"rotates channel pairs, so each width must be even")


def rope_dims(model: str, head_dim: int) -> tuple[int, int, int]:
    """(d_t, d_h, d_w) of a published model for a given head dimension."""
    d = head_dim
    if model == "wan":  # WanModel.__init__: rope_params(1024, d - 4*(d//6)), then 2*(d//6) twice
        dims = (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6))
    elif model == "cogvideox":  # Rotary3DPositionEmbeddingMixin: d//4, d//8*3, d//8*3
        dims = (d // 4, d // 8 * 3, d // 8 * 3)
    elif model == "hunyuanvideo":  # HYVideo-T/2 rope_dim_list, fixed for its head_dim of 128
        if d != 128:
            raise ValueError(f"HunyuanVideo fixes rope_dim_list=[16, 56, 56] for head_dim 128, got "
                             f"head_dim {d}; pass explicit (d_t, d_h, d_w) widths for other sizes")
        dims = (16, 56, 56)
    else:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(ROPE_THETA)}")
    check_rope_dims(dims, head_dim)
    return dims


def grid_positions(t: int, h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Integer (t, h, w) coordinates of every token, shape (t*h*w, 3).

    Rows follow `rearrange(x, 'b c t h w -> b (t h w) c')`: w fastest, then h, then t.
    """
    axes = [torch.arange(n, device=device) for n in (t, h, w)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # t h w 3
    return rearrange(grid, "t h w xyz -> (t h w) xyz")


def rope_angles(positions: torch.Tensor, dim: int, theta: float = 10000.0) -> torch.Tensor:
    """1D RoPE angles `position * theta^(-2i/dim)`: positions (..., N) -> (..., N, dim//2), float64.

    Kept in float64 as Wan's `rope_params` does: at position 1000 a float32 angle is already off by
    ~6e-5 rad. `apply_rope` takes cos/sin in float64 and only then casts.
    """
    if dim % 2:
        raise ValueError(f"RoPE width must be even (channels rotate in pairs), got {dim}")
    exponents = torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim
    frequencies = 1.0 / theta**exponents  # dim//2
    return positions.to(torch.float64)[..., None] * frequencies


def axial_rope_angles(positions: torch.Tensor, dims: tuple[int, ...],
                      theta: float = 10000.0) -> torch.Tensor:
    """Axial RoPE angles: positions (..., N, n_axes) -> (..., N, sum(dims)//2), float64.

    Axis i gets its own 1D ladder over `dims[i]` channels; the slices are concatenated in axis
    order, so for video the channels read [t | h | w], as in Wan, CogVideoX and HunyuanVideo.
    """
    if positions.shape[-1] != len(dims):
        raise ValueError(f"positions have {positions.shape[-1]} coordinates per token but {len(dims)} "
                         f"axis widths {tuple(dims)} were given; pass one width per axis")
    return torch.cat([rope_angles(positions[..., axis], dim, theta) for axis, dim in enumerate(dims)],
                     dim=-1)


def rope_3d(grid: tuple[int, int, int], dims: tuple[int, int, int], theta: float = 10000.0,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Angles for a whole (t, h, w) token grid in `(t h w)` order: (t*h*w, sum(dims)//2)."""
    return axial_rope_angles(grid_positions(*grid, device=device), dims, theta)


def apply_rope(x: torch.Tensor, angles: torch.Tensor, pairing: str = "adjacent") -> torch.Tensor:
    """Rotate channel pairs of x (B, heads, N, head_dim) by angles (N, head_dim//2) or
    (B, N, head_dim//2); returns x's shape and dtype.

    `pairing` says which channels form a pair:
      "adjacent": (x0, x1), (x2, x3), ...  -- the complex view `view_as_complex(x.reshape(..., -1, 2))`,
                  GPT-J style. Wan (`rope_apply`), CogVideoX (`rotate_half` on '(d r)') and HunyuanVideo
                  (`repeat_interleave(2)` tables) all use it.
      "half":     (x_i, x_{i + d/2})  -- GPT-NeoX / LLaMA `rotate_half`.
    Both give the same relative-position property, but they pair different channels, so a model
    trained with one pairing cannot load into the other unchanged: its q/k projections would be
    rotated along the wrong pairs. (Converting needs the rows of W_q and W_k permuted.)

    The arithmetic runs in at least float32, with cos/sin taken from the float64 angles. A token
    whose angles are all 0 (e.g. padding) is left unchanged.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    if x.ndim != 4 or x.shape[-1] % 2:
        raise ValueError(f"x must be (B, heads, N, head_dim) with an even head_dim, got {tuple(x.shape)}")
    batch, _, tokens, head_dim = x.shape
    shared, per_sample = (tokens, head_dim // 2), (batch, tokens, head_dim // 2)
    if tuple(angles.shape) not in (shared, per_sample):
        raise ValueError(f"angles {tuple(angles.shape)} do not fit x {tuple(x.shape)}: expected "
                         f"(N, head_dim//2) = {shared} or (B, N, head_dim//2) = {per_sample}")
    if angles.ndim == 3:
        angles = rearrange(angles, "b n d -> b 1 n d")

    compute = torch.promote_types(x.dtype, torch.float32)
    cos, sin = angles.cos().to(compute), angles.sin().to(compute)
    layout = PAIR_LAYOUT[pairing]
    x1, x2 = rearrange(x.to(compute), f"... {layout} -> r ... d", r=2)
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos])  # (x1 + i x2) * e^(i angle)
    return rearrange(rotated, f"r ... d -> ... {layout}").to(x.dtype)
