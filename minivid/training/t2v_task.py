"""t2v-tiny: small text-to-video models that learn the synthetic captions on a CPU — the tiny Wan
(task "t2v-tiny") and, trained the same way, the tiny CogVideoX ("t2v-tiny-cogvideox").

    python -m minivid.train --task t2v-tiny ...                     # train (data_samples/README.md)
    python scripts/eval_t2v.py --model wan --weights runs/t2v-tiny --export   # measure it, ship its EMA weights
    model, vae = load_t2v(), load_vae()                             # data_samples/t2v_tiny.safetensors

    clip B 3 17 32 32 --tiny Wan VAE (frozen, encoded once)--> latent B 16 5 8 8 --TinyT2V(x, t, caption)--> velocity

The model is `minivid.models.tiny_t2v.TinyT2V` (a small text encoder + `WanModel` or `CogVideoXModel`
unchanged); the two tasks differ in that transformer only. Training is
flow matching on the VAE's normalised latents: `x_σ = (1-σ)·x0 + σ·noise`, target velocity `noise - x0`, σ drawn logit-normal and then
shifted towards noise by TRAIN_SHIFT (`minivid.diffusion.training_sigmas`). Sampling integrates the
velocity with Euler steps over shifted sigmas, with classifier-free guidance against the empty caption,
which training shows in place of the real one CFG_DROPOUT of the time.

Why shift the training noise: where an object is and how it moves are decided at high noise, and SD3's
unshifted logit-normal (median σ = 0.5) puts only 4% of its samples above σ = 0.85. In development runs
(1,500-2,000 steps, on a stand-in autoencoder) a model trained that way restored clips noised to σ = 0.7
(83% all three words right) but drew shapeless blobs from pure noise (0-6%); with the shift of 3
(median σ = 0.75) the same budget drew single coherent objects of the right colour. The shipped run's
accuracies, and what still limits shape on held-out combinations, are in data_samples/README.md.

Some (shape, colour, motion) combinations never appear in training (`HELD_OUT`, every word still seen):
generating them measures whether the model composes words rather than recalling clips
(`minivid.evaluation`, `scripts/eval_t2v.py`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from minivid.config import runs_dir
from minivid.data import SAMPLE_DIR, VOCABULARY, SyntheticClips, split_combinations
from minivid.diffusion import flow_noisy_sample, flow_velocity_target, training_sigmas
from minivid.files import load_safetensors, open_safetensors
from minivid.models.tiny_t2v import TINY_COGVIDEOX, TINY_HUNYUANVIDEO, TINY_HUNYUANVIDEO_DISTILLED, TINY_WAN, TinyT2V
from minivid.models.vae import WanVAE
from minivid.training.checkpoint import (load_weights, read_checkpoint, read_shipped_info, run_checkpoint,
                                         ship_weights)
from minivid.training.vae_task import SHIPPED as VAE_FILE
from minivid.training.vae_task import load_vae

TRANSFORMERS = {"t2v-tiny": TINY_WAN, "t2v-tiny-cogvideox": TINY_COGVIDEOX,  # task -> its transformer
                "t2v-tiny-hunyuanvideo": TINY_HUNYUANVIDEO,
                "t2v-tiny-hunyuanvideo-distilled": TINY_HUNYUANVIDEO_DISTILLED}  # (training: distill_task.py)
SHIPPED_FILES = {"t2v-tiny": SAMPLE_DIR / "t2v_tiny.safetensors",
                 "t2v-tiny-cogvideox": SAMPLE_DIR / "t2v_tiny_cogvideox.safetensors",
                 "t2v-tiny-hunyuanvideo": SAMPLE_DIR / "t2v_tiny_hunyuanvideo.safetensors",
                 "t2v-tiny-hunyuanvideo-distilled": SAMPLE_DIR / "t2v_tiny_hunyuanvideo_distilled.safetensors"}
BAKE_OFF = ("t2v-tiny", "t2v-tiny-cogvideox", "t2v-tiny-hunyuanvideo")  # trained from scratch, one budget
SHIPPED = SHIPPED_FILES["t2v-tiny"]
METADATA_KEY = "minivid.t2v"
TRAIN_COMBINATIONS, HELD_OUT = split_combinations(0.2, seed=0)  # 72 seen, 18 held out
CFG_DROPOUT = 0.1  # fraction of training captions replaced by the empty (null) caption
TRAIN_SIGMAS, TRAIN_SHIFT = "logit_normal", 3.0  # training σ: logit-normal, then shifted like the sampler's


def build_model(task: str = "t2v-tiny") -> TinyT2V:
    """The model `task` trains: the course's caption vocabulary and the task's tiny transformer."""
    if task not in TRANSFORMERS:
        raise ValueError(f"unknown text-to-video task {task!r}; one of {', '.join(TRANSFORMERS)}")
    return TinyT2V(VOCABULARY, TRANSFORMERS[task])


# ---- data: the training clips, encoded once by the frozen VAE ------------------------------------------

@torch.no_grad()
def encode_clips(vae: WanVAE, clips: SyntheticClips, batch: int = 32) -> tuple[Tensor, list[str]]:
    """Normalised latent means of every clip, `N z T' H' W'` (the pipeline's `encode`, no sampling),
    and their captions."""
    latents, captions = [], []
    for start in range(0, len(clips), batch):
        items = [clips[i] for i in range(start, min(start + batch, len(clips)))]
        latents.append(vae.encode(torch.stack([item["video"] for item in items])))  # B z T' H' W'
        captions += [item["caption"] for item in items]
    return torch.cat(latents), captions


class LatentClips(torch.utils.data.Dataset):
    """`SyntheticClips` of the training combinations as VAE latents + captions. Encoding is the slow part
    (~0.05 s a clip on a CPU core), so it happens once here, and is kept in `cache_dir` when given,
    under a name that changes with the VAE file and every dataset argument."""

    def __init__(self, length: int, frames: int = 17, size: int = 32, seed: int = 0,
                 combinations=TRAIN_COMBINATIONS, vae_path=VAE_FILE, cache_dir=None):
        clips = SyntheticClips(length, frames, size, seed, combinations)
        key = json.dumps([hashlib.sha256(Path(vae_path).read_bytes()).hexdigest(), length, frames, size,
                          seed, clips.combinations])
        name = f"t2v-latents-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"
        cache = Path(cache_dir) / name if cache_dir else None
        if cache is not None and cache.exists():
            with open_safetensors(cache) as file:
                self.latents = file.get_tensor("latents")
                self.captions = json.loads(file.metadata()["captions"])
            return
        self.latents, self.captions = encode_clips(load_vae(vae_path), clips)  # N z T' H' W', N
        if cache is not None:  # written under a temporary name, then renamed: DDP ranks may race here
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            save_file({"latents": self.latents.contiguous()}, str(partial),
                      metadata={"captions": json.dumps(self.captions)})
            os.replace(partial, cache)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict:
        return {"latent": self.latents[index], "caption": self.captions[index]}


def build_dataset(length: int, frames: int, size: int, seed: int) -> LatentClips:
    return LatentClips(length, frames, size, seed, cache_dir=runs_dir("cache"))  # runs/cache, from anywhere


# ---- the loss -----------------------------------------------------------------------------------------

def t2v_loss(model: TinyT2V, batch: dict, sigma_sampling: str = TRAIN_SIGMAS,
             sigma_shift: float = TRAIN_SHIFT):
    """Flow-matching MSE on the velocity; CFG_DROPOUT of the captions become the null caption."""
    x0 = batch["latent"]  # B z T H W, normalised
    b, device = x0.shape[0], x0.device
    ids = model.tokenizer(batch["caption"]).to(device)  # B L
    ids[torch.rand(b, device=device) < CFG_DROPOUT] = 0  # all pads: the empty caption
    sigma = training_sigmas(b, sigma_sampling, sigma_shift, device)  # B
    noise = torch.randn_like(x0)
    velocity = model(flow_noisy_sample(x0, noise, sigma), sigma * 1000, ids)
    return F.mse_loss(velocity, flow_velocity_target(x0, noise)), {}


# ---- the shipped file, generation and the prompt-following measurement ---------------------------------

def export(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the EMA weights of `run` (a checkpoint, or a directory: its latest) to `out` (default: its
    task's shipped file) as plain safetensors in float16 (half the bytes; `load_t2v` puts them back into
    float32 parameters), with the task and training settings in the metadata; copy the loss log next to it."""
    checkpoint = run_checkpoint(run)
    _, meta = read_checkpoint(checkpoint, prefix="none")
    task = meta["run"]["task"]
    model = load_weights(checkpoint, build_model(task), ema=True)
    info = {"task": task, "step": meta["step"], "run": meta["run"], "held_out": HELD_OUT, "dtype": "float16",
            "train_seconds": meta.get("train_seconds"),
            "train": {k: meta["config"][k] for k in ("steps", "batch_size", "lr", "warmup", "ema_decay", "seed")}}
    half = {name: value.to(torch.float16) for name, value in model.state_dict().items()}
    return ship_weights(checkpoint, half, out or SHIPPED_FILES[task], METADATA_KEY, info)


def read_info(path: str | Path = SHIPPED) -> dict:
    """The JSON metadata of a shipped t2v file: task, step, run, held-out combinations, training settings."""
    return read_shipped_info(path, METADATA_KEY)


def load_t2v(path: str | Path = SHIPPED) -> TinyT2V:
    """The trained model in eval mode, from a shipped file or a training run (checkpoint or directory),
    built for the task that trained it."""
    path = Path(path)
    if path.is_dir() or path.name.startswith("step_"):
        checkpoint = run_checkpoint(path)
        task = read_checkpoint(checkpoint, prefix="none")[1]["run"]["task"]
        return load_weights(checkpoint, build_model(task), ema=True).eval()
    model = build_model(read_info(path)["task"])  # read_info: a clear error for a file that is not ours
    model.load_state_dict(load_safetensors(path))
    return model.eval()
