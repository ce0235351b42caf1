"""Getting a video in and out of a transformer: timestep sinusoids, sin-cos position tables,
patchify / unpatchify, tubelets inflated from a 2D patch embedding, and token counting.

Two sinusoid conventions meet here, and they are easy to mix up:
  * timestep embeddings are `cat[cos, sin]` (Wan, DiT, HunyuanVideo, CogVideoX, SVD, SD);
  * sin-cos *position tables* are `cat[sin, cos]` per axis (DiT / MAE `get_1d_sincos_pos_embed_from_grid`,
    CogVideoX-2B), with the first half of a 2D table encoding w, not h ("w goes first").
"""
from __future__ import annotations

import math

import torch
from einops import rearrange, repeat
from torch import nn

from minivid.layers.conv import inflate_conv_weight

PATCH_ORDERS = ("c pt ph pw", "pt ph pw c")


# --- timesteps --------------------------------------------------------------------------------

def timestep_embedding(t: torch.Tensor, dim: int, cos_first: bool = True, freq_shift: float = 0.0,
                       max_period: float = 10000.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: t (...) -> (..., dim), in `dtype`.

    Frequencies are `max_period^(-i / (dim//2 - freq_shift))`, i < dim//2; an odd `dim` gets one zero.
      cos_first=True,  freq_shift=0  Wan `sinusoidal_embedding_1d` (float64), DiT / HunyuanVideo /
                                     CogVideoX SAT `timestep_embedding` (float32); diffusers
                                     `Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0)` for Wan,
                                     CogVideoX, HunyuanVideo, SVD, SD.
      cos_first=False, freq_shift=1  diffusers `get_timestep_embedding` defaults = the original DDPM code.
    Note: diffusers' DiT port (`CombinedTimestepLabelEmbeddings`) uses freq_shift=1 while the official
    DiT divides by `half` (freq_shift=0). `t` may be (B,) or per token, e.g. Wan2.2's (B, L).
    """
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=dtype, device=t.device) / (half - freq_shift)
    args = t[..., None].to(dtype) * torch.exp(exponent)  # ... half
    pair = [args.cos(), args.sin()] if cos_first else [args.sin(), args.cos()]
    if dim % 2:
        pair.append(torch.zeros_like(args[..., :1]))
    return torch.cat(pair, dim=-1)


def per_sample(value, batch: int, name: str, device) -> torch.Tensor:
    """A timestep-like input given as a number or a `(B,)` tensor -> `(B,)` tensor (a number or a 0-d tensor
    is spread over the batch); any other shape is a ValueError naming `name` (t, guidance, ofs, ...)."""
    value = value if torch.is_tensor(value) else torch.tensor(float(value), device=device)
    value = value.expand(batch) if value.ndim == 0 else value
    if tuple(value.shape) != (batch,):
        raise ValueError(f"{name} must be a number or (B,) = ({batch},); got {tuple(value.shape)}")
    return value


# --- fixed sin-cos position tables ---------------------------------------------------------------

def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """MAE/DiT 1D table `cat[sin(p w), cos(p w)]`, w = 10000^(-2i/dim): positions (N,) -> (N, dim) float32.

    The product is taken in float64, as the official numpy code does (positions stay as given).
    """
    if dim % 2:
        raise ValueError(f"a sin-cos table needs an even width, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim / 2))
    angles = positions.to(torch.float64)[:, None] * omega  # N dim/2
    return torch.cat([angles.sin(), angles.cos()], dim=-1).float()


def _sincos_hw(positions_h: torch.Tensor, positions_w: torch.Tensor, dim: int) -> torch.Tensor:
    """(h*w, dim) in `(h w)` token order; channels [w | h]: the official meshgrid(w, h) puts w first."""
    if dim % 4:
        raise ValueError(f"a 2D sin-cos table needs a width divisible by 4, got {dim}")
    h, w = len(positions_h), len(positions_w)
    by_w = repeat(sincos_1d(positions_w, dim // 2), "w d -> h w d", h=h)
    by_h = repeat(sincos_1d(positions_h, dim // 2), "h d -> h w d", w=w)
    return rearrange(torch.cat([by_w, by_h], dim=-1), "h w d -> (h w) d")


def _scaled_arange(n: int, divisor: float) -> torch.Tensor:
    # born float32 and divided in float32, exactly like the official `np.arange(n, dtype=float32) / s`
    return torch.arange(n, dtype=torch.float32) / divisor


def sincos_2d(h: int, w: int, dim: int, base_size: int | None = None,
              interpolation_scale: float = 1.0) -> torch.Tensor:
    """DiT `get_2d_sincos_pos_embed`: (h*w, dim) in `(h w)` order, channels [w | h], each cat[sin, cos].

    The official DiT uses integer positions (`base_size=None`). diffusers' `PatchEmbed` passes a
    `base_size` and rescales each axis to `arange(n) * base_size / n / interpolation_scale`, so that a
    grid of any size spans the trained range (PixArt, Latte); the two agree when n == base_size.
    """
    def positions(n: int) -> torch.Tensor:
        return _scaled_arange(n, (n / base_size if base_size else 1.0) * interpolation_scale)

    return _sincos_hw(positions(h), positions(w), dim)


def sincos_3d(t: int, h: int, w: int, dim: int, spatial_interpolation: float = 1.0,
              temporal_interpolation: float = 1.0) -> torch.Tensor:
    """CogVideoX-2B fixed 3D table (`Basic3DPositionEmbeddingMixin`): (t*h*w, dim) in `(t h w)` order.

    Channels [time dim/4 | space 3dim/4], the space part being the 2D table above ([w | h]).
    CogVideoX-2B divides h and w positions by 1.875 (`height/width_interpolation` in
    sat/configs/cogvideox_2b.yaml; diffusers `spatial_interpolation_scale`), time by 1.
    """
    if dim % 16:
        raise ValueError(f"a 3D sin-cos table needs a width divisible by 16 (time d/4, space 3d/4 "
                         f"split again in h and w), got {dim}")
    space = _sincos_hw(_scaled_arange(h, spatial_interpolation), _scaled_arange(w, spatial_interpolation),
                       dim // 4 * 3)  # (h w) 3d/4
    time = sincos_1d(_scaled_arange(t, temporal_interpolation), dim // 4)  # t d/4
    return torch.cat([repeat(time, "t d -> (t n) d", n=h * w), repeat(space, "n d -> (t n) d", t=t)], dim=-1)


# --- patchify / unpatchify ------------------------------------------------------------------------

def patch_grid(size: tuple[int, int, int], patch: tuple[int, int, int]) -> tuple[int, int, int]:
    """(T, H, W) latent size -> (t, h, w) token grid; ValueError unless every axis divides by the patch."""
    if any(s % p for s, p in zip(size, patch)):
        raise ValueError(f"latent size (T, H, W) = {tuple(size)} is not divisible by the patch {tuple(patch)}; "
                         f"crop or pad the video so that each axis is a multiple of its patch size")
    return tuple(s // p for s, p in zip(size, patch))


def _check_patch_order(patch_order: str) -> None:
    if patch_order not in PATCH_ORDERS:
        raise ValueError(f"patch_order must be one of {PATCH_ORDERS}, got {patch_order!r}")


def patchify(x: torch.Tensor, patch: tuple[int, int, int], patch_order: str = "c pt ph pw") -> torch.Tensor:
    """x (B C T H W) -> tokens (B, t*h*w, C*pt*ph*pw).

    The default flattening `(c pt ph pw)` is the memory order of a Conv3d weight `D C pt ph pw`, so
    `PatchEmbed3d` == `Linear(weight=conv.weight.flatten(1))` applied to these tokens (CogVideoX 1.5
    builds its patch embedding exactly that way, as a Linear).
    """
    _check_patch_order(patch_order)
    patch_grid(tuple(x.shape[2:]), patch)
    pt, ph, pw = patch
    return rearrange(x, f"b c (t pt) (h ph) (w pw) -> b (t h w) ({patch_order})", pt=pt, ph=ph, pw=pw)


def unpatchify(tokens: torch.Tensor, grid: tuple[int, int, int], patch: tuple[int, int, int],
               channels: int, patch_order: str = "pt ph pw c") -> torch.Tensor:
    """tokens (B, t*h*w, pt*ph*pw*channels) -> video (B, channels, t*pt, h*ph, w*pw).

    The output head decides the flattening. Wan (`u.view(f, h, w, pt, ph, pw, c)`) and DiT
    (`'nhwpqc->nchpwq'`) put channels last: "pt ph pw c" (the default). HunyuanVideo
    (`'nthwcopq->nctohpwq'`) and CogVideoX (`'b (t h w) (c o p q)'`) put them first: "c pt ph pw".
    """
    _check_patch_order(patch_order)
    (t, h, w), (pt, ph, pw) = grid, patch
    if tokens.shape[1:] != (t * h * w, pt * ph * pw * channels):
        raise ValueError(f"tokens {tuple(tokens.shape)} do not fit grid {tuple(grid)} x patch {tuple(patch)} x "
                         f"{channels} channels: expected (B, {t * h * w}, {pt * ph * pw * channels})")
    return rearrange(tokens, f"b (t h w) ({patch_order}) -> b c (t pt) (h ph) (w pw)",
                     t=t, h=h, w=w, pt=pt, ph=ph, pw=pw)


class PatchEmbed3d(nn.Module):
    """Video -> tokens with a Conv3d whose kernel equals its stride: every `pt x ph x pw` tube becomes
    one token (Wan `patch_embedding`, HunyuanVideo `img_in`, ViViT tubelets; CogVideoX 1.0 is pt=1)."""

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int, int] = (1, 2, 2), bias: bool = True):
        super().__init__()
        self.patch = tuple(patch)
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=self.patch, stride=self.patch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B C T H W) -> tokens (B, t*h*w, dim) in `(t h w)` order."""
        if x.ndim != 5 or x.shape[1] != self.proj.in_channels:
            raise ValueError(f"expected a video (B, {self.proj.in_channels}, T, H, W), got {tuple(x.shape)}")
        patch_grid(tuple(x.shape[2:]), self.patch)
        return rearrange(self.proj(x), "b d t h w -> b (t h w) d")


def tubelet_from_2d(patch_embed_2d: nn.Conv2d, frames: int, mode: str = "mean") -> PatchEmbed3d:
    """ViViT tubelet embedding inflated from a trained 2D patch embedding (`init_embedding` with a
    checkpoint): "mean" tiles W / frames over time, "centre" puts W on frame `frames // 2` only."""
    conv = patch_embed_2d
    if conv.kernel_size != conv.stride:
        raise ValueError(f"a patch embedding has kernel == stride, got kernel {conv.kernel_size}, "
                         f"stride {conv.stride}")
    tubelet = PatchEmbed3d(conv.in_channels, conv.out_channels, (frames, *conv.kernel_size),
                           bias=conv.bias is not None).to(conv.weight.device, conv.weight.dtype)
    with torch.no_grad():
        tubelet.proj.weight.copy_(inflate_conv_weight(conv.weight, frames, mode))
        if conv.bias is not None:
            tubelet.proj.bias.copy_(conv.bias)
    return tubelet


# --- sequence-length accounting ----------------------------------------------------------------

def _legal_neighbours(value: int, legal) -> str:
    """'A or B': the nearest legal values below and above `value` (positive only), for error messages."""
    below = next((v for v in range(min(value, 10**6), 0, -1) if legal(v) and v != value), None)
    above = next(v for v in range(max(value, 0) + 1, max(value, 0) + 10**6) if legal(v))
    return f"{below} or {above}" if below is not None else str(above)


def _check_positive(**sizes: int) -> None:
    for name, size in sizes.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{name} must be a positive whole number, got {size!r}")


def latent_size(frames: int, height: int, width: int, vae_stride: tuple[int, int, int] = (4, 8, 8)
                ) -> tuple[int, int, int]:
    """Pixel video -> causal-VAE latent (T, H, W): frame 0 alone, then one latent per `stride_t` frames."""
    _check_positive(frames=frames, height=height, width=width)
    st, sh, sw = vae_stride
    if (frames - 1) % st:
        raise ValueError(f"a causal VAE with temporal stride {st} needs 1 + {st}n frames, got {frames}; use "
                         + _legal_neighbours(frames, lambda f: (f - 1) % st == 0))
    for name, size, stride in (("height", height, sh), ("width", width, sw)):
        if size % stride:
            raise ValueError(f"{name} {size} is not divisible by the VAE stride {stride}; use "
                             + _legal_neighbours(size, lambda v: v % stride == 0))
    return 1 + (frames - 1) // st, height // sh, width // sw


def token_grid(frames: int, height: int, width: int, vae_stride: tuple[int, int, int] = (4, 8, 8),
               patch: tuple[int, int, int] = (1, 2, 2)) -> tuple[int, int, int]:
    """Pixel video -> (t, h, w) token grid of the transformer. Sizes are checked against the VAE and the patch
    together, so the suggested sizes are ones the whole model accepts (480 or 496 for Wan2.1's 16 pixels)."""
    _check_positive(frames=frames, height=height, width=width)
    (st, sh, sw), (pt, ph, pw) = vae_stride, patch
    for name, size, multiple in (("height", height, sh * ph), ("width", width, sw * pw)):
        if size % multiple:
            raise ValueError(f"{name} {size} does not fit: the VAE ({sh}x) and the patch ({ph}) need a multiple of "
                             f"{multiple}; use " + _legal_neighbours(size, lambda v: v % multiple == 0))

    def legal_frames(f: int) -> bool:
        return (f - 1) % st == 0 and (1 + (f - 1) // st) % pt == 0

    if not legal_frames(frames):
        need = f"1 + {st}n frames" + (f" with 1 + n divisible by the temporal patch {pt}" if pt > 1 else "")
        raise ValueError(f"{frames} frames do not fit: the VAE and the patch need {need}; use "
                         + _legal_neighbours(frames, legal_frames))
    return patch_grid(latent_size(frames, height, width, vae_stride), patch)


def token_count(frames: int, height: int, width: int, vae_stride: tuple[int, int, int] = (4, 8, 8),
                patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    """Video tokens one sample puts into full 3D attention, e.g. Wan2.1 81x480x832 -> 21*30*52 = 32,760."""
    return math.prod(token_grid(frames, height, width, vae_stride, patch))
