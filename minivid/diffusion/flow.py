"""Flow matching (rectified flow), as Wan and HunyuanVideo train and sample it.

The noisy sample is a straight line between data and noise, `x_σ = (1−σ)·x0 + σ·noise` for σ ∈ [0, 1],
and the network predicts its velocity `dx_σ/dσ = noise − x0`. Sampling integrates that ODE from
σ = 1 (pure noise) to σ = 0. The network is told the time as `σ·1000`: a float in diffusers' Euler
scheduler and HunyuanVideo; Wan's UniPC sampler (its own and diffusers') truncates it to int64.

The timestep shift `σ' = s·σ / (1 + (s−1)·σ)` (SD3, Esser et al. 2024) multiplies the noise odds
σ/(1−σ) by s: with s > 1 the sampler spends more of its steps at high noise. Esser et al. argue
that larger images (here: more latent tokens) keep more signal at the same σ, so they need it. Shifts
compose multiplicatively and s = 1 is the identity. Published defaults (`SAMPLE_SHIFT`):
- Wan2.1 `generate.py : _validate_args`: 5.0 for every T2V size (T2V-14B and 1.3B, 480p and 720p),
  3.0 for I2V at 832×480 / 480×832, 16 for FLF2V and VACE; its README recommends 8–12 for
  T2V-1.3B and gives 5.0 (720p) / 3.0 (480p) as `flow_shift` for the diffusers pipeline.
- HunyuanVideo `hyvideo/config.py : --flow-shift`: 7.0.

Where the sampled sigmas come from differs between implementations (`flow_sigmas`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from minivid.diffusion.targets import per_sample

SIGMA_CONVENTIONS = ("uniform", "diffusers")

# Wan-Video/Wan2.1 generate.py (last changed in 76e9427) and Tencent-Hunyuan/HunyuanVideo
# hyvideo/config.py (fa14b00).
SAMPLE_SHIFT = {
    "wan2.1-t2v": 5.0,
    "wan2.1-i2v-480p": 3.0,
    "wan2.1-i2v-720p": 5.0,
    "wan2.1-flf2v": 16.0,
    "wan2.1-vace": 16.0,
    "hunyuanvideo-t2v": 7.0,
}


def flow_noisy_sample(x0: Tensor, noise: Tensor, sigma: float | Tensor) -> Tensor:
    """`x_σ = (1−σ)·x0 + σ·noise`; x0, noise `(B, ...)`, σ scalar or `(B,)` → `(B, ...)`."""
    s = per_sample(sigma, x0)
    return (1 - s) * x0 + s * noise


def flow_velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The velocity `noise − x0` a flow model is trained to predict; `(B, ...)`."""
    return noise - x0


def flow_predicted_x0(velocity: Tensor, x: Tensor, sigma: float | Tensor) -> Tensor:
    """The clean sample implied by a velocity at level σ: `x − σ·v`; `(B, ...)`."""
    return x - per_sample(sigma, x) * velocity


def shift_sigmas(sigmas: Tensor, shift: float) -> Tensor:
    """`σ' = s·σ / (1 + (s−1)·σ)`: a monotone map of [0, 1] onto itself fixing 0 and 1; any shape."""
    if shift <= 0:
        raise ValueError(f"shift must be positive (1 = no shift); got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def training_sigmas(batch: int, kind: str = "logit_normal", shift: float = 1.0, device=None) -> Tensor:
    """Noise levels σ ∈ (0, 1) for a training batch, `(batch,)`, from the global RNG.

    - "logit_normal": σ = sigmoid(n), n ~ N(0, 1) (SD3, Esser et al. 2024, their best "rf/lognorm(0, 1)"):
      most samples near σ = 0.5, where the velocity is hardest to predict, few at either end.
    - "uniform": σ ~ U(0, 1), the original rectified-flow choice.
    `shift` then moves them towards noise exactly as the sampler's timestep shift does (SD3 §5.3.2 shifts
    its training distribution too when it trains at a higher resolution); the median becomes shift(0.5).
    """
    if kind == "logit_normal":
        sigma = torch.sigmoid(torch.randn(batch, device=device))
    elif kind == "uniform":
        sigma = torch.rand(batch, device=device)
    else:
        raise ValueError(f"unknown sigma sampling {kind!r}; expected 'logit_normal' or 'uniform'")
    return shift_sigmas(sigma, shift)


def flow_sigmas(num_steps: int, shift: float = 1.0, convention: str = "uniform",
                num_train_timesteps: int = 1000) -> Tensor:
    """The sigmas an Euler sampler visits, descending, ending with 0 → float32 `(num_steps + 1,)`.

    - `"uniform"`: shift(linspace(1, 0, n+1)). HunyuanVideo's `FlowMatchDiscreteScheduler`, Wan's
      `dpm++` path (`get_sampling_sigmas`) and diffusers' HunyuanVideo pipeline (which passes these
      sigmas to the scheduler).
    - `"diffusers"`: what `FlowMatchEulerDiscreteScheduler.set_timesteps(n)` does on its own:
      n points from 1 down to its smallest *training* sigma, which it has already shifted once
      (shift(1/T)), then shifted again, then 0 appended. So its last nonzero sigma is
      shift(shift(1/T)) = shift²-shifted 1/T (0.024 for s = 5), not the uniform 1/n.
    Wan's UniPC sampler (not implemented here) uses shift(linspace(1 − 1/T, 0, n+1)[:-1]) in
    `wan/utils/fm_solvers_unipc.py` and shift(linspace(1, 1/T, n+1)[:-1]) in diffusers'
    `UniPCMultistepScheduler(use_flow_sigmas=True)`.
    """
    if convention not in SIGMA_CONVENTIONS:
        raise ValueError(f"unknown sigma convention {convention!r}; expected one of {SIGMA_CONVENTIONS}")
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}]; got {num_steps}")
    if convention == "uniform":
        sigmas = torch.linspace(1, 0, num_steps + 1, dtype=torch.float64)[:-1]
    else:
        smallest = shift_sigmas(torch.tensor(1 / num_train_timesteps, dtype=torch.float32), shift)
        sigmas = torch.linspace(num_train_timesteps, smallest.item() * num_train_timesteps,
                                num_steps, dtype=torch.float64) / num_train_timesteps
    sigmas = shift_sigmas(sigmas, shift).float()
    return torch.cat([sigmas, torch.zeros(1)])
