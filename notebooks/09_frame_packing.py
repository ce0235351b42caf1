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
# # 09 — Frame packing: NaViT's "Patch n' Pack" for video
#
# Training data comes in every shape: 2-second and 5-second clips, landscape and portrait, 256p and
# 576p, and still images next to videos. A transformer batch is a rectangle. The two usual fixes
# both cost something: resizing and cropping every clip to one shape throws away aspect ratio and
# detail, and padding every token sequence to the longest one wastes compute on padding tokens.
# NaViT (Dehghani et al. 2023, "Patch n' Pack") does a third thing. It lays the token sequences of
# several samples end to end in rows of a fixed length, and a **block-diagonal attention mask**
# keeps every sample attending only to itself. Each token carries its position *inside its own
# sample*. The same mechanism shows up in video models as "varlen" attention: HunyuanVideo cuts
# every sample into segments with `cu_seqlens`, and Wan masks padded video tokens with `k_lens`.
#
# This notebook turns clips of different durations, resolutions and aspect ratios into token
# sequences. It builds greedy packing from scratch and checks it against `minivid.layers.packing`,
# and draws the packed batch and its mask. It proves the key property: a transformer block on the
# packed batch gives every clip exactly what it gets alone, with 3D RoPE. It handles padding
# without NaN and measures how much each strategy wastes on a realistic mix. Two known problems get
# evidence of their own: a padding-mask bug in the most-copied PyTorch port, and what the popular
# accounts leave out.
#
# **Prerequisites:** notebook 05 (attention masks), 06 (3D RoPE) and 07 (token grids).
# **Run time:** CI mode ≈ 5 s, learner mode ≈ 5 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
DIM, HEADS = 32, 2  # token width and heads of the toy transformer block (head_dim 16)
DEMO_MAX_LEN = 64  # tokens per packed row in the pictures
MAX_LEN = 4096  # tokens per packed row for the realistic mix of clips
MIX_CLIPS = 64 if FAST else 256  # clips in the realistic mix
MIX_SEEDS = 4 if FAST else 32  # different random mixes the waste is averaged over

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from einops import rearrange, repeat
from IPython.display import display
from matplotlib.colors import ListedColormap
from torch import nn
from torch.testing import assert_close

from minivid import data, viz
from minivid.exercises import check
from minivid.layers.attention import SelfAttention, attention
from minivid.layers.embed import token_grid
from minivid.layers.packing import (group_by_max_len, mixed_clip_grids, pack_clips, packing_waste, padding_waste,
                                    unpack, waste_report)
from minivid.layers.rope import axial_rope_angles, grid_positions, rope_dims

minivid.check_environment()
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
ROPE_SPLIT = rope_dims("wan", DIM // HEADS)  # Wan's (t, h, w) split of a 16-wide head: (8, 4, 4)


def jitter_(module, std=0.1):
    """Noise on top of PyTorch's init, so no parameter keeps a constant value (a LayerNorm weight of 1
    or a zero bias could hide a mistake) while the attention stays as sharp as at init."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))
    return module


# %% [markdown]
# ## 1. Clips of every shape become sequences of every length
#
# Eight samples from `minivid.data`: videos of 5 to 17 frames and two still images (1 frame),
# square, landscape and portrait. Wan's numbers turn each one into a token grid. The causal VAE
# compresses `1 + 4n` frames to `1 + n` latent frames and 8× in space, and the patch groups 1×2×2
# latents (notebook 07). One token therefore covers 16×16 pixels of 4 frames (frame 0 alone in the
# first one).

# %%
SPECS = [  # (frames, height, width) in pixels, with what is drawn in them
    (9, 32, 32, "circle", "red", "right"), (5, 32, 64, "square", "blue", "left"),
    (17, 64, 32, "triangle", "green", "down"), (1, 64, 64, "circle", "yellow", "up"),
    (13, 48, 48, "square", "magenta", "bounce"), (9, 32, 48, "triangle", "cyan", "right"),
    (5, 48, 64, "circle", "blue", "up"), (1, 32, 64, "square", "red", "left"),
]
videos = [data.make_clip(s, c, m, frames=max(f, 5), size=(h, w), seed=i).video[:, :f]  # an image: frame 0 of a clip
          for i, (f, h, w, s, c, m) in enumerate(SPECS)]
grids = [token_grid(f, h, w) for f, h, w, *_ in SPECS]  # (t, h, w) tokens per clip
lengths = [math.prod(grid) for grid in grids]

fig, axes = plt.subplots(1, len(SPECS), figsize=(15, 2.9), layout="constrained",
                         gridspec_kw=dict(width_ratios=[w for _, _, w, *_ in SPECS]))
for i, (ax, video, (f, h, w, *_), grid) in enumerate(zip(axes, videos, SPECS, grids)):
    ax.imshow(viz.to_frames(video)[0], extent=(0, w, h, 0), interpolation="nearest")
    ax.set(xlim=(0, 64), ylim=(64, 0), xticks=[], yticks=[])
    ax.set_title(f"clip {i}\n{f}×{h}×{w}\n→ {'×'.join(map(str, grid))} = {lengths[i]}", fontsize=8)
fig.suptitle("first frames at their native size (frames × height × width in pixels → token grid)", fontsize=10)
plt.close(fig)
fig

# %% [markdown]
# To have real token values without a trained VAE, a stand-in with the same token grid is used.
# Frame 0 is repeated to make a full group of 4 (the causal VAE keeps frame 0 alone), each
# 4 × 16 × 16 tube of pixels is flattened, and one random `Linear` maps it to `DIM` channels.
# Tokens are in `(t h w)` order, as everywhere in the course.

# %%
tube_embed = jitter_(nn.Linear(3 * 4 * 16 * 16, DIM)).double()


def causal_tubelets(video):
    """C T H W pixels (T = 1 + 4n) → tokens (t h w) DIM: frame 0 fills its own group of 4, 16×16 pixels per token."""
    video = torch.cat([repeat(video[:, :1], "c 1 h w -> c k h w", k=3), video], dim=1)  # C 4t H W
    tubes = rearrange(video, "c (t pt) (h ph) (w pw) -> (t h w) (c pt ph pw)", pt=4, ph=16, pw=16)
    return tube_embed(tubes.double())


with torch.no_grad():
    tokens = [causal_tubelets(video) for video in videos]  # each N_i DIM, float64
assert [len(x) for x in tokens] == lengths
print("tokens per clip:", lengths, f"— {sum(lengths)} in all, the longest {max(lengths)}")

# %% [markdown]
# ## 2. Greedy packing from scratch
#
# **Next-fit** keeps one row open. Each clip goes into the open row if it fits, otherwise the row
# is closed (its free slots become padding) and a new one is opened. The clip order is kept. This is
# what `lucidrains/vit-pytorch : na_vit.py : group_images_by_max_seq_len` does (NaViT itself has no
# official code). **First-fit decreasing** sorts the clips longest first and puts each into the
# *first* row with room. Short clips then fill the holes the long ones leave.

# %%
def next_fit(lengths, max_len):
    """Row index lists: keep the input order, open a new row when the next clip does not fit."""
    rows, room = [[]], max_len
    for i, n in enumerate(lengths):
        if n > room:
            rows.append([])
            room = max_len
        rows[-1].append(i)
        room -= n
    return rows


def first_fit_decreasing(lengths, max_len):
    """Row index lists: longest clip first, each into the first row with enough room left."""
    rows, room = [], []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = next((r for r, free in enumerate(room) if lengths[i] <= free), len(rows))
        if r == len(rows):
            rows.append([])
            room.append(max_len)
        rows[r].append(i)
        room[r] -= lengths[i]
    return rows


rows_nf, rows_ffd = next_fit(lengths, DEMO_MAX_LEN), first_fit_decreasing(lengths, DEMO_MAX_LEN)
assert rows_nf == group_by_max_len(lengths, DEMO_MAX_LEN, "next_fit")
assert rows_ffd == group_by_max_len(lengths, DEMO_MAX_LEN, "first_fit_decreasing")
demo_rows = []
for name, rows in (("next-fit", rows_nf), ("first-fit decreasing", rows_ffd)):
    used = [sum(lengths[i] for i in row) for row in rows]
    demo_rows.append({"strategy": name, "rows (clip indices)": str(rows), "tokens per row": str(used),
                      "padding slots": len(rows) * DEMO_MAX_LEN - sum(used)})
viz.table(demo_rows)

# %% [markdown]
# Packing itself writes each row's clips one after the other. It records, per token, which clip it
# belongs to (`-1` on padding) and its `(t, h, w)` position **inside its own clip**. The mask follows
# from the clip ids alone: a query may attend a key of the same clip. Padding carries id `-1`, so
# it forms one more block of its own (§5 explains why that matters).

# %%
def positions_of(t, h, w):
    """(t h w) × 3 integer coordinates of a clip's tokens, restarting at 0 in every clip."""
    grid = torch.stack(torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij"), dim=-1)
    return rearrange(grid, "t h w xyz -> (t h w) xyz")


def pack(tokens, grids, rows, max_len):
    """Clips → packed tokens B L C, clip ids B L (-1 = padding), positions B L 3, mask B L L."""
    packed = tokens[0].new_zeros(len(rows), max_len, tokens[0].shape[1])  # B L C
    ids = torch.full((len(rows), max_len), -1)  # B L
    positions = torch.zeros(len(rows), max_len, 3, dtype=torch.long)  # B L 3
    for r, members in enumerate(rows):
        n = sum(len(tokens[i]) for i in members)
        packed[r, :n] = torch.cat([tokens[i] for i in members])
        ids[r, :n] = torch.cat([torch.full((len(tokens[i]),), i) for i in members])
        positions[r, :n] = torch.cat([positions_of(*grids[i]) for i in members])
    mask = ids[:, :, None] == ids[:, None, :]  # B L L: query and key in the same clip (or both padding)
    return packed, ids, positions, mask


for strategy, rows in (("next_fit", rows_nf), ("first_fit_decreasing", rows_ffd)):
    ours = pack(tokens, grids, rows, DEMO_MAX_LEN)
    theirs = pack_clips(tokens, grids, DEMO_MAX_LEN, strategy)  # minivid
    for mine, its in zip(ours, (theirs.tokens, theirs.clip_ids, theirs.positions, theirs.attn_mask)):
        assert torch.equal(mine, its)
    assert torch.equal(theirs.key_valid, ours[1] >= 0)
packed = pack_clips(tokens, grids, DEMO_MAX_LEN)  # next-fit, used from here on
print(f"from scratch == minivid pack_clips for both strategies: tokens, clip ids, positions, mask "
      f"(packed tokens {tuple(packed.tokens.shape)})")

# %% [markdown]
# ## 3. The packed batch, pictured
#
# Every row is `DEMO_MAX_LEN` token slots. The colour says which clip a token belongs to, and gray
# is padding. Next-fit keeps the order and leaves a hole whenever the next clip is too long.
# First-fit decreasing puts the long clips first and fills the holes with short ones, so it needs
# one row less here.

# %%
COLOURS = plt.get_cmap("tab10").colors[:len(SPECS)]


def draw_rows(ax, rows, max_len, title):
    """One horizontal strip per packed row, one cell per token slot, coloured by clip."""
    ids = pack(tokens, grids, rows, max_len)[1]
    cmap = ListedColormap([viz.BLOCKED, *COLOURS])
    ax.imshow(ids + 1, cmap=cmap, vmin=0, vmax=len(SPECS), aspect="auto", interpolation="nearest")
    for r, members in enumerate(rows):
        start = 0
        for i in members:
            ax.text(start + lengths[i] / 2 - 0.5, r, f"clip {i}\n{lengths[i]}", ha="center", va="center",
                    fontsize=7, color="white")
            start += lengths[i]
            ax.axvline(start - 0.5, ymin=1 - (r + 1) / len(rows), ymax=1 - r / len(rows), color="white", lw=1.5)
    ax.set(yticks=range(len(rows)), yticklabels=[f"row {r}" for r in range(len(rows))], xlabel="token slot",
           title=title)


fig, axes = plt.subplots(2, 1, figsize=(12, 4.2), layout="constrained",
                         gridspec_kw=dict(height_ratios=[len(rows_nf), len(rows_ffd)]))
draw_rows(axes[0], rows_nf, DEMO_MAX_LEN, f"next-fit: {len(rows_nf)} rows")
draw_rows(axes[1], rows_ffd, DEMO_MAX_LEN, f"first-fit decreasing: {len(rows_ffd)} rows (gray = padding)")
plt.close(fig)
fig

# %% [markdown]
# The attention mask of row 1 (orange lines between clips) is block-diagonal: each clip's tokens see
# that clip only. The padding at the end is a block too, and it sees only itself. Next to it, the
# `(t, h, w)` position of every token: all three coordinates restart at 0 where a clip starts, so
# 3D RoPE (notebook 06) rotates each token exactly as if its clip were alone.

# %%
row = 1
members = rows_nf[row]
blocks = [lengths[i] for i in members]
blocks += [DEMO_MAX_LEN - sum(blocks)] if sum(blocks) < DEMO_MAX_LEN else []
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained", gridspec_kw=dict(width_ratios=[1, 1.5]))
viz.show_mask(packed.attn_mask[row], title=f"row {row}: clips {members} + padding", groups=blocks, ax=axes[0])
shown = packed.positions[row].T.numpy()  # 3 L
scaled = shown / np.maximum(shown.max(1, keepdims=True), 1)  # each axis on its own 0..1 scale
axes[1].imshow(scaled, aspect="auto", cmap="Blues", vmin=0, vmax=1.4, interpolation="nearest")
for a in range(3):
    for j in range(DEMO_MAX_LEN):
        if packed.key_valid[row, j]:
            axes[1].text(j, a, str(shown[a, j]), ha="center", va="center", fontsize=6,
                         color="white" if scaled[a, j] > 0.5 else "black")
for b in np.cumsum(blocks)[:-1]:
    axes[1].axvline(b - 0.5, color="tab:orange", lw=1.5)
axes[1].set(yticks=range(3), yticklabels=["t", "h", "w"], xlabel="token slot",
            title=f"row {row}: position of each token inside its clip (0 on padding)")
plt.close(fig)
fig

# %% [markdown]
# ## 4. The key property: packed == each clip alone
#
# A pre-norm transformer block like Wan's, minus the conditioning: LayerNorm, self-attention with
# Wan's qk-norm and 3D RoPE, then LayerNorm and MLP. It runs once on the packed batch with the mask
# and the packed positions, and once on every clip alone. All parameters are random, and the
# computation is float64, so the two must agree to round-off.

# %%
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.attn = SelfAttention(DIM, heads=HEADS, qk_norm="rms_across_heads")
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(approximate="tanh"), nn.Linear(4 * DIM, DIM))

    def forward(self, x, positions, mask=None):
        """x B L DIM, positions (B) L 3 → B L DIM."""
        x = x + self.attn(self.norm1(x), mask=mask, rope=axial_rope_angles(positions, ROPE_SPLIT))
        return x + self.mlp(self.norm2(x))


block = jitter_(Block()).double()
with torch.no_grad():
    alone = [block(x[None], grid_positions(*grid))[0] for x, grid in zip(tokens, grids)]
    packed_out = unpack(block(packed.tokens, packed.positions, packed.attn_mask), packed)
for i, (a, b) in enumerate(zip(packed_out, alone)):
    assert_close(a, b, rtol=1e-10, atol=1e-10)
worst = max((a - b).abs().max().item() for a, b in zip(packed_out, alone))
print(f"all {len(SPECS)} clips: packed == alone, largest difference {worst:.1e}")

# %% [markdown]
# Three ways to get it wrong, and one surprise:
#
# - **no mask**: the clips of a row attend to each other;
# - **1D positions**: the index in the row as `t`, with `h = w = 0`, the way a language model packs
#   documents. The clip's geometry is lost;
# - **shifted positions**: each clip's `(t, h, w)` offset by where it starts in the row. For RoPE
#   this is *harmless*, because a score depends only on the offset between a query and a key of the
#   same clip (notebook 06). It is not harmless for a learned absolute table such as NaViT's
#   `pos_embed_height[h]`. It also pushes positions past the table Wan precomputes (`rope_params(1024,
#   …)`: positions 0–1023 per axis). Restarting at 0 is the form that works everywhere.

# %%
def errors(mask=None, positions=None):
    with torch.no_grad():
        out = unpack(block(packed.tokens, packed.positions if positions is None else positions, mask), packed)
    return max((a - b).abs().max().item() for a, b in zip(out, alone))


slot = torch.arange(DEMO_MAX_LEN)
one_d = torch.stack([slot, torch.zeros_like(slot), torch.zeros_like(slot)], -1).expand(len(rows_nf), -1, -1)
starts = torch.zeros(len(rows_nf), DEMO_MAX_LEN, 1, dtype=torch.long)
for r, start, n in packed.slots:
    starts[r, start:start + n] = start
shifted = packed.positions + starts  # every clip moved by its start, on all three axes
table = {"mask + positions per clip": errors(packed.attn_mask),
         "no mask": errors(None),
         "1D positions (index in the row)": errors(packed.attn_mask, one_d),
         "positions shifted per clip": errors(packed.attn_mask, shifted)}
display(viz.table([{"variant": name, "max |packed − alone|": err} for name, err in table.items()], floatfmt=".1e"))
assert table["no mask"] > 1e-2 and table["1D positions (index in the row)"] > 1e-2
assert table["positions shifted per clip"] < 1e-10  # RoPE: only offsets inside a clip matter

# %% [markdown]
# ## 5. Padding without NaN
#
# Every padded slot is a query too. The tempting mask is "same clip, and the key is a real token".
# It leaves every padding query with **no key at all**, and what an empty row gives depends on who
# computes the softmax:
#
# - a textbook softmax with `-inf` gives `0/0 = NaN`;
# - filling with `-finfo.max` (lucidrains' habit) gives a *uniform* average over every key, real
#   ones included;
# - `F.scaled_dot_product_attention` returns what its backend returns. Here that is printed; other
#   backends and versions have returned NaN.
#
# A NaN in a padding slot does not stay there. In the next layer a real query gives that key weight
# exactly 0, and `0 · NaN = NaN`, so every token of the row is lost.

# %%
def attention_weights(q, k, mask, fill=float("-inf")):
    """q, k: B h L d; mask B L L (True = may attend); blocked scores set to `fill` → weights B h L L."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    return scores.masked_fill(~mask[:, None], fill).softmax(-1)


valid = packed.key_valid[row:row + 1]  # 1 L, one padded row
tempting = packed.attn_mask[row:row + 1] & valid[:, None, :]  # 1 L L: same clip, real key
pad_q = ~valid[0]
print(f"row {row}: {int(pad_q.sum())} padding queries, {int((~tempting.any(-1)).sum())} empty mask rows")
q, k, v = (torch.randn(1, HEADS, DEMO_MAX_LEN, DIM // HEADS, generator=g, dtype=torch.float64) for _ in range(3))
textbook = (attention_weights(q, k, tempting) @ v)[0, :, pad_q]
weights = attention_weights(q, k, tempting, fill=-torch.finfo(torch.float64).max)[0, 0, pad_q]  # lucidrains' fill
sdpa = attention(q, k, v, tempting)[0, :, pad_q]
print(f"textbook softmax: NaN {textbook.isnan().all().item()}; -finfo.max: weights {weights[0, :3].tolist()} … "
      f"(uniform 1/{DEMO_MAX_LEN} over every key); SDPA here: "
      f"{'NaN' if sdpa.isnan().any() else 'zeros' if (sdpa == 0).all() else 'other values'}")
assert textbook.isnan().all() and torch.allclose(weights, torch.full_like(weights, 1 / DEMO_MAX_LEN))

v_nan = v.clone()
v_nan[..., pad_q, :] = float("nan")  # what an earlier layer's NaN padding would hold
leaked = (attention_weights(q, k, tempting) @ v_nan)[0, :, ~pad_q]
print(f"NaN in the padding values → real queries NaN: {leaked.isnan().all().item()}")
assert leaked.isnan().all()

# %% [markdown]
# minivid gives the padding a block of its own: padding queries attend to padding keys, real
# queries never see padding, and no row is empty. HunyuanVideo does the same with its varlen
# attention. `hyvideo/modules/attenion.py : get_cu_seqlens` cuts every sample into two segments,
# `[video + valid text]` and `[text padding]`, so padding only meets padding. With that mask the
# padding values cannot matter. Below they are filled with huge random numbers (and kept finite:
# the `0 · NaN` rule above still holds for any masked key), and the real outputs do not move.

# %%
mask = packed.attn_mask
assert mask.any(-1).all(), "every query row attends to something"
assert not (mask & packed.key_valid[:, :, None] & ~packed.key_valid[:, None, :]).any(), "a real token sees padding"
noisy = packed.tokens.clone()
noisy[~packed.key_valid] = 1e6 * torch.randn(int((~packed.key_valid).sum()), DIM, generator=g, dtype=torch.float64)
with torch.no_grad():
    clean_out = block(packed.tokens, packed.positions, mask)
    noisy_out = block(noisy, packed.positions, mask)
assert torch.isfinite(clean_out).all()
assert_close(noisy_out[packed.key_valid], clean_out[packed.key_valid], rtol=1e-12, atol=1e-12)
print("padding as its own block: every row non-empty, outputs finite, real outputs independent of padding values")

# %% [markdown]
# ## 6. The same thing without a mask: varlen attention
#
# A mask is the clearest way to *say* what packing means, but at real sizes nobody builds it:
# `max_len²` booleans per row, and most of the scores computed are thrown away. Fused kernels take
# the segment boundaries instead: `cu_seqlens`, the running sum of the segment lengths. That is
# FlashAttention's `flash_attn_varlen_func`, used by HunyuanVideo (`get_cu_seqlens`) and by Wan
# (`k_lens`). Attention runs segment by segment, and the result is the masked result:

# %%
def cu_seqlens(packed, r):
    """Segment boundaries of row r: each clip, then the padding (HunyuanVideo-style), e.g. [0, 12, 28, 64]."""
    sizes = [n for (row_, _, n) in sorted(packed.slots, key=lambda s: (s[0], s[1])) if row_ == r]
    sizes += [packed.tokens.shape[1] - sum(sizes)] if sum(sizes) < packed.tokens.shape[1] else []
    return torch.tensor([0, *np.cumsum(sizes).tolist()])


def varlen_attention(q, k, v, cu):
    """q, k, v: 1 h L d; attention inside each segment [cu[i], cu[i+1]) only."""
    return torch.cat([attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b]) for a, b in zip(cu[:-1], cu[1:])], dim=2)


for r in range(len(rows_nf)):
    q, k, v = (torch.randn(1, HEADS, DEMO_MAX_LEN, DIM // HEADS, generator=g, dtype=torch.float64) for _ in range(3))
    cu = cu_seqlens(packed, r)
    assert_close(varlen_attention(q, k, v, cu), attention(q, k, v, packed.attn_mask[r:r + 1]))
    print(f"row {r}: cu_seqlens {cu.tolist()} — varlen == masked attention")

# %% [markdown]
# ## 7. What packing saves, measured
#
# A realistic mix (`mixed_clip_grids`): 5, 9, 13 or 17 frames at 256×256, 256×448, 448×256,
# 320×576, 576×320 or 192×336 pixels, through Wan's VAE and patch. That gives 504 to 3,600 tokens
# per clip, packed into rows of `MAX_LEN` = 4,096. Three ways to batch them:
#
# - **padding to the longest**: one row per clip, every row as long as the longest clip. A loader
#   that pads each batch of 8 clips only to that batch's longest does better;
# - **next-fit** and **first-fit decreasing** packing into rows of `MAX_LEN`.
#
# The waste is the fraction of token slots that hold padding. MLPs, norms and projections cost the
# same for a padding token as for a real one. Attention depends on the kernel: with a dense mask
# every row costs `MAX_LEN²` query–key pairs, and with varlen only `Σ nᵢ²` are computed.

# %%
mix = mixed_clip_grids(MIX_CLIPS, seed=0)
mix_lengths = [math.prod(grid) for grid in mix]
report = waste_report(mix_lengths, MAX_LEN)
useful_pairs = sum(n * n for n in mix_lengths)
chunks = [mix_lengths[i:i + 8] for i in range(0, len(mix_lengths), 8)]
batches = {  # name: the padded length of every row
    "padding to the longest": [max(mix_lengths)] * len(mix_lengths),
    "padding, batches of 8": [max(chunk) for chunk in chunks for _ in chunk],
    "next-fit": [MAX_LEN] * len(next_fit(mix_lengths, MAX_LEN)),
    "first-fit decreasing": [MAX_LEN] * len(first_fit_decreasing(mix_lengths, MAX_LEN)),
}
waste = {name: 1 - sum(mix_lengths) / sum(rows) for name, rows in batches.items()}
assert waste["padding to the longest"] == padding_waste(mix_lengths) == report["padding_waste"]
assert waste["next-fit"] == packing_waste(mix_lengths, MAX_LEN, "next_fit") == report["next_fit_waste"]
assert waste["first-fit decreasing"] == report["first_fit_decreasing_waste"]
assert (waste["first-fit decreasing"] <= waste["next-fit"] < waste["padding, batches of 8"]
        <= waste["padding to the longest"])

print(f"{MIX_CLIPS} clips, {sum(mix_lengths):,} real tokens, {min(mix_lengths)}–{max(mix_lengths)} per clip")
batching_rows = [{"batching": name, "rows": len(rows), "token slots": sum(rows), "waste": f"{waste[name]:.1%}",
                  "attention pairs, dense mask": sum(n * n for n in rows),
                  "vs Σnᵢ²": sum(n * n for n in rows) / useful_pairs} for name, rows in batches.items()]
batching_rows.append({"batching": "varlen (any packing)", "rows": "", "token slots": "", "waste": "",
                      "attention pairs, dense mask": useful_pairs, "vs Σnᵢ²": 1.0})
viz.table(batching_rows, floatfmt=".2f")

# %% [markdown]
# The waste depends on the mix, so it is measured on `MIX_SEEDS` different mixes and for several row
# lengths. Next-fit gets better as rows get longer relative to the clips; first-fit decreasing
# is already close to the minimum at 4,096.

# %%
row_lengths = [3600, 4096, 6144, 8192, 12288, 16384]
strategies = ("next_fit", "first_fit_decreasing")
curves = {s: np.array([[packing_waste([math.prod(gr) for gr in mixed_clip_grids(MIX_CLIPS, seed=s_)], L, s)
                        for L in row_lengths] for s_ in range(MIX_SEEDS)]) for s in strategies}
pad_waste = np.array([padding_waste([math.prod(gr) for gr in mixed_clip_grids(MIX_CLIPS, seed=s_)])
                      for s_ in range(MIX_SEEDS)])

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
names = list(waste)
bars = axes[0].bar([n.replace(", ", ",\n") for n in names], [100 * waste[n] for n in names],
                   color=["0.45", "0.7", "tab:blue", "tab:green"])
axes[0].bar_label(bars, fmt="%.1f%%")
axes[0].set_ylim(0, 115 * max(waste.values()))
axes[0].set(ylabel="padding slots (%)", title=f"seed 0: {MIX_CLIPS} clips, rows of {MAX_LEN}")
axes[1].axhline(100 * pad_waste.mean(), color="0.6", ls="--", label="padding to the longest")
for s, colour in zip(strategies, ("tab:blue", "tab:green")):
    mean = 100 * curves[s].mean(0)
    axes[1].plot(row_lengths, mean, marker="o", color=colour, label=s.replace("_", " "))
    axes[1].fill_between(row_lengths, 100 * curves[s].min(0), 100 * curves[s].max(0), color=colour, alpha=0.2)
axes[1].set(xlabel="row length max_len (tokens)", ylabel="padding slots (%)",
            title=f"mean and range over {MIX_SEEDS} mixes (longest clip 3,600 tokens)")
axes[1].legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# Packing saves most of the token slots. It does **not** make attention cheaper unless the kernel
# knows the segments: with a dense `MAX_LEN × MAX_LEN` mask, a packed row computes every pair of its
# clips and throws most of them away. In the table, the dense mask computes about twice the useful
# pairs even with first-fit decreasing, and next-fit with a dense mask computes about as many pairs
# as plain padding in batches of 8. The full saving needs varlen kernels, which is why the real
# models pass `cu_seqlens` / `k_lens`, not masks.
#
# ## 8. The key-padding-mask bug in lucidrains' NaViT (vit-pytorch ≤ 1.6.6)
#
# `lucidrains/vit-pytorch : vit_pytorch/na_vit.py` is the most-copied PyTorch NaViT. From its first
# version (v1.2.5, commit `23820bc`, July 2023) to v1.6.6 it built the key padding mask as
#
#     key_pad_mask = rearrange(lengths, 'b -> b 1') <= rearrange(max_length, 'n -> 1 n')   # True on PADDING
#     attn_mask = same_image & rearrange(key_pad_mask, 'b j -> b 1 1 j')                   # & means "and may attend"
#
# A mask that is `True` on padding was then *and*-ed with "same image", where `True` means "may
# attend". Commit `96f66d2` (2024-04-18, "address issue #306", setup.py 1.6.6 → 1.6.7) flipped it to
# `arange < lengths`, which is `True` on real tokens. Two more details of that code matter. The image
# ids restart at 0 in every row and are padded with 0 (`pad_sequence`). Rows are padded only to the
# longest row, and blocked scores are filled with `-finfo.max`. Rebuilt on the next-fit rows above:

# %%
local_ids = [torch.cat([torch.full((lengths[i],), j) for j, i in enumerate(members)]) for members in rows_nf]
row_lengths_nf = torch.tensor([len(x) for x in local_ids])
L_lucid = int(row_lengths_nf.max())
image_ids = torch.nn.utils.rnn.pad_sequence(local_ids, batch_first=True)  # B L, padded with 0 (= image 0's id!)
arange = torch.arange(L_lucid)
same_image = image_ids[:, :, None] == image_ids[:, None, :]  # B L L
buggy = same_image & (row_lengths_nf[:, None] <= arange[None, :])[:, None, :]  # ≤ 1.6.6: True on padding
fixed = same_image & (arange[None, :] < row_lengths_nf[:, None])[:, None, :]  # ≥ 1.6.7: True on real tokens

fig, axes = plt.subplots(1, 3, figsize=(15, 4.1), layout="constrained")
r_pad = int(torch.argmin(row_lengths_nf))  # a row with padding
sizes = [lengths[i] for i in rows_nf[r_pad]] + [L_lucid - int(row_lengths_nf[r_pad])]
viz.show_mask(buggy[r_pad], "≤ 1.6.6: True on padding", groups=sizes, ax=axes[0])
viz.show_mask(fixed[r_pad], "≥ 1.6.7: True on real keys", groups=sizes, ax=axes[1])
viz.show_mask(packed.attn_mask[r_pad, :L_lucid, :L_lucid], "minivid: padding is its own block", groups=sizes,
              ax=axes[2])
fig.suptitle(f"row {r_pad} (clips {rows_nf[r_pad]}), padded to the longest row ({L_lucid} tokens)")
plt.close(fig)
fig

# %% [markdown]
# In the buggy mask, image 0 of every padded row attends to the **padding only**: padding has id 0,
# and only padding keys pass. Every other query has an empty row, and `-finfo.max` turns an empty
# row into a uniform average over the whole row, so each of those images is mixed with every other
# image in its row. In the longest row nothing is padding, so *every* query is empty. Run through
# the block with lucidrains' fill:

# %%
def lucidrains_fill(mask):
    """bool mask → additive mask: 0 where True, -finfo.max where False (na_vit.py's masked_fill)."""
    return torch.zeros(mask.shape, dtype=torch.float64).masked_fill(~mask, -torch.finfo(torch.float64).max)


real = arange[None, :] < row_lengths_nf[:, None]  # B L
only_padding = (buggy.any(-1) & real & ~(buggy & real[:, None, :]).any(-1)).sum().item()
empty = (~buggy.any(-1) & real).sum().item()
print(f"≤ 1.6.6, real queries: {only_padding} see only padding, {empty} see nothing (→ uniform over the row), "
      f"{int(real.sum()) - only_padding - empty} correct, of {int(real.sum())}")
assert only_padding + empty == int(real.sum())  # not a single real query is right
with torch.no_grad():
    for name, m in (("≤ 1.6.6", buggy), ("≥ 1.6.7", fixed)):
        out = block(packed.tokens[:, :L_lucid], packed.positions[:, :L_lucid], lucidrains_fill(m))
        err = max((a - b).abs().max().item() for a, b in zip(unpack(out, packed), alone))
        print(f"{name}: max |packed − alone| = {err:.1e}")
        assert (err > 1e-2) if name == "≤ 1.6.6" else (err < 1e-10)

# %% [markdown]
# The fixed version is right for every real token. Its padding queries carry id 0, so they attend
# to image 0. That is harmless because their outputs are discarded, but it is one more reason
# minivid gives padding an id of its own (`-1`). The lesson for any mask: write down which value
# means "may attend" and check the combined mask on a case with padding. Here that takes one line:
# "no real query sees a padding key, and every query sees something" (§5).
#
# ## 9. Bad inputs
#
# `pack_clips` refuses what would silently go wrong.

# %%
for description, call in [
    ("no clips", lambda: pack_clips([], [], 64)),
    ("a clip longer than a row", lambda: pack_clips(tokens, grids, 32)),
    ("clips of different widths", lambda: pack_clips([tokens[0], tokens[1][:, :16]], grids[:2], 64)),
    ("a grid that does not match", lambda: pack_clips([tokens[0]], [(2, 2, 2)], 64)),
    ("an unknown strategy", lambda: pack_clips(tokens, grids, 64, strategy="best_fit")),
]:
    try:
        call()
        print(f"{description}: no error?!")
    except ValueError as error:
        print(f"{description}: ValueError: {error}")

# %% [markdown]
# ## 10. Where the popular accounts get it wrong
#
# - **"NaViT adds each example to the first sequence with enough remaining space"** (*A Complete
#   Analysis of Sora: from AI Painting and ViT to ViViT, TECO, DiT, VDT and NaViT*, v_JULY_v's long
#   survey blog post, following the paper's description; the paper PDF was not checked here). That
#   is *first-fit*, and it is not what the implementation everyone copies does:
#   `lucidrains/vit-pytorch : group_images_by_max_seq_len` is *next-fit*, which only ever looks at
#   the open row. The difference is not a detail. On the realistic mixes, plain first-fit wastes
#   about as little as first-fit decreasing, and next-fit about three times as much (exercise 1).
# - **"NaViT needs no padding per image, at most a little at the end of the batch"** (*the Sora
#   analysis*). How little depends on how long the clips are relative to the row. With video-sized
#   clips (up to 3,600 tokens in rows of 4,096), next-fit leaves a quarter of the slots empty (§7).
#   The block-diagonal mask also does not remove the need to handle the padding queries (§5).
# - **"An 8×8 0/1 block-diagonal mask is all it takes"** (*the Sora analysis*, after the
#   "Efficient Sequence Packing without Cross-contamination" paper). For the clips it is. For the
#   padding it depends on what the padding rows hold. Empty rows give NaN, a uniform mixture or
#   zeros depending on the softmax, and a NaN in padding poisons every real token one layer later.
#   Give the padding its own block (HunyuanVideo's `[text padding]` segment, minivid's id `-1`).
# - **"Absolute positions fail; use relative 3D coordinates with a learned embedding"** (*the Sora
#   analysis*). Half right. What must hold is that each token's position is its `(t, h, w)` *inside
#   its clip*, never its index in the row (§4: the 1D index breaks the output). NaViT itself uses learned
#   **absolute** factorised embeddings indexed by those per-image coordinates
#   (`pos_embed_height[h] + pos_embed_width[w]`). With RoPE, only offsets inside a clip matter:
#   shifted coordinates give the same output.
# - **The lucidrains key-padding mask (≤ 1.6.6)** was `True` on padding and `&`-ed as if `True`
#   meant "attend". No real query was right (§8). Fixed in 1.6.7 (`96f66d2`). Copies made before
#   April 2024 may still carry it.
# - **"Packing greatly improves training efficiency"** (*the Sora analysis*). For the token-wise
#   layers, yes, in proportion to the padding saved. For attention only with a varlen kernel: a
#   dense masked row computes every cross-clip pair and throws most of them away (§7).
#
# ## Summary
#
# - Packing lays several clips' token sequences end to end in rows of `max_len`. A block-diagonal
#   mask (same clip id) keeps them apart, and `(t, h, w)` positions that restart in every clip let
#   3D RoPE work unchanged. A block on the packed batch equals every clip alone, shown above in
#   float64 against `minivid.layers.packing`.
# - Next-fit keeps the order and looks at one row; first-fit decreasing sorts and fills holes. On a
#   seeded mix of 64 Wan-sized clips in rows of 4,096 tokens: padding to the longest wastes ≈ 54% of
#   the slots (≈ 44% when each batch of 8 is padded to its own longest), next-fit ≈ 26%, first-fit
#   decreasing ≈ 8% (recomputed in §7).
# - Padding must not leave any query without keys. Make it its own block (HunyuanVideo's varlen
#   segments, minivid's id `-1`), and keep its values finite.
# - Real kernels take `cu_seqlens` instead of a mask. Only then does attention cost `Σ nᵢ²` instead
#   of `rows · max_len²`.
# - lucidrains' NaViT ≤ 1.6.6 had the key padding mask inverted; 1.6.7 fixed it.
#
# ## Check yourself
#
# 1. Why may the packed row hold clips whose positions all start at `(0, 0, 0)`, without tokens of
#    different clips being confused?
# 2. A clip's positions are shifted by `(5, 5, 5)` inside the packed row. Does a RoPE model notice?
#    Does NaViT's learned `pos_embed_height[h]`?
# 3. What does a padding query produce under a "real keys only" mask with a `-inf` softmax, and why
#    can that reach a real token one layer later?
# 4. Next-fit vs first-fit decreasing: which keeps the clip order, and why can that matter for a
#    data loader?
# 5. With a dense mask, why can packed rows cost *more* attention FLOPs than the useful `Σ nᵢ²`?
#
# ## Exercises
#
# Each exercise has a cell for you. Where it says `answer_N = None`, put your answer and run the cell:
# `check` tells you whether it is right (and gives a hint if not). The worked solution is in the
# collapsed cell below each exercise; click it to open it.
#
# **Exercise 1.** Write plain **first-fit** (the order as given, each clip into the first row with
# room) and compare its waste with next-fit and first-fit decreasing, averaged over the `MIX_SEEDS`
# mixes.

# %%
# Exercise 1: write your code here. The mixes to average over, as lists of token counts:
mixes = [[math.prod(gr) for gr in mixed_clip_grids(MIX_CLIPS, seed=s_)] for s_ in range(MIX_SEEDS)]

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
def first_fit(lengths, max_len):
    rows, room = [], []
    for i, n in enumerate(lengths):
        r = next((r for r, free in enumerate(room) if n <= free), len(rows))
        if r == len(rows):
            rows.append([])
            room.append(max_len)
        rows[r].append(i)
        room[r] -= n
    return rows


def waste_of(rows, lengths, max_len):
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))  # every clip exactly once
    assert all(sum(lengths[i] for i in r) <= max_len for r in rows)  # no row overflows
    return 1 - sum(lengths) / (len(rows) * max_len)


mean_waste = {name: np.mean([waste_of(pack_rows(ls, MAX_LEN), ls, MAX_LEN) for ls in mixes])
              for name, pack_rows in (("next-fit", next_fit), ("first-fit", first_fit),
                                      ("first-fit decreasing", first_fit_decreasing))}
print("mean waste over", MIX_SEEDS, "mixes:", {name: f"{w:.1%}" for name, w in mean_waste.items()})
assert mean_waste["first-fit decreasing"] <= mean_waste["first-fit"] < mean_waste["next-fit"]

# %% [markdown]
# **Exercise 2.** NaViT drops a random fraction of every image's tokens during training, keeping each
# kept token's position. Drop half of every clip's tokens, pack them by hand (the packed positions
# are the kept tokens' positions), and show that the block still gives each clip what it gets alone.

# %%
# Exercise 2: write your code here. Which tokens of each clip to keep (sorted indices):
keep = [torch.randperm(n, generator=g)[:max(1, n // 2)].sort().values for n in lengths]

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
kept_tokens = [x[idx] for x, idx in zip(tokens, keep)]
kept_positions = [grid_positions(*grid)[idx] for grid, idx in zip(grids, keep)]
dropped = pack_clips(kept_tokens, [(len(x), 1, 1) for x in kept_tokens], DEMO_MAX_LEN)  # grids only size the slots
for (r, start, n), pos in zip(dropped.slots, kept_positions):
    dropped.positions[r, start:start + n] = pos  # the kept tokens' real (t, h, w)
with torch.no_grad():
    out = unpack(block(dropped.tokens, dropped.positions, dropped.attn_mask), dropped)
    for x, pos, o in zip(kept_tokens, kept_positions, out):
        assert_close(o, block(x[None], pos)[0], rtol=1e-10, atol=1e-10)
print(f"token dropout: {sum(map(len, kept_tokens))} of {sum(lengths)} tokens kept, packed == alone")

# %% [markdown]
# **Exercise 3.** Rebuild `packed.attn_mask` from the `cu_seqlens` of every row alone, the way a
# varlen kernel "sees" the mask. The cell checks your mask of row 1 (a `DEMO_MAX_LEN × DEMO_MAX_LEN`
# bool tensor built from `cu_seqlens(packed, 1)` and nothing else).

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
check(answer_3, packed.attn_mask[1], "first find, for every slot, the segment it falls in "
      "(cu[i] ≤ slot < cu[i + 1]); then compare those segment numbers pairwise")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
def mask_from_cu_seqlens(cu, length):
    segment = torch.bucketize(torch.arange(length), cu[1:], right=True)  # L: which segment a slot is in
    return segment[:, None] == segment[None, :]


solution_3 = mask_from_cu_seqlens(cu_seqlens(packed, 1), DEMO_MAX_LEN)
check(solution_3, packed.attn_mask[1])
for r in range(len(rows_nf)):
    assert torch.equal(mask_from_cu_seqlens(cu_seqlens(packed, r), DEMO_MAX_LEN), packed.attn_mask[r])

# %% [markdown]
# **Exercise 4.** A data set of nothing but 17-frame 256×256 clips, through Wan's VAE and patch,
# packed into rows of `MAX_LEN` = 4,096 tokens. How many clips fit in a row, and how many slots of
# each row are padding? Answer with a tuple `(clips per row, padding slots per row)`.

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
clip_tokens_17 = math.prod(token_grid(17, 256, 256))
check(answer_4, (MAX_LEN // clip_tokens_17, MAX_LEN % clip_tokens_17),
      "latent frames: 1 + (frames − 1)/4; one token covers 16×16 pixels of one latent frame (§1)")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
per_clip = (1 + (17 - 1) // 4) * (256 // 16) * (256 // 16)  # 5 × 16 × 16 = 1,280 tokens
solution_4 = (4096 // per_clip, 4096 - (4096 // per_clip) * per_clip)
check(solution_4, (MAX_LEN // clip_tokens_17, MAX_LEN % clip_tokens_17))
print(f"{per_clip:,} tokens per clip: {solution_4[0]} clips per row, {solution_4[1]} padding slots "
      f"({solution_4[1] / 4096:.1%} waste, whatever the packing strategy)")

# %% [markdown]
# **Exercise 5.** Row 0 of the next-fit demo batch (§3). How many query–key pairs does attention
# compute on it with the dense `DEMO_MAX_LEN × DEMO_MAX_LEN` mask, and how many does a varlen
# kernel compute with `cu_seqlens(packed, 0)` (its clips, then the padding as one more segment)?
# Answer with a tuple `(dense pairs, varlen pairs)`.

# %%
# Exercise 5: replace None with your answer, then run the cell; it tells you whether you are right
answer_5 = None
check(answer_5, (int(packed.attn_mask[0].numel()), int((cu_seqlens(packed, 0).diff() ** 2).sum())),
      "a segment of n tokens is n queries against n keys; the dense mask is every slot against every slot")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 5
segments = [lengths[i] for i in rows_nf[0]]
segments += [DEMO_MAX_LEN - sum(segments)] if sum(segments) < DEMO_MAX_LEN else []  # the padding segment
solution_5 = (DEMO_MAX_LEN**2, sum(n * n for n in segments))
check(solution_5, (int(packed.attn_mask[0].numel()), int((cu_seqlens(packed, 0).diff() ** 2).sum())))
print(f"row 0 (clips {rows_nf[0]}): dense {solution_5[0]:,} pairs, varlen {solution_5[1]:,}")
