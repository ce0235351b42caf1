"""The optimisation pieces, all standard: AdamW, linear warm-up then cosine decay, and an EMA copy.

Diffusion models are trained with AdamW and sampled from an exponential moving average of the
weights (DiT: AdamW, constant lr 1e-4, EMA decay 0.9999). The EMA smooths the noise of the last
few thousand updates, which matters more for samples than for the loss.
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_optimizer(model: nn.Module, lr: float, weight_decay: float,
                   betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW that decays matrices and kernels only: shrinking a norm gain or a bias towards zero
    is not regularisation but a change of the function (the nanoGPT / GPT-2 rule, by ndim)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas)


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Learning-rate multiplier for optimizer step `step` (0-based).

    Linear warm-up reaches 1 at the last warm-up step, (step + 1) / warmup, so no update is wasted
    at lr 0; then a half cosine from 1 at `warmup` down to `min_ratio` at `total` (and beyond).
    Warm-up lets Adam's second-moment estimate settle before the updates get large.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int,
                   min_ratio: float) -> LambdaLR:
    """`scheduler.step()` once per optimizer step; the lr is `lr * warmup_cosine(step, ...)`."""
    return LambdaLR(optimizer, partial(warmup_cosine, warmup=warmup, total=total, min_ratio=min_ratio))


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """A frozen copy of `model` whose parameters follow ema = decay * ema + (1 - decay) * param
    after each `ema.update_parameters(model)`; the first update copies the weights. Buffers are
    copied, not averaged (use_buffers=False): they are not trained. 1 / (1 - decay) is roughly the
    number of recent updates averaged: 0.999 -> ~1000 steps. Sample from `ema.module`."""
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    return ema.requires_grad_(False).eval()  # it is sampled from, never trained
