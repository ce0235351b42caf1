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
# # 07 — Patchify and unpatchify: from a video to tokens and back
#
# A transformer reads a sequence, a video is a 5-D tensor. *Patchify* cuts the (latent) video into
# non-overlapping tubes of `pt × ph × pw` and turns each tube into one token; *unpatchify* puts the
# model's per-token outputs back into a video. It is done with a `Conv3d` whose kernel equals its
# stride (Wan, HunyuanVideo, ViViT's tubelets), a per-frame `Conv2d` (CogVideoX 1.0, Latte) or a
# `Linear` on rearranged patches (CogVideoX 1.5, lucidrains' ViViT) — which are all the same
# operation once the flattening order lines up. This notebook builds patchify from scratch, proves
# those three forms equal to each other and to `minivid.layers.embed`, inflates a 2D patch
# embedding into a tubelet the way ViViT does, and counts the tokens the real models put into
# attention — with the errors that wrong frame counts and sizes raise.
#
# **Prerequisites:** notebook 00 (layouts and `einops`); notebook 05 for why the token count matters.
# **Run time:** CI mode ≈ 5 s, learner mode ≈ 5 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
SIZE = 32 if FAST else 64  # frame height = width of the example clip, in pixels
PIXEL_PATCH = (2, 8, 8) if FAST else (2, 16, 16)  # (pt, ph, pw) used on pixels for the pictures
LATENT = (16, 6, 8, 10) if FAST else (16, 10, 16, 20)  # (C, T, H, W) of a random "latent" video
DIM = 32  # token width of the small embeddings

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange, repeat
from IPython.display import display
from matplotlib.patches import Rectangle
from torch import nn
from torch.testing import assert_close

from minivid import data, viz
from minivid.exercises import check
from minivid.layers.embed import (PatchEmbed3d, latent_size, patchify, token_count, token_grid, tubelet_from_2d,
                                  unpatchify)

minivid.check_environment()
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)


def randomise_(module, std=0.1):
    """Random values for every parameter (a zero bias could hide a mistake)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std, generator=g)
    return module


# %% [markdown]
# ## 1. Tubelets
#
# A tubelet is a `pt × ph × pw` block of the video: `ph × pw` pixels (or latents) in each of `pt`
# consecutive frames. Every tubelet becomes one token; tokens are numbered in `(t h w)` order, so
# the tubelet index runs across a frame first, then to the next group of `pt` frames. Below: the
# first four frames of a clip cut into `pt × ph × pw` = `PIXEL_PATCH` tubelets, each cell labelled
# with its token index — frames 0 and 1 share indices because they are one tubelet deep.

# %%
clip = data.make_clip("circle", "yellow", "right", frames=9, size=SIZE, seed=3)
video = clip.video[:, :8]  # C T H W: 8 frames, a multiple of pt (ViViT tubelets have no 1 + 4n rule)
pt, ph, pw = PIXEL_PATCH
rows_, cols_ = SIZE // ph, SIZE // pw
frames_rgb = viz.to_frames(video)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4), layout="constrained")
for f, ax in enumerate(axes):
    ax.imshow(frames_rgb[f], interpolation="nearest")
    for r in range(rows_):
        for c in range(cols_):
            token = (f // pt * rows_ + r) * cols_ + c
            ax.text(c * pw + pw / 2 - 0.5, r * ph + ph / 2 - 0.5, str(token), ha="center", va="center",
                    color="white", fontsize=7)
    ax.set_xticks(np.arange(-0.5, SIZE, pw), minor=False)
    ax.set_yticks(np.arange(-0.5, SIZE, ph), minor=False)
    ax.grid(color="white", linewidth=0.6, alpha=0.6)
    ax.tick_params(length=0, labelbottom=False, labelleft=False)
    ax.add_patch(Rectangle((-0.5 + pw, -0.5 + ph), pw, ph, fill=False, edgecolor="tab:red", linewidth=2.5))
    ax.set_title(f"frame {f}  (tubelet row {f // pt})", fontsize=9)
fig.suptitle(f"{pt}×{ph}×{pw} tubelets: the red tube is token {cols_ + 1} in frames 0–1 and token "
             f"{rows_ * cols_ + cols_ + 1} in frames 2–3", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# ## 2. Patchify from scratch, and the Conv3d that equals it
#
# One `rearrange` does it: split every axis into (blocks, size inside the block), put the block
# indices in the sequence and the sizes inside the token. The last group decides the **flattening
# order** inside a token — `(c pt ph pw)` (channel slowest) or `(pt ph pw c)` (channel fastest).

# %%
def patchify_scratch(x, patch, order="c pt ph pw"):
    """x: B C T H W → tokens B (t h w) (C·pt·ph·pw), flattened in `order`."""
    pt_, ph_, pw_ = patch
    return rearrange(x, f"b c (t pt) (h ph) (w pw) -> b (t h w) ({order})", pt=pt_, ph=ph_, pw=pw_)


C, T, H, W = LATENT
latent = torch.randn(2, C, T, H, W, generator=g)  # B C T H W, a stand-in for VAE latents
for order in ("c pt ph pw", "pt ph pw c"):
    assert torch.equal(patchify_scratch(latent, (2, 2, 2), order), patchify(latent, (2, 2, 2), order))
print(f"latent {tuple(latent.shape)} → tokens {tuple(patchify(latent, (2, 2, 2)).shape)} with a 2×2×2 patch")

# %% [markdown]
# A `Conv3d` with `kernel_size = stride = patch` computes, for each tube, the dot product of the tube
# with each of its `D` kernels, plus a bias: a `Linear` applied to every flattened tube. Its weight
# is stored `D × C × pt × ph × pw`, so `weight.flatten(1)` is a `Linear` weight in `(c pt ph pw)`
# order — the order that must be used to flatten the tokens. The other order gives wrong numbers
# until the weight is permuted to match.

# %%
patch = (1, 2, 2)  # Wan's, HunyuanVideo's and CogVideoX 1.0's patch
conv = randomise_(nn.Conv3d(C, DIM, kernel_size=patch, stride=patch))
by_conv = rearrange(conv(latent), "b d t h w -> b (t h w) d")

linear = nn.Linear(C * 4, DIM)
with torch.no_grad():
    linear.weight.copy_(conv.weight.flatten(1))  # D (c pt ph pw)
    linear.bias.copy_(conv.bias)
assert_close(linear(patchify_scratch(latent, patch, "c pt ph pw")), by_conv)

wrong = linear(patchify_scratch(latent, patch, "pt ph pw c"))
print(f"channel-last tokens with the same weight: max error {(wrong - by_conv).abs().max():.2f}")
with torch.no_grad():
    linear.weight.copy_(rearrange(conv.weight, "d c pt ph pw -> d (pt ph pw c)"))  # permute the weight instead
assert_close(linear(patchify_scratch(latent, patch, "pt ph pw c")), by_conv)

embed = PatchEmbed3d(C, DIM, patch)  # minivid
embed.proj.load_state_dict(conv.state_dict())
assert_close(embed(latent), by_conv)
print("Conv3d(kernel = stride = patch) == Linear on (c pt ph pw) patches == minivid PatchEmbed3d")

# %% [markdown]
# Where each number of a `1×2×2` patch of a 3-channel input lands in the token vector, in both
# orders (colour = input channel, label = `t,h,w` inside the patch):

# %%
fig, ax = plt.subplots(figsize=(10, 1.8), layout="constrained")
channel_colours = np.array([[0.85, 0.3, 0.3], [0.35, 0.7, 0.35], [0.35, 0.45, 0.85]])
for row, order in enumerate(("c pt ph pw", "pt ph pw c")):
    cells = rearrange(torch.stack(torch.meshgrid(torch.arange(3), torch.arange(1), torch.arange(2), torch.arange(2),
                                                 indexing="ij"), -1), f"c pt ph pw k -> ({order}) k")
    for slot, (c, t_, h_, w_) in enumerate(cells.tolist()):
        ax.add_patch(Rectangle((slot, -row - 1), 1, 0.9, color=channel_colours[c]))
        ax.text(slot + 0.5, -row - 0.55, f"{t_},{h_},{w_}", ha="center", va="center", fontsize=8, color="white")
    ax.text(-0.3, -row - 0.55, f"({order})", ha="right", va="center", fontsize=9)
ax.set(xlim=(-3.2, 12), ylim=(-2.2, 0.1), xticks=np.arange(12) + 0.5, xticklabels=range(12), yticks=[],
       xlabel="position inside the token vector")
ax.set_title("the same 12 numbers, two orders: a weight learned for one is wrong for the other", fontsize=10)
for side in ("left", "right", "top"):
    ax.spines[side].set_visible(False)
plt.close(fig)
fig

# %% [markdown]
# ## 3. Unpatchify: Wan's layout, and the round trip
#
# The output head maps each token to `pt·ph·pw·C_out` numbers, and *the head decides the order*.
# Wan2.1 reshapes each token as `(pt, ph, pw, c)` — channels last (`wan/modules/model.py :
# WanModel.unpatchify`: `u.view(*grid, *patch_size, c)`, then `einsum('fhwpqrc->cfphqwr')`); DiT
# does the same for images (`'nhwpqc->nchpwq'`). HunyuanVideo (`'nthwcopq->nctohpwq'`) and
# CogVideoX put channels first. In einops, Wan's layout is one pattern:

# %%
def unpatchify_scratch(tokens, grid, patch, channels, order="pt ph pw c"):
    """tokens B (t h w) (pt·ph·pw·C) → video B C (t·pt) (h·ph) (w·pw); Wan's order by default."""
    (t, h, w), (pt_, ph_, pw_) = grid, patch
    return rearrange(tokens, f"b (t h w) ({order}) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w, pt=pt_, ph=ph_, pw=pw_,
                     c=channels)


grid = (T, H // 2, W // 2)
head_out = torch.randn(2, T * (H // 2) * (W // 2), 1 * 2 * 2 * C, generator=g)  # what Wan's head emits
assert torch.equal(unpatchify_scratch(head_out, grid, patch, C), unpatchify(head_out, grid, patch, C))
for order in ("c pt ph pw", "pt ph pw c"):  # patchify then unpatchify in the same order: the identity
    assert torch.equal(unpatchify(patchify(latent, (2, 2, 2), order), (T // 2, H // 2, W // 2), (2, 2, 2), C, order),
                       latent)

# one sample, written element by element as Wan's `view(f, h, w, pt, ph, pw, c)` reads it
t0, h0, w0, p0, q0, r0, c0 = 1, 2, 3, 0, 1, 0, 5
flat = (((t0 * grid[1] + h0) * grid[2] + w0), ((p0 * 2 + q0) * 2 + r0) * C + c0)
video_out = unpatchify(head_out, grid, patch, C)
assert video_out[0, c0, t0 * 1 + p0, h0 * 2 + q0, w0 * 2 + r0] == head_out[0, flat[0], flat[1]]
print("unpatchify(patchify(x)) == x in both orders; Wan's (pt ph pw c) layout checked element by element")

# %% [markdown]
# Mixing the two orders is the classic silent bug: shapes agree, the picture does not. The clip,
# patchified channels-first and unpatchified channels-last (a `1 × 4 × 4` patch):

# %%
pix_patch = (1, 4, 4)
pix_grid = (8, SIZE // 4, SIZE // 4)
tokens_cf = patchify(video[None], pix_patch, "c pt ph pw")
round_trip = unpatchify(tokens_cf, pix_grid, pix_patch, 3, "c pt ph pw")
mixed = unpatchify(tokens_cf, pix_grid, pix_patch, 3, "pt ph pw c")
assert torch.equal(round_trip[0], video) and not torch.equal(mixed[0], video)
viz.frame_grid(video, round_trip, mixed, titles=["clip", "same order", "orders mixed"], every=2)

# %% [markdown]
# | model | into the transformer | out of the head |
# | --- | --- | --- |
# | Wan2.1 / 2.2 | `Conv3d(in, dim, (1,2,2), stride (1,2,2))` | `(pt ph pw c)`, channels last |
# | HunyuanVideo | `Conv3d`, patch `[1,2,2]` | `(c pt ph pw)`, channels first |
# | CogVideoX 1.0 | per-frame `Conv2d(16, D, 2, stride 2)` | `(c ph pw)`, channels first |
# | CogVideoX 1.5 | `Linear(16·2·2·2, D)` on `(c pt ph pw)` tubes | `(c pt ph pw)`, channels first |
# | DiT (images) | `Conv2d`, patch 2 | `(ph pw c)`, channels last |
# | lucidrains ViViT | `LayerNorm → Linear → LayerNorm` on `(pt ph pw c)` tubes | (classifier) |
#
# ## 4. CogVideoX 1.0 vs 1.5: per-frame patches vs 2×2×2 tubes
#
# CogVideoX 1.0 patchifies each latent frame on its own (diffusers `CogVideoXPatchEmbed`,
# `patch_size_t=None`: a `Conv2d` on `(b t) c h w`), so every latent frame keeps its own tokens.
# CogVideoX 1.5 groups 2 latent frames into each token (`sat/configs/cogvideox1.5_5b.yaml :
# patch_size: [2, 2, 2]`; diffusers: a `Linear(in_channels · 8, D)` on `(c pt ph pw)` tubes). Both
# are `PatchEmbed3d` with the right weight:

# %%
conv2d = randomise_(nn.Conv2d(C, DIM, 2, stride=2))  # CogVideoX 1.0
per_frame = rearrange(conv2d(rearrange(latent, "b c t h w -> (b t) c h w")), "(b t) d h w -> b (t h w) d", b=2)
v10 = PatchEmbed3d(C, DIM, (1, 2, 2))
with torch.no_grad():
    v10.proj.weight.copy_(rearrange(conv2d.weight, "d c h w -> d c 1 h w"))
    v10.proj.bias.copy_(conv2d.bias)
assert_close(v10(latent), per_frame)

linear15 = randomise_(nn.Linear(C * 8, DIM))  # CogVideoX 1.5
v15 = PatchEmbed3d(C, DIM, (2, 2, 2))
with torch.no_grad():
    v15.proj.weight.copy_(rearrange(linear15.weight, "d (c pt ph pw) -> d c pt ph pw", c=C, pt=2, ph=2, pw=2))
    v15.proj.bias.copy_(linear15.bias)
assert_close(v15(latent), linear15(patchify_scratch(latent, (2, 2, 2))))
print(f"{T} latent frames → 1.0: {v10(latent).shape[1]} tokens; 1.5: {v15(latent).shape[1]} tokens (half as many)")

# %% [markdown]
# The 2×2×2 tube needs an even number of latent frames — but a causal VAE gives `1 + (frames − 1)/4`,
# and CogVideoX 1.5 asks for `16N + 1` frames (README), so 81 frames give 21 latent frames: odd.
# minivid refuses; the diffusers pipeline (`pipeline_cogvideox.py`) pads: `additional_frames =
# patch_size_t − latent_frames % patch_size_t` extra latent frames are generated and
# `latents[:, additional_frames:]` drops them after sampling.

# %%
try:
    token_count(81, 768, 1360, patch=(2, 2, 2))
except ValueError as error:
    print("ValueError:", error)
latent_frames = latent_size(81, 768, 1360)[0]
additional = -latent_frames % 2  # the pipeline's patch_size_t - latent_frames % patch_size_t, when not 0
padded_grid = ((latent_frames + additional) // 2, 768 // 16, 1360 // 16)
print(f"CogVideoX 1.5, 81×768×1360: {latent_frames} latent frames + {additional} → token grid {padded_grid} "
      f"= {int(np.prod(padded_grid)):,} tokens")
assert int(np.prod(padded_grid)) == 44_880

# %% [markdown]
# ## 5. ViViT tubelets inflated from a 2D patch embedding
#
# ViViT's tubelet embedding (`scenic/projects/vivit/model.py : embed_3d_patch`) is a 3D conv with
# kernel = stride = `(ft, fh, fw)`; ViViT-B on Kinetics uses `(2, 16, 16)` with
# `kernel_init_method = 'central_frame_initializer'` (`configs/kinetics400/vivit_base_k400.py`).
# When initialising from an image ViT, `model_utils.init_embedding` turns the trained 2D kernel `W`
# into a 3D one in one of two ways:
#
# - **mean** ("filter inflation", I3D): `W / t` on each of the `t` frames. Because the conv is
#   linear, the tubelet equals the 2D embedding of the **average frame** of the tube — and on a
#   static clip, of the frame itself.
# - **centre**: `W` on frame `t // 2`, zeros elsewhere. The tubelet equals the 2D embedding of the
#   **centre frame** of each tube, for any clip; the other frames are ignored at initialisation.

# %%
patch_2d = randomise_(nn.Conv2d(3, DIM, kernel_size=8, stride=8))  # a "trained" image patch embedding
moving = data.make_clip("square", "magenta", "down", frames=9, size=32, seed=1).video[None, :, :6]  # B C 6 H W


def embed_2d(frames_bcthw):
    """The 2D patch embedding on every frame: B C T H W → B T (h w) D."""
    out = patch_2d(rearrange(frames_bcthw, "b c t h w -> (b t) c h w"))
    return rearrange(out, "(b t) d h w -> b t (h w) d", b=frames_bcthw.shape[0])


def as_tokens(x):  # B t (h w) D → B (t h w) D
    return rearrange(x, "b t n d -> b (t n) d")


mean3 = tubelet_from_2d(patch_2d, 3, mode="mean")  # minivid, tubes of 3 frames
average_frame = rearrange(moving, "b c (t k) h w -> b c t k h w", k=3).mean(3)  # B C 2 H W
assert_close(mean3(moving), as_tokens(embed_2d(average_frame)), rtol=1e-5, atol=1e-5)
static = repeat(moving[:, :, 0], "b c h w -> b c t h w", t=6)
assert_close(mean3(static), as_tokens(embed_2d(static[:, :, ::3])), rtol=1e-5, atol=1e-5)

centre3 = tubelet_from_2d(patch_2d, 3, mode="centre")
assert_close(centre3(moving), as_tokens(embed_2d(moving[:, :, 1::3])), rtol=1e-5, atol=1e-5)  # frames 1 and 4
print("mean tubelet == 2D embedding of the tube's average frame; centre tubelet == 2D embedding of its centre frame")

# %% [markdown]
# ViViT-B's own tubelets are 2 frames deep, and scenic's checkpoint path writes `W` at index
# `t // 2 = 1`: the *second* frame of each tube. Built by hand from that rule, and by minivid:

# %%
centre2 = PatchEmbed3d(3, DIM, (2, 8, 8))
with torch.no_grad():
    centre2.proj.weight.zero_()
    centre2.proj.weight[:, :, 2 // 2] = patch_2d.weight  # scenic init_embedding: temp[t // 2] = W
    centre2.proj.bias.copy_(patch_2d.bias)
assert_close(tubelet_from_2d(patch_2d, 2, mode="centre")(moving), centre2(moving))  # minivid
assert_close(centre2(moving), as_tokens(embed_2d(moving[:, :, 1::2])), rtol=1e-5, atol=1e-5)  # frames 1, 3, 5
print("ViViT-B style 2-frame centre tubelet == 2D embedding of the second frame of each tube")

# %% [markdown]
# The two inflated kernels, drawn (output channel 0, averaged over input channels):

# %%
fig, axes = plt.subplots(2, 3, figsize=(6.5, 4.4), layout="constrained")
for row, (name, kernel) in enumerate((("mean", mean3.proj.weight), ("centre", centre3.proj.weight))):
    slices = kernel[0].mean(0).detach()  # output channel 0, averaged over input channels: t kh kw
    for f in range(3):
        axes[row, f].imshow(slices[f].numpy(), cmap="RdBu_r", vmin=-0.12, vmax=0.12)
        axes[row, f].set(xticks=[], yticks=[], title=f"frame {f} of the tube", ylabel=name if f == 0 else None)
fig.suptitle("a 3-frame tubelet kernel inflated from one 2D kernel (red/blue: weight sign)", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# ## 6. Sequence-length accounting
#
# Tokens = latent grid ÷ patch, where the causal VAE keeps frame 0 alone and compresses the rest
# 4:1 in time (so `frames = 1 + 4n`), and `8×` (Wan2.1, CogVideoX, HunyuanVideo) or `16×` (Wan2.2
# TI2V-5B) in space. Native sizes from the official configs: Wan2.1 `frame_num 81`, sizes `480*832` /
# `720*1280`; Wan2.2 TI2V-5B `frame_num 121`, `704*1280`, `vae_stride (4, 16, 16)`; CogVideoX
# `num_frames: 49`, latent 60×90; CogVideoX 1.5 81 frames at 1360×768; HunyuanVideo
# `--video-length 129`, `--video-size 720 1280`.

# %%
rows = [  # name, frames, height, width, VAE stride, patch, text tokens in the same attention
    ("Wan2.1 480p", 81, 480, 832, (4, 8, 8), (1, 2, 2), "— (cross-attn, 512)"),
    ("Wan2.1 720p", 81, 720, 1280, (4, 8, 8), (1, 2, 2), "— (cross-attn, 512)"),
    ("Wan2.2 TI2V-5B", 121, 704, 1280, (4, 16, 16), (1, 2, 2), "— (cross-attn, 512)"),
    ("CogVideoX", 49, 480, 720, (4, 8, 8), (1, 2, 2), "226, first"),
    ("HunyuanVideo", 129, 720, 1280, (4, 8, 8), (1, 2, 2), "≤ 256, last"),
]
counted, accounting = {}, []
for name, f, h, w, stride, p, text in rows:
    lat, grid_m = latent_size(f, h, w, stride), token_grid(f, h, w, stride, p)
    counted[name] = token_count(f, h, w, stride, p)
    accounting.append({"model": name, "video": f"{f}×{h}×{w}", "latent": "×".join(map(str, lat)),
                       "patch": "×".join(map(str, p)), "token grid": "×".join(map(str, grid_m)),
                       "tokens": counted[name], "text": text})
accounting.append({"model": "CogVideoX 1.5", "video": "81×768×1360", "latent": "21(+1)×96×170", "patch": "2×2×2",
                   "token grid": "11×48×85", "tokens": 44_880, "text": "224, first"})  # padded: see §4
display(viz.table(accounting))
assert counted["Wan2.1 480p"] == 32_760 and counted["Wan2.1 720p"] == 75_600
assert counted["CogVideoX"] == 17_550 and counted["HunyuanVideo"] == 118_800 and counted["Wan2.2 TI2V-5B"] == 27_280

# %% [markdown]
# How the count grows with duration — each model at its native resolution, frame rate and frame
# rule (Wan2.1 16 fps `sample_fps`, Wan2.2 TI2V 24 fps; CogVideoX 8 fps with `8N + 1` frames and
# 1.5 16 fps with `16N + 1`, per its README; HunyuanVideo `4n + 1`, saved at 24 fps) — and with
# resolution (81 frames, 16:9-ish). Tokens grow linearly with duration and with the *square* of the
# side, and full attention's cost with the square of the tokens (notebook 05). Wan2.2's 16×16 VAE
# gives exactly a quarter of Wan2.1's tokens at any size.

# %%
def frames_for(seconds, fps, step):
    """The frame count closest to `seconds` that the model accepts: 1 + step·n."""
    return 1 + step * max(0, round(fps * seconds / step))


def cogvideox15_tokens(frames, height=768, width=1360):
    lt, lh, lw = latent_size(frames, height, width)
    return (lt + lt % 2) // 2 * (lh // 2) * (lw // 2)  # the pipeline pads to an even latent count


native = {  # name: fps, frames = 1 + step·n, tokens(frames)
    "Wan2.1 480p": (16, 4, lambda f: token_count(f, 480, 832)),
    "Wan2.1 720p": (16, 4, lambda f: token_count(f, 720, 1280)),
    "Wan2.2 TI2V-5B 704p": (24, 4, lambda f: token_count(f, 704, 1280, (4, 16, 16))),
    "CogVideoX 480p": (8, 8, lambda f: token_count(f, 480, 720)),
    "CogVideoX 1.5 768p": (16, 16, cogvideox15_tokens),
    "HunyuanVideo 720p": (24, 4, lambda f: token_count(f, 720, 1280)),
}
seconds = np.linspace(0.25, 10, 40)
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
default_frames = {"Wan2.1 480p": 81, "Wan2.1 720p": 81, "Wan2.2 TI2V-5B 704p": 121, "CogVideoX 480p": 49,
                  "CogVideoX 1.5 768p": 81, "HunyuanVideo 720p": 129}
for name, (fps, step, count_tokens) in native.items():
    line, = axes[0].plot(seconds, [count_tokens(frames_for(s, fps, step)) / 1e3 for s in seconds],
                         label=f"{name} ({fps} fps)")
    f0 = default_frames[name]
    axes[0].plot(f0 / fps, count_tokens(f0) / 1e3, marker="*", markersize=12, color=line.get_color(),
                 markeredgecolor="k")
axes[0].set(xlabel="clip length (s)", ylabel="video tokens (thousands)",
            title="tokens vs duration, native size (★ = default clip)")
axes[0].legend(fontsize=8)
heights = np.arange(240, 1089, 16)
for name, stride in (("Wan2.1 (VAE 4×8×8)", (4, 8, 8)), ("Wan2.2 TI2V (VAE 4×16×16)", (4, 16, 16))):
    sizes = [(int(h_), int(round(h_ * 16 / 9 / 32) * 32)) for h_ in heights if h_ % 32 == 0]
    axes[1].plot([s[0] for s in sizes], [token_count(81, h_, w_, stride) / 1e3 for h_, w_ in sizes], marker="o",
                 markersize=3, label=name)
assert all(token_count(81, h_, w_) == 4 * token_count(81, h_, w_, (4, 16, 16)) for h_, w_ in sizes)
for height in (480, 720):
    axes[1].axvline(height, color="0.7", linestyle=":")
axes[1].set(xlabel="frame height (px), width ≈ 16/9 × height", ylabel="video tokens (thousands)",
            title="tokens vs resolution, 81 frames: quadratic in the side")
axes[1].legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# ## 7. The errors: `1 + 4n` frames, and sizes the strides must divide
#
# minivid checks sizes and says what to do. The official Wan code does not check: `text2video.py`
# computes `(F - 1) // self.vae_stride[0] + 1` latent frames, so a request for 80 frames is quietly
# treated like one for 77 (20 latent frames decode to 1 + 4·19 = 77 frames).

# %%
wan_latent_frames = lambda frames: (frames - 1) // 4 + 1  # noqa: E731  (wan/text2video.py)
print(f"Wan's formula: 80 frames → {wan_latent_frames(80)} latent frames, the same as 77 → {wan_latent_frames(77)}")
for call, args in ((latent_size, (80, 480, 832)), (token_count, (81, 470, 832)), (token_count, (81, 488, 832))):
    try:
        call(*args)
    except ValueError as error:
        print(f"{call.__name__}{args}: ValueError: {error}")
try:
    PatchEmbed3d(16, DIM, (1, 2, 2))(torch.randn(1, 3, 5, 8, 8))
except ValueError as error:
    print("PatchEmbed3d: ValueError:", error)

# %% [markdown]
# ## 8. Where the popular accounts get it wrong
#
# - **"CogVideoX does not patchify along time, so that images and videos train together"**
#   (*Controllable Video Generation*, a survey blog post by Lu Yuxin). True of CogVideoX 1.0 only.
#   CogVideoX 1.5 uses `patch_size: [2, 2, 2]` (`sat/configs/cogvideox1.5_5b.yaml`; diffusers
#   `CogVideoXPatchEmbed(patch_size_t=2)`, a `Linear(16 · 8, D)`), and its pipeline pads the latent
#   frames to an even count (§4).
# - **"Wan's patch embedding gives `[1, 2048, F, H/2, W/2]`", "32 layers"** (*Diffusion Models Code
#   Walkthrough: Getting Started and in Practice*, a blog post on Wan2.1/2.2's code). 2048 and 32
#   are the *defaults* of `WanModel.__init__` (`dim=2048`, `num_layers=32`); no released model uses
#   them. `wan/configs/wan_t2v_1_3B.py`: `dim = 1536`, `num_layers = 30`; `wan_t2v_14B.py`:
#   `dim = 5120`, `num_layers = 40`. The embedding is `(B, dim, F_lat, H_lat/2, W_lat/2)` with those
#   widths.
# - **"A patch embedding is a reshape plus a Linear, any order will do."** Only with the flattening
#   order the weight was trained with: `(c pt ph pw)` for a `Conv3d` weight; `lucidrains`' ViViT
#   flattens `(pf p1 p2 c)` and wraps the `Linear` in two LayerNorms (`vit_pytorch/vivit.py :
#   to_patch_embedding`), so its weights are neither a Conv3d's nor loadable without permutation
#   (§2, exercise 2).
# - **"Wan needs `1 + 4n` frames, or it fails."** It does not fail — it floors (§7): ask for 80
#   frames and you get 77, without a message. minivid raises instead.
#
# ## Summary
#
# - Patchify is one `rearrange`; `Conv3d(kernel = stride = patch)`, a per-frame `Conv2d` (pt = 1) and a
#   `Linear` on `(c pt ph pw)` tubes are the same map — proven against `minivid.layers.embed`.
# - The head decides the unpatchify order: Wan and DiT are channels-last, HunyuanVideo and
#   CogVideoX channels-first; mixing orders scrambles the video without an error.
# - CogVideoX 1.0 patchifies per frame (1×2×2); 1.5 uses 2×2×2 tubes and pads odd latent frame counts.
# - ViViT inflation: mean → embedding of the tube's average frame; centre → embedding of its
#   centre frame (index `t // 2`, also for ViViT-B's 2-frame tubes).
# - Tokens at native size: Wan2.1 32,760 (480p) / 75,600 (720p), Wan2.2 TI2V-5B 27,280, CogVideoX
#   17,550, CogVideoX 1.5 44,880, HunyuanVideo 118,800.
#
# ## Check yourself
#
# 1. Why does `conv.weight.flatten(1)` only work as a `Linear` weight for `(c pt ph pw)` tokens?
# 2. Wan's head emits 64 numbers per token for 16 latent channels. In which order, and what goes
#    wrong if you unpatchify them HunyuanVideo's way?
# 3. How many tokens does CogVideoX 1.0 make from 13 latent frames of 60×90, and CogVideoX 1.5 from
#    22 latent frames of 96×170?
# 4. A mean-inflated tubelet sees a clip whose frames change inside a tube. What does it compute?
# 5. Why is 80 frames an error in minivid but not in Wan's code, and what does Wan do with them?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1.** Wan2.1 at 1080p (1080×1920, 81 frames): which check fails? Find the nearest valid
# heights below and above 1080 (width 1920, 81 frames) and answer with `(height_below,
# height_above)`; then compute their token counts.

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None


def accepted(height, width=1920):
    """Whether minivid accepts this frame size for Wan2.1 (81 frames)."""
    try:
        token_count(81, height, width)
        return True
    except ValueError:
        return False


nearest_valid = (max(filter(accepted, range(1000, 1080))), min(filter(accepted, range(1081, 1200))))
check(answer_1, nearest_valid,
      "the VAE divides the height by 8 and the patch then by 2; run token_count(81, 1080, 1920) to read the error")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
try:
    token_count(81, 1080, 1920)
except ValueError as error:
    print("1080p:", error)  # 1080 / 8 = 135 latent rows: odd, the 2×2 patch does not fit
solution_1 = (1080 // 16 * 16, (1080 // 16 + 1) * 16)  # the height must be a multiple of 8 × 2 = 16
check(solution_1, nearest_valid)
below, above = (token_count(81, h_, 1920) for h_ in solution_1)
assert (below, above) == (21 * 67 * 120, 21 * 68 * 120)
print(f"1072×1920 → {below:,} tokens, 1088×1920 → {above:,} tokens")

# %% [markdown]
# **Exercise 2.** Load a channels-last `Linear` patch embedding (tokens flattened `(pt ph pw c)`, no
# LayerNorms) into minivid's `PatchEmbed3d` and prove the outputs equal.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
channels_last = randomise_(nn.Linear(C * 8, DIM))
ours = PatchEmbed3d(C, DIM, (2, 2, 2))
with torch.no_grad():
    ours.proj.weight.copy_(rearrange(channels_last.weight, "d (pt ph pw c) -> d c pt ph pw", pt=2, ph=2, pw=2, c=C))
    ours.proj.bias.copy_(channels_last.bias)
assert_close(ours(latent), channels_last(patchify(latent, (2, 2, 2), "pt ph pw c")))

# %% [markdown]
# **Exercise 3.** CogVideoX 1.5 also makes 10-second clips: 161 frames at 1360×768. How many latent
# frames does the pipeline add, and how many video tokens result? Answer with `(added, tokens)`.

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
latent_frames_161 = latent_size(161, 768, 1360)[0]
padded_frames = 1 + 4 * (latent_frames_161 + latent_frames_161 % 2 - 1)  # the frames that give the padded latent
check(answer_3, (latent_frames_161 % 2, token_count(padded_frames, 768, 1360, patch=(2, 2, 2))),
      "1 + (frames − 1)/4 latent frames, padded to an even count for the 2×2×2 tube; then divide by the patch")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
lt = latent_size(161, 768, 1360)[0]  # 41: odd
solution_3 = (-lt % 2, cogvideox15_tokens(161))  # 1 extra latent frame; 21 × 48 × 85 tokens
check(solution_3, (latent_frames_161 % 2, token_count(padded_frames, 768, 1360, patch=(2, 2, 2))))
print(f"161 frames → {lt} latent frames + 1 → {cogvideox15_tokens(161):,} tokens")

# %% [markdown]
# **Exercise 4.** Wan2.1-14B embeds 16 latent channels into tokens of width 5120 with a `1×2×2`
# `Conv3d` patch embedding (kernel = stride = patch, with a bias). How many parameters does that
# embedding have?

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
with torch.device("meta"):  # no memory needed to count parameters
    wan_embed = PatchEmbed3d(16, 5120, (1, 2, 2))
check(answer_4, sum(p_.numel() for p_ in wan_embed.parameters()),
      "one weight per (output channel, input channel, position inside the patch), plus one bias per output channel")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
solution_4 = 5120 * 16 * 1 * 2 * 2 + 5120  # the weight D × C × pt × ph × pw, and the bias
check(solution_4, sum(p_.numel() for p_ in wan_embed.parameters()))

# %% [markdown]
# **Exercise 5.** Wan2.1's VAE turns 81 frames at 480×832 into a latent of 16 × 21 × 60 × 104. After
# the `1×2×2` patchify of this notebook, what is the shape of the token tensor for a batch of one?
# Answer with a tuple `(B, tokens, numbers per token)`.

# %%
# Exercise 5: replace None with your answer, then run the cell; it tells you whether you are right
answer_5 = None
check(answer_5, tuple(patchify(torch.empty(1, 16, 21, 60, 104, device="meta"), (1, 2, 2)).shape),
      "one token per 1×2×2 tube, in (t h w) order; each token holds all the numbers of its tube, every channel")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 5
solution_5 = (1, 21 * (60 // 2) * (104 // 2), 16 * 1 * 2 * 2)  # (1, 32760, 64)
check(solution_5, tuple(patchify(torch.empty(1, 16, 21, 60, 104, device="meta"), (1, 2, 2)).shape))
assert solution_5[1] == token_count(81, 480, 832)
