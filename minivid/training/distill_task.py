"""Guidance distillation at tiny scale: HunyuanVideo's `HYVideo-T/2-cfgdistill` recipe on the course's tiny
HunyuanVideo (task `t2v-tiny-hunyuanvideo-distilled`).

    teacher (frozen, the shipped tiny HunyuanVideo, CFG):  target = u + w · (c − u)      two passes
    student (the same network + `guidance_in`):            v = student(x_t, t, text, guidance = w · 1000)   one pass
    loss = | v − target |²,   w ~ U[1, GUIDANCE_MAX] per clip,   x_t, t as in `t2v_task.t2v_loss`

The student starts as the teacher's weights with a guidance embedder whose last Linear is set to 0, i.e. as
the teacher's *conditional* model, and learns to add the guidance term from the
scale it is given. The official report trains its distilled model the same way (the guided output of the
teacher as the target, the scale embedded like a timestep); its training set-up is not public, so the
numbers here (scale range, steps) are this course's choices, measured in `data_samples/README.md`.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from minivid.data import VOCABULARY
from minivid.diffusion import flow_noisy_sample, training_sigmas
from minivid.files import load_safetensors
from minivid.models.tiny_t2v import TINY_HUNYUANVIDEO_DISTILLED, TinyT2V
from minivid.training.t2v_task import SHIPPED_FILES, TRAIN_SHIFT, TRAIN_SIGMAS, load_t2v

TASK = "t2v-tiny-hunyuanvideo-distilled"
TEACHER = SHIPPED_FILES["t2v-tiny-hunyuanvideo"]
GUIDANCE_MAX = 6.0  # scales drawn from U[1, 6]: the benchmark samples at 4, the official default is 6


@functools.cache
def _teacher(device: str) -> TinyT2V:
    teacher = load_t2v(TEACHER).to(device)
    return teacher.requires_grad_(False)


def build_student() -> TinyT2V:
    """The tiny HunyuanVideo with a guidance embedder, holding the shipped teacher's weights everywhere
    else; `guidance_in`'s last Linear is set to zero, so at step 0 the student is exactly the teacher's
    conditional model (the embedder's first Linear keeps its random init, so gradients reach it at once)."""
    student = TinyT2V(VOCABULARY, TINY_HUNYUANVIDEO_DISTILLED)
    if next(student.parameters()).is_meta:  # a shape-only build (scripts/whats_built.py): no values to load
        return student
    missing, unexpected = student.load_state_dict(load_safetensors(TEACHER), strict=False)
    if unexpected or not missing or any(not key.startswith("transformer.guidance_in.") for key in missing):
        raise ValueError(f"{TEACHER} does not fit the student: missing {missing}, unexpected {unexpected}")
    last = student.transformer.guidance_in.mlp[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    return student


def distill_loss(student: TinyT2V, batch: dict):
    """MSE between the student's one-pass velocity at a random scale w and the teacher's CFG velocity at w."""
    x0 = batch["latent"]  # B z T H W, normalised
    b, device = x0.shape[0], x0.device
    teacher = _teacher(str(device))
    ids = student.tokenizer(batch["caption"]).to(device)
    sigma = training_sigmas(b, TRAIN_SIGMAS, TRAIN_SHIFT, device)  # B
    x_t, t = flow_noisy_sample(x0, torch.randn_like(x0), sigma), sigma * 1000
    w = 1 + (GUIDANCE_MAX - 1) * torch.rand(b, device=device)  # B
    with torch.no_grad():
        cond, uncond = teacher(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([ids, torch.zeros_like(ids)])).chunk(2)
        target = uncond + w.view(b, 1, 1, 1, 1) * (cond - uncond)
    prediction = student.velocity(x_t, t, student.text_condition(ids), guidance=w * 1000)
    return F.mse_loss(prediction, target), {}
