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
# # 10 — Decoupled cross-attention: an image and a text, two branches
#
# A text-to-video model reads its prompt through cross-attention: the video tokens ask, the text
# tokens answer. To condition on an **image** as well (the first frame of an image-to-video model,
# or a reference picture), the image has to answer too. IP-Adapter (Ye et al. 2023) does it with
# **decoupled cross-attention**. The image tokens get their own key and value projections and
# their own softmax, and the two results are added, the image's scaled by `λ`:
# `attn(q, k_txt, v_txt) + λ · attn(q, k_img, v_img)`. Wan2.1's image-to-video model uses the same
# form in every block, with 257 CLIP tokens and `λ = 1`. It also feeds the first frame in a second
# way: through 20 extra input channels (a 4-channel mask and a 16-channel image latent).
#
# This notebook builds decoupled cross-attention from scratch and proves it equal to
# `minivid.layers.attention.DecoupledCrossAttention`, then sweeps `λ`. It rebuilds Wan2.1 I2V's
# exact image branch and its 36-channel input, with the mask built the way the official code
# builds it. It shows that diffusers silently mis-splits image and text when the text is not 512
# tokens long, and what Wan2.2 changed. Along the way it checks a popular account of Wan2.1 I2V
# (flyfish's blog post *How the Models inside Wan2.1 Image-to-Video Work Together*) against the
# official code.
#
# **Prerequisites:** notebook 05 (attention), notebook 07 (patchify); notebook 04 for the VAE.
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 10 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
DIM, HEADS = 64, 4  # width and heads of the from-scratch layer (head_dim 16)
TEXT_DIM, IMAGE_DIM = 48, 40  # widths of the text and the image tokens it reads
VIDEO_TOKENS = 60 if FAST else 240  # queries
TEXT_TOKENS = 12  # a short prompt
IMAGE_TOKENS = 257  # CLIP ViT-H/14 at 224 px: 16×16 patches + the class token (Wan2.1 I2V)
LAMBDAS = 13 if FAST else 41  # points of the λ sweep
FRAMES, SIZE = (17, 32) if FAST else (33, 64)  # the image-to-video example clip: 1 + 4n frames, pixels

# %%
import importlib.util
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from IPython.display import display
from matplotlib.patches import Rectangle
from torch.testing import assert_close

from minivid import data, presets, viz
from minivid.exercises import check
from minivid.layers.attention import CrossAttention, DecoupledCrossAttention
from minivid.layers.embed import token_grid
from minivid.models.wan import CLIP_TOKENS, TEXT_LEN, first_frame_timesteps, forward_flops, image_condition, pad_text

minivid.check_environment()
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`notebooks` extra)


def jitter_(module, std=0.1):
    """Noise on top of the init, so no parameter keeps a constant value (a norm weight of 1, a zero
    bias or Wan's zero-initialised head would hide a mistake)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))
    return module


# %% [markdown]
# ## 1. Two ways to let an image answer
#
# The simplest way is to append the image tokens to the text tokens and keep **one** softmax. The
# image tokens then compete with the words for the same attention weights, and the share each side
# gets is set by how many tokens it has and how well they match, not by anything you can turn. Below,
# the keys are random, so a query has no reason to prefer one kind of token: a short prompt
# (`TEXT_TOKENS`) against 4 (IP-Adapter), 16 (IP-Adapter Plus) and 257 (Wan2.1's CLIP) image tokens.

# %%
def heads(x, h=HEADS):
    return rearrange(x, "b l (h d) -> b h l d", h=h)


def merge(x):
    return rearrange(x, "b h l d -> b l (h d)")


def attention_weights(q, k):
    """q B h Lq d, k B h Lk d → softmax(q kᵀ / √d): B h Lq Lk."""
    return (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)


q_demo = torch.randn(1, HEADS, VIDEO_TOKENS, DIM // HEADS, generator=g)
text_keys = torch.randn(1, HEADS, TEXT_TOKENS, DIM // HEADS, generator=g)
share, share_rows = {}, []
for n_image in (4, 16, IMAGE_TOKENS):
    image_keys = torch.randn(1, HEADS, n_image, DIM // HEADS, generator=g)
    weights = attention_weights(q_demo, torch.cat([text_keys, image_keys], dim=2))  # one softmax
    share[n_image] = weights[..., TEXT_TOKENS:].sum(-1).mean().item()
    share_rows.append({"text tokens": TEXT_TOKENS, "image tokens": n_image,
                       "image tokens' share of the attention (one softmax)": f"{share[n_image]:.0%}",
                       "image tokens' share of the tokens": f"{n_image / (n_image + TEXT_TOKENS):.0%}"})
display(viz.table(share_rows))
assert share[IMAGE_TOKENS] > 0.8

# %% [markdown]
# With 257 CLIP tokens the prompt is nearly drowned out. IP-Adapter's answer is to decouple. The
# image tokens get **new** key/value projections `to_k_ip`, `to_v_ip` (the text ones stay as trained)
# and a **separate** softmax, and the output is `attn_txt + λ · attn_img` before the shared output
# projection. Each branch's weights sum to 1 on their own, so the image's weight is `λ`, whatever
# the token counts. With `λ = 0` the layer is exactly the text-only layer it was before. IP-Adapter
# trains only the new projections (and the image-token projection) on a frozen model
# (`tutorial_train.py`: `unet.requires_grad_(False)`). The official processor
# (`tencent-ailab/IP-Adapter : ip_adapter/attention_processor.py : IPAttnProcessor2_0`) has
# `to_k_ip`/`to_v_ip` without bias, `num_tokens=4`, and
# `hidden_states = hidden_states + self.scale * ip_hidden_states`, applied before `to_out`. Written
# from scratch:

# %%
def decoupled_cross_attention(x, text, image, w, scale):
    """x B L DIM (video tokens), text B Lt TEXT_DIM, image B Li IMAGE_DIM → B L DIM (IP-Adapter form)."""
    q = heads(x @ w["q"].T)  # B h L d
    text_out = attention_weights(q, heads(text @ w["k"].T)) @ heads(text @ w["v"].T)  # B h L d
    image_out = attention_weights(q, heads(image @ w["k_img"].T)) @ heads(image @ w["v_img"].T)
    return merge(text_out + scale * image_out) @ w["out"].T + w["out_bias"]  # B L DIM


shapes = {"q": (DIM, DIM), "k": (DIM, TEXT_DIM), "v": (DIM, TEXT_DIM), "k_img": (DIM, IMAGE_DIM),
          "v_img": (DIM, IMAGE_DIM), "out": (DIM, DIM), "out_bias": (DIM,)}
w = {name: torch.randn(shape, generator=g) / shape[-1] ** 0.5 for name, shape in shapes.items()}
x = torch.randn(2, VIDEO_TOKENS, DIM, generator=g)  # B L DIM
text = torch.randn(2, TEXT_TOKENS, TEXT_DIM, generator=g)
image = torch.randn(2, IMAGE_TOKENS, IMAGE_DIM, generator=g)

layer = DecoupledCrossAttention(DIM, context_dim=TEXT_DIM, image_dim=IMAGE_DIM, heads=HEADS, bias=False, image_scale=0.6)  # minivid
with torch.no_grad():
    for ours, name in ((layer.to_q, "q"), (layer.to_k, "k"), (layer.to_v, "v"), (layer.to_k_img, "k_img"),
                       (layer.to_v_img, "v_img"), (layer.to_out, "out")):
        ours.weight.copy_(w[name])
    layer.to_out.bias.copy_(w["out_bias"])
assert_close(layer(x, text, image), decoupled_cross_attention(x, text, image, w, 0.6))

text_only = CrossAttention(DIM, context_dim=TEXT_DIM, heads=HEADS, bias=False)
text_only.load_state_dict({k: v for k, v in layer.state_dict().items() if "img" not in k})
layer.image_scale = 0.0
assert_close(layer(x, text, image), text_only(x, text))
layer.image_scale = 0.6
print("from scratch == DecoupledCrossAttention; with λ = 0 it is the text-only CrossAttention with the same weights")

# %% [markdown]
# ## 2. The λ sweep
#
# How the output moves from text-only towards image-driven as `λ` grows. Both branches meet
# *before* a linear output projection, so the output is **affine in λ**:
# `y(λ) = y(0) + λ · (y(1) − y(0))`. It moves along a straight line, starting at the text-only
# output and heading in the direction of the image branch. The line is asserted for every `λ` of
# the sweep. The plot shows how similar the output is to each end, and how far it has moved.

# %%
lambdas = np.linspace(0, 3, LAMBDAS)
with torch.no_grad():
    outputs = torch.stack([decoupled_cross_attention(x, text, image, w, lam) for lam in lambdas])  # Λ B L DIM
y0, y1 = outputs[0], decoupled_cross_attention(x, text, image, w, 1.0)
for lam, y in zip(lambdas, outputs):
    assert_close(y, y0 + lam * (y1 - y0), rtol=1e-4, atol=1e-5)  # a straight line in λ

image_direction = y1 - y0  # W_out · attn_img: where the image pushes
cos_text = F.cosine_similarity(outputs, y0.expand_as(outputs), dim=-1).mean((1, 2))
cos_image = F.cosine_similarity(outputs, image_direction.expand_as(outputs), dim=-1).mean((1, 2))
moved = (outputs - y0).norm(dim=-1).mean((1, 2)) / y0.norm(dim=-1).mean()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.7), layout="constrained")
axes[0].plot(lambdas, cos_text, marker="o", markersize=3, label="cos(y(λ), text-only output y(0))")
axes[0].plot(lambdas, cos_image, marker="o", markersize=3, label="cos(y(λ), image branch W·attn_img)")
axes[0].axvline(1.0, color="0.6", ls=":")
axes[0].set(xlabel="λ (image_scale)", ylabel="mean cosine over tokens", title="from text-only towards image-driven")
axes[0].legend(fontsize=8)
axes[1].plot(lambdas, moved, marker="o", markersize=3, color="tab:red")
axes[1].axvline(1.0, color="0.6", ls=":")
axes[1].set(xlabel="λ (image_scale)", ylabel="‖y(λ) − y(0)‖ / ‖y(0)‖",
            title="distance from the text-only output: linear")
fig.suptitle("decoupled cross-attention, one layer (dotted: λ = 1, Wan2.1 I2V's fixed value)", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# In diffusers the knob is `pipe.set_ip_adapter_scale(λ)` (`loaders/ip_adapter.py`), and the
# processor skips the image branch entirely when `λ = 0`. Wan2.1 I2V has no knob. The official
# `WanI2VCrossAttention.__init__` even keeps a commented-out learnable gate,
# `# self.alpha = nn.Parameter(torch.zeros((1, )))`. It was not used: the two branches are simply
# added.
#
# ## 3. Wan2.1 I2V's image branch, exactly
#
# `Wan-Video/Wan2.1 : wan/modules/model.py` (commit `9737cba`), in the form it runs:
#
# - `WanModel.forward` embeds the CLIP tokens with `img_emb = MLPProj(1280, dim)` (LayerNorm →
#   Linear → GELU → Linear → LayerNorm) and **prepends** them to the text: `context = concat([context_clip,
#   context])`. The text has already been zero-padded to `text_len = 512` tokens.
# - `WanI2VCrossAttention.forward` cuts it again: `image_context_length = context.shape[1] -
#   T5_CONTEXT_TOKEN_NUMBER` (512), and the image tokens are everything before that.
# - `q`, `k`, `v`, `o` are the text cross-attention's own. The image adds `k_img`, `v_img` and
#   `norm_k_img` (an RMSNorm over the full width, like `norm_q`/`norm_k`; there is no `norm_q_img`).
#   The two attentions are added, and **then** `o` is applied once: `x = o(attn(q, k, v) + attn(q,
#   k_img, v_img))`.
# - The CLIP tokens come from `clip_xlm_roberta_vit_h_14` (open-clip XLM-RoBERTa ViT-H/14, 224 px),
#   with `use_31_block=True`: the output of the penultimate of 32 blocks, 16·16 + 1 = **257 tokens ×
#   1280**, not pooled.
#
# The from-scratch version below uses that official convention: one concatenated `[image; text]`
# context, split by counting 512 text tokens from the end. It is checked against a block of
# minivid's tiny I2V preset, which takes the two sequences separately.

# %%
def rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def wan_i2v_cross_attention(x, context, m, h):
    """x B L D; context B (Li + 512) D = [image tokens; text padded to 512] → B L D, as the official code."""
    n_image = context.shape[1] - TEXT_LEN  # image_context_length
    image_tokens, text_tokens = context[:, :n_image], context[:, n_image:]
    q = heads(rms_norm(F.linear(x, m.to_q.weight, m.to_q.bias), m.norm_q.weight), h)
    k = heads(rms_norm(F.linear(text_tokens, m.to_k.weight, m.to_k.bias), m.norm_k.weight), h)
    v = heads(F.linear(text_tokens, m.to_v.weight, m.to_v.bias), h)
    k_img = heads(rms_norm(F.linear(image_tokens, m.to_k_img.weight, m.to_k_img.bias), m.norm_k_img.weight), h)
    v_img = heads(F.linear(image_tokens, m.to_v_img.weight, m.to_v_img.bias), h)
    out = attention_weights(q, k) @ v + attention_weights(q, k_img) @ v_img  # summed, one softmax each
    return F.linear(merge(out), m.to_out.weight, m.to_out.bias)


tiny = jitter_(presets.build("wan2.1-i2v-tiny", device="cpu")).eval()
cfg = tiny.config
cross = tiny.blocks[0].cross_attn  # a DecoupledCrossAttention(qk_norm="rms_across_heads", image_scale=1)
xs = torch.randn(1, VIDEO_TOKENS, cfg.dim, generator=g)
text_emb = torch.randn(1, TEXT_LEN, cfg.dim, generator=g)  # already through text_embedding, padded to 512
image_emb = torch.randn(1, CLIP_TOKENS, cfg.dim, generator=g)  # already through MLPProj
with torch.no_grad():
    assert_close(cross(xs, text_emb, image_emb),
                 wan_i2v_cross_attention(xs, torch.cat([image_emb, text_emb], dim=1), cross, cfg.heads))
print(f"official [image; text] split + shared q/o + k_img, v_img, norm_k_img == minivid WanBlock.cross_attn "
      f"({cross.image_scale=})")


# %% [markdown]
# `MLPProj` takes the 1280-wide CLIP tokens to the model width. `nn.LayerNorm` has its default
# `eps = 1e-5` here (not the 1e-6 of the blocks), and `nn.GELU()` is the exact GELU, not the tanh
# one the FFNs use:

# %%
def mlp_proj(tokens, m):
    """CLIP tokens B 257 image_dim → B 257 dim (official MLPProj)."""
    ln_in, fc1, _, fc2, ln_out = m
    x = F.layer_norm(tokens, (tokens.shape[-1],), ln_in.weight, ln_in.bias, eps=1e-5)
    x = F.linear(F.gelu(F.linear(x, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
    return F.layer_norm(x, (x.shape[-1],), ln_out.weight, ln_out.bias, eps=1e-5)


clip_tokens = torch.randn(1, CLIP_TOKENS, cfg.image_dim, generator=g)  # a stand-in for CLIP's penultimate layer
with torch.no_grad():
    assert_close(tiny.image_embedding(clip_tokens), mlp_proj(clip_tokens, tiny.image_embedding))
print(f"MLPProj from scratch == minivid image_embedding: {tuple(clip_tokens.shape)} → {cfg.dim} wide")

# %% [markdown]
# What the branch costs at full size (exact counts from `minivid.presets`, which match diffusers'
# `WanTransformer3DModel` for these configs): the I2V model is the T2V-14B model plus, in each of the
# 40 blocks, `k_img` and `v_img` (5120 × 5120 + bias each) and `norm_k_img`, plus `MLPProj` and 20
# more input channels in the patch embedding.

# %%
counts = {name: presets.count_params(name) for name in
          ("wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b")}
D, blocks_n, clip_w = 5120, 40, 1280
image_kv = blocks_n * (2 * (D * D + D) + D)  # k_img, v_img, norm_k_img per block
mlp_proj_n = 2 * clip_w + (clip_w * clip_w + clip_w) + (clip_w * D + D) + 2 * D
patch_extra = 20 * 1 * 2 * 2 * D  # mask 4 + image latent 16 more input channels, 1×2×2 patch
extra = counts["wan2.1-i2v-14b-480p"] - counts["wan2.1-t2v-14b"]
assert extra == image_kv + mlp_proj_n + patch_extra
assert counts["wan2.2-i2v-a14b"] - counts["wan2.1-t2v-14b"] == patch_extra
display(viz.table([{"model": name, "parameters": n} for name, n in counts.items()]))
print(f"I2V − T2V = {extra:,} = image K/V {image_kv:,} + MLPProj {mlp_proj_n:,} + patch {patch_extra:,}"
      f"  (+{extra / counts['wan2.1-t2v-14b']:.1%})")

grid_480p = token_grid(81, 480, 832)  # 21 × 30 × 52 video tokens
flops_i2v = sum(forward_flops(presets.WAN_CONFIGS["wan2.1-i2v-14b-480p"], grid_480p, TEXT_LEN, CLIP_TOKENS).values())
flops_t2v = sum(forward_flops(presets.WAN_CONFIGS["wan2.1-t2v-14b"], grid_480p, TEXT_LEN).values())
print(f"forward FLOPs at 81×480×832: T2V {flops_t2v / 1e15:.1f} PFLOPs, I2V {flops_i2v / 1e15:.1f} PFLOPs "
      f"(+{flops_i2v / flops_t2v - 1:.2%})")

# %% [markdown]
# So +14.7% parameters and less than +1% compute. The image K/V projections see only 257 tokens,
# and the image attention is 32,760 queries against 257 keys, next to the 32,760 × 32,760 of
# self-attention. (The official code recomputes them at every forward pass; nothing is cached.)
#
# ## 4. The 36 input channels
#
# The image enters a second time, as pixels. `WanI2V.generate` (`wan/image2video.py`) builds
#
# - `y = vae.encode([first image, zeros(3, F − 1, h, w)])`: the first frame followed by `F − 1`
#   frames of **zeros**. In the `[-1, 1]` pixel range those are mid-gray frames, not black ones.
#   This gives 16 latent channels × `1 + (F − 1)/4` latent frames;
# - a mask `msk` with 4 channels; then `y = concat([msk, y])` (20 channels), and `WanModel.forward`
#   does `x = cat([noise, y])`: **16 + 4 + 16 = 36** channels.
#
# The mask is built in pixel-frame time and then folded into latent time. `msk = ones(1, F, h, w)`
# with `msk[:, 1:] = 0` (only frame 0 is given). Frame 0 is repeated 4 times
# (`repeat_interleave(msk[:, 0:1], 4)`, giving `F + 3` slots), then
# `view(1, (F + 3)/4, 4, h, w).transpose(1, 2)`. The causal VAE puts frame 0 alone in latent frame 0
# and frames `4k − 3 … 4k` in latent frame `k`. Repeating frame 0 gives latent frame 0 four slots
# too, so **channel `c` of latent frame `k` says whether pixel frame `4k − 3 + c` was given**. The
# same steps in einops:

# %%
def official_mask(frames, given=(0,)):
    """4 × F_lat mask: channel c of latent frame k = 1 if pixel frame 4k−3+c (frame 0 for k = 0) is given."""
    pixel = torch.zeros(frames)
    pixel[list(given)] = 1  # F: msk[:, 1:] = 0 leaves frame 0 only
    slots = torch.cat([pixel[:1].expand(3), pixel])  # F + 3: frame 0 four times, as repeat_interleave(·, 4)
    return rearrange(slots, "(t four) -> four t", four=4)  # view(F_lat, 4).transpose → 4 F_lat


mask81 = official_mask(81)
latent81 = torch.randn(1, 16, 21, 2, 3, generator=g)  # B C T H W: the latent of [first frame, 80 gray frames]
y = image_condition(latent81)  # minivid: B 20 T H W
assert torch.equal(y[0, :4], repeat(mask81, "c t -> c t h w", h=2, w=3)) and torch.equal(y[0, 4:], latent81[0])
print(f"81 frames → mask {tuple(mask81.shape)} (channels × latent frames); latent frame 0: {mask81[:, 0].tolist()}, "
      f"the rest 0 — equal to minivid image_condition")

# %% [markdown]
# The fold, pictured for 17 frames (5 latent frames); 81 frames give 21 in the same way:

# %%
F_demo = 17
pixel = torch.zeros(F_demo)
pixel[0] = 1
slots = torch.cat([pixel[:1].expand(3), pixel])
folded = official_mask(F_demo)
fig, axes = plt.subplots(3, 1, figsize=(12, 4.6), layout="constrained", gridspec_kw=dict(height_ratios=[1, 1, 4]))
axes[0].imshow(pixel[None], cmap="Blues", vmin=0, vmax=1.3, aspect="auto")
axes[0].set(yticks=[], xticks=range(F_demo), title="1. which pixel frames are given (msk[:, 1:] = 0)")
axes[1].imshow(slots[None], cmap="Blues", vmin=0, vmax=1.3, aspect="auto")
for k in range(len(slots) // 4):
    axes[1].add_patch(Rectangle((4 * k - 0.5, -0.5), 4, 1, fill=False, edgecolor="tab:orange", lw=2))
    axes[1].text(4 * k + 1.5, 0, f"latent frame {k}", ha="center", va="center", fontsize=8)
axes[1].set(yticks=[], xticks=range(len(slots)), xticklabels=[0, 0, 0] + list(range(F_demo)),
            title="2. frame 0 repeated 4× → F + 3 slots, in groups of 4 (x: pixel frame in each slot)")
axes[2].imshow(folded, cmap="Blues", vmin=0, vmax=1.3, aspect="auto")
for c in range(4):
    for k in range(folded.shape[1]):
        frame = 0 if k == 0 else 4 * k - 3 + c
        axes[2].text(k, c, f"frame {frame}\n{int(folded[c, k])}", ha="center", va="center", fontsize=8)
axes[2].set(yticks=range(4), yticklabels=[f"mask channel {c}" for c in range(4)], xticks=range(folded.shape[1]),
            xlabel="latent frame", title="3. folded: 4 channels × latent frames (the 4 pixel frames inside each)")
plt.close(fig)
fig

# %% [markdown]
# The whole input, built on a real clip. The first frame of a synthetic clip is followed by gray
# frames and encoded by minivid's tiny Wan-VAE (random weights, so the latent values mean nothing,
# but the shapes and the pipeline are the real ones). The 4 mask channels go in front of it and the
# noise in front of everything, and the 36 channels go through the tiny I2V model. The short prompt
# needs no padding in minivid (§5).

# %%
clip = data.make_clip("circle", "yellow", "right", frames=FRAMES, size=SIZE, seed=3)
conditioning_video = torch.cat([clip.video[:, :1], torch.zeros(3, FRAMES - 1, SIZE, SIZE)], dim=1)[None]  # B C T H W
vae = presets.build("wan2.1-vae-tiny", device="cpu").eval()
with torch.no_grad():
    image_latent = vae.encode(conditioning_video)  # B 16 T' H' W'
noise = torch.randn(image_latent.shape, generator=g)
x36 = torch.cat([noise, image_condition(image_latent)], dim=1)  # B 36 T' H' W'
prompt = torch.randn(1, TEXT_TOKENS, cfg.text_dim, generator=g)  # stand-in umT5 states (any length in minivid)
with torch.no_grad():
    velocity = tiny(x36, torch.tensor([900.0]), prompt, clip_tokens)
print(f"pixels {tuple(conditioning_video.shape)} → image latent {tuple(image_latent.shape)} → input "
      f"{tuple(x36.shape)} → predicted velocity {tuple(velocity.shape)}")
assert x36.shape[1] == 36 and velocity.shape == noise.shape

per_channel = x36[0].abs().mean((2, 3))  # 36 T': mean |value| of each channel in each latent frame
fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained", gridspec_kw=dict(width_ratios=[1.3, 1]))
shown_frames = viz.to_frames(conditioning_video)[::max(1, FRAMES // 8)]  # T H W 3
gap = np.full((SIZE, 2, 3), 255, dtype=np.uint8)  # a white line between frames
axes[0].imshow(np.concatenate([part for frame in shown_frames for part in (frame, gap)][:-1], axis=1))
axes[0].set(xticks=[], yticks=[], title="the video the VAE encodes: first frame, then zeros (mid-gray)")
shown = axes[1].imshow(per_channel, aspect="auto", cmap="magma")
for boundary, label in ((16, "mask"), (20, "image latent")):
    axes[1].axhline(boundary - 0.5, color="white", lw=1.5)
    axes[1].text(-0.4, boundary + 0.4, label, color="white", fontsize=8, va="top")
axes[1].text(-0.4, 0.4, "noise", color="white", fontsize=8, va="top")
axes[1].set(xlabel="latent frame", ylabel="input channel", title="mean |x| of the 36 input channels")
fig.colorbar(shown, ax=axes[1], shrink=0.8)
plt.close(fig)
fig

# %% [markdown]
# ## 5. diffusers: the 512-token split that goes wrong silently
#
# diffusers' `WanTransformer3DModel` follows the official convention. The model prepends the
# embedded image tokens to `encoder_hidden_states`, and the attention processor cuts them apart
# again by counting 512 text tokens from the end. Its own source, as installed:

# %%
if HAVE_DIFFUSERS:
    DIFFUSERS = Path(importlib.util.find_spec("diffusers").origin).parent
    source = (DIFFUSERS / "models/transformers/transformer_wan.py").read_text().splitlines()
    for number, line in enumerate(source, 1):
        if "image_context_length" in line or "hardcoded" in line or "concat([encoder_hidden_states_image" in line:
            print(f"transformer_wan.py:{number}: {line.strip()}")
    pipeline = (DIFFUSERS / "pipelines/wan/pipeline_wan_i2v.py").read_text()
    signature = re.search(r"def encode_prompt\((.*?)\):", pipeline, re.S).group(1)
    default = int(re.search(r"max_sequence_length: int = (\d+)", signature).group(1))
    print(f"pipeline_wan_i2v.py: WanImageToVideoPipeline.encode_prompt(max_sequence_length={default}) by default")
else:
    print("diffusers is not installed: see diffusers/models/transformers/transformer_wan.py, WanAttnProcessor")

# %% [markdown]
# The pipeline's `__call__` encodes prompts with 512 tokens, so it works. But the split is
# `shape[1] − 512` with no check. A caller who passes `prompt_embeds` of another length, for
# example from `encode_prompt()` with its own default of 226, gets a wrong cut and no error:

# %%
def diffusers_split(text_tokens, image_tokens=CLIP_TOKENS):
    """Where `context[:, :n]` / `context[:, n:]` with n = total − 512 cuts [image; text] (a negative n counts
    from the end): (cut position, image tokens in the image branch, text tokens in the image branch,
    image tokens in the text branch, text tokens in the text branch)."""
    total = image_tokens + text_tokens
    cut = total - 512 if total >= 512 else 2 * total - 512
    image_in_image = min(cut, image_tokens)
    image_in_text = image_tokens - image_in_image
    return cut, image_in_image, cut - image_in_image, image_in_text, total - cut - image_in_text


split_rows = []
for n_text in (TEXT_TOKENS, 226, 512):
    cut, ii, ti, it, tt = diffusers_split(n_text)
    split_rows.append({"image + text tokens": f"{CLIP_TOKENS} + {n_text}", "image branch: image": ii,
                       "image branch: text": ti, "text branch: image": it, "text branch: text": tt,
                       "right split": "✓" if (ti, it) == (0, 0) else "✗"})
    is_image = torch.arange(CLIP_TOKENS + n_text) < CLIP_TOKENS  # the real slicing, on labels instead of tokens
    n = is_image.shape[0] - 512  # diffusers: image_context_length = encoder_hidden_states.shape[1] - 512
    image_branch, text_branch = is_image[:n], is_image[n:]
    assert (int(image_branch.sum()), int((~image_branch).sum()), int(text_branch.sum()), int((~text_branch).sum())) \
        == (ii, ti, it, tt)
display(viz.table(split_rows))

fig, ax = plt.subplots(figsize=(12, 2.4), layout="constrained")
for r, n_text in enumerate((TEXT_TOKENS, 226, 512)):
    total = CLIP_TOKENS + n_text
    ax.barh(r, CLIP_TOKENS, color="tab:orange", height=0.6)
    ax.barh(r, n_text, left=CLIP_TOKENS, color="tab:blue", height=0.6)
    cut = diffusers_split(n_text)[0]
    ax.plot([cut, cut], [r - 0.4, r + 0.4], color="k", lw=3)
    ax.text(total + 5, r, f"cut at {cut}: image branch ← [0, {cut}), text branch ← [{cut}, {total})",
            va="center", fontsize=8)
ax.set(yticks=range(3), yticklabels=[f"text {n}" for n in (TEXT_TOKENS, 226, 512)], xlim=(0, 1250),
       xlabel="position in [image; text] (orange: CLIP tokens, blue: text tokens)",
       title="where diffusers cuts [image; text]: only 512 text tokens put the cut at the boundary")
ax.invert_yaxis()
plt.close(fig)
fig

# %% [markdown]
# The test on a tiny random diffusers model converted to minivid (`minivid.interop.wan.from_diffusers`;
# the parity tests in `tests/test_wan_parity.py` do the same at several shapes). minivid takes the
# image and the text as two arguments, so the text may have any length. Given the same short prompt,
# the two implementations disagree, and they disagree again at 226 tokens. Padded to 512 (as the
# official model pads) they agree to round-off.

# %%
if HAVE_DIFFUSERS:
    from diffusers import WanTransformer3DModel

    from minivid.interop.wan import config_to_diffusers, from_diffusers

    torch.manual_seed(0)
    theirs = WanTransformer3DModel(**config_to_diffusers(cfg)).eval()  # the tiny I2V config, diffusers' own init
    with torch.no_grad():
        for p in theirs.parameters():
            if p.unique().numel() == 1:  # norm weights of 1 and zero biases: make them random too
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    ours = from_diffusers(theirs).eval()
    t = torch.tensor([900.0])

    def relative(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()

    with torch.no_grad():
        short = relative(theirs(x36, t, prompt, encoder_hidden_states_image=clip_tokens).sample,
                         ours(x36, t, prompt, clip_tokens))
        official = ours(x36, t, pad_text(prompt, TEXT_LEN), clip_tokens)  # what the official model computes
        padded = relative(theirs(x36, t, pad_text(prompt, TEXT_LEN), encoder_hidden_states_image=clip_tokens).sample,
                          official)
        at_226 = relative(theirs(x36, t, pad_text(prompt, 226), encoder_hidden_states_image=clip_tokens).sample,
                          ours(x36, t, pad_text(prompt, 226), clip_tokens))
    print(f"relative difference diffusers vs minivid, same inputs: text of {TEXT_TOKENS} tokens {short:.2e}; "
          f"padded to 226 {at_226:.2e}; padded to 512 {padded:.2e}")
    assert padded < 1e-5 and short > 1e-2 and at_226 > 1e-2
else:
    print("diffusers is not installed: the comparison needs it (pip install diffusers)")

# %% [markdown]
# ## 6. Wan2.2: same channels, no CLIP; and TI2V's clean first frame
#
# `Wan-Video/Wan2.2` (commit `42bf4cf`) changed the image conditioning twice:
#
# - **I2V-A14B** keeps the 36-channel input. `wan/image2video.py` builds the same `msk` and
#   `y = concat([msk, y])`, but the CLIP branch is gone. `wan/modules/model.py` has no `img_emb` and
#   no `WanI2VCrossAttention`, and `wan/configs/wan_i2v_A14B.py` has no `clip_*` entries. Each
#   expert has the T2V-14B parameter count plus only the 409,600 weights of the 20 extra input
#   channels (asserted in §3).
# - **TI2V-5B** has no mask channels and no image branch at all: `in_channels = 48` is just the
#   Wan2.2 VAE's latent. The image latent **replaces latent frame 0** of the noisy latent
#   (`wan/textimage2video.py`: `latent = (1. - mask2[0]) * z[0] + mask2[0] * latent`), and those
#   tokens get **timestep 0**. The timestep becomes one value per token,
#   `temp_ts = (mask2[0][0][:, ::2, ::2] * timestep).flatten()` (the mask at the patch stride).
#   Rebuilt from scratch and compared with `minivid.models.wan.first_frame_timesteps`:

# %%
lat_t, lat_h, lat_w = 5, 6, 8  # a latent of 5 frames of 6×8, patch 1×2×2 → token grid 5×3×4
timestep = torch.tensor([700.0])
mask2 = torch.ones(lat_t, lat_h, lat_w)  # one channel of masks_like(noise, zero=True)
mask2[0] = 0  # latent frame 0 holds the clean image
temp_ts = rearrange(mask2[:, ::2, ::2] * timestep, "f h w -> 1 (f h w)")  # one timestep per token
token_grid_5b = (lat_t, lat_h // 2, lat_w // 2)
assert torch.equal(temp_ts, first_frame_timesteps(timestep, token_grid_5b))

fig, ax = plt.subplots(figsize=(11, 2.2), layout="constrained")
per_token = rearrange(temp_ts[0], "(f n) -> f n", f=lat_t)
ax.imshow(per_token, cmap="viridis", aspect="auto")
for f in range(lat_t):
    ax.text(per_token.shape[1] / 2 - 0.5, f, f"latent frame {f}: t = {per_token[f, 0]:.0f} on its "
            f"{per_token.shape[1]} tokens", ha="center", va="center", color="k" if f else "white", fontsize=8)
ax.set(yticks=[], xlabel="token inside the frame",
       title="Wan2.2 TI2V: per-token timesteps (clean first frame at t = 0)")
plt.close(fig)
fig

# %% [markdown]
# ## 7. Where the popular accounts get it wrong
#
# *The Wan2.1 I2V post* describes a pipeline that the official code
# (`Wan-Video/Wan2.1`, commit `9737cba`) does not contain. Claim by claim:
#
# | *the Wan2.1 I2V post* says | the official code | where |
# | --- | --- | --- |
# | text encoder: T5 with `max_length=77`, 77 × 768 embeddings, "a CLIP text-encoder variant" | umT5-XXL (`t5_model = 'umt5_xxl'`, width 4096, 24 layers), `text_len = 512` | `wan/configs/shared_config.py`, `wan/modules/t5.py : umt5_xxl` |
# | image encoder "based on DiT (DiT-XL/2)", spatially pooled to a global feature | CLIP ViT-H/14 (`clip_xlm_roberta_vit_h_14`), penultimate block (`use_31_block=True`), **257 tokens kept**, no pooling | `wan/configs/wan_i2v_14B.py : clip_model`, `wan/modules/clip.py` |
# | a cross-attention module fuses text and image into one condition, then "combined with the timestep embedding" | no fusion module. Inside every block, one cross-attention with two branches (§3). The timestep goes through its own MLP and modulates the block (shift/scale/gate), never mixed with text or image | `wan/modules/model.py : WanI2VCrossAttention, WanAttentionBlock` |
# | a "spatio-temporal UNet" generates the video | a DiT: `WanModel`, 40 `WanAttentionBlock`s of full 3D self-attention with 3D RoPE over 21 × h × w latent tokens | `wan/modules/model.py`, `wan/configs/wan_i2v_14B.py` |
# | a "frame alignment module" makes frames consistent | none exists (`wan/modules/` holds attention, clip, model, t5, tokenizers, vace_model, vae, xlm_roberta). Consistency comes from full attention over all frames, the 3D RoPE and the causal VAE | repository tree |
# | DDPM-style `p_sample` on pixel-sized noise `(B, C, frames, H, W)` | flow matching solved with UniPC or DPM++ (`FlowUniPCMultistepScheduler`), on a 16-channel latent of `(F−1)/4 + 1` frames at 1/8 resolution | `wan/image2video.py : generate` |
# | a cascaded super-resolution stage (64 → 1024, residual + GAN) | none: 480P and 720P are separate checkpoints that generate at that size; the VAE decoder turns latents into pixels | `generate.py`, `wan/image2video.py` |
#
# The post never mentions the two things that make Wan2.1 I2V work: the 257 CLIP tokens in a
# decoupled branch of every cross-attention, and the 20 extra input channels (mask + first-frame
# latent). diffusers' pipeline lists the same components as the official code, read here from the
# installed source:

# %%
if HAVE_DIFFUSERS:
    init = re.search(r"def __init__\((.*?)\):", pipeline, re.S).group(1)
    display(viz.table([{"WanImageToVideoPipeline component": f"`{name}`", "class": f"`{kind}`"}
                       for name, kind in re.findall(r"(\w+): (\w+)", init)]))
    assert re.search(r"image_encoder: CLIPVisionModel", init) and "hidden_states[-2]" in pipeline  # penultimate layer
    assert not re.search(r"UNet|upscal|super_res", init, re.I)

# %% [markdown]
# The decoupled branch is also not "fusion by concatenation": appending the image tokens to the
# text in one softmax is a different computation, in which 257 CLIP tokens would take most of the
# attention (§1).
#
# ## Summary
#
# - Decoupled cross-attention: `to_out(attn(q, k_txt, v_txt) + λ · attn(q, k_img, v_img))`, with
#   new K/V projections and a separate softmax for the image. It was built from scratch and proven
#   equal to `DecoupledCrossAttention`, and `λ = 0` is exactly the text-only layer.
# - The output is affine in `λ`: a straight line from the text-only output in the direction of the
#   image branch.
# - Wan2.1 I2V: 257 CLIP ViT-H/14 penultimate tokens → `MLPProj` → `k_img`, `v_img`, `norm_k_img`,
#   with `q` and `o` shared and `λ = 1`. It adds 2.1B parameters (16,394,878,784 vs 14,288,491,584)
#   and under 1% of the FLOPs.
# - The 36 input channels are 16 noise + 4 mask (the 4 pixel frames inside each latent frame, only
#   frame 0 given) + 16 latent of `[first frame, gray frames]`.
# - diffusers splits `[image; text]` at `length − 512` without a check. Text of any other length
#   is mis-split silently; minivid takes the two apart.
# - Wan2.2 I2V-A14B keeps the 36 channels and drops CLIP. TI2V-5B puts the clean image latent in
#   frame 0 and gives its tokens timestep 0.
#
# ## Check yourself
#
# 1. Why does `λ = 0` reproduce the original text-to-image layer exactly, and why does that matter
#    for training an adapter?
# 2. In the single-softmax version, what decides how much the image matters? In the decoupled one?
# 3. Which mask channel and latent frame say "pixel frame 6 is given"? Why does latent frame 0 have
#    all four channels set?
# 4. You pass 300 text tokens to diffusers' I2V transformer. How many tokens does its image branch
#    get, and how many image tokens end up in the text branch?
# 5. Why does the image branch add 14.7% parameters but under 1% FLOPs?
#
# ## Exercises
#
# Each exercise has a cell for you. Where it says `answer_N = None`, put your answer and run the cell:
# `check` tells you whether it is right (and gives a hint if not). The worked solution is in the
# collapsed cell below each exercise; click it to open it.
#
# **Exercise 1.** IP-Adapter initialises `to_k_ip`/`to_v_ip` as copies of `to_k`/`to_v`
# (`tencent-ailab/IP-Adapter : tutorial_train.py`). Show that at that initialisation, feeding the
# text tokens in as the "image" gives `to_out((1 + λ) · attn_txt)`.

# %%
# Exercise 1: write your code here. The weights of §1 with the image K/V copied from the text K/V, and a λ:
w_init = {**w, "k_img": w["k"], "v_img": w["v"]}
lam = 0.7

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
text_branch = attention_weights(heads(x @ w["q"].T), heads(text @ w["k"].T)) @ heads(text @ w["v"].T)
assert_close(decoupled_cross_attention(x, text, text, w_init, lam),
             merge((1 + lam) * text_branch) @ w["out"].T + w["out_bias"])
print(f"image K/V = text K/V and image = text: the layer is to_out({1 + lam:g} · attn_txt)")

# %% [markdown]
# **Exercise 2.** Wan2.1's first-last-frame model (`wan/first_last_frame2video.py`) sets
# `msk[:, 1:-1] = 0` for 81 frames: the first and the last frame are given. Which entries of its
# 4 × 21 mask (channels × latent frames) are 1? Work it out from the fold in §4 and answer with a
# list of `(channel, latent frame)` pairs, in order; then build it with `official_mask` to see.

# %%
# Exercise 2: replace None with your answer, then run the cell; it tells you whether you are right
answer_2 = None
check(answer_2, official_mask(81, given=(0, 80)).nonzero().tolist(),
      "channel c of latent frame k holds pixel frame 4k − 3 + c, and latent frame 0 holds frame 0 four times")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
last_k = (80 + 3) // 4  # pixel frame 80 = 4k − 3 + c with c in 0..3 → k = 20
solution_2 = [(c, 0) for c in range(4)] + [(80 - (4 * last_k - 3), last_k)]  # frame 0 four times, then frame 80
check(solution_2, official_mask(81, given=(0, 80)).nonzero().tolist())
print("first-last-frame mask is 1 at (channel, latent frame):", solution_2)
assert solution_2 == [(0, 0), (1, 0), (2, 0), (3, 0), (3, 20)]  # the last frame is slot 3 of latent frame 20

# %% [markdown]
# **Exercise 3.** For Wan2.1 I2V at 720p (81 × 720 × 1280), what fraction of the forward FLOPs does
# the image branch add (I2V FLOPs / T2V-14B FLOPs − 1, as in §3)? Is it more or less than at 480p,
# and why?

# %%
# Exercise 3: replace None with your answer (a fraction, e.g. 0.05 for 5%), then run the cell
answer_3 = None
grid_720p = token_grid(81, 720, 1280)  # the video tokens at 720p
i2v_cfg, t2v_cfg = presets.WAN_CONFIGS["wan2.1-i2v-14b-480p"], presets.WAN_CONFIGS["wan2.1-t2v-14b"]
check(answer_3, sum(forward_flops(i2v_cfg, grid_720p, TEXT_LEN, CLIP_TOKENS).values())
      / sum(forward_flops(t2v_cfg, grid_720p, TEXT_LEN).values()) - 1,
      "compare forward_flops of the two models on the 720p token grid; the I2V one also reads CLIP_TOKENS",
      rtol=0.02)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
added = {}
for name, grid in (("480p", grid_480p), ("720p", grid_720p)):
    i2v = sum(forward_flops(i2v_cfg, grid, TEXT_LEN, CLIP_TOKENS).values())
    t2v = sum(forward_flops(t2v_cfg, grid, TEXT_LEN).values())
    added[name] = i2v / t2v - 1
print({name: f"+{a:.2%}" for name, a in added.items()})
solution_3 = added["720p"]
check(solution_3, sum(forward_flops(i2v_cfg, grid_720p, TEXT_LEN, CLIP_TOKENS).values())
      / sum(forward_flops(t2v_cfg, grid_720p, TEXT_LEN).values()) - 1)
assert added["480p"] == flops_i2v / flops_t2v - 1  # §3's number
assert added["720p"] < added["480p"] < 0.01  # self-attention grows with tokens², the image branch only with tokens

# %% [markdown]
# **Exercise 4.** You pass 300 text tokens (not padded to 512) to diffusers' I2V transformer, with
# the 257 CLIP tokens in front of them. How many tokens does its image branch get, and how many
# image tokens end up in the text branch? Answer with a tuple `(tokens in the image branch, image
# tokens in the text branch)`.

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
check(answer_4, (sum(diffusers_split(300)[1:3]), diffusers_split(300)[3]),
      "diffusers cuts [image; text] at (total length − 512): everything before the cut is the image branch")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
is_image = torch.arange(CLIP_TOKENS + 300) < CLIP_TOKENS  # 257 image tokens, then 300 text tokens
cut = is_image.shape[0] - 512  # image_context_length
solution_4 = (len(is_image[:cut]), int(is_image[cut:].sum()))
check(solution_4, (sum(diffusers_split(300)[1:3]), diffusers_split(300)[3]))
print(f"300 text tokens: the image branch reads {solution_4[0]} (image) tokens, and {solution_4[1]} of the "
      f"{CLIP_TOKENS} image tokens land in the text branch")
