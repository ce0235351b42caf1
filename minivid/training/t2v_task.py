"""t2v-tiny: a small Wan2.1-style text-to-video model that learns the synthetic captions on a CPU.

    python -m minivid.train --task t2v-tiny ...                     # train (data_samples/README.md)
    python scripts/eval_t2v.py runs/t2v-tiny --export               # measure it, ship its EMA weights
    model, vae = load_t2v(), load_vae()                             # data_samples/t2v_tiny.safetensors

    caption --WordTokenizer--> ids B 6 --TextEncoder--> text B 6 64 ----------------------+
    clip B 3 17 32 32 --tiny Wan VAE (frozen, encoded once)--> latent B 16 5 8 8 --WanModel(x, t, text)--> velocity

The transformer is `minivid.models.wan.WanModel` unchanged (3D RoPE, one shared time MLP with per-block
modulation, cross-attention to the text); only its sizes are small (`WAN_CONFIG`). The text encoder is
trained with it from scratch (`minivid.models.text`). Training is flow matching on the VAE's normalised
latents: `x_σ = (1-σ)·x0 + σ·noise`, target velocity `noise - x0`, σ drawn logit-normal and then
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
(`prompt_following`, `scripts/eval_t2v.py`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from minivid.data import ALL_COMBINATIONS, SAMPLE_DIR, SyntheticClips, accuracy, caption, split_combinations
from minivid.diffusion import flow_noisy_sample, flow_velocity_target, training_sigmas
from minivid.layers.embed import latent_size
from minivid.models.text import TextEncoder, WordTokenizer
from minivid.models.vae import WanVAE
from minivid.models.wan import WanConfig, WanModel
from minivid.sampling import sample_t2v
from minivid.training.checkpoint import (load_weights, read_checkpoint, read_shipped_info, run_checkpoint,
                                         ship_weights)
from minivid.training.vae_task import SHIPPED as VAE_FILE
from minivid.training.vae_task import load_vae

SHIPPED = SAMPLE_DIR / "t2v_tiny.safetensors"
METADATA_KEY = "minivid.t2v"
TRAIN_COMBINATIONS, HELD_OUT = split_combinations(0.2, seed=0)  # 72 seen, 18 held out
VOCABULARY = sorted({word for combo in ALL_COMBINATIONS for word in caption(*combo).split()})  # 15 words
TEXT_LENGTH = 6  # captions have 3 or 4 words; the rest is padding, as Wan pads to 512
TEXT_LAYERS = 2
WAN_CONFIG = WanConfig(dim=128, ffn_dim=256, heads=2, layers=4, in_channels=16, out_channels=16,
                       text_dim=64, patch=(1, 2, 2))
CFG_DROPOUT = 0.1  # fraction of training captions replaced by the empty (null) caption
TRAIN_SIGMAS, TRAIN_SHIFT = "logit_normal", 3.0  # training σ: logit-normal, then shifted like the sampler's
# sampling defaults, chosen by measuring the seen combinations (data_samples/README.md)
NUM_STEPS, SHIFT, GUIDANCE = 20, 3.0, 4.0
SEEN_SAMPLE = TRAIN_COMBINATIONS[::4]  # 18 of the 72 seen combinations, as many as are held out
CACHE_DIR = Path("runs/cache")  # latents of the training clips, relative to where training runs


class TinyT2V(nn.Module):
    """Text encoder + Wan transformer: `forward(latent, t, ids)` predicts the flow velocity."""

    def __init__(self, wan: WanConfig = WAN_CONFIG, text_layers: int = TEXT_LAYERS,
                 text_length: int = TEXT_LENGTH):
        super().__init__()
        self.tokenizer = WordTokenizer(VOCABULARY, text_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), text_length, wan.text_dim, text_layers)
        self.transformer = WanModel(wan)

    def encode_text(self, captions: list[str]) -> Tensor:
        """captions (B,) -> text states `B TEXT_LENGTH text_dim`; "" is the null caption."""
        return self.text_encoder(self.tokenizer(captions).to(self.transformer.patch_embedding.proj.weight.device))

    def forward(self, latent: Tensor, t: Tensor, ids: Tensor) -> Tensor:
        """latent `B 16 T H W`, t `(B,)` = σ·1000, ids `B TEXT_LENGTH` -> velocity `B 16 T H W`."""
        return self.transformer(latent, t, self.text_encoder(ids))


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
            with safe_open(str(cache), framework="pt") as file:
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
    return LatentClips(length, frames, size, seed, cache_dir=CACHE_DIR)


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

def export(run: str | Path, out: str | Path = SHIPPED) -> Path:
    """Write the EMA weights of `run` (a checkpoint, or a directory: its latest) to `out` as plain
    safetensors in float16 (half the bytes; `load_t2v` puts them back into float32 parameters), with the
    training settings in the metadata; copy the loss log next to it."""
    checkpoint = run_checkpoint(run)
    _, meta = read_checkpoint(checkpoint, prefix="none")
    model = load_weights(checkpoint, TinyT2V(), ema=True)
    info = {"step": meta["step"], "run": meta["run"], "held_out": HELD_OUT, "dtype": "float16",
            "train": {k: meta["config"][k] for k in ("steps", "batch_size", "lr", "warmup", "ema_decay", "seed")}}
    half = {name: value.to(torch.float16) for name, value in model.state_dict().items()}
    return ship_weights(checkpoint, half, out, METADATA_KEY, info)


def read_info(path: str | Path = SHIPPED) -> dict:
    """The JSON metadata of a shipped t2v file: step, run, held-out combinations, training settings."""
    return read_shipped_info(path, METADATA_KEY)


def load_t2v(path: str | Path = SHIPPED) -> TinyT2V:
    """The trained model in eval mode, from a shipped file or a training run (checkpoint or directory)."""
    path = Path(path)
    if path.is_dir() or path.name.startswith("step_"):
        return load_weights(run_checkpoint(path), TinyT2V(), ema=True).eval()
    read_info(path)  # a clear error for a file that is not ours
    model = TinyT2V()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@torch.no_grad()
def generate(model: TinyT2V, vae: WanVAE, captions: list[str], *, seed: int = 0, num_steps: int = NUM_STEPS,
             shift: float = SHIFT, guidance_scale: float = GUIDANCE, frames: int = 17, size: int = 32) -> Tensor:
    """Videos `B 3 frames size size` in [-1, 1] for `captions`. The noise of the whole batch comes from
    `seed`, so a clip depends on (seed, its place in the batch). guidance_scale 1: no guidance (one pass)."""
    cfg = vae.config
    latent = latent_size(frames, size, size, (cfg.temporal_stride, cfg.spatial_stride, cfg.spatial_stride))
    context = model.encode_text(captions)  # B L D
    null = model.encode_text([""]) if guidance_scale != 1 else None  # 1 L D
    latents = sample_t2v(model.transformer, context, null, latent_size=latent, num_steps=num_steps, shift=shift,
                         guidance_scale=guidance_scale, seed=seed, text_len=None)  # B z T' H' W'
    return vae.decode(latents)


def prompt_following(model: TinyT2V, vae: WanVAE, combinations, seeds=(0, 1), batch: int = 36,
                     **sampling) -> tuple[dict[str, float], list]:
    """Generate every combination once per seed, read the clips back with `data.describe`:
    (accuracy dict as `data.accuracy`, the videos `C T H W` in order seed-major)."""
    combinations = [tuple(c) for c in combinations]
    captions = [caption(*c) for c in combinations]
    videos = []
    for seed in seeds:
        for start in range(0, len(captions), batch):
            videos.extend(generate(model, vae, captions[start:start + batch], seed=seed, **sampling))
    return accuracy(videos, combinations * len(seeds)), videos


def measure(model: TinyT2V, vae: WanVAE, seeds=(0, 1), combinations: int = len(HELD_OUT),
            **sampling) -> dict[str, dict[str, float]]:
    """Prompt following on the first `combinations` seen (SEEN_SAMPLE) and held-out combinations, once
    per seed: {"seen": accuracies + "clips", "held-out": ...}. What `scripts/eval_t2v.py` reports."""
    results = {}
    for name, combos in (("seen", SEEN_SAMPLE[:combinations]), ("held-out", HELD_OUT[:combinations])):
        results[name], _ = prompt_following(model, vae, combos, seeds=seeds, **sampling)
        results[name]["clips"] = len(combos) * len(seeds)
    return results


def accuracy_table(results: dict[str, dict[str, float]]) -> str:
    """`measure`'s results as a text table: one row per set of combinations, accuracies in %."""
    words = ("shape", "colour", "motion", "all")
    rows = [f"{'combinations':14}{'clips':>6}" + "".join(f"{w:>8}" for w in words)]
    for name, acc in results.items():
        rows.append(f"{name:14}{acc['clips']:>6}" + "".join(f"{acc[w]:8.1%}" for w in words))
    return "\n".join(rows)

