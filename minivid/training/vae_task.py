"""wan-vae-tiny: a small Wan2.1-style causal video VAE trained on the synthetic clips, and its shipped file.

    python -m minivid.train --task wan-vae-tiny ...                  # train (data_samples/README.md)
    python scripts/export_wan_vae_tiny.py runs/wan-vae-tiny          # EMA weights + latent statistics
    vae = load_vae()                                                 # data_samples/wan_vae_tiny.safetensors

The architecture is `minivid.models.vae.WanVAE` unchanged; only the sizes are small (`TINY_VAE_CONFIG`).
The loss is Wan's without its LPIPS and GAN terms: a reconstruction error + a small KL to N(0, 1).
The text-to-video model trained next works on this VAE's *normalised* latents: like Wan's hard-coded
16 means and stds, the per-channel statistics are measured once on training clips and stored in the file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from minivid.data import SAMPLE_DIR, SyntheticClips
from minivid.files import load_safetensors
from minivid.models.vae import WanVAE, WanVAEConfig, kl_divergence
from minivid.training.checkpoint import (load_weights, read_checkpoint, read_shipped_info, run_checkpoint,
                                         ship_weights)

# 17 x 32 x 32 clips -> 16 x 5 x 8 x 8 latents. Wan2.1's 8x spatial stride would leave a 4x4 grid in which
# one cell spans most of a shape (8-13 px across); at 4x (two downsampling stages, both also halving time)
# the grid stays legible, the compression per latent value is 3*4*4*4/16 = 12x (Wan2.1: 48x) and a
# 1x2x2-patch transformer sees 5 x 4 x 4 = 80 tokens.
TINY_VAE_CONFIG = WanVAEConfig(base_dim=16, z_dim=16, dim_mult=(1, 2, 2), num_res_blocks=1,
                               temporal_downsample=(True, True))
# The KL is averaged per latent value, the squared error per pixel value. Balancing the two over each latent
# value's posterior std leaves a noise cost of about KL_WEIGHT / 2 in squared error (5e-5: a 49 dB ceiling),
# so the KL keeps the latents bounded without blurring the reconstructions.
KL_WEIGHT = 1e-4
L1_WEIGHT = 0.1  # sharp edges (see vae_loss)
SHIPPED = SAMPLE_DIR / "wan_vae_tiny.safetensors"
METADATA_KEY = "minivid.vae"
# Latent statistics are measured on the training clips (seeds 0, 1, ...) at the length the VAE serves
# downstream: latent frame 0 (an image) and the later ones differ, so the mix of frames must match.
STATS_CLIPS, STATS_SEED, STATS_FRAMES = 256, 0, 17


def build_vae() -> WanVAE:
    return WanVAE(TINY_VAE_CONFIG)


def psnr(reconstruction: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for videos in [-1, 1] (peak-to-peak 2): `B C T H W` -> `B`."""
    mse = (reconstruction.clamp(-1, 1) - video).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4 / mse)


def vae_loss(model: WanVAE, batch: dict):
    """Squared error + L1_WEIGHT x absolute error of a posterior sample's reconstruction, + KL_WEIGHT x KL
    per latent value.

    Wan trains with L1 (+ LPIPS, + a GAN later). L1 alone stalls here: on these clips 90% of the pixels are
    a flat background, and L1 gives every background pixel a unit-size gradient until it is exact, which
    drowns the few object pixels. L2's gradient shrinks with the error, so the object dominates once the
    background is right; but L2 barely minds a blurred edge (many small errors), and a blurred square is
    read as a circle frame after frame. A small L1 term keeps the edges: see data_samples/README.md.
    """
    video = batch["video"]  # B 3 T H W in [-1, 1]
    out = model(video, sample=True)  # noise from the global RNG, which the trainer seeds
    error = out.reconstruction - video
    mse, l1 = error.pow(2).mean(), error.abs().mean()
    kl = kl_divergence(out.mean, out.logvar).mean() / out.mean[0].numel()  # nats per latent value
    metrics = {"mse": mse.detach(), "l1": l1.detach(), "kl": kl.detach(),
               "psnr": psnr(out.reconstruction.detach(), video).mean()}
    return mse + L1_WEIGHT * l1 + KL_WEIGHT * kl, metrics


# ---- the shipped file: EMA weights + the config with latent statistics, as plain safetensors ----------

@torch.no_grad()
def latent_statistics(vae: WanVAE, videos: torch.Tensor, batch: int = 16) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the raw latent means (`encode_moments`) of `videos` `N 3 T H W`."""
    means = torch.cat([vae.encode_moments(chunk)[0] for chunk in videos.split(batch)])  # N z T' H' W'
    per_channel = means.transpose(0, 1).flatten(1)  # z (N T' H' W')
    return per_channel.mean(1).tolist(), per_channel.std(1).tolist()


def export(run: str | Path, out: str | Path = SHIPPED, stats_clips: int = STATS_CLIPS) -> Path:
    """Write the EMA weights of `run` (a checkpoint, or a directory: its latest) to `out`, with the config and
    the latent statistics of `stats_clips` training clips in the metadata; copy the loss log next to it."""
    checkpoint = run_checkpoint(run)
    _, meta = read_checkpoint(checkpoint, prefix="none")
    frames, size = STATS_FRAMES, meta["run"]["data"]["size"]
    vae = load_weights(checkpoint, build_vae(), ema=True).eval()
    clips = SyntheticClips(stats_clips, frames=frames, size=size, seed=STATS_SEED)
    mean, std = latent_statistics(vae, torch.stack([clips[i]["video"] for i in range(len(clips))]))
    config = dataclasses.replace(vae.config, latents_mean=tuple(mean), latents_std=tuple(std))
    info = {"config": dataclasses.asdict(config), "step": meta["step"], "run": meta["run"],
            "train_seconds": meta.get("train_seconds"),
            "train": {k: meta["config"][k] for k in ("batch_size", "lr", "warmup", "ema_decay", "seed")},
            "latent_statistics": {"clips": stats_clips, "seed": STATS_SEED, "frames": frames, "size": size}}
    return ship_weights(checkpoint, vae.state_dict(), out, METADATA_KEY, info)


def read_info(path: str | Path = SHIPPED) -> dict:
    """The JSON metadata of a shipped VAE file: config (with latent statistics), step, run, training settings."""
    return read_shipped_info(path, METADATA_KEY)


def load_vae(path: str | Path = SHIPPED) -> WanVAE:
    """The shipped tiny VAE, in eval mode, with its latent statistics: `encode` gives ~N(0, 1) latents."""
    fields = read_info(path)["config"]
    config = WanVAEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    vae = WanVAE(config)
    vae.load_state_dict(load_safetensors(path))
    return vae.eval()

