"""What a diffusion network predicts, and the exact conversions between eps, v and x0.

The DDPM forward process is `x_t = √ᾱ·x0 + √(1−ᾱ)·ε`. A network is trained to output one of
- `"eps"`: the noise ε (DDPM, Stable Diffusion, LVDM, AnimateDiff);
- `"v"`:   `v = √ᾱ·ε − √(1−ᾱ)·x0` (Salimans & Ho 2022; Imagen Video, CogVideoX, SVD);
- `"x0"`:  the clean sample itself.
With `a = √ᾱ`, `s = √(1−ᾱ)` (so `a² + s² = 1`), `(x_t, v)` is `(x0, ε)` rotated by the angle
φ = arccos a. Any one prediction plus `x_t` gives the others exactly, except where a division by a
or s appears: ε cannot give x0 at a = 0 (the zero-terminal-SNR step, where `x_t` *is* the noise and
says nothing about x0), and x0 cannot give ε at s = 0 (no noise at all). v never divides, which is
why zero-terminal-SNR schedules (Lin et al. 2023; CogVideoX) train with v. Those two undefined cases
raise a ValueError instead of returning inf/NaN.

`alpha_bar` is ᾱ as a float, a 0-d tensor or one value per sample `(B,)`. diffusers spells the
prediction types "epsilon", "v_prediction" and "sample" (`DIFFUSERS_PREDICTION`).
"""
from __future__ import annotations

import torch
from torch import Tensor

PREDICTIONS = ("eps", "v", "x0")
DIFFUSERS_PREDICTION = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}


def per_sample(coeff: float | Tensor, x: Tensor) -> Tensor:
    """A scalar or per-sample `(B,)` coefficient shaped to broadcast against `x` `(B, ...)`."""
    coeff = torch.as_tensor(coeff, dtype=x.dtype, device=x.device)
    if coeff.ndim == 1:
        if coeff.shape[0] != x.shape[0]:
            raise ValueError(f"per-sample coefficient has {coeff.shape[0]} values for a batch of "
                             f"{x.shape[0]}; pass one value or one per sample")
        coeff = coeff.reshape(-1, *[1] * (x.ndim - 1))
    elif coeff.ndim > 1:
        raise ValueError(f"coefficient must be a scalar or (B,); got shape {tuple(coeff.shape)}")
    return coeff


def check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction type {prediction!r}; expected one of {PREDICTIONS} "
                         f"(diffusers names them {tuple(DIFFUSERS_PREDICTION.values())})")


def noisy_sample(x0: Tensor, eps: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """The forward process `x_t = √ᾱ·x0 + √(1−ᾱ)·ε`; x0, eps `(B, ...)` → same shape."""
    a = per_sample(alpha_bar, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def v_target(x0: Tensor, eps: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """The velocity `v = √ᾱ·ε − √(1−ᾱ)·x0` (diffusers `get_velocity`); `(B, ...)` → same shape."""
    a = per_sample(alpha_bar, x0)
    return a.sqrt() * eps - (1 - a).sqrt() * x0


def training_target(x0: Tensor, eps: Tensor, alpha_bar: float | Tensor, prediction: str) -> Tensor:
    """What a network of type `prediction` should output for this (x0, eps, ᾱ); `(B, ...)`."""
    check_prediction(prediction)
    if prediction == "eps":
        return eps
    if prediction == "v":
        return v_target(x0, eps, alpha_bar)
    return x0


def predicted_x0(output: Tensor, x_t: Tensor, alpha_bar: float | Tensor, prediction: str) -> Tensor:
    """The clean sample implied by a network output at noise level ᾱ; `(B, ...)` → same shape."""
    check_prediction(prediction)
    a = per_sample(alpha_bar, x_t)
    if prediction == "eps":
        if (a == 0).any():
            raise ValueError("eps-prediction cannot give x0 at ᾱ = 0 (zero terminal SNR: x_t is pure "
                             "noise); train with 'v' or 'x0', or drop the terminal step")
        return (x_t - (1 - a).sqrt() * output) / a.sqrt()
    if prediction == "v":
        return a.sqrt() * x_t - (1 - a).sqrt() * output
    return output


def predicted_eps(output: Tensor, x_t: Tensor, alpha_bar: float | Tensor, prediction: str) -> Tensor:
    """The noise implied by a network output at noise level ᾱ; `(B, ...)` → same shape."""
    check_prediction(prediction)
    a = per_sample(alpha_bar, x_t)
    if prediction == "eps":
        return output
    if prediction == "v":
        return a.sqrt() * output + (1 - a).sqrt() * x_t
    if (a == 1).any():
        raise ValueError("x0-prediction cannot give eps at ᾱ = 1 (no noise in x_t); "
                         "evaluate the model at a noisy timestep")
    return (x_t - a.sqrt() * output) / (1 - a).sqrt()
