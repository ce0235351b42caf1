"""DDPM noise schedules: which ᾱ_t belongs to each training step t, and which steps a sampler visits.

Three β-schedules cover the video models in this course:
- `"linear"`: β from 1e-4 to 0.02 (Ho et al. 2020; DiT, Latte).
- `"scaled_linear"`: linear in √β, 0.00085 → 0.012 (Stable Diffusion; LVDM, AnimateDiff, SVD's
  image prior, CogVideoX).
- `"cosine"`: ᾱ(t) = cos²(((t/T + 0.008)/1.008)·π/2), with β capped at 0.999 (Nichol & Dhariwal
  2021; diffusers calls it "squaredcos_cap_v2").
None of them reaches ᾱ_T = 0: SD's keeps √ᾱ_T ≈ 0.068, so training never sees pure noise while
sampling starts from it. Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are
Flawed", Algorithm 1) shift and rescale √ᾱ so that the last step has SNR exactly 0 and the first is
unchanged (`zero_terminal_snr=True`, diffusers `rescale_betas_zero_snr`, used by CogVideoX). A
sampler must then start at t = T−1 ("trailing" spacing) and the model cannot predict eps there.

The schedule is computed in float32 by default, op for op as diffusers does, so that samplers match
diffusers to float rounding; pass `dtype=torch.float64` for analysis.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from minivid.diffusion.targets import noisy_sample

BETA_SCHEDULES = ("linear", "scaled_linear", "cosine")
DIFFUSERS_BETA_SCHEDULE = {"linear": "linear", "scaled_linear": "scaled_linear",
                           "cosine": "squaredcos_cap_v2"}
SPACINGS = ("leading", "trailing", "linspace")


def cosine_alpha_bar(t: Tensor) -> Tensor:
    """Nichol & Dhariwal's ᾱ(t) for t ∈ [0, 1]; the offset 0.008 keeps β small near t = 0."""
    return torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


def make_betas(kind: str, num_train_timesteps: int = 1000, beta_start: float = 1e-4,
               beta_end: float = 0.02, dtype: torch.dtype = torch.float32) -> Tensor:
    """β_t for t = 0..T−1 → `(T,)`. `beta_start`/`beta_end` are ignored by "cosine"."""
    if kind not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta schedule {kind!r}; expected one of {BETA_SCHEDULES} "
                         f"(diffusers' 'squaredcos_cap_v2' is 'cosine')")
    if num_train_timesteps < 2:
        raise ValueError(f"num_train_timesteps must be at least 2; got {num_train_timesteps}")
    if kind == "cosine":
        t = torch.arange(num_train_timesteps + 1, dtype=torch.float64) / num_train_timesteps
        alpha_bar = cosine_alpha_bar(t)
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999).to(dtype)
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1; got {beta_start}, {beta_end}")
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=dtype)
    return torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=dtype) ** 2


def betas_from_alpha_bar(alpha_bar: Tensor) -> Tensor:
    """Undo the cumulative product: ᾱ `(T,)` → β `(T,)` (a schedule edited through its ᾱ)."""
    return 1 - torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])


def rescale_zero_terminal_snr(betas: Tensor) -> Tensor:
    """Lin et al. 2023, Algorithm 1: make √ᾱ affine-rescaled so √ᾱ_0 stays and √ᾱ_{T−1} = 0; `(T,)`."""
    root = torch.cumprod(1 - betas, dim=0).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    return betas_from_alpha_bar(root**2)


def shift_snr(betas: Tensor, scale: float) -> Tensor:
    """CogVideoX's SNR shift (SD3's resolution shift on a DDPM schedule): ᾱ → ᾱ / (s + (1 − s)·ᾱ), i.e.
    every step's SNR ᾱ/(1−ᾱ) divided by s, so training and sampling spend more time at high noise.
    CogVideoX-2B uses s = 3 (diffusers' `snr_shift_scale`), the 5B s = 1 (no shift); `(T,)`."""
    if scale <= 0:
        raise ValueError(f"snr_shift_scale must be positive (1 = no shift); got {scale}")
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    return betas_from_alpha_bar(alpha_bar / (scale + (1 - scale) * alpha_bar))


def spaced_timesteps(num_steps: int, num_train_timesteps: int, spacing: str = "leading",
                     steps_offset: int = 0) -> Tensor:
    """The training steps a sampler visits, descending → int64 `(num_steps,)`.

    Lin et al. 2023, Table 2 (0-based here, T = 1000, 10 steps): "leading" 900, 800, …, 0 (never
    visits T−1, so sampling starts short of pure noise); "trailing" 999, 899, …, 99 (starts at T−1,
    needed with zero terminal SNR); "linspace" 999, 888, …, 0. `steps_offset` shifts "leading"
    only, as in diffusers (Stable Diffusion uses 1).
    """
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; expected one of {SPACINGS}")
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}] (the training steps); "
                         f"got {num_steps}")
    i = torch.arange(num_steps, dtype=torch.float64)
    if spacing == "leading":
        timesteps = (i * (num_train_timesteps // num_steps)).flip(0) + steps_offset
    elif spacing == "trailing":
        timesteps = torch.round(num_train_timesteps - i * (num_train_timesteps / num_steps)) - 1
    else:
        step = (num_train_timesteps - 1) / (num_steps - 1) if num_steps > 1 else 0.0
        timesteps = torch.round(i * step).flip(0)
    timesteps = timesteps.long()
    if timesteps.min() < 0 or timesteps.max() >= num_train_timesteps:
        raise ValueError(f"steps_offset={steps_offset} moves timesteps outside [0, "
                         f"{num_train_timesteps}); use a smaller offset")
    return timesteps


class NoiseSchedule:
    """A discrete DDPM schedule: `betas` `(T,)`, `alphas_cumprod` ᾱ `(T,)`, and the forward process."""

    def __init__(self, betas: Tensor):
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError(f"betas must be 1-D with at least 2 steps; got shape {tuple(betas.shape)}")
        if not ((betas > 0) & (betas <= 1)).all():
            raise ValueError("every beta must lie in (0, 1]")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)

    @property
    def num_train_timesteps(self) -> int:
        return len(self.betas)

    def snr(self) -> Tensor:
        """Signal-to-noise ratio ᾱ/(1−ᾱ) per step `(T,)`; 0 at the end of a zero-terminal-SNR schedule."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """x_t for clean `x0` `(B, ...)`, `noise` like it and integer steps `t` `(B,)` → `(B, ...)`."""
        if t.dtype.is_floating_point:
            raise ValueError("DDPM timesteps are integer steps in [0, T); got a float tensor "
                             "(flow matching uses `flow.flow_noisy_sample` with sigmas instead)")
        alpha_bar = self.alphas_cumprod.to(x0.device)[t.to(x0.device)]
        return noisy_sample(x0, noise, alpha_bar)

    def timesteps(self, num_steps: int, spacing: str = "leading", steps_offset: int = 0) -> Tensor:
        """See `spaced_timesteps`; int64 `(num_steps,)`, descending."""
        return spaced_timesteps(num_steps, self.num_train_timesteps, spacing, steps_offset)

    def step_alpha_bars(self, timesteps: Tensor, final_alpha_bar: float | Tensor = 1.0
                        ) -> tuple[Tensor, Tensor]:
        """(ᾱ at each visited step, ᾱ at the step it jumps to) → two `(n,)` tensors.

        The jump from the last visited step lands on "t = −1", i.e. the clean sample, whose ᾱ is
        `final_alpha_bar`: 1 in DDPM; DDIM's `set_alpha_to_one=False` uses ᾱ_0 instead.
        """
        alpha_bar = self.alphas_cumprod[timesteps]
        final = torch.as_tensor(final_alpha_bar, dtype=alpha_bar.dtype).reshape(1)
        return alpha_bar, torch.cat([alpha_bar[1:], final])


def noise_schedule(kind: str = "linear", num_train_timesteps: int = 1000, beta_start: float = 1e-4,
                   beta_end: float = 0.02, zero_terminal_snr: bool = False, snr_shift_scale: float = 1.0,
                   dtype: torch.dtype = torch.float32) -> NoiseSchedule:
    """The named schedule, e.g. SD: `noise_schedule("scaled_linear", 1000, 0.00085, 0.012)`; CogVideoX-2B adds
    `snr_shift_scale=3.0, zero_terminal_snr=True` (the shift first, then the rescale, as its scheduler)."""
    betas = make_betas(kind, num_train_timesteps, beta_start, beta_end, dtype)
    if snr_shift_scale != 1.0:
        betas = shift_snr(betas, snr_shift_scale)
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
    return NoiseSchedule(betas)
