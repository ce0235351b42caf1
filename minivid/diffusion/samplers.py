"""Samplers: one update rule per method (DDPM, DDIM, flow Euler) and one loop that drives any of them.

Every sampler takes `model_fn(x, t) -> output` with `x` `(B, ...)` and `t` `(B,)`: integer training
steps for DDPM/DDIM, float `σ·1000` for flow matching, as diffusers pipelines pass them. Wrap a model
with `guidance.cfg_model` to sample with classifier-free guidance.

The update rules follow diffusers' `DDPMScheduler`, `DDIMScheduler` and
`FlowMatchEulerDiscreteScheduler` op for op (tests/test_diffusion_parity.py), with one deliberate
difference: diffusers' DDIM steps from t to `t − T // n` rather than to the next listed timestep. The
two agree whenever n divides T (and always for "leading" spacing), which covers the published
configs (T = 1000 with 50 steps); for "trailing"/"linspace" with other n, minivid steps to the next
listed timestep, as `DDPMScheduler` and the DDIM paper do.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from minivid.diffusion.flow import flow_sigmas
from minivid.diffusion.schedules import NoiseSchedule
from minivid.diffusion.targets import check_prediction, per_sample, predicted_eps, predicted_x0

ModelFn = Callable[[Tensor, Tensor], Tensor]
DDPM_VARIANCES = ("small", "large")


def ddpm_step(output: Tensor, x_t: Tensor, alpha_bar: float | Tensor, alpha_bar_prev: float | Tensor,
              prediction: str, noise: Tensor | None = None, variance: str = "small",
              clip_x0: float | None = None) -> Tensor:
    """One ancestral step x_t → x_prev: a draw from the posterior q(x_prev | x_t, x̂0); `(B, ...)`.

    The mean is the exact Gaussian posterior mean given the predicted x0; the variance is that
    posterior's β̃ ("small") or β itself ("large"), Ho et al. 2020 §3.2. `noise=None` returns the
    mean (the last step, where ᾱ_prev = 1 makes β̃ = 0). `alpha_bar_prev` may belong to a step
    several training steps back: then β is that whole jump's 1 − ᾱ_t/ᾱ_prev.
    """
    if variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {variance!r}; expected one of {DDPM_VARIANCES}")
    x0 = predicted_x0(output, x_t, alpha_bar, prediction)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
    a_t, a_prev = per_sample(alpha_bar, x_t), per_sample(alpha_bar_prev, x_t)
    alpha = a_t / a_prev
    beta = 1 - alpha
    mean = (a_prev.sqrt() * beta / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_prev) / (1 - a_t)) * x_t
    if noise is None:
        return mean
    var = (1 - a_prev) / (1 - a_t) * beta if variance == "small" else beta
    return mean + var.sqrt() * noise


def ddim_step(output: Tensor, x_t: Tensor, alpha_bar: float | Tensor, alpha_bar_prev: float | Tensor,
              prediction: str, eta: float = 0.0, noise: Tensor | None = None,
              clip_x0: float | None = None) -> Tensor:
    """One DDIM step x_t → x_prev (Song et al. 2021, eq. 12); `(B, ...)`.

    Re-noise the predicted x0 to level ᾱ_prev along the predicted eps. η scales the fresh noise:
    η = 0 is a deterministic ODE step, η = 1 gives DDPM's β̃ variance and the same mean. As in
    diffusers, clipping x0 does not re-derive eps.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM variance); got {eta}")
    x0 = predicted_x0(output, x_t, alpha_bar, prediction)
    eps = predicted_eps(output, x_t, alpha_bar, prediction)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
    a_t, a_prev = per_sample(alpha_bar, x_t), per_sample(alpha_bar_prev, x_t)
    # Only formed for η > 0: run backwards (DDIM inversion, ᾱ_prev < ᾱ_t) the variance is negative.
    std = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt() if eta > 0 else 0.0
    # 1 − ᾱ_prev − std² ≥ 0 for η ≤ 1, but float rounding can dip below zero at η = 1.
    x_prev = a_prev.sqrt() * x0 + (1 - a_prev - std**2).clamp(min=0).sqrt() * eps
    if eta > 0:
        if noise is None:
            raise ValueError("ddim_step with eta > 0 needs `noise` (standard normal, like x_t)")
        x_prev = x_prev + std * noise
    return x_prev


def flow_euler_step(velocity: Tensor, x: Tensor, sigma: float | Tensor,
                    sigma_next: float | Tensor) -> Tensor:
    """One Euler step of dx/dσ = v from σ to σ_next (< σ); `(B, ...)`."""
    return x + per_sample(sigma_next - sigma, x) * velocity


def run_steps(step: Callable[[int, Tensor], Tensor], x: Tensor, num_steps: int, progress: bool,
              return_trajectory: bool) -> Tensor | tuple[Tensor, Tensor]:
    """Apply `step(i, x)` for i = 0..n−1 → final x, or (x, trajectory `(n+1, B, ...)`) from x_T on."""
    trajectory = [x]
    for i in tqdm(range(num_steps), disable=not progress, desc="sampling"):
        x = step(i, x)
        if return_trajectory:
            trajectory.append(x)
    return (x, torch.stack(trajectory)) if return_trajectory else x


def model_timestep(t: Tensor, x: Tensor) -> Tensor:
    """One timestep repeated over the batch, `(B,)`, on x's device (what pipelines pass a model)."""
    return t.to(x.device).expand(x.shape[0])


def sample_ddpm(model_fn: ModelFn, x_T: Tensor, schedule: NoiseSchedule, num_steps: int, *,
                prediction: str = "eps", spacing: str = "leading", steps_offset: int = 0,
                variance: str = "small", clip_x0: float | None = None,
                generator: torch.Generator | None = None, progress: bool = False,
                return_trajectory: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Ancestral DDPM sampling from noise `x_T` `(B, ...)` → x0 `(B, ...)` (or with trajectory).

    Fresh noise is drawn from `generator` once per step except the last, in `x_T`'s shape and
    dtype, in the order diffusers' `DDPMScheduler.step` draws it.
    """
    check_prediction(prediction)
    timesteps = schedule.timesteps(num_steps, spacing, steps_offset)
    alpha_bar, alpha_bar_prev = schedule.step_alpha_bars(timesteps)

    def step(i: int, x: Tensor) -> Tensor:
        output = model_fn(x, model_timestep(timesteps[i], x))
        last = i == num_steps - 1
        noise = None if last else torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return ddpm_step(output, x, alpha_bar[i], alpha_bar_prev[i], prediction, noise, variance, clip_x0)

    return run_steps(step, x_T, num_steps, progress, return_trajectory)


def sample_ddim(model_fn: ModelFn, x_T: Tensor, schedule: NoiseSchedule, num_steps: int, *,
                prediction: str = "eps", eta: float = 0.0, spacing: str = "leading",
                steps_offset: int = 0, set_alpha_to_one: bool = True, clip_x0: float | None = None,
                generator: torch.Generator | None = None, progress: bool = False,
                return_trajectory: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """DDIM sampling from noise `x_T` `(B, ...)` → x0 `(B, ...)` (or with trajectory).

    `set_alpha_to_one` (diffusers' name): the last step jumps to ᾱ = 1, a clean sample; False jumps
    to ᾱ_0 = 1 − β_0 instead (a sample one training step short of clean). With η > 0, noise is
    drawn from `generator` at every step, as diffusers does.
    """
    check_prediction(prediction)
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0 = deterministic DDIM, 1 = DDPM variance); got {eta}")
    timesteps = schedule.timesteps(num_steps, spacing, steps_offset)
    final = 1.0 if set_alpha_to_one else schedule.alphas_cumprod[0]
    alpha_bar, alpha_bar_prev = schedule.step_alpha_bars(timesteps, final)

    def step(i: int, x: Tensor) -> Tensor:
        output = model_fn(x, model_timestep(timesteps[i], x))
        noise = None
        if eta > 0:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return ddim_step(output, x, alpha_bar[i], alpha_bar_prev[i], prediction, eta, noise, clip_x0)

    return run_steps(step, x_T, num_steps, progress, return_trajectory)


def sample_flow_euler(model_fn: ModelFn, noise: Tensor, num_steps: int | None = None, *,
                      shift: float = 1.0, convention: str = "uniform", sigmas: Tensor | None = None,
                      num_train_timesteps: int = 1000, progress: bool = False,
                      return_trajectory: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Euler integration of a flow model's velocity from σ = 1 to 0: `noise` `(B, ...)` → x0.

    The model sees `t = σ·num_train_timesteps` (float32). Pass `sigmas` `(n+1,)` (descending,
    ending at 0) to override `flow_sigmas(num_steps, shift, convention)`.
    """
    if sigmas is None:
        if num_steps is None:
            raise ValueError("pass num_steps (or an explicit `sigmas` schedule)")
        sigmas = flow_sigmas(num_steps, shift, convention, num_train_timesteps)
    if sigmas.ndim != 1 or len(sigmas) < 2 or not (sigmas[1:] < sigmas[:-1]).all():
        raise ValueError("sigmas must be 1-D, strictly decreasing, with at least 2 entries")
    sigmas = sigmas.to(noise.device)
    timesteps = sigmas[:-1] * num_train_timesteps

    def step(i: int, x: Tensor) -> Tensor:
        velocity = model_fn(x, model_timestep(timesteps[i], x))
        return flow_euler_step(velocity, x, sigmas[i], sigmas[i + 1])

    return run_steps(step, noise, len(sigmas) - 1, progress, return_trajectory)
