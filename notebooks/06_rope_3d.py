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
# # 06 — 3D RoPE: rotary positions for video tokens
#
# Rotary position embedding (RoPE, Su et al. 2021) does not add a position vector to a token: it
# *rotates* pairs of query and key channels by an angle proportional to the position. Because a
# rotation by `a` followed by the inverse of a rotation by `b` is a rotation by `a − b`, the
# attention score depends only on the *offset* between two tokens — and so the model handles
# clips of any length and size. Video models use **axial 3D RoPE**: the head dimension is split
# into a time slice, a row slice and a column slice, each rotated by its own coordinate. Wan2.1,
# CogVideoX-5B and HunyuanVideo all do this, with different splits and different bases. This
# notebook builds 1D RoPE from scratch, shows its relative property, the two channel pairings that
# make checkpoints incompatible, the real 3D splits and where they come from, and proves minivid's
# `minivid.layers.rope` equal to the from-scratch version.
#
# **Prerequisites:** notebook 05 (the `(t h w)` token sequence), multi-head attention.
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 10 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
HEAD_DIM = 16 if FAST else 64  # head width of the 1D demonstrations
MAX_OFFSET = 96 if FAST else 256  # largest offset in the score-vs-offset plot
GRID = (3, 4, 5) if FAST else (5, 8, 12)  # (t, h, w) token grid for the 3D proofs
TRIALS = 4 if FAST else 32  # random shifts tried in each relative-position proof

# %%
import importlib.util

import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange
from IPython.display import display
from torch.testing import assert_close

from minivid import viz
from minivid.exercises import check
from minivid.layers.attention import SelfAttention
from minivid.layers.embed import token_grid
from minivid.layers.rope import (ROPE_THETA, apply_rope, axial_rope_angles, check_rope_dims, grid_positions,
                                 rope_3d, rope_angles, rope_dims)

minivid.check_environment()
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`test` extra)

# %% [markdown]
# ## 1. 1D RoPE from scratch
#
# Take a query `x` of width `d` and group its channels in pairs. Pair `i` is a point in the plane;
# at position `p` it is rotated by the angle `p · ωᵢ`, with one frequency per pair,
#
#     ωᵢ = θ^(−2i/d),   i = 0 … d/2 − 1,   θ = 10000 by default.
#
# Pair 0 turns by a full radian per position; the last pair turns almost not at all. Keys get the
# same rotation at their own position. Here pairs are **adjacent** channels `(x₀, x₁), (x₂, x₃), …`
# — the convention of every video model in this notebook.

# %%
def frequencies(dim, theta=10000.0):
    """ωᵢ = θ^(−2i/dim), one per channel pair (dim/2 of them), fastest first; float64."""
    return theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)


def rotate_adjacent(x, angles):
    """Rotate the pairs (x₀, x₁), (x₂, x₃), … of x (..., N, d) by angles (N, d/2)."""
    x1, x2 = rearrange(x, "... (d r) -> r ... d", r=2)
    cos, sin = angles.cos(), angles.sin()
    return rearrange(torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos]), "r ... d -> ... (d r)")


def at_positions(x, positions, theta=10000.0, rotate=rotate_adjacent):
    """The vector x (d,) placed at each of `positions` (N,): (N, d)."""
    angles = positions.double()[:, None] * frequencies(x.shape[-1], theta)  # N d/2
    return rotate(x.expand(len(positions), -1), angles)


# %% [markdown]
# What one query looks like as it moves along the sequence: each pair traces a circle at its own
# speed (8 channels = 4 pairs, the unrotated vector is `(1, 0)` in every pair).

# %%
positions = torch.arange(24)
unit = torch.tensor([1.0, 0.0] * 4, dtype=torch.float64)
moved = rearrange(at_positions(unit, positions), "n (d r) -> d r n", r=2)  # pair, (x, y), position
fig, axes = plt.subplots(1, 4, figsize=(12, 3.3), layout="constrained")
for i, ax in enumerate(axes):
    points = ax.scatter(moved[i, 0], moved[i, 1], c=positions, cmap="viridis", s=22)
    ax.plot(np.cos(np.linspace(0, 2 * np.pi, 100)), np.sin(np.linspace(0, 2 * np.pi, 100)), color="0.85", zorder=0)
    ax.set(aspect="equal", xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), xticks=[], yticks=[],
           title=f"pair {i}: ω = {frequencies(8)[i]:.3g} rad/position")
fig.colorbar(points, ax=axes, label="position", shrink=0.8)
fig.suptitle("RoPE on 8 channels: every pair turns at its own speed")
plt.close(fig)
fig

# %% [markdown]
# **The relative property.** The score between a query at position `m` and a key at `n` is
# `Σᵢ |qᵢ||kᵢ| cos((m − n) ωᵢ + φᵢ)`: it depends on `m − n` only. Shifting both positions by the same
# amount changes nothing — asserted below for random vectors, positions and shifts. Left: the score
# of one random `q`, `k` pair against the offset, measured from three different starting
# positions — the three curves lie on top of each other. Right: with `q = k = (1, 1, …)` the score
# is `2 Σᵢ cos(offset · ωᵢ)`; the base θ decides how fast it falls off and how fast it oscillates.

# %%
q, k = torch.randn(2, HEAD_DIM, generator=g, dtype=torch.float64)


def score(q, k, m, n, theta=10000.0):
    """q at positions m (N,) against k at positions n (N,): N scores."""
    return (at_positions(q, m, theta) * at_positions(k, n, theta)).sum(-1)


offsets = torch.arange(MAX_OFFSET + 1)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
for start, style in ((0, "-"), (37, "--"), (500, ":")):
    axes[0].plot(offsets, score(q, k, offsets + start, torch.full_like(offsets, start)), style,
                 linewidth=2, label=f"key at position {start}")
axes[0].set(xlabel="offset m − n", ylabel="q · k after RoPE", title=f"random q, k (d = {HEAD_DIM})")
axes[0].legend(fontsize=8)
ones = torch.ones(128, dtype=torch.float64)
for theta in (10000.0, 256.0):
    axes[1].plot(offsets, score(ones, ones, offsets, torch.zeros_like(offsets), theta) / 128, label=f"θ = {theta:g}")
axes[1].set(xlabel="offset m − n", ylabel="score / d", title="q = k = ones, d = 128")
axes[1].legend(fontsize=8)
plt.close(fig)
fig

# %%
for _ in range(TRIALS):
    m, n = torch.randint(-1000, 1000, (2, 16), generator=g)
    shift = torch.randint(-5000, 5000, (1,), generator=g)
    assert_close(score(q, k, m + shift, n + shift), score(q, k, m, n))  # shift both: same scores
assert not torch.allclose(score(q, k, m + 7, n), score(q, k, m, n))  # shift one: different scores

# minivid: the same angles (float64, like Wan's rope_params) and the same rotation
x = torch.randn(1, 2, 50, HEAD_DIM, generator=g, dtype=torch.float64)  # B heads N d
pos = torch.arange(50)
assert_close(rope_angles(pos, HEAD_DIM), pos.double()[:, None] * frequencies(HEAD_DIM))
assert_close(apply_rope(x, rope_angles(pos, HEAD_DIM), "adjacent"), rotate_adjacent(x, rope_angles(pos, HEAD_DIM)))
print("scores depend only on the offset; minivid's rope_angles and apply_rope equal the from-scratch ones")

# %% [markdown]
# ## 2. Two pairings — and why weights do not carry over
#
# Which channels form a pair is a convention, and there are two:
#
# - **adjacent** `(x₀, x₁), (x₂, x₃), …` — the complex view `view_as_complex(x.reshape(..., -1, 2))`
#   (GPT-J). Wan (`rope_apply`), CogVideoX and HunyuanVideo use it;
# - **rotate-half** `(xᵢ, x_{i+d/2})` — GPT-NeoX and LLaMA's `rotate_half` on the two halves.

# %%
def rotate_half(x, angles):
    """Rotate the pairs (xᵢ, x_{i+d/2}) of x (..., N, d) by angles (N, d/2) — GPT-NeoX / LLaMA."""
    x1, x2 = rearrange(x, "... (r d) -> r ... d", r=2)
    cos, sin = angles.cos(), angles.sin()
    return rearrange(torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos]), "r ... d -> ... (r d)")


d = 16
pair_of = {"adjacent": torch.arange(d // 2).repeat_interleave(2), "rotate-half": torch.arange(d // 2).repeat(2)}
fig, ax = plt.subplots(figsize=(9, 1.9), layout="constrained")
ax.imshow(torch.stack(list(pair_of.values())).numpy(), cmap="tab20", aspect="auto")
for row, pairs in enumerate(pair_of.values()):
    for channel, p in enumerate(pairs.tolist()):
        ax.text(channel, row, str(p), ha="center", va="center", fontsize=9)
ax.set(yticks=[0, 1], yticklabels=list(pair_of), xticks=range(d), xlabel="channel of one head",
       title="which pair each channel belongs to (same colour = rotated together)")
plt.close(fig)
fig

# %% [markdown]
# Both pairings have the relative property; they are different *functions of the weights*. Load a
# model's weights into attention with the other pairing and its queries and keys are rotated along
# the wrong pairs. The two are one channel permutation apart: reordering the rows of `W_q` and
# `W_k` (and their biases, and any per-channel q/k-norm weight) inside every head converts one
# into the other.

# %%
heads, width = 2, 2 * HEAD_DIM
adjacent = SelfAttention(width, heads=heads, rope_pairing="adjacent").double()
half = SelfAttention(width, heads=heads, rope_pairing="half").double()
half.load_state_dict(adjacent.state_dict())  # same weights, other pairing
tokens = torch.randn(1, 40, width, generator=g, dtype=torch.float64)
angles = rope_angles(torch.arange(40), HEAD_DIM)
reference = adjacent(tokens, rope=angles)
wrong = half(tokens, rope=angles)


def logits(model):
    """The rotated q · k of every head: B heads N N."""
    qh, kh = (rearrange(proj(tokens), "b n (h d) -> b h n d", h=heads) for proj in (model.to_q, model.to_k))
    return apply_rope(qh, angles, model.rope_pairing) @ apply_rope(kh, angles, model.rope_pairing).transpose(-2, -1)


relative = lambda a, b: ((a - b).norm() / b.norm()).item()  # noqa: E731
print(f"same weights, other pairing: attention logits differ by {relative(logits(half), logits(adjacent)):.0%}, "
      f"layer outputs by {relative(wrong, reference):.0%}")
assert relative(logits(half), logits(adjacent)) > 0.3

perm = rearrange(torch.arange(HEAD_DIM), "(d r) -> (r d)", r=2)  # half-layout channel j ← adjacent channel perm[j]
rows = torch.cat([h * HEAD_DIM + perm for h in range(heads)])
converted = SelfAttention(width, heads=heads, rope_pairing="half").double()
converted.load_state_dict(adjacent.state_dict())
with torch.no_grad():
    for proj in (converted.to_q, converted.to_k):
        proj.weight.copy_(proj.weight[rows])
        proj.bias.copy_(proj.bias[rows])
assert_close(converted(tokens, rope=angles), reference)
angles_50 = rope_angles(pos, HEAD_DIM)
assert_close(rotate_half(x[..., perm], angles_50), rotate_adjacent(x, angles_50)[..., perm])  # same rotation, reordered
print("after permuting the rows of W_q and W_k, the rotate-half model equals the adjacent one")

# %% [markdown]
# ## 3. Axial 3D RoPE
#
# A video token has three coordinates `(t, h, w)` (`grid_positions` lists them in `(t h w)` order).
# Axial RoPE splits the head dimension into three slices `[d_t | d_h | d_w]` and runs 1D RoPE on
# each slice with its own coordinate. Each slice has its **own ladder** `θ^(−2i/d_axis)`, normalised
# by the slice's width, not by `d` — all three models do this.

# %%
def axial_angles(positions, dims, theta=10000.0):
    """positions (N, 3) integer (t, h, w) → angles (N, sum(dims)/2): axis a rotates its slice of dims[a]."""
    return torch.cat([positions[:, a, None].double() * frequencies(dim, theta) for a, dim in enumerate(dims)], dim=-1)


def wan_split(d):  # WanModel.__init__: rope_params(1024, d - 4*(d//6)), rope_params(1024, 2*(d//6)) twice
    return d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)


def cogvideox_split(d):  # Rotary3DPositionEmbeddingMixin.__init__: d//4, d//8*3, d//8*3
    return d // 4, d // 8 * 3, d // 8 * 3


HUNYUAN_SPLIT = (16, 56, 56)  # HYVideo-T/2: rope_dim_list = [16, 56, 56]

MODELS = {  # name: head_dim, (d_t, d_h, d_w), θ, native token grid (t, h, w)
    "Wan2.1": (128, wan_split(128), 10000.0, token_grid(81, 480, 832)),
    "CogVideoX-5B": (64, cogvideox_split(64), 10000.0, token_grid(49, 480, 720)),
    "HunyuanVideo": (128, HUNYUAN_SPLIT, 256.0, token_grid(129, 720, 1280)),
}
for (name, (head_dim, dims, theta, _)), key in zip(MODELS.items(), ("wan", "cogvideox", "hunyuanvideo")):
    assert dims == rope_dims(key, head_dim) and theta == ROPE_THETA[key]
rotated = {"Wan2.1": "all (video only; text via cross-attention)",
           "CogVideoX-5B": "video only; [text ; video], text unrotated",
           "HunyuanVideo": "video only; [video ; text], text unrotated"}
viz.table([{"model": name, "head_dim": head_dim, "d_t/d_h/d_w": "/".join(map(str, dims)),
            "frequencies": "/".join(str(x // 2) for x in dims), "θ": f"{theta:g}", "rotated tokens": rotated[name]}
           for name, (head_dim, dims, theta, _) in MODELS.items()])

# %% [markdown]
# Where the splits come from in the official code:
#
# | model | code | for their head_dim |
# | --- | --- | --- |
# | Wan2.1 / 2.2 | `wan/modules/model.py : WanModel.__init__` — `rope_params(1024, d - 4 * (d // 6))`, then `rope_params(1024, 2 * (d // 6))` twice, θ = 10000; `rope_apply` splits the complex half-dim as `[c - 2 * (c // 3), c // 3, c // 3]` | 44 / 42 / 42 of 128 |
# | CogVideoX-5B, 1.5 | `sat/dit_video_concat.py : Rotary3DPositionEmbeddingMixin` — `dim_t = hidden_size_head // 4`, `dim_h = dim_w = hidden_size_head // 8 * 3`, θ = 10000; `attention_fn` rotates only `[text_length:]` | 16 / 24 / 24 of 64 |
# | HunyuanVideo | `hyvideo/modules/models.py : HYVideoDiffusionTransformer(rope_dim_list=[16, 56, 56])`, `hyvideo/config.py : --rope-theta` default **256**, `posemb_layers.py : get_1d_rotary_pos_embed` (per-axis ladder, `repeat_interleave(2)`) | 16 / 56 / 56 of 128 |
#
# The time axis gets the remainder in Wan (44 vs 42), a quarter in CogVideoX and only an eighth in
# HunyuanVideo. The same tables, read back out of the diffusers implementations (which the minivid
# test suite also checks end to end, through the attention layers):

# %%
t, h, w = GRID
positions_3d = grid_positions(*GRID)
for name, (head_dim, dims, theta, _) in MODELS.items():
    assert_close(rope_3d(GRID, dims, theta), axial_angles(positions_3d, dims, theta))  # minivid == from scratch

if HAVE_DIFFUSERS:
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.models.transformers.transformer_hunyuan_video import HunyuanVideoRotaryPosEmbed
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    latents = torch.zeros(1, 16, t, 2 * h, 2 * w)  # B C T H W; a 1×2×2 patch gives the token grid GRID
    cos_of = {
        "Wan2.1": WanRotaryPosEmbed(128, (1, 2, 2), max_seq_len=1024)(latents)[0].reshape(t * h * w, 128),
        "CogVideoX-5B": get_3d_rotary_pos_embed(64, ((0, 0), (h, w)), (h, w), t)[0],
        "HunyuanVideo": HunyuanVideoRotaryPosEmbed(2, 1, list(HUNYUAN_SPLIT), theta=256.0)(latents)[0],
    }
    for name, (head_dim, dims, theta, _) in MODELS.items():
        expected = axial_angles(positions_3d, dims, theta).cos().repeat_interleave(2, dim=-1)  # adjacent pairs
        assert_close(cos_of[name].double(), expected, rtol=0, atol=1e-6)
    print("diffusers' Wan, CogVideoX and HunyuanVideo cos tables == the from-scratch axial angles == minivid")
else:
    print("diffusers is not installed (it comes with `pip install -e '.[test]'`): cross-check skipped")

# %% [markdown]
# **The frequency bands.** Top: each pair's frequency, in head-dimension order, coloured by axis:
# three ladders side by side. Bottom: how far each pair turns across the whole clip at the model's
# native size (frequency × (positions on that axis − 1)). Pairs below the dotted line turn less than
# 0.1 rad from one end of the clip to the other — for that clip they carry almost no position;
# pairs above 2π wrap around at least once.

# %%
colours = {"t": "tab:blue", "h": "tab:orange", "w": "tab:green"}
fig, axes = plt.subplots(2, 3, figsize=(14, 6.2), layout="constrained", sharey="row")
for col, (name, (head_dim, dims, theta, native)) in enumerate(MODELS.items()):
    start = 0
    for axis, dim, n in zip("thw", dims, native):
        pairs = np.arange(start, start + dim // 2)
        omega = frequencies(dim, theta).numpy()
        axes[0, col].scatter(pairs, omega, s=12, color=colours[axis], label=f"{axis} axis" if col == 0 else None)
        axes[1, col].scatter(pairs, omega * (n - 1), s=12, color=colours[axis])
        start += dim // 2
    axes[0, col].set(yscale="log", title=f"{name}: {'/'.join(map(str, dims))}, θ = {theta:g}")
    axes[1, col].set(yscale="log", xlabel="channel pair (head-dimension order)",
                     title=f"turn across the native grid {tuple(native)}")
    axes[1, col].axhline(2 * np.pi, color="0.4", linewidth=1)
    axes[1, col].axhline(0.1, color="0.4", linewidth=1, linestyle=":")
axes[1, 0].text(8, 2 * np.pi * 1.3, "one full turn (2π)", fontsize=8, color="0.3")
axes[1, 0].text(0, 0.1 * 1.3, "0.1 rad", fontsize=8, color="0.3")
axes[0, 0].set_ylabel("ω (rad per position)")
axes[1, 0].set_ylabel("ω × (n − 1)  (rad)")
fig.legend(loc="outside right upper", fontsize=9)
plt.close(fig)
fig

# %% [markdown]
# **What a 3D score looks like.** With `q = k = ones` the score splits into a time part, a row part
# and a column part: `S(Δt, Δh, Δw) = S_t(Δt) + S_h(Δh) + S_w(Δw)`. At `Δt = 0` the `(Δh, Δw)` map is
# a sum of a row profile and a column profile — the "plus" shape of an axial encoding (it has no
# diagonal structure of its own).

# %%
span = torch.arange(-24, 25)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
for ax, name in zip(axes, ("Wan2.1", "HunyuanVideo")):
    head_dim, dims, theta, _ = MODELS[name]
    no_time = torch.zeros(1, dtype=torch.long)
    offsets_3d = rearrange(torch.stack(torch.meshgrid(no_time, span, span, indexing="ij"), -1), "t h w c -> (t h w) c")
    ones = torch.ones(head_dim, dtype=torch.float64)
    q_rot = rotate_adjacent(ones.expand(len(offsets_3d), -1), axial_angles(offsets_3d, dims, theta))
    smap = (q_rot @ ones).reshape(len(span), len(span)) / head_dim  # key at the origin
    c = len(span) // 2
    assert_close(smap, smap[:, c:c + 1] + smap[c:c + 1, :] - smap[c, c])  # a row profile + a column profile
    image = ax.imshow(smap.numpy(), cmap="viridis", extent=(-24.5, 24.5, 24.5, -24.5))
    ax.set(title=f"{name} (θ = {theta:g}), Δt = 0", xlabel="Δw (columns)", ylabel="Δh (rows)")
    fig.colorbar(image, ax=ax, label="score / d", shrink=0.85)
plt.close(fig)
fig

# %% [markdown]
# ## 4. The proof: from scratch == minivid, and relative in 3D
#
# For each model's split and base: minivid's `rope_3d` angles equal the from-scratch ones (above),
# `apply_rope` rotates exactly as `rotate_adjacent` does, and scores depend only on the 3D offset —
# shift every token by the same `(Δt, Δh, Δw)` and no score changes.

# %%
for name, (head_dim, dims, theta, _) in MODELS.items():
    qs, ks = torch.randn(2, 1, 2, 30, head_dim, generator=g, dtype=torch.float64)  # B heads N d
    places = torch.randint(0, 60, (30, 3), generator=g)
    rotate_q = lambda where: apply_rope(qs, axial_rope_angles(where, dims, theta))  # noqa: E731
    rotate_k = lambda where: apply_rope(ks, axial_rope_angles(where, dims, theta))  # noqa: E731
    assert_close(rotate_q(places), rotate_adjacent(qs, axial_angles(places, dims, theta)))
    scores = rotate_q(places) @ rotate_k(places).transpose(-2, -1)  # every token against every token
    for _ in range(TRIALS):
        shift = torch.randint(-500, 500, (1, 3), generator=g)
        assert_close(rotate_q(places + shift) @ rotate_k(places + shift).transpose(-2, -1), scores)
print("3D scores depend only on the 3D offset, for all three splits")

# %% [markdown]
# Text tokens in CogVideoX and HunyuanVideo are not rotated (angle 0). A consequence worth knowing:
# to RoPE, an unrotated token is *indistinguishable from a video token at `(0, 0, 0)`* — a text
# query scores a video key at `(t, h, w)` exactly as a video query sitting at the first token of the
# first frame would.

# %%
head_dim, dims, theta, _ = MODELS["CogVideoX-5B"]
text_q, video_k = torch.randn(2, 1, 1, 1, head_dim, generator=g, dtype=torch.float64)
where = torch.tensor([[7, 3, 11]])
assert_close(apply_rope(text_q, torch.zeros(1, head_dim // 2)), text_q)  # angle 0: unchanged
k_at = apply_rope(video_k, axial_rope_angles(where, dims, theta))
at_origin = apply_rope(text_q, axial_rope_angles(torch.zeros(1, 3, dtype=torch.long), dims, theta))
assert_close(text_q @ k_at.transpose(-2, -1), at_origin @ k_at.transpose(-2, -1))
print("an unrotated text token scores like a video token at (0, 0, 0)")

# %% [markdown]
# Bad splits are errors that say what is wrong, not silent shape bugs:

# %%
for bad in ((21, 21, 22), (16, 24, 20)):
    try:
        check_rope_dims(bad, 64)
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# ## 5. Measurements: how much of each axis is "position"?
#
# At each model's native size: positions per axis, the slowest frequency, its wavelength
# `2π / ω_min` in tokens, and how many pairs turn less than 0.1 rad across the clip (nearly
# position-blind at this size) or more than a full turn.

# %%
blind, measured = {}, []
for name, (head_dim, dims, theta, native) in MODELS.items():
    for axis, dim, n in zip("thw", dims, native):
        omega = frequencies(dim, theta)
        turn = omega * (n - 1)
        blind[name, axis] = int((turn < 0.1).sum())
        wavelength = round(2 * np.pi / omega[-1].item())
        measured.append({"model": name, "axis": axis, "positions": n, "pairs": dim // 2,
                         "ω_min": f"{omega[-1].item():.2e}", "wavelength (tokens)": wavelength,
                         "pairs < 0.1 rad": blind[name, axis], "pairs > 2π": int((turn > 2 * np.pi).sum())})
display(viz.table(measured))
assert all(blind["HunyuanVideo", a] == 0 < blind["Wan2.1", a] for a in "thw")  # θ = 256 keeps every pair turning

# %% [markdown]
# With θ = 10000, 6 to 9 of the 21–22 pairs of each of Wan's axes turn less than 0.1 rad across a
# 480p clip; HunyuanVideo's θ = 256 pulls its slowest wavelengths down to about a thousand tokens,
# and every one of its pairs moves across a 720p clip. (The official code does not say why θ = 256 was
# chosen; these are the consequences, not the reason.)
#
# ## 6. Where the popular accounts get it wrong
#
# **"RoPE is applied per attention head."** Usually — but not always, and a port must copy what the
# checkpoint was trained with. In `Lightricks/LTX-Video` issue #224 a user notices RoPE applied to
# the whole projected query (all heads at once) and the maintainer answers that the model was
# trained "with rope over the entire hidden dim and not per head". diffusers mirrors it:
# `transformer_ltx.py` builds `LTXVideoRotaryPosEmbed(dim=inner_dim)` and rotates `query`/`key`
# *before* `unflatten(2, (attn.heads, -1))`. Evidence, and what it means:

# %%
ltx_heads, ltx_head_dim = 32, 64  # LTXVideoTransformer3DModel defaults: inner_dim 2048
if HAVE_DIFFUSERS:
    from diffusers.models.transformers.transformer_ltx import LTXVideoRotaryPosEmbed

    ltx_rope = LTXVideoRotaryPosEmbed(dim=ltx_heads * ltx_head_dim)
    ltx_cos, _ = ltx_rope(torch.zeros(1, 1, 1), num_frames=t, height=h, width=w)  # only the batch size is read
    print(f"LTX-Video: cos table {tuple(ltx_cos.shape)} — one table over all {ltx_heads} × {ltx_head_dim} channels")
    assert ltx_cos.shape[-1] == ltx_heads * ltx_head_dim != ltx_head_dim
else:
    print("diffusers is not installed: see transformer_ltx.py, `LTXVideoRotaryPosEmbed(dim=inner_dim)`")

# %% [markdown]
# With one frequency ladder over the whole hidden dimension, cutting the rotated vector into heads
# hands each head a *different band* of frequencies; per-head RoPE gives every head the whole
# ladder. Both are relative encodings (asserted below for the whole-dim version, with 1D positions
# and the plain `θ^(−2i/d)` ladder for clarity; LTX's own ladder also interleaves the three axes
# frequency by frequency and rescales positions — `LTXVideoRotaryPosEmbed.forward`) — but they are
# different models, and weights trained with one do not load into the other.

# %%
demo_heads, demo_head_dim = 4, 16
whole = rearrange(frequencies(demo_heads * demo_head_dim), "(h f) -> h f", h=demo_heads)  # head h's band
per_head = frequencies(demo_head_dim).expand(demo_heads, -1)
fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
for head in range(demo_heads):
    ax.scatter(np.full(demo_head_dim // 2, head) - 0.1, per_head[head], s=14, color="tab:blue",
               label="per head (Wan, CogVideoX, HunyuanVideo)" if head == 0 else None)
    ax.scatter(np.full(demo_head_dim // 2, head) + 0.1, whole[head], s=14, color="tab:red",
               label="over the whole hidden dim (LTX-Video style)" if head == 0 else None)
ax.set(yscale="log", xticks=range(demo_heads), xlabel="head", ylabel="ω of its channel pairs",
       title=f"{demo_heads} heads × {demo_head_dim} channels: which frequencies each head sees")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
plt.close(fig)

qv, kv = torch.randn(2, demo_heads * demo_head_dim, generator=g, dtype=torch.float64)


def scores_by_head(m, n):
    """Whole-dim RoPE on q at m and k at n, then cut into heads: N × heads scores."""
    return rearrange(at_positions(qv, m) * at_positions(kv, n), "n (h c) -> n h c", h=demo_heads).sum(-1)


for _ in range(TRIALS):
    m, n = torch.randint(-300, 300, (2, 8), generator=g)
    shift = torch.randint(-3000, 3000, (1,), generator=g)
    assert_close(scores_by_head(m + shift, n + shift), scores_by_head(m, n))  # still relative, head by head
fig

# %% [markdown]
# **Other accounts to read with care:**
#
# - **The pairing.** Wan's `rope_apply` uses `torch.view_as_complex(x.reshape(..., -1, 2))`:
#   adjacent pairs. CogVideoX's SAT code has a function *called* `rotate_half`, but it rearranges
#   `"... (d r) -> ... d r"` — adjacent pairs, not LLaMA's halves. HunyuanVideo's tables are
#   `repeat_interleave(2)` — adjacent again. A port that reaches for LLaMA's `rotate_half` loads
#   these checkpoints silently wrong (§2: with the same weights the attention logits change by ~100%).
# - **"CogVideoX splits the hidden states 3/8, 3/8, 2/8."** The paper's wording (quoted in
#   `zai-org/CogVideo` #359) says "of the hidden states' channel"; the code splits each *head*
#   (`hidden_size_head // 4` etc., `hidden_size_head: 64` in `sat/configs/cogvideox_5b.yaml`). Only
#   the 5B family uses RoPE at all: CogVideoX-2B uses a fixed 3D sin-cos table (the README's
#   "Position Encoding" row; issues #64 and #153), and 5B-I2V adds a learned absolute embedding.
#   Text tokens are never rotated (`attention_fn` rotates `[text_length:]` only). The 3D-RoPE
#   design itself is discussed in `zai-org/CogVideo` #252.
# - **HunyuanVideo's base.** Accounts of its 3D RoPE, including the one in *Controllable Video
#   Generation* (a survey blog post by Lu Yuxin), describe the three-way split but not the base:
#   `--rope-theta` defaults to **256** (`hyvideo/config.py`), not the 10000 that generic RoPE code
#   assumes. With θ = 10000 the same split gives other angles for every pair but the first of each
#   axis (table in §5; exercise 3).
# - **"The head is split in three equal parts."** No released model does: 44/42/42 (Wan), 16/24/24
#   (CogVideoX), 16/56/56 (HunyuanVideo).
#
# ## Summary
#
# - RoPE rotates channel pairs by `position × ωᵢ`, `ωᵢ = θ^(−2i/d)`; scores then depend only on
#   offsets (proven by shifting every position).
# - Adjacent pairing (Wan, CogVideoX, HunyuanVideo) and rotate-half (LLaMA) are a channel
#   permutation apart: the same weights give different outputs until `W_q`, `W_k` are permuted.
# - Axial 3D RoPE gives `t`, `h` and `w` their own slices and ladders: Wan 44/42/42 of 128 with
#   θ = 10⁴; CogVideoX-5B 16/24/24 of 64, θ = 10⁴, video tokens only (text first, unrotated);
#   HunyuanVideo 16/56/56 of 128 with θ = 256, video first.
# - minivid's `rope_3d`/`apply_rope` equal the from-scratch version and the diffusers tables.
# - An unrotated text token looks, to RoPE, like a video token at `(0, 0, 0)`; LTX-Video applies
#   RoPE across the whole hidden dimension, so each of its heads sees one band of frequencies.
#
# ## Check yourself
#
# 1. Why does shifting both the query and the key by the same number of positions leave their
#    score unchanged, and why does shifting only one of them not?
# 2. A checkpoint was trained with adjacent pairs and you load it into LLaMA-style attention.
#    Which weights must you permute, and how?
# 3. Derive Wan's split for a head of 128 channels from `d - 4 * (d // 6)` and `2 * (d // 6)`.
#    Which axis gets the extra channels?
# 4. What does a video frame's position look like to CogVideoX-5B's *text* tokens?
# 5. Why do many of Wan's row/column pairs carry almost no position information at 480p, and what
#    does HunyuanVideo's θ = 256 change about that?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1.** Compute Wan's split `(d_t, d_h, d_w)` for head widths 64 and 96 by the formula.
# Answer with a tuple of the two splits, `((d_t, d_h, d_w), (d_t, d_h, d_w))`.

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
check(answer_1, (rope_dims("wan", 64), rope_dims("wan", 96)),
      "rows and columns get 2 * (d // 6) channels each; time gets the rest")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
solution_1 = (wan_split(64), wan_split(96))  # (24, 20, 20) and (32, 32, 32)
check(solution_1, (rope_dims("wan", 64), rope_dims("wan", 96)))
assert wan_split(128) == rope_dims("wan", 128) == (44, 42, 42)

# %% [markdown]
# **Exercise 2.** An image is a video with one frame. Show that 3D RoPE on a `1 × h × w` grid
# leaves the time channels untouched and equals 2D RoPE (rows, columns) on the remaining channels.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
head_dim, dims, theta, _ = MODELS["Wan2.1"]
image_grid = (1, 6, 9)
x_img = torch.randn(1, 1, 54, head_dim, generator=g, dtype=torch.float64)
rotated_3d = apply_rope(x_img, rope_3d(image_grid, dims, theta))
d_t = dims[0]
assert_close(rotated_3d[..., :d_t], x_img[..., :d_t])  # frame 0: the time slice does not turn
rows_cols = grid_positions(*image_grid)[:, 1:]
assert_close(rotated_3d[..., d_t:], apply_rope(x_img[..., d_t:], axial_rope_angles(rows_cols, dims[1:], theta)))

# %% [markdown]
# **Exercise 3.** Rotate the same HunyuanVideo query with θ = 256 and with θ = 10000 at position
# `(t, h, w) = (5, 20, 40)`. Which channel pairs agree? Answer with a tuple of their indices (pair
# `i` is channels `2i, 2i + 1`), and say why exactly those.

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
where = torch.tensor([[5, 20, 40]])
hunyuan_dims = MODELS["HunyuanVideo"][1]
angles_by_theta = [axial_rope_angles(where, hunyuan_dims, th)[0] for th in (256.0, 10000.0)]  # one angle per pair
check(answer_3, tuple((angles_by_theta[0] - angles_by_theta[1]).abs().lt(1e-12).nonzero().flatten().tolist()),
      "ωᵢ = θ^(−2i/d_axis): for which i does θ not matter? Each axis has its own ladder, "
      "and the split is 16/56/56")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
head_dim, dims, _, _ = MODELS["HunyuanVideo"]
q1 = torch.randn(1, 1, 1, head_dim, generator=g, dtype=torch.float64)
at_256, at_10k = (apply_rope(q1, axial_rope_angles(where, dims, th)) for th in (256.0, 10000.0))
agree = (at_256 - at_10k).abs().reshape(-1, 2).amax(-1) < 1e-12  # per channel pair
solution_3 = (0, dims[0] // 2, (dims[0] + dims[1]) // 2)  # the first pair of each axis: ω = θ⁰ = 1 whatever θ is
check(solution_3, tuple(agree.nonzero().flatten().tolist()))
print(f"θ = 256 vs 10000: {int(agree.sum())} of {head_dim // 2} pairs agree (the first of each axis, ω = 1)")

# %% [markdown]
# **Exercise 4.** Wan2.1 at 480p has 21 latent frames. By how many radians does the *slowest* time
# pair (the last pair of the time slice, head 128, θ = 10000) turn from the first latent frame to
# the last? (Compare it with the 0.1 rad of section 5.)

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
wan_dims, wan_theta = MODELS["Wan2.1"][1], MODELS["Wan2.1"][2]
ends = axial_rope_angles(torch.tensor([[0, 0, 0], [20, 0, 0]]), wan_dims, wan_theta)  # first and last frame
check(answer_4, (ends[1] - ends[0])[wan_dims[0] // 2 - 1].item(),
      "the last pair i = d_t/2 − 1 of the time slice turns by ω = θ^(−2i/d_t) per frame", rtol=1e-3)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
d_t = wan_dims[0]  # 44
solution_4 = (21 - 1) * wan_theta ** (-2 * (d_t // 2 - 1) / d_t)  # 20 frames × ω_min ≈ 0.003 rad: position-blind
check(solution_4, (ends[1] - ends[0])[d_t // 2 - 1].item())
assert solution_4 < 0.1
