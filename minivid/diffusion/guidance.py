"""Classifier-free guidance (Ho & Salimans 2021): extrapolate from the unconditional prediction
past the conditional one.

Two forms appear in the official code, with the same two model outputs c (conditional) and
u (unconditional):
- `"standard"`: `u + w·(c − u)`. w = 1 is the plain conditional model. DiT, Wan (`guide_scale`,
  default 5.0), CogVideoX, diffusers pipelines, and LVDM's `uc_type=None`. (HunyuanVideo's released
  model is guidance-distilled: `--cfg-scale` defaults to 1.0, i.e. no CFG, and the strength 6.0
  enters as an embedding, `--embedded-cfg-scale`.)
- `"cfg_original"`: `c + w·(c − u)` = `(1+w)·c − w·u`, LVDM `lvdm/samplers/ddim.py` with
  `uc_type='cfg_original'` (the default of its long-video script, `--uncond_scale 0.1`). It is the
  standard form with w + 1, so w = 0 is the conditional model; a scale copied between the two
  codebases must be shifted by one.

Guidance is linear, so it applies to any prediction type (eps, v, x0, flow velocity) alike. `scale`
may be a tensor broadcasting against the output (SVD ramps it over frames).

DiT quirk (`facebookresearch/DiT models.py : forward_with_cfg`): it guides **only the first 3
channels** "for exact reproducibility" and returns the other latent channel (and the learned-sigma
channels) from the conditional branch. VDT copies this, Latte patches it to 4 channels.
`guided_channels=3` reproduces it; the default guides every channel.
"""
from __future__ import annotations

import math

from typing import Callable

import torch
from torch import Tensor

GUIDANCE_FORMS = ("standard", "cfg_original")
# A condition is one tensor, or a tuple of tensors that all have the batch first (HunyuanVideo's text:
# its states and their padding mask); the guidance batches and moves every part alike.
Context = Tensor | tuple[Tensor, ...]


def context_map(fn: Callable[..., Tensor], *contexts: Context) -> Context:
    """`fn` applied to a context (or to zipped contexts) part by part; a tensor is a one-part context."""
    if isinstance(contexts[0], tuple):
        return tuple(fn(*parts) for parts in zip(*contexts))
    return fn(*contexts)


def cfg_combine(cond: Tensor, uncond: Tensor, scale: float | Tensor, form: str = "standard",
                guided_channels: int | None = None) -> Tensor:
    """Guided prediction from conditional and unconditional outputs, both `(B, C, ...)` → `(B, C, ...)`."""
    if form not in GUIDANCE_FORMS:
        raise ValueError(f"unknown guidance form {form!r}; expected one of {GUIDANCE_FORMS}")
    if cond.shape != uncond.shape:
        raise ValueError(f"cond and uncond outputs differ in shape: {tuple(cond.shape)} vs "
                         f"{tuple(uncond.shape)}")
    base = uncond if form == "standard" else cond
    guided = base + scale * (cond - uncond)
    if guided_channels is None:
        return guided
    if not 1 <= guided_channels <= cond.shape[1]:
        raise ValueError(f"guided_channels must be in [1, {cond.shape[1]}] (the output channels); "
                         f"got {guided_channels}")
    return torch.cat([guided[:, :guided_channels], cond[:, guided_channels:]], dim=1)


def cfg_model(model_fn: Callable[[Tensor, Tensor, Context], Tensor], cond: Context, uncond: Context,
              scale: float | Tensor, form: str = "standard", guided_channels: int | None = None
              ) -> Callable[[Tensor, Tensor], Tensor]:
    """Wrap `model_fn(x, t, context)` into a guided `(x, t) -> output` for the samplers.

    Each call runs the model once on the doubled batch `[uncond; cond]` (x `(B, ...)` → `(2B, ...)`,
    t `(B,)` → `(2B,)`), the way diffusers pipelines do, then combines the halves. `cond` and
    `uncond` are the per-sample contexts `(B, ...)` (e.g. text embeddings and the null prompt's), or
    tuples of them (`Context`).
    """
    if form not in GUIDANCE_FORMS:
        raise ValueError(f"unknown guidance form {form!r}; expected one of {GUIDANCE_FORMS}")
    shapes = context_map(lambda c, u: (tuple(c.shape), tuple(u.shape)), cond, uncond)
    for c, u in shapes if isinstance(cond, tuple) else [shapes]:
        if c != u:
            raise ValueError(f"cond and uncond contexts differ in shape: {c} vs {u}; pad or broadcast the null "
                             "context first")
    context = context_map(lambda c, u: torch.cat([u, c]), cond, uncond)  # 2B ...
    batch = (cond[0] if isinstance(cond, tuple) else cond).shape[0]

    def guided(x: Tensor, t: Tensor) -> Tensor:
        if x.shape[0] != batch:
            raise ValueError(f"batch of {x.shape[0]} samples but {batch} contexts")
        out = model_fn(torch.cat([x, x]), torch.cat([t, t]), context)  # 2B C ...
        out_uncond, out_cond = out.chunk(2)
        return cfg_combine(out_cond, out_uncond, scale, form, guided_channels)

    return guided


def dynamic_guidance_scale(scale: float, step_index: int, num_steps: int, exponent: float = 5.0, *,
                           timestep: int | None = None) -> float:
    """CogVideoX's dynamic CFG (THUDM/CogVideo `sat/sgm/modules/diffusionmodules/guiders.py : DynamicCFG`):
    `1 + scale · (1 − cos(π (i/n)^exponent)) / 2` at step i of n — as designed, no guidance at the first
    step, rising to `1 + scale` at the end, slowly at first (exponent 5): the layout is left to the model,
    the details are guided.

    `timestep`: reproduce the released samplers instead. SAT's `VideoDDIMSampler.denoise` (`sampling.py`)
    passes `step_index=self.num_steps - timestep` with the *training* timestep (999, 979, ... at 50 steps),
    and diffusers' CogVideoX pipelines compute the same, so the scale they apply jumps between 1 and
    1 + scale from step to step (notebook 16 draws both)."""
    if timestep is not None:
        return 1 + scale * (1 - math.cos(math.pi * ((num_steps - timestep) / num_steps) ** exponent)) / 2
    if not 0 <= step_index < num_steps:
        raise ValueError(f"step_index must be in [0, num_steps) = [0, {num_steps}); got {step_index}")
    return 1 + scale * (1 - math.cos(math.pi * (step_index / num_steps) ** exponent)) / 2