"""Named training tasks for `python -m minivid.train --task NAME`: a model, its data, its loss.

Adding one is a few lines at the end of this file:

    register_task("wan-vae-tiny", build_model=lambda: presets.build("wan2.1-vae-tiny", "cpu"),
                  build_dataset=SyntheticClips, loss_fn=vae_loss,
                  description="the tiny causal video VAE: reconstruction + KL")

`build_model()` runs right after `torch.manual_seed(seed)`, so a seed names an initialisation.
`build_dataset(length=, frames=, size=, seed=)` returns a map-style dataset of dicts whose item i is
always the same (see data_order.py); `SyntheticClips` fits as it is. `loss_fn(model, batch) ->
(scalar loss, metrics dict)` receives the bare model (never the DDP wrapper) and the collated batch.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from minivid.data import SyntheticClips
from minivid.training import distill_task, t2v_task, vae_task
from minivid.training.loop import LossFn, TrainConfig, Trainer


@dataclass(frozen=True)
class Task:
    name: str
    build_model: Callable[[], nn.Module]
    build_dataset: Callable[..., torch.utils.data.Dataset]
    loss_fn: LossFn
    description: str = ""
    shipped: Path | None = None  # where the course ships this task's trained weights (data_samples/)


_TASKS: dict[str, Task] = {}


def register_task(name: str, build_model, build_dataset, loss_fn, description: str = "",
                  shipped: Path | None = None) -> None:
    if name in _TASKS:
        raise ValueError(f"task {name!r} is already registered")
    _TASKS[name] = Task(name, build_model, build_dataset, loss_fn, description, shipped)


def task_names() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _TASKS[name]


def build_trainer(name: str, config: TrainConfig, *, length: int = 256, frames: int = 17,
                  size: int = 32, data_seed: int = 0) -> Trainer:
    """The task's model (initialised from config.seed), dataset and loss in a Trainer."""
    task = get_task(name)
    torch.manual_seed(config.seed)
    model = task.build_model()
    dataset = task.build_dataset(length=length, frames=frames, size=size, seed=data_seed)
    data = {"length": length, "frames": frames, "size": size, "seed": data_seed}
    return Trainer(model, dataset, task.loss_fn, config, run={"task": name, "data": data})


# ---------------------------------------------------------------------------------------------
# tiny-autoencoder: the trainer's own smoke test. Small enough to train in seconds on a CPU, with
# no batch-dependent layers and no randomness in its loss, so that its results do not depend on
# how a batch is split (accumulation, processes).
# ---------------------------------------------------------------------------------------------

class TinyClipAutoencoder(nn.Module):
    """Each frame cut into 4x4 patches, squeezed to `latent` channels and expanded back."""

    def __init__(self, channels: int = 3, hidden: int = 32, latent: int = 8, patch: int = 4):
        super().__init__()
        self.patch = patch
        kernel = (1, patch, patch)
        self.encoder = nn.Sequential(nn.Conv3d(channels, hidden, kernel, stride=kernel), nn.SiLU(),
                                     nn.Conv3d(hidden, latent, 1))
        self.decoder = nn.Sequential(nn.Conv3d(latent, hidden, 1), nn.SiLU(),
                                     nn.ConvTranspose3d(hidden, channels, kernel, stride=kernel))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video: B C T H W, H and W divisible by the patch -> its reconstruction, same shape."""
        if video.shape[-1] % self.patch or video.shape[-2] % self.patch:
            raise ValueError(f"height and width must be divisible by {self.patch}, "
                             f"got {tuple(video.shape[-2:])}")
        return self.decoder(self.encoder(video))  # B latent T H/p W/p in between


def reconstruction_loss(model: nn.Module, batch: dict):
    video = batch["video"]  # B C T H W in [-1, 1]
    loss = F.mse_loss(model(video), video)
    return loss, {"psnr": 10 * torch.log10(4 / loss.detach())}  # peak-to-peak 2 in [-1, 1]


register_task("tiny-autoencoder", TinyClipAutoencoder, SyntheticClips, reconstruction_loss,
              "a 2-layer patch autoencoder reconstructing synthetic clips (the trainer's smoke test)")

# ---- tasks of the course's models: add yours below -------------------------------------------

register_task("t2v-tiny", t2v_task.build_model, t2v_task.build_dataset, t2v_task.t2v_loss,
              "a tiny Wan2.1-style text-to-video transformer + text encoder, flow matching on the tiny "
              "VAE's latents of the seen caption combinations", shipped=t2v_task.SHIPPED)
register_task("t2v-tiny-cogvideox", functools.partial(t2v_task.build_model, "t2v-tiny-cogvideox"),
              t2v_task.build_dataset, t2v_task.t2v_loss,
              "t2v-tiny with a tiny CogVideoX transformer (joint text+video attention, expert adaLN) in "
              "place of Wan's: same text encoder, data, objective and sampler",
              shipped=t2v_task.SHIPPED_FILES["t2v-tiny-cogvideox"])
register_task("t2v-tiny-hunyuanvideo", functools.partial(t2v_task.build_model, "t2v-tiny-hunyuanvideo"),
              t2v_task.build_dataset, t2v_task.t2v_loss,
              "t2v-tiny with a tiny HunyuanVideo transformer (token refiner, double- then single-stream "
              "blocks, masked text padding) in place of Wan's: same text encoder, data, objective and sampler",
              shipped=t2v_task.SHIPPED_FILES["t2v-tiny-hunyuanvideo"])
register_task(distill_task.TASK, distill_task.build_student, t2v_task.build_dataset, distill_task.distill_loss,
              "guidance distillation: the shipped tiny HunyuanVideo (CFG, two passes a step) as the teacher of the "
              "same network with a guidance embedding (one pass), as HYVideo-T/2-cfgdistill",
              shipped=t2v_task.SHIPPED_FILES[distill_task.TASK])
register_task("wan-vae-tiny", vae_task.build_vae, SyntheticClips, vae_task.vae_loss,
              "a small Wan2.1-style causal video VAE (4x time, 4x space, 16 channels): "
              "reconstruction + small KL (minivid/training/vae_task.py)", shipped=vae_task.SHIPPED)
