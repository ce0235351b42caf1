# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — The causal video VAE: Wan-VAE in small
#
# Every modern video diffusion model works on latents, not pixels: a VAE squeezes 81 frames of
# 720p video 4× in time and 8× (Wan2.1) or 16× (Wan2.2) in space, and the transformer only ever
# sees those latents. Wan's VAE is *causal*: latent frame `j` depends on pixel frames up to `4j`
# only, so frame 0 — an image — is encoded alone, one model serves images and videos, and a clip
# of any length can be encoded in chunks of 1, 4, 4, … frames with a small cache, in flat memory.
# This notebook answers the question the blog posts leave open — *why does replacing GroupNorm by
# RMSNorm keep it causal?* — with a demonstration, builds the chunk schedule and the temporal
# down- and up-sampling from scratch (with the official code's first-chunk quirks), proves them
# equal to `minivid.models.vae`, shows a tiny Wan-style VAE that the repo's own trainer trained on
# the course's clips, explains latent normalisation, compares Wan2.1 with Wan2.2 at 720p, and
# tiles a frame with blended overlaps the way HunyuanVideo and diffusers do.
#
# **Prerequisites:** notebook 00 (video tensors, the synthetic clips), notebook 03 (causal
# padding and the streaming cache of `CausalConv3d`).
# **Run time:** CI mode ≈ 20 s, learner mode ≈ 35 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
N_HELD_OUT = 16 if FAST else 64  # held-out clips (a far-away seed) scored through the shipped VAE
EDITS = (1, 5, 9, 13) if FAST else tuple(range(1, 17))  # frames edited in the whole-VAE causality test
OVERFIT_STEPS = 40 if FAST else 150  # steps of the overfit-one-clip check

# %%
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from IPython.display import display
from torch import nn
from torch.testing import assert_close

import minivid.presets as presets
from minivid import data, viz
from minivid.exercises import check
from minivid.layers.conv import CausalConv3d, streaming
from minivid.layers.embed import token_count
from minivid.layers.norm import ChannelRMSNorm, FrameGroupNorm, future_leak
from minivid.layers.tiling import tiled_apply
from minivid.models.vae import Downsample, Upsample, WanVAE
from minivid.train import TrainConfig, build_trainer, read_log
from minivid.training import vae_task

minivid.check_environment()
torch.set_num_threads(1)  # these tensors are small: one thread avoids OpenMP overhead on a busy CPU
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. Which normalisation keeps a video VAE causal?
#
# The Wan report says every GroupNorm of the VAE was replaced by RMSNorm to keep it causal in
# time, and *Controllable Video Generation*, a survey blog post by Lu Yuxin, asks "I don't get how
# that keeps it causal in time". The answer is in *what the statistics are pooled over*:
#
# - `nn.GroupNorm` on a `B C T H W` tensor pools mean and variance over `(C/G, T, H, W)` — over
#   **every frame of the clip**. Change frame 12 and the mean moves, so the output of frame 0
#   moves too: the future leaks into the past.
# - Wan's `RMS_norm` divides each position by the RMS **over channels only**: one number per
#   `(frame, pixel)`. Nothing crosses frames, so it cannot leak.
#
# Both from scratch, then proven equal to the library versions:

# %%
def clip_group_norm(x: torch.Tensor, groups: int, eps: float = 1e-5) -> torch.Tensor:
    """B C T H W: statistics over (C/G, T, H, W), i.e. over the whole clip (nn.GroupNorm on 5-D input)."""
    g = rearrange(x, "b (g c) t h w -> b g (c t h w)", g=groups)
    g = (g - g.mean(-1, keepdim=True)) / (g.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
    c, t, h = x.shape[1] // groups, x.shape[2], x.shape[3]
    return rearrange(g, "b g (c t h w) -> b (g c) t h w", c=c, t=t, h=h)


def channel_rms_norm(x: torch.Tensor) -> torch.Tensor:
    """B C T H W: each (frame, pixel) divided by its RMS over the channels (Wan's RMS_norm, gain 1)."""
    return x / x.pow(2).mean(dim=1, keepdim=True).sqrt()


x = torch.randn(1, 8, 9, 6, 6, dtype=torch.float64)  # B C T H W
assert_close(clip_group_norm(x, 4), nn.GroupNorm(4, 8, affine=False).double()(x))
assert_close(channel_rms_norm(x), ChannelRMSNorm(8).double()(x))
print("from-scratch GroupNorm == nn.GroupNorm; from-scratch RMSNorm == minivid ChannelRMSNorm")

# %% [markdown]
# Now edit every frame **after** frame 4 and measure how much each output frame moves.

# %%
t_edit = 4
edited = x.clone()
edited[:, :, t_edit + 1:] = 3 * torch.randn_like(x[:, :, t_edit + 1:]) + 1  # new, brighter future
norms = {"GroupNorm over the clip\n(CogVideoX, HunyuanVideo VAEs)": lambda v: clip_group_norm(v, 4),
         "GroupNorm per frame\n(time folded into the batch)": FrameGroupNorm(4, 8, affine=False).double(),
         "channel RMSNorm (Wan)": channel_rms_norm}
change = {name: (norm(edited) - norm(x)).abs().amax(dim=(0, 1, 3, 4)) for name, norm in norms.items()}  # T

fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), sharey=True, layout="constrained")
for ax, (name, moved) in zip(axes, change.items()):
    ax.bar(range(x.shape[2]), moved, color=["tab:red"] * (t_edit + 1) + ["0.6"] * (x.shape[2] - t_edit - 1))
    ax.axvspan(t_edit + 0.5, x.shape[2] - 0.5, color="0.9", zorder=0)
    ax.set(title=name, xlabel="output frame", xticks=range(x.shape[2]))
axes[0].set_ylabel("max |change| of the output")
fig.suptitle(f"frames after {t_edit} edited (grey band): red bars are the past moving")
plt.close(fig)
fig

# %%
past = slice(0, t_edit + 1)
assert change[list(norms)[0]][past].min() > 0.05  # clip GroupNorm: every past frame moved
assert change[list(norms)[1]][past].max() == 0 and change[list(norms)[2]][past].max() == 0
# the same verdicts from minivid's probe, on the library layers
assert future_leak(nn.GroupNorm(4, 8).double(), x, t=t_edit) > 0.05
assert future_leak(ChannelRMSNorm(8).double(), x, t=t_edit) == 0.0
assert future_leak(FrameGroupNorm(4, 8).double(), x, t=t_edit) == 0.0

# %% [markdown]
# Per-frame GroupNorm would be causal too (it still mixes all pixels of one frame); Wan's norm
# pools over channels only. Wan's maintainers give the causality reason in Wan-Video/Wan2.1 issue
# #294: GroupNorm over `(b, c, t, h, w)` pools over all frames. What a clip-level GroupNorm means
# in practice:
# **chunked encoding is no longer exact**. Encoding frame 0 alone gives other statistics than
# encoding it inside the clip:

# %%
alone, inside = clip_group_norm(x[:, :, :1], 4), clip_group_norm(x, 4)[:, :, :1]
print(f"GroupNorm, frame 0 alone vs inside the clip: max |difference| = {(alone - inside).abs().max():.3f}")
print(f"RMSNorm,   frame 0 alone vs inside the clip: max |difference| = "
      f"{(channel_rms_norm(x[:, :, :1]) - channel_rms_norm(x)[:, :, :1]).abs().max():.1e}")

# %% [markdown]
# This is why the chunked ("frame-batched") encode and decode of the **CogVideoX** VAE
# (`nn.GroupNorm` on 5-D tensors in diffusers; a time-gathering `ContextParallelGroupNorm` in the
# official code) and of the **HunyuanVideo** VAE (`GroupNorm` in `ResnetBlockCausal3D`) are an
# *approximation* of their whole-clip pass: diffusers' CogVideoX VAE batches 8 frames (2 latent
# frames) at a time, and its PR #9340 notes other batch sizes give poor results. Wan's chunked
# pass is exact — proven below for the whole VAE.
#
# ## 2. 1 + 4n frames, chunks of 1, 4, 4, … and the feature cache
#
# Wan's `encode` feeds the encoder frame 0 alone, then 4 frames at a time, and keeps in every
# causal conv a cache of the last frames it saw, so each chunk continues exactly where the last
# one stopped. A clip of `1 + 4n` frames gives `1 + n` latent frames. The schedule from scratch,
# next to what the official `WanVAE_.encode` slices (`iter_ = 1 + (t - 1) // 4`):

# %%
def chunk_schedule(frames: int, stride: int = 4) -> list[tuple[int, int]]:
    """[(start, end)] of each encoder chunk: frame 0 alone, then `stride` frames per latent frame."""
    if frames < 1 or (frames - 1) % stride:
        raise ValueError(f"need 1+{stride}n frames, got {frames}; use {1 + stride * ((frames - 1) // stride)} "
                         f"or {1 + stride * ((frames - 1) // stride + 1)}")
    return [(0, 1)] + [(s, s + stride) for s in range(1, frames, stride)]


def official_chunks(frames: int) -> list[tuple[int, int]]:
    """The slices Wan-Video/Wan2.1 wan/modules/vae.py WanVAE_.encode takes (no check at all)."""
    iters = 1 + (frames - 1) // 4
    return [(0, 1)] + [(1 + 4 * (i - 1), 1 + 4 * i) for i in range(1, iters)]


print("17 frames:", chunk_schedule(17))
assert chunk_schedule(17) == official_chunks(17)
covered = official_chunks(19)[-1][1]
print(f"19 frames, official: {official_chunks(19)} -> frames {covered}..18 silently dropped")
try:
    chunk_schedule(19)
except ValueError as error:
    print("19 frames, from scratch: ValueError:", error)

# %% [markdown]
# What does the cache hold? Feed a causal conv (kernel 3 in time) a "frame-index video" whose
# frame `t` is the number `t + 1` (so 0 means zero padding) and read its cache after each chunk.

# %%
probe = CausalConv3d(1, 1, kernel_size=(3, 1, 1))
frame_ids = torch.arange(1.0, 18.0).view(1, 1, 17, 1, 1)  # B C T H W, frame t holds t + 1
seen = []  # per chunk: the frames the conv reads = history it kept + the chunk itself
with streaming(probe):
    for start, end in chunk_schedule(17):
        history = probe.cache if probe.cache is not None else torch.zeros(1, 1, 2, 1, 1)  # first: 2 zero frames
        seen.append((history.flatten().tolist(), list(range(start, end))))
        probe(frame_ids[:, :, start:end])
for k, (history, chunk) in enumerate(seen):
    cached = ["pad" if v == 0 else f"f{int(v) - 1}" for v in history]
    print(f"chunk {k}: frames {chunk[0]}..{chunk[-1]}  reads cached {cached} + its own")

fig, ax = plt.subplots(figsize=(9, 2.4), layout="constrained")
for k, (history, chunk) in enumerate(seen):
    for j, v in enumerate(history):  # the two frames in front of the chunk
        col = chunk[0] - 2 + j
        ax.add_patch(plt.Rectangle((col - 0.45, -k - 0.4), 0.9, 0.8, color="0.75" if v == 0 else "tab:orange"))
    for t in chunk:
        ax.add_patch(plt.Rectangle((t - 0.45, -k - 0.4), 0.9, 0.8, color="tab:blue"))
ax.set(xlim=(-2.6, 16.6), ylim=(-len(seen) + 0.4, 0.6), xlabel="frame", xticks=range(-2, 17),
       yticks=[-k for k in range(len(seen))], yticklabels=[f"chunk {k}" for k in range(len(seen))])
ax.set_title("blue: the chunk · orange: the 2 cached frames it continues from · grey: zero padding")
plt.close(fig)
fig

# %%
assert seen[1][0] == [0.0, 1.0]  # after the 1-frame chunk: one zero pad frame and frame 0
assert all(history == [float(start - 1), float(start)] for (history, (start, *_)) in seen[2:])
with torch.no_grad():
    with streaming(probe):
        streamed = torch.cat([probe(frame_ids[:, :, a:b]) for a, b in chunk_schedule(17)], dim=2)
    assert_close(streamed, probe(frame_ids))
print("streamed chunks == whole clip for one causal conv")

# %% [markdown]
# The cache is **per layer, at that layer's own frame rate** — not "the previous two chunks" and
# not "latent frames" as *the controllable-generation survey* puts it: each causal conv keeps the
# last 2 frames of *its own input* (`CACHE_T = 2` in the official code), and the strided time conv
# of a downsampling layer keeps just what its next window needs. Here are the caches of the whole
# tiny VAE encoder of section 5 after the third chunk:

# %%
vae = vae_task.load_vae()  # the shipped tiny VAE (section 5 says how it was trained)
clip17 = data.load_samples()[0].video[None]  # B C T H W: 1 x 3 x 17 x 32 x 32
with torch.no_grad(), streaming(vae.encoder):
    for a, b in chunk_schedule(17)[:3]:
        vae.encoder(clip17[:, :, a:b])
    caches = [(name, tuple(m.cache.shape)) for name, m in vae.encoder.named_modules()
              if isinstance(m, CausalConv3d) and m.cache is not None]
display(viz.table([{"layer": f"`{name}`", "cache B C T H W": " × ".join(map(str, shape))}
                    for name, shape in caches[::3]]))
assert {shape[2] for _, shape in caches} <= {1, 2}

# %% [markdown]
# ## 3. Temporal down- and up-sampling: the official first-chunk handling
#
# The encoder halves time twice (4×) and the decoder doubles it twice, and **frame 0 always stays
# alone**. The official `Resample` does this only in cached (chunked) mode:
#
# - **downsample3d:** on the first chunk it stores the frame and does *no* time conv, so frame 0
#   passes through; each later chunk is prepended with the last cached frame and convolved with
#   kernel 3, stride 2, no padding. 1 + 4 frames become 1 + 2.
# - **upsample3d:** the first chunk marks the cache `'Rep'` and skips the time conv, so latent
#   frame 0 becomes one frame; later chunks go through a causal conv that emits two frames per
#   frame (2C channels, then depth-to-time), and frame 0 is never their context.
#
# From scratch, as whole-sequence operations, and then the official chunk loops themselves:

# %%
def downsample_time_whole(x, weight, bias):
    """B C (1+2n) H W -> B C (1+n) H W: frame 0 kept, then windows (0,1,2), (2,3,4), ... stride 2."""
    return torch.cat([x[:, :, :1], F.conv3d(x, weight, bias, stride=(2, 1, 1))], dim=2)


def downsample_time_official(chunks, weight, bias):
    """The official cached loop: first chunk stored and passed through; later ones get the last frame in front."""
    out, cache = [], None
    for x in chunks:
        out.append(x if cache is None else F.conv3d(torch.cat([cache, x], 2), weight, bias, stride=(2, 1, 1)))
        cache = x[:, :, -1:]
    return torch.cat(out, dim=2)


def depth_to_time(y):  # B (2 C) T H W -> B C (T 2) H W: the two halves of the channels become two frames
    return rearrange(y, "b (two c) t h w -> b c (t two) h w", two=2)


def upsample_time_whole(z, weight, bias):
    """B C T H W -> B C (1+2(T-1)) H W: frame 0 kept alone; frames 1.. through a causal conv, 2 out per in."""
    rest = F.conv3d(F.pad(z[:, :, 1:], (0, 0, 0, 0, 2, 0)), weight, bias)  # 2 zero frames in front
    return torch.cat([z[:, :, :1], depth_to_time(rest)], dim=2)


def upsample_time_official(chunks, weight, bias):
    """The official cached loop with its 'Rep' marker (one latent frame per chunk, as the decoder runs)."""
    out, cache = [], None
    for z in chunks:
        if cache is None:
            out.append(z)  # first chunk: no time conv, one frame out
            cache = "Rep"
            continue
        history = torch.zeros_like(z[:, :, :1]).expand(-1, -1, 2, -1, -1) if cache == "Rep" else cache
        new_cache = torch.cat([history, z], 2)[:, :, -2:]
        if cache == "Rep":  # the frame in front of chunk 1 is a zero frame, not latent frame 0
            new_cache = torch.cat([torch.zeros_like(z[:, :, -1:]), z[:, :, -1:]], 2)
        out.append(depth_to_time(F.conv3d(torch.cat([history, z], 2), weight, bias)))
        cache = new_cache
    return torch.cat(out, dim=2)


torch.manual_seed(1)
down, up = Downsample(4, temporal=True).double(), Upsample(4, 4, temporal=True).double()
h = torch.randn(1, 4, 9, 8, 8, dtype=torch.float64)  # features entering a temporal downsample: 1 + 4 + 4 frames
z = torch.randn(1, 4, 5, 4, 4, dtype=torch.float64)  # latent-rate features entering a temporal upsample

# the spatial halves/doublings are per-frame 2-D convs (reused from the layers); the time part is ours
spatial_down = lambda v: rearrange(down.conv(F.pad(rearrange(v, "b c t h w -> (b t) c h w"), (0, 1, 0, 1))),
                                   "(b t) c h w -> b c t h w", b=1)
spatial_up = lambda v: rearrange(up.conv(F.interpolate(rearrange(v, "b c t h w -> (b t) c h w"), scale_factor=2.0,
                                                        mode="nearest-exact")), "(b t) c h w -> b c t h w", b=1)
wd, bd, wu, bu = down.time_conv.weight, down.time_conv.bias, up.time_conv.weight, up.time_conv.bias
with torch.no_grad():
    whole_down, whole_up = down(h), up(z)  # minivid, whole clip
    s = spatial_down(h)
    assert_close(downsample_time_whole(s, wd, bd), whole_down)  # from scratch == minivid
    assert_close(downsample_time_official([s[:, :, a:b] for a, b in chunk_schedule(9)], wd, bd), whole_down)
    with streaming(down):  # minivid's own streaming path, chunk by chunk
        assert_close(torch.cat([down(h[:, :, a:b]) for a, b in chunk_schedule(9)], 2), whole_down)
    assert_close(spatial_up(upsample_time_whole(z, wu, bu)), whole_up)
    assert_close(spatial_up(upsample_time_official(z.split(1, dim=2), wu, bu)), whole_up)
    with streaming(up):
        assert_close(torch.cat([up(zj) for zj in z.split(1, dim=2)], 2), whole_up)
    naive = depth_to_time(F.conv3d(F.pad(z, (0, 0, 0, 0, 2, 0)), wu, bu))[:, :, 2:]  # frame 0 as context
    naive = torch.cat([z[:, :, :1], naive], dim=2)
    gap = (naive - upsample_time_whole(z, wu, bu)).abs().max().item()
print(f"downsample: {tuple(h.shape)} -> {tuple(whole_down.shape)};  upsample: {tuple(z.shape)} -> {tuple(whole_up.shape)}")
print("whole == official chunk loop == minivid (whole and streaming), for both")
print(f"letting latent frame 0 be context of the upsample conv would change the output by up to {gap:.2f}")
assert gap > 0.01

# %% [markdown]
# One quirk the picture hides: in the official repo, calling the encoder or decoder **without**
# the cache skips `time_conv` entirely, so the "non-cached" path does no temporal resampling at
# all (17 frames in, 17 latent frames out). Only the chunked path is the real model. minivid's
# whole-sequence path uses the equivalents above, so both of its paths are the real model.
#
# ## 4. The whole VAE: chunked == whole, and causal
#
# Encoding in chunks of 1, 4, 4, 4, 4 and decoding one latent frame at a time gives exactly the
# whole-clip result (float64, so the comparison is to rounding):

# %%
vae64 = vae_task.load_vae().double()
clip64 = clip17.double()
with torch.no_grad():
    with streaming(vae64.encoder):  # our own schedule, driving minivid's encoder
        ours = torch.cat([vae64.encoder(clip64[:, :, a:b]) for a, b in chunk_schedule(17)], dim=2)
    assert_close(ours, vae64.encoder(clip64), rtol=0, atol=1e-10)
    latent_streamed, latent_whole = vae64.encode(clip64, chunked=True), vae64.encode(clip64, chunked=False)
    assert_close(latent_streamed, latent_whole, rtol=0, atol=1e-10)
    video_streamed, video_whole = vae64.decode(latent_whole, chunked=True), vae64.decode(latent_whole, chunked=False)
    assert_close(video_streamed, video_whole, rtol=0, atol=1e-10)
print(f"{tuple(clip64.shape)} -> latent {tuple(latent_whole.shape)} -> {tuple(video_whole.shape)}; "
      "streaming == whole for encode and decode")

# %% [markdown]
# Causality of the whole encoder: edit every frame from `t` on and see which latent frames move.
# Latent frame `j` summarises frames `≤ 4j`, so it must stay put exactly when `4j < t`.

# %%
moved = torch.zeros(len(EDITS), latent_whole.shape[2])
with torch.no_grad():
    for row, t in enumerate(EDITS):
        changed = clip64.clone()
        changed[:, :, t:] = torch.flip(clip64[:, :, t:], dims=[-1])  # mirror the future
        moved[row] = (vae64.encode(changed, chunked=False) - latent_whole).abs().amax(dim=(0, 1, 3, 4))
for row, t in enumerate(EDITS):
    for j in range(latent_whole.shape[2]):
        assert (moved[row, j] < 1e-10) if 4 * j < t else (moved[row, j] > 1e-4), (t, j, moved[row, j])

fig, ax = plt.subplots(figsize=(4.5, 0.35 * len(EDITS) + 1.2), layout="constrained")
image = ax.imshow(moved.clamp(min=1e-12).log10(), cmap="magma", aspect="auto", vmin=-12, vmax=1)
ax.set(xlabel="latent frame j", ylabel="frames edited from t on", yticks=range(len(EDITS)), yticklabels=EDITS,
       title="how far latent frame j moves\n(black: unchanged to float64 rounding)")
fig.colorbar(image, label="log10 max |change|")
plt.close(fig)
fig

# %% [markdown]
# ## 5. A tiny Wan-style VAE, trained by the repo's own trainer
#
# `data_samples/wan_vae_tiny.safetensors` is a `WanVAE` — the same code as the full 127 M-parameter
# Wan2.1 VAE — at a small size, trained on the synthetic clips with
# `python -m minivid.train --task wan-vae-tiny` (the exact command and its wall time are in
# `data_samples/README.md`). Its loss is Wan's without the perceptual and GAN terms: a
# reconstruction error plus a small KL to N(0, 1). The config and its reasons:

# %%
info = vae_task.read_info()
cfg = vae.config
print(f"config: base_dim {cfg.base_dim}, dim_mult {cfg.dim_mult}, z_dim {cfg.z_dim}, "
      f"temporal_downsample {cfg.temporal_downsample}, {sum(p.numel() for p in vae.parameters()):,} parameters")
print(f"strides: {cfg.temporal_stride}x time, {cfg.spatial_stride}x space; "
      f"trained {info['step']} steps on {info['run']['data']}")
assert dataclasses.replace(cfg, latents_mean=None, latents_std=None) == vae_task.TINY_VAE_CONFIG

# %% [markdown]
# Why 4× in space and not Wan2.1's 8×: the clips are 32×32 and the shapes 8–13 pixels across.
# At 8× the latent grid would be 4×4: one latent cell would span most of a shape, and its 16
# numbers would have to carry shape, colour and sub-pixel position at once (in a 720p frame an
# 8×8 cell is a small patch of texture, not a whole object). At 4× the grid is 8×8, a latent
# value stands for 12 pixel values (Wan2.1: 48), and the text-to-video model trained next sees
# `5 × 4 × 4 = 80` tokens after its 1×2×2 patchify.
#
# A lesson from training it: a first run on 9-frame clips (3 latent frames, half the cost)
# reconstructed frames 0–8 of 17-frame clips at 31 dB but frames 9–16 at only 19–24 dB (red
# drifting to yellow), and the analyser read only 81% of 64 held-out reconstructions right.
# Section 3 says why: the decoder's first temporal upsample conv sees `[0, 0, z1]` for latent
# frame 1, `[0, z1, z2]` for frame 2, and real history `[z1, z2, z3]` only from latent frame 3 on
# — a case 3-latent-frame clips never train. The shipped model was trained on 17-frame clips, the
# length it serves.
#
# Reconstructions of the course's sample clips (`data_samples/clips.safetensors`):

# %% tags=["nbval-ignore-output"]
small = [c for c in data.load_samples() if c.video.shape[-1] == 32]  # the 30 clips of 32×32
videos = torch.stack([c.video for c in small])  # B C T H W
with torch.no_grad():
    recon = vae.decode(vae.encode(videos))
picks = [0, 7, 24]
viz.scrubber(*[v for i in picks for v in (videos[i], recon[i])],
             titles=[t for i in picks for t in (small[i].caption, "its reconstruction")], height=120)

# %%
psnr_samples = vae_task.psnr(recon, videos)
acc_samples = data.accuracy(recon, [c.caption for c in small])
held = data.SyntheticClips(N_HELD_OUT, frames=17, size=32, seed=10**6)
held_videos = torch.stack([held[i]["video"] for i in range(N_HELD_OUT)])
with torch.no_grad():
    held_recon = torch.cat([vae.decode(vae.encode(v)) for v in held_videos.split(16)])
psnr_held = vae_task.psnr(held_recon, held_videos)
acc_held = data.accuracy(held_recon, [held[i]["caption"] for i in range(N_HELD_OUT)])
acc_input = data.accuracy(held_videos, [held[i]["caption"] for i in range(N_HELD_OUT)])
display(viz.table([{"clips": name, "PSNR (dB)": f"{p.mean():.1f}" if p is not None else "–",
                     **{f"{k} read right": f"{acc[k]:.0%}" for k in ("shape", "colour", "motion", "all")}}
                    for name, p, acc in ((f"{len(videos)} sample clips", psnr_samples, acc_samples),
                                         (f"{N_HELD_OUT} held-out clips", psnr_held, acc_held),
                                         (f"{N_HELD_OUT} held-out inputs", None, acc_input))]))
assert psnr_held.mean() > 27 and acc_held["all"] >= 0.9

# %% [markdown]
# The training curve, from the loss log that was shipped with the weights:

# %%
log = read_log(vae_task.SHIPPED.with_suffix(".log.jsonl"))  # one line every 10 steps
viz.plot_curve([r["loss"] for r in log], title="training loss (MSE + β·KL)", log_y=True,
               steps=[r["step"] for r in log])

# %% [markdown]
# **Overfit one clip.** If you change the model or the loss, first check the code can learn one
# clip: this trains the task's own model and loss on a single 5-frame 16×16 clip. The loss starts
# near 0.13 and must fall below 0.03 within 40 steps; if it does not, the code is wrong, not
# unlucky.

# %%
start = time.perf_counter()
trainer = build_trainer("wan-vae-tiny", TrainConfig(steps=OVERFIT_STEPS, batch_size=1, lr=3e-3, warmup=5,
                                                    log_every=5, progress=False, device="cpu"),
                        length=1, frames=5, size=16)
history = trainer.train()
print(f"loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} in {OVERFIT_STEPS} steps "
      f"({time.perf_counter() - start:.1f} s)")
assert history[-1]["loss"] < 0.03 < history[0]["loss"]

# %% [markdown]
# ## 6. Latent normalisation: what the diffusion model actually sees
#
# A diffusion model mixes latents with unit Gaussian noise, and its noise schedule assumes the
# data has roughly unit scale: a channel with std 3 would stay recognisable at noise levels where
# the schedule expects it gone, one with std 0.3 would drown early. So Wan hard-codes 16
# per-channel means and stds measured on its training data (`WanVAE.__init__`: `scale =
# [mean, 1/std]`), `encode` returns `(μ − mean) / std` — the posterior *mean*, no sampling — and
# `decode` undoes it. The tiny VAE's statistics were measured the same way, on 256 training clips,
# and stored in the file's metadata:

# %%
mean, std = vae.latents_mean.flatten(), vae.latents_std.flatten()
with torch.no_grad():
    raw = vae.encode_moments(held_videos)[0]  # B z T H W, before normalisation
    normalised = vae.encode(held_videos)
fig, (ax_raw, ax_norm) = plt.subplots(1, 2, figsize=(10, 2.8), layout="constrained")
for ax, z_, title in ((ax_raw, raw, "raw posterior mean μ"), (ax_norm, normalised, "(μ − mean) / std: what the DiT sees")):
    per_channel = rearrange(z_, "b c t h w -> c (b t h w)")
    ax.errorbar(range(cfg.z_dim), per_channel.mean(1), yerr=per_channel.std(1), fmt="o", capsize=3)
    ax.axhline(0, color="0.7")
    ax.set(title=title, xlabel="latent channel", ylabel="mean ± std (held-out clips)")
plt.close(fig)
fig

# %%
per_channel = rearrange(normalised, "b c t h w -> c (b t h w)")
print(f"raw std per channel: {std.min():.2f} .. {std.max():.2f}; "
      f"normalised: mean {per_channel.mean(1).abs().max():.2f} max |.|, std {per_channel.std(1).min():.2f} .. "
      f"{per_channel.std(1).max():.2f}")
assert per_channel.mean(1).abs().max() < 0.3 and (per_channel.std(1) - 1).abs().max() < 0.3
assert_close(normalised, (raw - vae.latents_mean) / vae.latents_std)  # encode == (μ − mean) / std

# %% [markdown]
# ## 7. Wan2.1 vs Wan2.2: compression at 720p
#
# Wan2.2's VAE first folds each 2×2 pixel block into channels (3 → 12), then runs three ×2
# stages: 4×16×16 in all, with 48 latent channels and a wider decoder. Both full models are built
# on PyTorch's `meta` device — no memory, no weights — and run on a meta tensor of 5 s of 720p
# video, so the shapes below are computed by the real code, not by a formula. Parameter counts
# are exact (`presets.count_params`).

# %%
rows = []
for name, frames, height, width in (("wan2.1-vae", 81, 720, 1280), ("wan2.2-vae", 81, 720, 1280),
                                    ("wan2.2-vae", 121, 704, 1280)):
    full = presets.build(name)  # meta device
    with torch.no_grad():
        latent = full.encode(torch.empty(1, 3, frames, height, width, device="meta"), chunked=False)
    c, t, h, w = latent.shape[1:]
    pixels = 3 * frames * height * width
    tokens = t * (h // 2) * (w // 2) if h % 2 == 0 and w % 2 == 0 else None  # the DiT's 1x2x2 patches
    rows.append((name, f"{frames}×{height}×{width}", (c, t, h, w), pixels / (c * t * h * w), tokens,
                 presets.count_params(name)))
display(viz.table([{"VAE": name, "video": video_size, "latent C×T×H×W": "×".join(map(str, shape)),
                     "values ÷": f"{ratio:.0f}×", "DiT tokens": tokens if tokens else "H/2 not int",
                     "parameters": params}
                    for name, video_size, shape, ratio, tokens, params in rows]))
assert rows[0][2] == (16, 21, 90, 160) and rows[1][2] == (48, 21, 45, 80)
assert rows[0][5] == 126_892_531 and rows[1][5] == 704_688_668

# %% [markdown]
# - Per latent *position*, Wan2.2 compresses 4× more (4·16·16 = 1024 pixels vs 256), but it keeps
#   3× more channels, so the latent has **¾ of Wan2.1's values** — nominally 64× vs 48×
#   compression (46× and 62× above, because frame 0 gets a latent frame of its own) — not "1/8"
#   as *Diffusion Models Code Walkthrough: Getting Started and in Practice*, a blog post on
#   Wan2.1/2.2's code, claims.
# - The transformer cost follows the **tokens**: ¼ as many at the same size. At 720p the 45 latent
#   rows do not split into 1×2×2 patches, which is why Wan2.2's TI2V-5B runs at 1280×704
#   (`SUPPORTED_SIZES['ti2v-5B']` in Wan-Video/Wan2.2 `wan/configs/__init__.py`) and 121 frames
#   at 24 fps for its 5 s (`wan_ti2v_5B.py`: `frame_num = 121`, `sample_fps = 24`); Wan2.1 uses 81
#   frames at 16 fps.
#
# ## 8. Tiling with blended overlaps (HunyuanVideo, diffusers)
#
# Streaming bounds memory in time; tiling bounds it in space. The frame is cut into overlapping
# tiles, each is encoded (or decoded) alone, and every output pixel is the weighted mean of the
# tiles covering it, with weights that ramp linearly across each overlap so seams fade instead of
# jump. From scratch: tile positions and the 1-D ramps, for a 64-pixel-wide frame with 32-pixel
# tiles every 16 pixels. (This symmetric weighted mean is minivid's `tiled_apply`. The official
# HunyuanVideo code and diffusers blend in order instead — each tile's first rows crossfaded from its
# already-blended neighbour, then cropped to the stride; notebook 17 §7 reproduces that rule exactly.)

# %%
def tile_spans(size: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Tiles of width `tile` every `stride` pixels, the last one flush with the edge."""
    starts = list(range(0, size - tile, stride)) + [size - tile] if size > tile else [0]
    return [(s, s + min(tile, size)) for s in starts]


def blend_weights(spans: list[tuple[int, int]], size: int) -> torch.Tensor:
    """`tiles × size`: each tile's weight per pixel, ramping up/down linearly across its overlaps."""
    weights = torch.zeros(len(spans), size)
    for k, (a, b) in enumerate(spans):
        w = torch.ones(b - a)
        if k > 0:
            n = spans[k - 1][1] - a
            w[:n] *= (torch.arange(n) + 0.5) / n
        if k + 1 < len(spans):
            n = b - spans[k + 1][0]
            w[-n:] *= ((torch.arange(n) + 0.5) / n).flip(0)
        weights[k, a:b] = w
    return weights


spans = tile_spans(64, 32, 16)
ramps = blend_weights(spans, 64)
fig, axes = plt.subplots(1, 2, figsize=(10, 2.6), layout="constrained")
for k, w in enumerate(ramps):
    axes[0].plot(w, label=f"tile {k}: pixels {spans[k][0]}..{spans[k][1] - 1}")
axes[0].set(xlabel="pixel (along one axis)", ylabel="blend weight", title="1-D weights per tile")
axes[0].legend(fontsize=7)
grid_weight = torch.einsum("ih,jw->ijhw", ramps, ramps)  # weight of tile (i, j) at pixel (h, w)
axes[1].imshow((grid_weight / grid_weight.sum((0, 1)))[1, 1], cmap="viridis")
axes[1].set_title("normalised weight of tile (1, 1) over the frame")
plt.close(fig)
fig

# %%
# Proof against minivid's tiled_apply: give each tile a constant "colour" = its index; the blend is then
# exactly the weighted mean of the indices with our weights.
counter = iter(range(100))
tile_ids = tiled_apply(lambda v: torch.full_like(v, float(next(counter))), torch.zeros(1, 1, 1, 64, 64), 32, 16, 1.0)
ids = torch.arange(len(spans) ** 2, dtype=torch.float32).view(len(spans), len(spans), 1, 1)
assert_close(tile_ids[0, 0, 0], (grid_weight * ids).sum((0, 1)) / grid_weight.sum((0, 1)))
print(f"{len(spans)}×{len(spans)} tiles; from-scratch blend weights == minivid tiled_apply")

# %% [markdown]
# On the tiny VAE, decoding a 64×64 clip (a size it never trained on — convolutions do not care)
# in 32-pixel tiles: with overlaps the result is close to the untiled decode, without overlaps
# (stride = tile) the seams show.

# %%
big = [c for c in data.load_samples() if c.video.shape[-1] == 64][0]
with torch.no_grad():
    z64 = vae.encode(big.video[None])
    whole = vae.decode(z64)
    blended = vae.tiled_decode(z64, tile_size=32, tile_stride=16)
    seams = vae.tiled_decode(z64, tile_size=32, tile_stride=32)
display(viz.table([{"decode": name, "PSNR vs input (dB)": f"{vae_task.psnr(v, big.video[None]).item():.1f}",
                     "max |diff| vs untiled": f"{(v - whole).abs().max():.3f}"}
                    for name, v in (("untiled", whole), ("tiles blended", blended), ("tiles, hard seams", seams))]))
assert (blended - whole).abs().mean() < (seams - whole).abs().mean()
viz.frame_grid(big.video, whole[0], blended[0], seams[0], (seams - whole)[0].abs() * 4 - 1,
               titles=["input", "untiled", "blended tiles", "hard seams", "|hard − untiled| ×4"], every=4)

# %% [markdown]
# Tiles see less context than the whole frame, so tiled output is never identical to untiled;
# HunyuanVideo's report adds a fine-tuning stage that randomly enables tiling during training so
# the VAE is used to it.
#
# ## 9. Bad input is an error, not a silent crop
#
# The official code drops frames that do not fit 1 + 4n and crops sizes that do not divide the
# stride, without a word. minivid raises and says how to fix it:

# %%
for what, bad in (("18 frames", torch.zeros(1, 3, 18, 32, 32)), ("30×30 pixels", torch.zeros(1, 3, 17, 30, 30)),
                  ("4 channels", torch.zeros(1, 3 + 1, 17, 32, 32))):
    try:
        vae.encode(bad)
    except ValueError as error:
        print(f"{what:14} ValueError: {error}")
try:
    vae.decode(torch.zeros(1, 4, 5, 8, 8))
except ValueError as error:
    print(f"{'4-ch latent':14} ValueError: {error}")

# %% [markdown]
# ## 10. Where the popular accounts get it wrong
#
# | claim (write-up) | what the official code does | evidence here |
# | --- | --- | --- |
# | "Wan2.1: 8×8×2 (128×)" (*the Wan code walkthrough*) | 4×8×8: `_video_vae` sets `temperal_downsample=[False, True, True]`, two halvings in time | section 7: 81 frames → 21 latent frames |
# | "dim=128, z_dim=4, temperal_downsample=[True,True,False]" (*the Wan code walkthrough*) | those are the `WanVAE_` class *defaults*; `_video_vae` overrides them with dim 96, z_dim 16, [False, True, True] | the preset built from the overrides has exactly 126,892,531 parameters (section 7); the defaults give another count (below) |
# | "Encoder3d splits kernels into 2D spatial + 1D temporal causal convs" (*the Wan code walkthrough*) | residual blocks use full 3×3×3 `CausalConv3d` kernels | kernel shapes below |
# | "the latent scale is an EMA statistic; at inference you can feed 0/1" (*the Wan code walkthrough*) | 16 means / stds hard-coded in `WanVAE.__init__`; the DiT was trained on latents normalised with them | section 6; with 0/1 the DiT would see stds up to 3.3 (Wan2.1's largest) |
# | "the cache keeps the previous two chunks; a frame here is a latent frame" (*the controllable-generation survey*) | each causal conv caches the last 2 frames of its own input (`CACHE_T = 2`), at its own frame rate | section 2 |
# | "chunking (1+4n) guarantees causality" (*the Wan code walkthrough*) | causality comes from the layers (front-only padding, channel RMSNorm, per-frame attention); chunking relies on it, and with GroupNorm it would be inexact | sections 1 and 4 |
# | (silent) frames that do not fit 1+4n | `iter_ = 1 + (t-1)//4` drops them without a warning | section 2: 19 frames → 2 dropped |
# | (silent) the non-cached path | `Resample` skips `time_conv` without the cache: no temporal resampling at all | official `Resample.forward`; section 3 |

# %%
with torch.device("meta"):
    class_defaults = WanVAE(dataclasses.replace(presets.WAN_VAE_CONFIGS["wan2.1-vae"], base_dim=128, z_dim=4,
                                                temporal_downsample=(True, True, False), latents_mean=None,
                                                latents_std=None))
n_defaults = sum(p.numel() for p in class_defaults.parameters())
print(f"WanVAE_ class defaults: {n_defaults:,} parameters; the released Wan2.1 VAE: {presets.count_params('wan2.1-vae'):,}")
assert n_defaults != presets.count_params("wan2.1-vae")
block = presets.build("wan2.1-vae").encoder.stages[0].blocks[0]
print("kernel of a residual-block conv (out, in, t, h, w):", tuple(block.conv1.weight.shape))
assert block.conv1.weight.shape[2:] == (3, 3, 3)
print(f"Wan2.1 latent stds range {min(presets.WAN21_VAE_LATENTS_STD)}..{max(presets.WAN21_VAE_LATENTS_STD)}")

# %% [markdown]
# ## Summary
#
# - GroupNorm on `B C T H W` pools over all frames, so future frames change past outputs; Wan's
#   channel RMSNorm pools over channels only and cannot leak. That — with front-only padding and
#   per-frame attention — makes the whole Wan VAE causal, and chunked encoding exact.
#   CogVideoX's and HunyuanVideo's GroupNorm VAEs chunk approximately.
# - Encode runs in chunks of 1, 4, 4, … frames (1 + 4n → 1 + n latent frames), decode one latent
#   frame at a time; each causal conv caches the last 2 frames of its own input.
# - Temporal downsampling keeps frame 0 and convolves windows (0,1,2), (2,3,4), …; upsampling
#   keeps latent frame 0 as one frame ('Rep') and never uses it as context. The official code
#   does this only in cached mode; minivid's whole-sequence path is proven equal to it.
# - The tiny VAE trained here reconstructs held-out clips well enough that the analyser reads
#   shape, colour and motion from them; its latents are normalised per channel like Wan's.
# - Wan2.2 compresses 4×16×16 into 48 channels: ¾ of Wan2.1's latent values and ¼ of its tokens.
# - Tiling with linear blend ramps bounds memory in space; streaming bounds it in time.
#
# ## Check yourself
#
# 1. A clip has 33 frames. How many latent frames does Wan's VAE give, and which pixel frames does
#    latent frame 3 depend on?
# 2. Why would per-frame GroupNorm also be causal, and why does clip-level GroupNorm break
#    chunked encoding?
# 3. In the decoder, which input does the first temporal upsample conv see for latent frame 1?
# 4. Why does a diffusion model need normalised latents, and what goes wrong with std 3?
# 5. Why does Wan2.2 TI2V-5B run at 1280×704 rather than 1280×720?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1.** Without running the encoder: what latent shape `(C, T, H, W)` does the tiny VAE
# of section 5 give for a clip of 25 frames of 32×48 pixels? Answer with a tuple of four ints.

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
with torch.device("meta"):  # the tiny VAE's architecture on the meta device: shapes only, no compute
    tiny_on_meta = WanVAE(vae.config)
check(answer_1, tuple(tiny_on_meta.encode(torch.empty(1, 3, 25, 32, 48, device="meta")).shape[1:]),
      "the config printed in section 5 gives the latent channels and the time and space strides; "
      "remember that frame 0 gets a latent frame of its own")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
solution_1 = (cfg.z_dim, 1 + (25 - 1) // cfg.temporal_stride, 32 // cfg.spatial_stride, 48 // cfg.spatial_stride)
check(solution_1, tuple(tiny_on_meta.encode(torch.empty(1, 3, 25, 32, 48, device="meta")).shape[1:]))

# %% [markdown]
# **Exercise 2.** Latent frame 3 of the tiny VAE's encoding of a 17-frame clip depends on which
# pixel frames? Answer with the first and the last of them, `(first, last)`. (The check finds them
# from the gradient of latent frame 3 with respect to every input frame.)

# %%
# Exercise 2: replace None with your answer, then run the cell; it tells you whether you are right
answer_2 = None
pixels = clip17.clone().requires_grad_()
(grad,) = torch.autograd.grad(vae.encode(pixels, chunked=False)[:, :, 3].sum(), pixels)  # d latent frame 3 / d pixels
reaches = (grad.abs().amax(dim=(0, 1, 3, 4)) > 0).nonzero().flatten()  # the frames with a nonzero gradient
check(answer_2, (int(reaches.min()), int(reaches.max())),
      "the encoder is causal, and each latent frame after the first summarises 4 more pixel frames")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
j = 3
solution_2 = (0, 4 * j)  # latent frame j summarises frames <= 4j, and everything before it (section 4)
check(solution_2, (int(reaches.min()), int(reaches.max())))
assert reaches.tolist() == list(range(4 * j + 1))  # every frame in between too

# %% [markdown]
# **Exercise 3.** Write `latent_frames(frames)` and `decoded_frames(latent_frames)` and check them
# against the tiny VAE for 1, 5 and 9 frames.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
def latent_frames(frames: int) -> int:
    return 1 + (frames - 1) // 4


def decoded_frames(n_latent: int) -> int:
    return 1 + 4 * (n_latent - 1)


with torch.no_grad():
    for frames in (1, 5, 9):
        z_ = vae.encode(clip17[:, :, :frames])
        assert z_.shape[2] == latent_frames(frames) and vae.decode(z_).shape[2] == decoded_frames(z_.shape[2])

# %% [markdown]
# **Exercise 4.** Show that an image (a 1-frame video) gets exactly the latent of frame 0 of any
# clip that starts with it.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
with torch.no_grad():
    image_latent = vae64.encode(clip64[:, :, :1])
assert_close(image_latent[:, :, 0], latent_whole[:, :, 0], rtol=0, atol=1e-10)

# %% [markdown]
# **Exercise 5.** How many Wan2.1 tokens (1×2×2 patches) does a clip of 81 frames at 480×832 give?
# Work it out from the VAE's strides, then compute it from the latent shape of the meta-device
# model of section 7.

# %%
# Exercise 5: replace None with your answer, then run the cell; it tells you whether you are right
answer_5 = None
check(answer_5, token_count(81, 480, 832),
      "latent frames × latent rows / 2 × latent columns / 2, with Wan2.1's 4×8×8 VAE")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 5
with torch.no_grad():
    lat = presets.build("wan2.1-vae").encode(torch.empty(1, 3, 81, 480, 832, device="meta"), chunked=False)
t_, h_, w_ = lat.shape[2:]
solution_5 = t_ * (h_ // 2) * (w_ // 2)
check(solution_5, token_count(81, 480, 832))

# %% [markdown]
# **Exercise 6.** Section 8 tiles a frame with 32-pixel tiles every 16 pixels, the last tile flush
# with the edge. How many tiles in all does a 96×160 frame take?

# %%
# Exercise 6: replace None with your answer, then run the cell; it tells you whether you are right
answer_6 = None
tiles_run = []
tiled_apply(lambda v: tiles_run.append(1) or v, torch.zeros(1, 1, 1, 96, 160), 32, 16, 1.0)  # count the calls
check(answer_6, len(tiles_run), "count the tile starts along each axis (0, 16, 32, … and one flush with the "
      "edge), then multiply")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 6
solution_6 = len(tile_spans(96, 32, 16)) * len(tile_spans(160, 32, 16))  # 5 rows × 9 columns
check(solution_6, len(tiles_run))
