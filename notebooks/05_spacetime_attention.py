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
# # 05 — Spatio-temporal attention: one core, many masks
#
# A video transformer sees a clip as one long sequence of tokens in `(t h w)` order. Every
# "kind" of video attention — spatial, temporal, full 3D, windowed, sparse-causal — is the same
# softmax attention with a different answer to one question: *which keys may this query see?*
# Each answer can be written twice: as a **reshape** that folds groups of tokens into the batch
# and runs attention on short sequences (what real models do, because it is cheap), and as a
# **mask** over the whole sequence (what the variant *means*). This notebook builds both for every
# variant, draws the masks, proves the two forms equal, and measures what full attention costs at
# real resolutions. Spatial + temporal attention is used by Latte, LVDM and AnimateDiff; windows
# by W.A.L.T; sparse-causal attention by Tune-A-Video; ViViT tried four factorisations; Wan2.1,
# CogVideoX and HunyuanVideo use full 3D attention.
#
# **Prerequisites:** notebook 00 (the `(t h w)` token order) and scaled dot-product attention.
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 10 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
GRID = (4, 4, 4) if FAST else (5, 4, 6)  # (t, h, w) token grid drawn as masks: 64 / 120 tokens
WINDOW = (2, 2) if FAST else (2, 3)  # an illustrative window, in tokens (rows, columns); divides h and w
HEADS, HEAD_DIM = 4, 8  # attention heads and their width for the proofs
TIMING_GRID = (5, 16, 16) if FAST else (9, 16, 24)  # tokens for the speed measurement: 1,280 / 3,456

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange, reduce
from IPython.display import display
from matplotlib.colors import ListedColormap
from torch.testing import assert_close

from minivid import data, viz
from minivid.exercises import check
from minivid.layers.attention import SelfAttention, attention
from minivid.layers.embed import token_grid
from minivid.layers.spacetime import VARIANTS, attention_cost, spacetime_attention, spacetime_mask

minivid.check_environment()
_ = torch.manual_seed(0)
T, H, W = GRID
S = H * W  # tokens per frame
L = T * S  # tokens in the clip

# %% [markdown]
# ## 1. One sequence, one question: who may a query see?
#
# After patchify (notebook 07) a latent video is a grid of `t × h × w` tokens, flattened with
# `rearrange(x, "b c t h w -> b (t h w) c")`: token `i` sits in frame `i // (h·w)`, row
# `(i // w) % h`, column `i % w`. With those three coordinates every variant is one line of
# boolean algebra. `same(a)` is the `L × L` table "query and key share coordinate `a`".

# %%
index = torch.arange(L)
t_of, h_of, w_of = index // S, index // W % H, index % W  # each L: a token's frame, row, column
grid_coords = torch.stack(torch.meshgrid(*(torch.arange(n) for n in GRID), indexing="ij"), dim=-1)
assert torch.equal(torch.stack([t_of, h_of, w_of], -1), rearrange(grid_coords, "t h w c -> (t h w) c"))


def same(a):
    """L × L boolean: True where query and key have the same value of `a`."""
    return a[:, None] == a[None, :]


masks = {
    "full": torch.ones(L, L, dtype=torch.bool),  # every key
    "spatial": same(t_of),  # its own frame
    "temporal": same(h_of) & same(w_of),  # its own (row, column) in every frame
}

# %% [markdown]
# Attention itself, written out so nothing is hidden: `softmax(q kᵀ / √d) v`, with blocked keys
# set to `-inf` before the softmax. The *reshape* forms fold groups into the batch with one
# `rearrange` and call the same function on short sequences.

# %%
def softmax_attention(q, k, v, mask=None):
    """q, k, v: B n L d (n heads). mask: True = may attend, broadcast over batch and heads."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # B n Lq Lk
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v  # B n Lq d


def fold(q, k, v, pattern, **sizes):
    """Attention inside groups: `pattern` folds each group of tokens into the batch, then unfolds."""
    source, target = (side.strip() for side in pattern.split("->"))
    q, k, v = (rearrange(x, pattern, **sizes) for x in (q, k, v))
    return rearrange(softmax_attention(q, k, v), f"{target} -> {source}", **sizes)


def full(q, k, v):
    return softmax_attention(q, k, v)


def spatial(q, k, v):  # each frame is one short sequence of h·w tokens
    return fold(q, k, v, "b n (t s) d -> (b t) n s d", t=T)


def temporal(q, k, v):  # each (row, column) is one short sequence of t tokens
    return fold(q, k, v, "b n (t h w) d -> (b h w) n t d", t=T, h=H, w=W)


g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, HEADS, L, HEAD_DIM, generator=g, dtype=torch.float64) for _ in range(3))
for name, reshape_form in (("full", full), ("spatial", spatial), ("temporal", temporal)):
    assert_close(reshape_form(q, k, v), softmax_attention(q, k, v, masks[name]))  # reshape == mask
print("spatial and temporal attention as reshapes == full attention with their masks")

# %% [markdown]
# The three masks over the whole sequence (`viz.show_mask`; orange lines separate frames).
# Spatial attention is block-diagonal: a frame talks only to itself. Temporal attention is a set
# of diagonals, one every `h·w` tokens: a token talks only to the tokens at its own position.

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), layout="constrained")
for ax, (name, mask) in zip(axes, masks.items()):
    viz.show_mask(mask, title=f"{name}: {int(mask[0].sum())} keys per query", groups=S, ax=ax)
fig.suptitle(f"{T}×{H}×{W} tokens in (t h w) order: row = query, column = key")
plt.close(fig)
fig


# %% [markdown]
# A mask row is easier to read laid back onto the grid: for one query (★), which tokens of which
# frames may it attend? This picture is used for every variant below.

# %%
def show_keys(rows, query, title):
    """One row of panels per mask, one panel per frame; dark = a key the query ★ may attend."""
    qt, qh, qw = query
    row_of_query = (qt * H + qh) * W + qw
    fig, axes = plt.subplots(len(rows), T, squeeze=False, layout="constrained",
                             figsize=(1.25 * T + 2.4, 1.15 * len(rows) + 0.7))
    for r, (name, mask) in enumerate(rows.items()):
        keys = rearrange(mask[row_of_query], "(t h w) -> t h w", t=T, h=H, w=W)
        for f in range(T):
            ax = axes[r, f]
            ax.imshow(keys[f].numpy(), cmap=ListedColormap([viz.BLOCKED, viz.ATTENDS]), vmin=0, vmax=1)
            ax.set_xticks(np.arange(-0.5, W, 1), minor=True)
            ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
            ax.grid(which="minor", color="white", linewidth=0.8)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            if f == qt:
                ax.plot(qw, qh, marker="*", color="tab:orange", markersize=13, markeredgecolor="k")
            if r == 0:
                ax.set_title(f"frame {f}", fontsize=9)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    plt.close(fig)
    return fig


QUERY = (2, 1, 2)  # frame 2, row 1, column 2
show_keys(masks, QUERY, "keys of the query ★ (frame 2, row 1, column 2)")

# %% [markdown]
# ## 2. Windows: W.A.L.T
#
# W.A.L.T (Gupta et al. 2023, "Photorealistic Video Generation with Diffusion Models", arXiv
# 2312.06662) alternates two kinds of layer with *non-overlapping windows*. It has no released code;
# summaries of the paper give the spatial layers a `1 × h × w` window — a whole frame, i.e. spatial
# attention — and the spatiotemporal layers a window of *all* frames × a local `h' × w'` patch of tokens. The window
# sizes are not verified, so `WINDOW` here is illustrative. Written generally:
#
# - **spatial window**: own frame, own `wh × ww` window;
# - **spatiotemporal window**: own `wh × ww` window, in every frame.
#
# A window groups tokens: with `WINDOW = (2, 2)` one window holds 4 tokens, and each token is
# already one patch (in Wan a token is 1×2×2 latents). A window is therefore *not* a patch — it is
# a group of them.

# %%
wh, ww = WINDOW
window_of = (h_of // wh) * (W // ww) + w_of // ww  # L: which window a token's (row, column) is in
masks["spatial_window"] = same(t_of) & same(window_of)
masks["spatiotemporal_window"] = same(window_of)
window_sizes = dict(t=T, nh=H // wh, wh=wh, nw=W // ww, ww=ww)


def spatial_window(q, k, v):
    return fold(q, k, v, "b n (t nh wh nw ww) d -> (b t nh nw) n (wh ww) d", **window_sizes)


def spatiotemporal_window(q, k, v):
    return fold(q, k, v, "b n (t nh wh nw ww) d -> (b nh nw) n (t wh ww) d", **window_sizes)


for name, reshape_form in (("spatial_window", spatial_window), ("spatiotemporal_window", spatiotemporal_window)):
    assert_close(reshape_form(q, k, v), softmax_attention(q, k, v, masks[name]))
print(f"a {wh}×{ww} window holds {wh * ww} tokens; a spatiotemporal window holds {T * wh * ww} "
      f"(= {T} frames × {wh * ww})")
show_keys({name: masks[name] for name in ("spatial_window", "spatiotemporal_window")}, QUERY,
          f"W.A.L.T-style windows of {wh}×{ww} tokens (illustrative size)")

# %% [markdown]
# ## 3. Sparse-causal (Tune-A-Video) and frame-causal attention
#
# Tune-A-Video turns Stable Diffusion's spatial self-attention into "sparse-causal" attention: the
# queries of frame `i` attend to the keys of frame 0 and frame `i − 1`. The official code
# (`showlab/Tune-A-Video : tuneavideo/models/attention.py : SparseCausalAttention.forward`) builds
# `former_frame_index = torch.arange(video_length) - 1`, sets `former_frame_index[0] = 0`, and
# concatenates, along the token axis, the keys of frame 0 (`key[:, [0] * video_length]`) and of
# frame `former_frame_index[i]`. Reproduced here step by step:

# %%
def sparse_causal(q, k, v):
    previous = torch.arange(T) - 1  # frame i - 1 ...
    previous[0] = 0  # ... except frame 0, which takes frame 0 (the official code's quirk)
    first = torch.zeros(T, dtype=torch.long)

    def keys_of(x):  # B n (t s) d -> (B t) n (2 s) d: [frame 0 ; frame previous[i]] for every frame i
        x = rearrange(x, "b n (t s) d -> b n t s d", t=T)
        return rearrange(torch.cat([x[:, :, first], x[:, :, previous]], dim=3), "b n t s d -> (b t) n s d")

    out = softmax_attention(rearrange(q, "b n (t s) d -> (b t) n s d", t=T), keys_of(k), keys_of(v))
    return rearrange(out, "(b t) n s d -> b n (t s) d", t=T)


previous_of = (t_of - 1).clamp(min=0)  # L: the "previous" frame of each query token
masks["sparse_causal"] = (t_of[None, :] == 0) | (t_of[None, :] == previous_of[:, None])
assert_close(sparse_causal(q, k, v), softmax_attention(q, k, v, masks["sparse_causal"]))

for frame in range(T):
    row = rearrange(masks["sparse_causal"][frame * S], "(t s) -> t s", t=T).any(dim=1)
    seen = row.nonzero().squeeze(1).tolist()
    print(f"frame {frame}: keys from frames {seen}  sees itself: {frame in seen}")

# %% [markdown]
# What the code really does, which the popular description ("frame `i` attends to the first, the
# previous *and the current* frame") misses:
#
# - **frame 0** attends to `[frame 0 ; frame 0]` — itself, twice;
# - **frame 1** attends to `[frame 0 ; frame 0]` too, because `former_frame_index[1] = 0`: it sees
#   only frame 0, *not itself*;
# - **frame `i ≥ 2`** attends to `[frame 0 ; frame i − 1]`: never to itself. Within this layer the
#   tokens of a frame `i ≥ 1` never look at each other; their own content passes through the
#   residual connection, and the temporal attention later in the block (`attn_temp`) is where a
#   token next meets its own frame's position.
#
# Duplicated keys change nothing: each unique key's weight appears twice in the numerator and in
# the denominator of the softmax. So the duplicated key set equals the mask "frame 0 or frame
# `max(i−1, 0)`" — shown next, and why frames 0 and 1 still *pay* for 2·h·w keys.

# %%
qq, kk, vv = (torch.randn(1, 1, S, HEAD_DIM, generator=g, dtype=torch.float64) for _ in range(3))
assert_close(softmax_attention(qq, torch.cat([kk, kk], dim=2), torch.cat([vv, vv], dim=2)),
             softmax_attention(qq, kk, vv))
print("attention over [K ; K] == attention over K")

# %% [markdown]
# **Frame-causal** (block-causal) attention lets frame `i` see frames `0 … i`, including itself.
# HunyuanVideo's causal VAE uses it in its mid-block attention (diffusers
# `autoencoder_kl_hunyuan_video.py : prepare_causal_attention_mask`), and autoregressive video
# models are built on it. Its reshape form is a loop over frames against a growing prefix of keys:
# exactly a KV cache.

# %%
masks["frame_causal"] = t_of[None, :] <= t_of[:, None]


def frame_causal(q, k, v):
    outs = [softmax_attention(q[:, :, i * S:(i + 1) * S], k[:, :, :(i + 1) * S], v[:, :, :(i + 1) * S])
            for i in range(T)]
    return torch.cat(outs, dim=2)


assert_close(frame_causal(q, k, v), softmax_attention(q, k, v, masks["frame_causal"]))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
viz.show_mask(masks["sparse_causal"], "Tune-A-Video sparse-causal", groups=S, ax=axes[0])
viz.show_mask(masks["frame_causal"], "frame-causal", groups=S, ax=axes[1])
plt.close(fig)
fig

# %% [markdown]
# In the left mask the diagonal blocks are empty from frame 1 on: no frame after the first
# attends to itself.
#
# ## 4. ViViT's four models
#
# ViViT (Arnab et al. 2021; code: `google-research/scenic : scenic/projects/vivit/model.py`) names
# its models by `attention_config.type`:
#
# | model | `type` | what attends to what | attention weights per block |
# | --- | --- | --- | --- |
# | 1 | `spacetime` | full attention over all tokens | one attention |
# | 2 | `factorized_encoder` | a spatial transformer per frame, *then* a temporal transformer over one token per frame | one attention (two transformers) |
# | 3 | `factorized_self_attention_block` | in each block: spatial attention, then temporal attention (`attention_order`) | **two** attentions + one extra LayerNorm |
# | 4 | `factorized_dot_product_attention` | in each block: half the heads attend over time, half over space, outputs concatenated | one attention (same weights as model 1) |
#
# Model 4 is the one variant that needs one mask *per head*: scenic's
# `model_utils.factorized_dot_product_attention` splits the heads in axis order (time, then
# space). Its reshape form runs the first half of the heads as temporal and the rest as spatial.

# %%
def factorised_heads(q, k, v):
    half = q.shape[1] // 2
    return torch.cat([temporal(q[:, :half], k[:, :half], v[:, :half]),
                      spatial(q[:, half:], k[:, half:], v[:, half:])], dim=1)


masks["factorised_heads"] = torch.stack([masks["temporal"]] * (HEADS // 2) + [masks["spatial"]] * (HEADS // 2))[None]
assert_close(factorised_heads(q, k, v), softmax_attention(q, k, v, masks["factorised_heads"]))
show_keys({"model 4, head 0": masks["factorised_heads"][0, 0],
           f"model 4, head {HEADS - 1}": masks["factorised_heads"][0, -1]}, QUERY,
          "ViViT model 4: the same query, two heads, two different key sets")

# %% [markdown]
# Which model adds parameters? Model 3's block (`EncoderFactorizedSelfAttentionBlock`) creates two
# `nn.SelfAttention` modules (`MultiHeadDotProductAttention_space` / `_time`) and a LayerNorm for
# each; model 4 reuses model 1's `EncoderBlock` and only swaps its `attention_fn`. Counted with
# minivid's `SelfAttention` at ViViT-B size (width 768, 12 heads, 12 layers):

# %%
def count(module):
    return sum(p.numel() for p in module.parameters())


width, heads, layers = 768, 12, 12
one_attention = count(SelfAttention(width, heads=heads))
layer_norm = 2 * width  # scale and bias
per_block = {"model 1": one_attention, "model 3": 2 * one_attention + layer_norm, "model 4": one_attention}
display(viz.table([{"ViViT": name, "attention params / block": n, f"over {layers} blocks": n * layers}
                    for name, n in per_block.items()]))
assert per_block["model 4"] == per_block["model 1"] < per_block["model 3"]

# %% [markdown]
# And which ones does the most copied PyTorch port implement? `lucidrains/vit-pytorch :
# vit_pytorch/vivit.py` (commit `69d24fe`) accepts
# `variant in ('factorized_encoder', 'factorized_self_attention')` — model 2 (the default) and
# model 3, the latter added by PR #327 (older copies, such as the one our reference notes read,
# had model 2 only). Models 1 and 4 are not there.
#
# ## 5. The proof: from scratch == minivid, for every variant
#
# `minivid.layers.spacetime` keeps both forms of every variant: `spacetime_mask` (the meaning) and
# `spacetime_attention` (the reshape, on SDPA). Same inputs, float64, all variants:

# %%
from_scratch = {"full": full, "spatial": spatial, "temporal": temporal, "spatial_window": spatial_window,
                "spatiotemporal_window": spatiotemporal_window, "sparse_causal": sparse_causal,
                "frame_causal": frame_causal, "factorised_heads": factorised_heads}
assert set(from_scratch) == set(VARIANTS) == set(masks)
proof = []
for variant in VARIANTS:
    theirs_mask = spacetime_mask(variant, GRID, WINDOW, heads=HEADS)
    assert torch.equal(masks[variant], theirs_mask), variant
    ours = from_scratch[variant](q, k, v)
    theirs = spacetime_attention(q, k, v, variant, GRID, WINDOW)
    assert_close(ours, theirs)  # reshape (scratch) == reshape (minivid)
    assert_close(theirs, attention(q, k, v, theirs_mask))  # reshape == mask, both minivid
    keys = masks[variant].reshape(-1, L, L)[-1].sum(-1).float().mean().item()
    proof.append({"variant": variant, "keys/query": keys,
                  "max |scratch − minivid|": (ours - theirs).abs().max().item()})
viz.table(proof, floatfmt=".3g")

# %% [markdown]
# Why real models use the reshape form: it computes only the allowed scores. The mask form builds
# all `L²` scores and throws most away. Timed once on this CPU (times vary; nothing is asserted):

# %%
tg = TIMING_GRID
Lt = tg[0] * tg[1] * tg[2]
qt_, kt_, vt_ = (torch.randn(1, 2, Lt, 32, generator=g) for _ in range(3))


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


print(f"{Lt:,} tokens ({tg[0]}×{tg[1]}×{tg[2]}), 2 heads")
timings = []
for variant in ("spatial", "temporal"):
    mask_t = spacetime_mask(variant, tg)
    as_reshape = best_of(lambda: spacetime_attention(qt_, kt_, vt_, variant, tg))
    as_mask = best_of(lambda: attention(qt_, kt_, vt_, mask_t))
    timings.append({"variant": variant, "reshape (ms)": 1e3 * as_reshape, "masked full (ms)": 1e3 * as_mask})
viz.table(timings, floatfmt=".1f")

# %% [markdown]
# ## 6. What it costs at real resolutions
#
# Wan2.1 generates 81 frames at 480×832 or 720×1280. Its causal VAE compresses 4× in time and 8×
# in space, and its patch embedding groups 1×2×2 latents into a token: 21×30×52 = **32,760**
# tokens at 480p, 21×45×80 = **75,600** at 720p (`wan/text2video.py` computes the same `seq_len`;
# notebook 07 does the accounting). `attention_cost` counts, for one layer, the
# query–key pairs (× heads) the reshape form computes, the FLOPs of `QKᵀ` and `AV` (2 FLOPs per
# multiply-add), the score matrix a non-fused kernel would materialise, and the `L × L` boolean
# mask the mask form would need. Layer shape: Wan2.1-14B (width 5120, 40 heads of 128).

# %%
wan_480p, wan_720p = token_grid(81, 480, 832), token_grid(81, 720, 1280)
assert wan_480p == (21, 30, 52) and wan_720p == (21, 45, 80)
REAL_WINDOW = (5, 4)  # illustrative: divides 30 and 52
full_480p = attention_cost("full", *wan_480p, dim=5120, heads=40)
print(f"Wan2.1-14B self-attention, one layer, 81×480×832 → {wan_480p} = {full_480p['tokens']:,} tokens")
costs = []
for variant in VARIANTS:
    c = attention_cost(variant, *wan_480p, dim=5120, heads=40, window=REAL_WINDOW)
    costs.append({"variant": variant, "keys/query": f"{c['keys_per_query']:,.0f}",
                  "TFLOPs": f"{c['flops'] / 1e12:.2f}", "scores bf16 (GB)": f"{c['score_bytes_bf16'] / 1e9:.2f}",
                  "vs full": f"{c['flops'] / full_480p['flops']:.4f}"})
display(viz.table(costs))

mask_480p, mask_720p = full_480p["mask_bytes"], attention_cost("full", *wan_720p, dim=5120, heads=40)["mask_bytes"]
assert mask_480p == 32_760**2 and mask_720p == 75_600**2
print(f"\nthe L×L boolean mask alone: {mask_480p / 1e9:.2f} GB at 480p, {mask_720p / 1e9:.2f} GB at 720p")

# %% [markdown]
# How each variant grows with the clip length, with `t` latent frames of `s = h·w` tokens: spatial
# attention costs `∝ t·s²` (linear in the frames), temporal `∝ t²·s`, a spatiotemporal window
# `∝ t²·s·window`, full and frame-causal attention `∝ t²·s²`. Everything that attends across time is
# quadratic in the frames — but only full and frame-causal attention multiply that with `s² = 1560²`. Per layer,
# at 480p:

# %%
frames = np.arange(1, 162, 4)  # 1 + 4n
curves = {variant: [] for variant in ("full", "frame_causal", "spatiotemporal_window", "spatial", "temporal")}
for f in frames:
    grid_f = token_grid(int(f), 480, 832)
    for variant in curves:
        curves[variant].append(attention_cost(variant, *grid_f, dim=5120, heads=40, window=REAL_WINDOW)["flops"])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for ax, scale in zip(axes, ("linear", "log")):
    for variant, flops in curves.items():
        ax.plot(frames, np.array(flops) / 1e12, marker="o", markersize=3, label=variant)
    ax.axvline(81, color="0.6", linestyle=":")
    ax.set(yscale=scale, xlabel="frames (1 + 4n) at 480×832", ylabel="TFLOPs per attention layer",
           title=f"{scale} scale")
axes[1].legend(fontsize=8)
fig.suptitle("Wan2.1-14B layer shape: spatial attention grows linearly with the frames, the rest quadratically")
plt.close(fig)
fig

# %% [markdown]
# ## 7. Why CogVideoX and HunyuanVideo moved to full attention
#
# CogVideoX's paper argues that separate spatial and temporal attention makes large motion hard:
# the head of a person in frame `i + 1` cannot attend to the head in frame `i` directly, because
# temporal attention only looks at the *same position*, and after a large motion that position
# holds background. Information must hop through an intermediate token. Here is the argument on a
# real clip: a square moving right, keeping every 4th frame — one frame per latent frame of a 4×
# causal VAE — with 8×8-pixel tokens.

# %%
clip = data.make_clip("square", "red", "right", frames=9, size=64, seed=0)
latent_frames = clip.video[:, ::4]  # C 3 H W: frames 0, 4, 8
background = torch.tensor(data.BACKGROUND, dtype=torch.float32) / 127.5 - 1
on_object = (latent_frames - background.view(3, 1, 1, 1)).abs().amax(dim=0) > 0.5  # 3 H W
object_tokens = reduce(on_object.float(), "t (h p) (w q) -> t h w", "mean", p=8, q=8) > 0.5  # 3 8 8
mgrid = tuple(object_tokens.shape)
mS = mgrid[1] * mgrid[2]
motion_masks = {name: spacetime_mask(name, mgrid) for name in ("full", "spatial", "temporal")}
object_flat = rearrange(object_tokens, "t h w -> (t h w)")
on_1 = object_tokens[1].nonzero()
query = int((1 * mgrid[1] + on_1[len(on_1) // 2, 0]) * mgrid[2] + on_1[len(on_1) // 2, 1])  # on the square, frame 1
in_frame_0 = torch.zeros_like(object_flat)
in_frame_0[:mS] = object_flat[:mS]  # the square's tokens in frame 0

one_hop = {name: (m[query] & in_frame_0).sum().item() for name, m in motion_masks.items()}
two_layers = (motion_masks["temporal"].float() @ motion_masks["spatial"].float()) > 0  # spatial, then temporal
print(f"square tokens in frame 0: {int(in_frame_0.sum())}; the query is a square token in frame 1")
display(viz.table([{"layers": "one temporal layer", "square tokens of frame 0 seen": one_hop["temporal"]},
                   {"layers": "one full-3D layer", "square tokens of frame 0 seen": one_hop["full"]},
                   {"layers": "spatial, then temporal layer (through a background token)",
                    "square tokens of frame 0 seen": (two_layers[query] & in_frame_0).sum().item()}]))
assert one_hop["temporal"] == 0 and one_hop["full"] == int(in_frame_0.sum())

fig, axes = plt.subplots(2, 2, figsize=(6.4, 6.2), layout="constrained")
qh, qw = divmod(query - mS, mgrid[2])
for r, name in enumerate(("temporal", "full")):
    keys = rearrange(motion_masks[name][query], "(t h w) -> t h w", t=mgrid[0], h=mgrid[1], w=mgrid[2])
    for c in range(2):
        ax = axes[r, c]
        ax.imshow(viz.to_frames(latent_frames)[c], interpolation="nearest")
        overlay = np.kron(keys[c].numpy(), np.ones((8, 8)))
        ax.imshow(np.ma.masked_where(overlay == 0, overlay), cmap=ListedColormap(["white"]), alpha=0.45)
        if c == 1:
            ax.plot(qw * 8 + 3.5, qh * 8 + 3.5, marker="*", color="tab:orange", markersize=15, markeredgecolor="k")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"latent frame {c}", fontsize=9)
    axes[r, 0].set_ylabel(f"{name}\nattention", fontsize=10)
fig.suptitle("keys of ★ (white): temporal attention finds only background in frame 0", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# Full 3D attention connects the two squares in one step. CogVideoX therefore runs full attention
# over `[text ; video]` — text first, 226 T5 tokens, no padding mask (`zai-org/CogVideo :
# sat/dit_video_concat.py`; its "expert adaLN" gives text and video separate modulation while
# sharing the attention weights — notebook 08). HunyuanVideo's README: it "employs a Full
# Attention mechanism for unified image and video generation"; its blocks concatenate
# `[video ; text]` (`hyvideo/modules/models.py : q = torch.cat((img_q, txt_q), dim=1)`) and run
# varlen flash-attention with two segments per sample, `[video + valid text]` and `[text padding]`
# (`attenion.py : get_cu_seqlens`). Wan2.1 runs full self-attention over video tokens and reads
# text through cross-attention. What that costs per forward pass (one denoising step;
# classifier-free guidance, where used, doubles it), with the longest text each model pads to:

# %%
models = [  # name, video tokens, text tokens in the same attention, width, heads × head_dim, attention layers
    ("Wan2.1-14B 480p", token_grid(81, 480, 832), 0, 5120, "40×128", 40),
    ("Wan2.1-14B 720p", token_grid(81, 720, 1280), 0, 5120, "40×128", 40),
    ("CogVideoX-5B", token_grid(49, 480, 720), 226, 3072, "48×64", 42),
    ("HunyuanVideo", token_grid(129, 720, 1280), 256, 3072, "24×128", 20 + 40),
]
per_model = []
for name, grid_m, text, width, head_shape, n_layers in models:
    tokens = int(np.prod(grid_m)) + text
    heads_m = int(head_shape.split("×")[0])
    flops = 4 * tokens**2 * width * n_layers  # QKᵀ and AV, every layer
    scores = 2 * tokens**2 * heads_m
    per_model.append({"model": name, "tokens": tokens, "heads": head_shape, "layers": n_layers,
                      "PFLOPs/step": f"{flops / 1e15:.1f}", "scores/layer bf16 (GB)": f"{scores / 1e9:.0f}",
                      "L×L mask (GB)": f"{tokens**2 / 1e9:.1f}"})
display(viz.table(per_model))
assert int(np.prod(models[3][1])) == 118_800 and int(np.prod(models[2][1])) == 17_550

# %% [markdown]
# No GPU holds a 680 GB score matrix: full attention at these sizes exists only because fused
# kernels (FlashAttention, SDPA's memory-efficient backends) compute softmax in tiles and never
# store the scores, and because masks are passed as sequence lengths (`k_lens`, `cu_seqlens`), not
# as `L × L` tensors. The FLOPs do not go away: HunyuanVideo's attention alone is about ten
# PFLOPs per step, and it grows with the square of the clip length.
#
# ## 8. Where the popular accounts get it wrong
#
# - **"Tune-A-Video's frame `i` attends to the first, the previous and the current frame."** The
#   official `SparseCausalAttention.forward` concatenates only frame 0 and frame
#   `former_frame_index[i]` (with `former_frame_index[0] = 0`): frames 0 and 1 see frame 0 only,
#   frame `i ≥ 2` sees frames 0 and `i − 1` and never itself (§3, asserted above).
#   *Controllable Video Generation*, a survey blog post by Lu Yuxin, describes the keys as the first
#   frame concatenated with an earlier one, which matches the code; what it leaves out, like most
#   summaries, is that for every frame after the first the current frame is *not* among the keys —
#   it enters only as the query.
# - **"ViViT's factorised dot-product model adds parameters because of an extra self-attention
#   layer"** (*A Complete Analysis of Sora: from AI Painting and ViT to ViViT, TECO, DiT, VDT and
#   NaViT*, v_JULY_v's long survey blog post, which also labels the factorised self-attention
#   section "the second model"). In scenic, model 4 is `EncoderBlock` with
#   `attention_fn=factorized_dot_product_attention` — model 1's weights exactly; it is model 3
#   (`EncoderFactorizedSelfAttentionBlock`) that owns a second attention (+28.4M parameters at
#   ViViT-B size, §4).
# - **"This is ViViT"** under a PyTorch listing: the code in *the Sora analysis* (per-frame 2D
#   patches, a spatial transformer, then a temporal one) is model 2 only.
#   `lucidrains/vit-pytorch`'s `vivit.py` implements models 2 and 3, not 1 or 4.
# - **"W.A.L.T's local window is essentially a patch"** (*the Sora analysis*). A window is a *group
#   of tokens* that attend to each other; each token is already a patch (§2).
# - **"Wan's self-attention is windowed or global"** (*Diffusion Models Code Walkthrough: Getting
#   Started and in Practice*, a blog post on Wan2.1/2.2's code, reading `window_size` in
#   `WanModel.__init__`). Every released config sets `window_size = (-1, -1)`
#   (`wan/configs/wan_t2v_1_3B.py`, `wan_t2v_14B.py`, `wan_i2v_14B.py`): global attention. Even if
#   set, it is flash-attention's 1-D *sliding* window over the flattened `(t h w)` sequence, not a
#   spatial window, and the FlashAttention-3 path ignores it (`wan/modules/attention.py`:
#   "window_size are not supported in FA3 now").
# - Naming: *From T2I to T2V*, a blog post on turning text-to-image models into video models,
#   calls attention "between the same position in different frames" spatio-temporal attention;
#   that is *temporal* attention. Spatio-temporal (full 3D) attention sees every position in every
#   frame.
#
# ## Summary
#
# - Every video attention is one softmax attention plus a rule for which keys a query may see.
#   The reshape form (fold groups into the batch) and the mask form (an `L × L` boolean) are the
#   same computation — proven above for all eight variants against `minivid.layers.spacetime`.
# - Spatial attention sees a frame, temporal attention one position across frames, W.A.L.T windows
#   a local patch of tokens (in one or all frames), frame-causal attention the past and present.
# - Tune-A-Video's sparse-causal attention: frames 0 and 1 see frame 0; frame `i ≥ 2` sees frames
#   0 and `i − 1`, never itself.
# - ViViT model 4 splits heads between time and space with model 1's weights; model 3 adds a second
#   attention; lucidrains' port implements models 2 and 3.
# - Full attention over Wan2.1's 32,760 tokens (480p) needs a 1.07 GB mask just to *write down* the
#   pattern and 22 TFLOPs per 14B layer; HunyuanVideo's 119,056 tokens cost ≈10 PFLOPs of attention
#   per step. Models pay it because factorised attention cannot connect a moving object to itself
#   across frames in one step.
#
# ## Check yourself
#
# 1. Under Tune-A-Video's sparse-causal attention, which frames' keys does a query in frame 3
#    see? And one in frame 1?
# 2. Why does the reshape form of spatial attention cost `t` times less than full attention,
#    and which pairs of tokens can never exchange information in one spatial layer?
# 3. Which ViViT model has more parameters than model 1, and why does model 4 not?
# 4. How large is the boolean `L × L` mask for Wan2.1 at 720p, and why do real models never
#    build it?
# 5. In the moving-square picture, how many layers does a factorised model need before the square
#    in frame 1 has read the square in frame 0, and through which token?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1.** W.A.L.T's spatial layers use a window of a whole frame. Show that
# `spatial_window` with the window `(h, w)` is exactly `spatial`, and that `spatiotemporal_window`
# with `(h, w)` is `full`.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
assert torch.equal(spacetime_mask("spatial_window", GRID, (H, W)), spacetime_mask("spatial", GRID))
assert torch.equal(spacetime_mask("spatiotemporal_window", GRID, (H, W)), spacetime_mask("full", GRID))

# %% [markdown]
# **Exercise 2.** Build the mask of the variant the popular description has in mind — frame `i`
# sees frames 0, `i − 1` *and* `i` — and show that the outputs of frame 2 differ from the official
# sparse-causal attention while those of frame 0 do not.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
with_itself = masks["sparse_causal"] | same(t_of)
official = attention(q, k, v, masks["sparse_causal"])
popular = attention(q, k, v, with_itself)
frame = lambda x, i: x[:, :, i * S:(i + 1) * S]  # noqa: E731
assert_close(frame(popular, 0), frame(official, 0))  # frame 0 already saw itself
assert not torch.allclose(frame(popular, 2), frame(official, 2))
print(f"frame 2 changes by up to {(frame(popular, 2) - frame(official, 2)).abs().max():.3f}")

# %% [markdown]
# **Exercise 3.** By what factor does going from 480p to 720p (81 frames) multiply the attention
# FLOPs of one Wan2.1 layer, for full attention and for spatial attention? Answer with a tuple
# `(full, spatial)` (two significant digits are enough). Why are the two factors equal here, and
# what would make them differ?

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
flops_of = lambda variant, height, width: attention_cost(  # noqa: E731
    variant, *token_grid(81, height, width), dim=5120, heads=40)["flops"]
check(answer_3, tuple(flops_of(v_, 720, 1280) / flops_of(v_, 480, 832) for v_ in ("full", "spatial")),
      "full attention costs ∝ tokens², spatial attention ∝ frames × (tokens per frame)²; "
      "what changes between the two sizes?", rtol=0.01)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
tokens_480p, tokens_720p = (int(np.prod(token_grid(81, *size))) for size in ((480, 832), (720, 1280)))
full_ratio = (tokens_720p / tokens_480p) ** 2  # tokens²: ≈ 5.33
per_frame_480p, per_frame_720p = 30 * 52, 45 * 80  # tokens per latent frame
spatial_ratio = (tokens_720p / tokens_480p) * (per_frame_720p / per_frame_480p)  # tokens × tokens per frame
solution_3 = (full_ratio, spatial_ratio)
check(solution_3, tuple(flops_of(v_, 720, 1280) / flops_of(v_, 480, 832) for v_ in ("full", "spatial")))
print(f"720p / 480p: full ×{full_ratio:.2f}, spatial ×{spatial_ratio:.2f}")
# Equal because both clips have 21 latent frames: full ∝ t²·s², spatial ∝ t·s², so the ratios differ by the
# ratio of t. Compare clips of different lengths (or a variant with another law, e.g. temporal) and they differ.

# %% [markdown]
# **Exercise 4.** Under frame-causal attention, a query in frame `i` sees the keys of frames
# `0 … i`. On Wan2.1's 480p token grid (21 × 30 × 52), how many keys does a query see *on
# average* over all queries?

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
check(answer_4, attention_cost("frame_causal", *token_grid(81, 480, 832), dim=5120, heads=40)["keys_per_query"],
      "a query in frame i sees (i + 1) frames of h·w tokens; average i + 1 over the 21 frames")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
t_480, h_480, w_480 = token_grid(81, 480, 832)
solution_4 = sum((i + 1) * h_480 * w_480 for i in range(t_480)) / t_480  # h·w·(t + 1)/2 = 17,160
check(solution_4, attention_cost("frame_causal", t_480, h_480, w_480, dim=5120, heads=40)["keys_per_query"])
small_grid = (5, 2, 3)  # the same average, counted on a mask small enough to build
assert spacetime_mask("frame_causal", small_grid).sum(-1).double().mean() == 2 * 3 * (5 + 1) / 2

# %% [markdown]
# **Exercise 5.** How many (query, key) pairs does the spatiotemporal window mask
# `masks["spatiotemporal_window"]` allow on this notebook's `GRID` with its `WINDOW`? Answer with an
# expression in `T`, `H`, `W`, `wh` and `ww` (it then holds for any size you set in the parameters
# cell).

# %%
# Exercise 5: replace None with your answer, then run the cell; it tells you whether you are right
answer_5 = None
check(answer_5, int(spacetime_mask("spatiotemporal_window", GRID, WINDOW).sum()),
      "every query sees its own window in every frame; count the keys per query, then the queries")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 5
solution_5 = (T * H * W) * (T * wh * ww)  # L queries × (t frames × one window) keys
check(solution_5, int(spacetime_mask("spatiotemporal_window", GRID, WINDOW).sum()))
