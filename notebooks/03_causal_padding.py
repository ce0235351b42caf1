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
# # 03 — Causal padding: frame 0 is an image, and a clip can be encoded in chunks
#
# A 3D convolution with kernel size 3 in time normally pads one frame on each side, so output
# frame `t` reads frames `t − 1, t, t + 1`. Move both padding frames to the front and output frame
# `t` reads `t − 2, t − 1, t`: nothing from the future. Every causal video VAE is built from this
# one change — Wan2.1/2.2, CogVideoX, HunyuanVideo, MAGVIT-v2 — and it buys two things. Frame 0
# sees only itself, so an image goes through the convolutions exactly like the first frame of a
# video (one model for images and videos). And a clip can be cut into chunks that carry the last
# frames of each layer's input forward, so a long video is processed piece by piece with exactly
# the result of processing it whole — provided no other layer mixes frames (section 7). This
# notebook draws the receptive fields, compares the three padding values the real VAEs use
# (zeros, copies of frame 0 in time, copies of the edge everywhere), and proves the streaming
# cache exact for every chunking, at stride 1 and 2.
#
# **Prerequisites:** notebook 02 (3D and pseudo-3D convolutions).
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 15 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
FRAMES = 9 if FAST else 17  # frames of the clips (1 + 4n, like every clip of the course)
SIZE = 16 if FAST else 32  # frame height = width, in pixels
CH = 4  # channels of the small layers we build
LAYERS = 3  # stacked layers in the receptive-field pictures and proofs
CHUNKINGS = 12 if FAST else 100  # random ways of cutting a clip into chunks that the cache must survive

# %%
import random

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from torch import nn
from torch.testing import assert_close

from minivid import data, viz
from minivid.exercises import check
from minivid.layers.conv import PAD_MODES, CausalConv3d, streaming
from minivid.layers.norm import ChannelRMSNorm, future_leak

minivid.check_environment()
torch.set_num_threads(1)  # these tensors are tiny: one thread is faster, and far faster on a busy CPU
_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. Symmetric and causal padding, from scratch
#
# Both keep the frame count (`k − 1 = 2` padding frames for kernel 3); they differ only in
# *where* the two frames go. Space is padded symmetrically in both — causality is about time only.

# %%
video = torch.randn(1, CH, FRAMES, SIZE, SIZE)  # B C T H W
weight, bias = torch.randn(CH, CH, 3, 3, 3) / 10, torch.randn(CH)
# F.pad's tuple runs from the last axis: (W left, W right, H top, H bottom, T front, T back)
symmetric = F.conv3d(F.pad(video, (1, 1, 1, 1, 1, 1)), weight, bias)
causal = F.conv3d(F.pad(video, (1, 1, 1, 1, 2, 0)), weight, bias)
assert symmetric.shape == causal.shape == (1, CH, FRAMES, SIZE, SIZE)

layer = CausalConv3d(CH, CH, 3, pad_mode="zeros")  # Wan's convention: padding=(1, 1, 1) -> 2 frames in front
with torch.no_grad():
    layer.weight.copy_(weight)
    layer.bias.copy_(bias)
    assert_close(layer(video), causal)
print("from scratch (2 zero frames in front) == minivid CausalConv3d(pad_mode='zeros')")

# %% [markdown]
# **Which input frames does each output frame see?** Stack `LAYERS` layers, take the gradient of
# each output frame with respect to the input, and record which input frames get a non-zero
# gradient (weights are random but positive, so no two paths cancel). The same table follows from
# counting: one layer reads a band of 3 frames, and stacking layers multiplies the bands.

# %%
def frame_influence(stack, frames, size=6, channels=CH):
    """|d output frame t / d input frame s| summed over pixels and channels: T_out T_in.

    One backward pass for all rows: the batch holds one copy of the clip per output frame t,
    and copy t asks only about its own output frame t."""
    x = torch.randn(frames, channels, frames, size, size, dtype=torch.float64, requires_grad=True)
    rows = torch.arange(frames)
    stack(x)[rows, :, rows].sum().backward()  # output frame t of copy t
    return x.grad.abs().sum(dim=(1, 3, 4))  # T_out T_in


def positive_stack(make_layer, layers=LAYERS):
    stack = nn.Sequential(*[make_layer() for _ in range(layers)]).double()
    with torch.no_grad():
        for p in stack.parameters():
            p.uniform_(0.1, 1.0)
    return stack


def band(frames, front, back):
    """One layer as a bool T T table: output t reads inputs t - front .. t + back."""
    t = torch.arange(frames)
    offset = t[None, :] - t[:, None]  # input minus output
    return (offset >= -front) & (offset <= back)


def stacked(one_layer, layers):
    """Boolean matrix power: output t depends on input s through some chain of layers."""
    depends = one_layer
    for _ in range(layers - 1):
        depends = (depends.double() @ one_layer.double()) > 0
    return depends


torch.manual_seed(1)
influence = {}
for name, front in (("symmetric", 1), ("causal", 2)):
    make = (lambda: nn.Conv3d(CH, CH, 3, padding=1)) if name == "symmetric" else (lambda: CausalConv3d(CH, CH, 3))
    for depth in range(1, LAYERS + 1):
        influence[name, depth] = frame_influence(positive_stack(make, depth), FRAMES)
        expected = stacked(band(FRAMES, front, 2 - front), depth)
        assert torch.equal(influence[name, depth] > 0, expected), (name, depth)
print("measured dependences == counted ones, for 1 to", LAYERS, "layers")

fig, axes = plt.subplots(2, LAYERS, figsize=(3.6 * LAYERS + 1, 7), layout="constrained")
for row, name in enumerate(("symmetric", "causal")):
    for depth in range(1, LAYERS + 1):
        viz.show_receptive_field(influence[name, depth], title=f"{name}, {depth} layer{'s' * (depth > 1)}",
                                 ax=axes[row, depth - 1], colorbar=depth == LAYERS)
fig.suptitle("which input frames (columns) move which output frames (rows)")
plt.close(fig)
fig

# %% [markdown]
# Symmetric padding spreads one frame per layer in *both* directions: after three layers output
# frame 0 already reads frames 0–3. Causal padding spreads two frames per layer into the past
# only: the table is lower-triangular and **row 0 is a single cell at every depth** — output frame
# 0 depends on input frame 0 alone. The same story as the drawing in *From T2I to T2V*, a blog post
# on turning text-to-image models into video models (left: ordinary, right: causal; yellow:
# padding), here for output frame 0 (orange) and the last frame (blue):

# %%
def cone(frames, layers, front, target, k=3):
    """Positions read at each layer (0 = input) on the way to output frame `target`: {layer: set}.

    A position < 0 or >= frames is a padding value: a constant, so the path stops there.
    """
    reached = {layers: {target}}
    for layer in range(layers, 0, -1):
        real = {t for t in reached[layer] if 0 <= t < frames}
        reached[layer - 1] = {t - front + d for t in real for d in range(k)}
    return reached


def draw_cone(ax, front, title, k=3):
    back = k - 1 - front
    pads = [*range(-front, 0), *range(FRAMES, FRAMES + back)]
    for layer in range(LAYERS + 1):
        ax.scatter(range(FRAMES), [layer] * FRAMES, s=60, color="0.85", zorder=1)
        if layer < LAYERS:  # the padded input of the layer above
            ax.scatter(pads, [layer] * len(pads), s=60, color="gold", marker="s", zorder=1)
    for target, colour in ((0, "tab:orange"), (FRAMES - 1, "tab:blue")):
        reached = cone(FRAMES, LAYERS, front, target, k)
        for layer in range(LAYERS, 0, -1):
            for t in reached[layer]:
                if 0 <= t < FRAMES:
                    for d in range(k):
                        ax.plot([t - front + d, t], [layer - 1, layer], color=colour, alpha=0.4, zorder=0)
        for layer, positions in reached.items():
            real = [t for t in positions if 0 <= t < FRAMES]
            ax.scatter(real, [layer] * len(real), s=60, color=colour, zorder=2)
    ax.set(title=title, xlabel="frame (squares: padding)", ylabel="layer (0 = input)",
           yticks=range(LAYERS + 1), xticks=range(-front, FRAMES + back))


fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), layout="constrained")
draw_cone(axes[0], front=1, title="ordinary (symmetric) padding")
draw_cone(axes[1], front=2, title="causal padding")
axes[1].legend(handles=[Patch(color="tab:orange", label="feeds output frame 0"),
                        Patch(color="tab:blue", label=f"feeds output frame {FRAMES - 1}"),
                        Patch(color="gold", label="padding")], fontsize=8, loc="upper left",
               bbox_to_anchor=(1.01, 1), frameon=False)
plt.close(fig)
fig

# %% [markdown]
# ## 2. Frame 0 is an image
#
# Because output frame 0 reads only input frame 0 — in every layer, with any padding values — an
# image run through a causal stack as a one-frame video gives exactly frame 0 of any video that
# starts with it. This is what lets one causal VAE encode images and videos ("the first frame is
# encoded independently", as W.A.L.T and MAGVIT-v2 put it). A symmetric stack breaks it. The
# stacks here have SiLU between the convs, and `future_leak` (from `minivid.layers.norm`)
# measures how much outputs up to frame `t` move when the later frames change.

# %%
def conv_stack(make_conv, layers=LAYERS):
    parts = []
    for number in range(layers):
        parts += [make_conv()] + ([nn.SiLU()] if number < layers - 1 else [])
    return nn.Sequential(*parts)


clip = data.make_clip("square", "magenta", "right", frames=FRAMES, size=SIZE, seed=4).video[None]  # B C T H W
first = clip[:, :, :1]  # the first frame as a one-frame video
frame0_rows = []
for name in ("symmetric", *PAD_MODES):
    torch.manual_seed(2)
    if name == "symmetric":
        stack = conv_stack(lambda: nn.Conv3d(3, 3, 3, padding=1))
    else:
        stack = conv_stack(lambda: CausalConv3d(3, 3, 3, pad_mode=name))
    with torch.no_grad():
        gap = (stack(first)[:, :, 0] - stack(clip)[:, :, 0]).abs().max().item()
    leak = future_leak(stack, clip, t=0)
    frame0_rows.append({"stack": name, "|image − frame 0 of clip|": gap, "future leak at t=0": leak})
    assert (gap == 0 and leak == 0) if name != "symmetric" else (gap > 1e-3 and leak > 1e-3)
display(viz.table(frame0_rows, floatfmt=".2e"))

# %% [markdown]
# Exactly zero — not "small" — for every causal padding mode; about the size of the signal for
# the symmetric stack.
#
# ## 3. Zeros, or copies of frame 0? The three choices of the real VAEs
#
# Causality fixes *where* the padding goes, not *what* it contains. The three real choices:
#
# | `pad_mode` | time (front) | space | used by | where in the official code |
# | --- | --- | --- | --- | --- |
# | `"zeros"` | `k − 1` zero frames | zeros | Wan2.1 / Wan2.2 VAE; lucidrains' MAGVIT-v2 (default) | `Wan-Video/Wan2.1 : wan/modules/vae.py : CausalConv3d` (`_padding = (p_w, p_w, p_h, p_h, 2·p_t, 0)`, `F.pad` constant); `lucidrains/magvit2-pytorch : CausalConv3d` (`pad_mode='constant'`) |
# | `"first_frame"` | `k − 1` copies of frame 0 | zeros | CogVideoX VAE | `THUDM/CogVideo : sat/vae_modules/cp_enc_dec.py : ContextParallelCausalConv3d` + `_fake_cp_pass_from_previous_rank`; diffusers `CogVideoXCausalConv3d.fake_context_parallel_forward` |
# | `"replicate"` | `k − 1` copies of frame 0 | copies of the edge pixels | HunyuanVideo VAE | `Tencent/HunyuanVideo : hyvideo/vae/unet_causal_3d_blocks.py : CausalConv3d` (`F.pad(..., mode='replicate')` on all axes) |
#
# From scratch, all three are one function, and `CausalConv3d` equals it in each mode:

# %%
def causal_pad(x, front, space, mode):
    """x: B C T H W -> B C (front+T) (H+2·space) (W+2·space), padded the way `mode` says."""
    if mode == "zeros":
        history = torch.zeros_like(x[:, :, :1]).expand(-1, -1, front, -1, -1)
    else:  # "first_frame" and "replicate": copies of frame 0
        history = x[:, :, :1].expand(-1, -1, front, -1, -1)
    x = torch.cat([history, x], dim=2)
    return F.pad(x, (space, space, space, space, 0, 0), mode="replicate" if mode == "replicate" else "constant")


x = torch.randn(2, CH, FRAMES, SIZE, SIZE)
for mode in PAD_MODES:
    conv = CausalConv3d(CH, CH, 3, pad_mode=mode)
    with torch.no_grad():
        assert_close(conv(x), F.conv3d(causal_pad(x, 2, 1, mode), conv.weight, conv.bias))
print("CausalConv3d == conv3d(causal_pad(x)) for", ", ".join(PAD_MODES))

# %% [markdown]
# What each padding looks like on a real clip (space padded by 4 pixels instead of 1 so you can
# see it; the clip's values are in [−1, 1], so a "zero" pixel is mid-grey, not black):

# %%
padded = [causal_pad(clip, 2, 4, mode) for mode in PAD_MODES]
viz.frame_grid(*padded, titles=[f"{mode}" for mode in PAD_MODES], max_frames=5, size=1.3)

# %% [markdown]
# Columns `t=0` and `t=1` are the two padding frames, `t=2` is the clip's frame 0.
#
# ## 4. A still image vs a static video
#
# Take one picture and make two inputs of it: the image (a one-frame video) and a static video
# (the picture held for `FRAMES` frames). A video model trained on both should see the same
# thing in both. With frame-0 padding every window of the static video contains only the
# picture, exactly like the image's window — so **every** output frame of the static video equals
# the image's output. With zero padding the image is encoded as "the picture after two grey
# frames" and the later frames of the static video as "the picture after itself": only frame 0 agrees.

# %%
picture = clip[:, :, :1]  # B C 1 H W
static = picture.expand(-1, -1, FRAMES, -1, -1)  # B C T H W
gaps, steady_from = {}, LAYERS * 2  # after L layers of kernel 3, frames >= 2L never see padding
for mode in PAD_MODES:
    torch.manual_seed(3)
    stack = conv_stack(lambda: CausalConv3d(3, 3, 3, pad_mode=mode))
    with torch.no_grad():
        image_out, video_out = stack(picture), stack(static)
    gaps[mode] = (video_out - image_out).abs().amax(dim=(0, 1, 3, 4))  # per frame: T
display(viz.table([{"pad_mode": mode, "frame 0": gap[0].item(),
                    f"frames 1…{steady_from - 1}": gap[1:steady_from].max().item(),
                    f"frames ≥ {steady_from}": gap[steady_from:].max().item()} for mode, gap in gaps.items()],
                  floatfmt=".2e"))
assert gaps["zeros"][0] == 0 and gaps["zeros"][1:].min() > 1e-3
assert gaps["first_frame"].max() < 1e-6 and gaps["replicate"].max() < 1e-6
assert torch.allclose(gaps["zeros"][steady_from:], gaps["zeros"][-1])  # a constant, non-zero offset

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
for mode, gap in gaps.items():
    ax.plot(gap.numpy(), marker="o", label=mode)
ax.axvline(steady_from - 0.5, color="0.6", linestyle=":")
ax.set(xlabel="frame t of the static video", ylabel="max |static[t] − image|",
       title=f"{LAYERS} causal layers: does a static video look like its still image?")
ax.legend()
plt.close(fig)
fig

# %% [markdown]
# With zeros the gap grows while the windows still reach the grey padding, then stays at a
# constant, non-zero value (dotted line: from frame `2L` on no window reaches the padding): the
# static video is encoded differently from its own still image *forever*, so the latent of an
# image and the latent of the same image held still are different points. With `first_frame` or
# `replicate` the two agree on every frame.
#
# `first_frame` and `replicate` differ only in space: CogVideoX pads the frame border with zeros,
# HunyuanVideo with copies of the edge. After `L` layers the difference can only reach `L` pixels
# in from the border:

# %%
outs = {}
for mode in ("first_frame", "replicate"):
    torch.manual_seed(3)  # the same weights for both
    with torch.no_grad():
        outs[mode] = conv_stack(lambda: CausalConv3d(3, 3, 3, pad_mode=mode))(clip)
border = (outs["first_frame"] - outs["replicate"]).abs().amax(dim=(0, 1, 2))  # H W, over all frames
inside = border[LAYERS:-LAYERS, LAYERS:-LAYERS]
print(f"largest difference: {border.max():.3f} at the border, {inside.max():.1e} further than {LAYERS} pixels in")
assert inside.max() == 0 and border.max() > 1e-2
viz.show_receptive_field(border, title="|first_frame − replicate| over all frames", xlabel="column", ylabel="row")

# %% [markdown]
# ## 5. The streaming cache: chunks that add up to the whole clip
#
# Wan's VAE never sees a whole 81-frame clip at once: it encodes frames in chunks of 1, 4, 4, 4, …
# (`WanVAE_.encode`) and decodes one latent frame at a time. Each causal conv keeps the **last
# `k − 1` frames of its own input** and puts them in front of the next chunk, where the padding
# would have gone. From scratch, for one conv:

# %%
def stream_from_scratch(x, sizes, weight, bias, mode, k=3):
    """Run a causal conv chunk by chunk, carrying the last k-1 input frames: B C T H W -> B C' T H W."""
    outputs, cache = [], None
    for chunk in x.split(sizes, dim=2):
        history = cache if cache is not None else causal_pad(chunk, k - 1, 0, mode)[:, :, :k - 1]
        window = torch.cat([history, chunk], dim=2)  # B C (k-1+T_chunk) H W
        outputs.append(F.conv3d(causal_pad(window, 0, 1, mode), weight, bias))  # space only: time is done
        cache = window[:, :, -(k - 1):]  # after a 1-frame chunk this still reaches into the chunk before
    return torch.cat(outputs, dim=2)


def wan_schedule(frames):  # 1, 4, 4, ...: frame 0 alone, then groups of 4
    return [1] + [4] * ((frames - 1) // 4)


def random_sizes(frames, rng):
    sizes = []
    while sum(sizes) < frames:
        sizes.append(min(frames - sum(sizes), rng.choice([1, 1, 2, 3, 4, 5])))
    return sizes


x = torch.randn(1, CH, FRAMES, SIZE, SIZE, dtype=torch.float64)
weight, bias = torch.randn(CH, CH, 3, 3, 3, dtype=torch.float64), torch.randn(CH, dtype=torch.float64)
rng = random.Random(0)
for mode in PAD_MODES:
    whole = F.conv3d(causal_pad(x, 2, 1, mode), weight, bias)
    for sizes in [wan_schedule(FRAMES), [1] * FRAMES] + [random_sizes(FRAMES, rng) for _ in range(CHUNKINGS)]:
        assert_close(stream_from_scratch(x, sizes, weight, bias, mode), whole)
print(f"from-scratch streaming == whole clip: 3 modes × {CHUNKINGS + 2} chunkings (1,4,4,…, all 1s, random)")

# %% [markdown]
# Which frames feed each chunk, for the 1, 4, 4, … schedule and for an awkward random one. After
# a one-frame chunk the cache spans two chunks — the case Wan's code patches by hand in every
# block (`# cache last frame of last two chunk` in `wan/modules/vae.py`); keeping "the last
# `k − 1` frames of what the conv just read" covers it without a special case.

# %%
PADDING, CACHED, NEW = 1, 2, 3


def chunk_inputs(frames, sizes, front=2, stride=1, k=3):
    """What each chunk's conv reads: a table (rows = chunks, columns = positions -front .. frames-1)
    and the number of output frames each chunk produces."""
    table, produced = np.zeros((len(sizes), frames + front), dtype=int), []
    start, cache = 0, list(range(-front, 0))  # positions the next chunk reads first
    for row, size in enumerate(sizes):
        new = list(range(start, start + size))
        for p in cache:
            table[row, p + front] = PADDING if p < 0 else CACHED
        table[row, [p + front for p in new]] = NEW
        read = cache + new
        windows = max(0, (len(read) - k) // stride + 1)
        produced.append(windows)
        cache, start = read[windows * stride:], start + size
    return table, produced


def draw_chunks(ax, frames, sizes, title, stride=1, front=2, legend=False):
    table, produced = chunk_inputs(frames, sizes, front, stride)
    ax.imshow(table, cmap=ListedColormap(["white", "gold", "tab:orange", "tab:blue"]), vmin=0, vmax=3, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(p) for p in range(-front, frames)], fontsize=7)
    ax.set_yticks(range(len(sizes)), [f"+{n} frames → {m} out" for n, m in zip(sizes, produced)], fontsize=8)
    ax.set_xticks(np.arange(table.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(sizes) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.8", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.set(xlabel="input frame (negative: padding)", title=title)
    if legend:
        kinds = [("gold", "padding"), ("tab:orange", "cached from earlier chunks"), ("tab:blue", "new in this chunk")]
        ax.legend(handles=[Patch(color=colour, label=label) for colour, label in kinds], fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


awkward = [2, 1, 1, 3, 2] if FAST else [2, 1, 1, 3, 2, 5, 1, 2]
fig, axes = plt.subplots(1, 2, figsize=(12, 2.8), layout="constrained")
draw_chunks(axes[0], FRAMES, wan_schedule(FRAMES), "Wan's schedule 1, 4, 4, …")
draw_chunks(axes[1], FRAMES, awkward, f"chunks {awkward}", legend=True)
plt.close(fig)
fig

# %% [markdown]
# The same for a whole network: `minivid`'s `streaming(model)` switches every `CausalConv3d` in
# it to caching mode, and clears the caches on entry and exit. A stack of causal convs with
# `ChannelRMSNorm` (Wan's norm, channels only) and SiLU, in every padding mode, over random
# chunkings — equal to the whole clip (float64, so equal to rounding):

# %%
def causal_block(mode, layers=LAYERS, channels=CH):
    parts = [CausalConv3d(3, channels, 3, pad_mode=mode)]
    for _ in range(layers - 1):
        parts += [ChannelRMSNorm(channels), nn.SiLU(), CausalConv3d(channels, channels, 3, pad_mode=mode)]
    return nn.Sequential(*parts).double()


clip64 = clip.double()
for mode in PAD_MODES:
    torch.manual_seed(4)
    model = causal_block(mode)
    with torch.no_grad():
        whole = model(clip64)
        for sizes in [wan_schedule(FRAMES)] + [random_sizes(FRAMES, rng) for _ in range(CHUNKINGS)]:
            with streaming(model):
                chunked = torch.cat([model(chunk) for chunk in clip64.split(sizes, dim=2)], dim=2)
                cached = [conv.cache.shape[2] for conv in model if isinstance(conv, CausalConv3d)]
            assert_close(chunked, whole, rtol=0, atol=1e-12)
            assert cached == [2] * LAYERS  # per conv: its last k - 1 = 2 input frames, not "the last chunks"
print(f"streaming(model) == model(whole clip): 3 modes × {CHUNKINGS + 1} chunkings; each conv caches 2 frames")

# %% [markdown]
# **What the cache is not.** It is not a recurrent state that summarises the whole past. Each conv
# remembers a fixed window, so the stack's memory of the past is finite: with `L` layers of kernel
# 3, output frame `t` cannot depend on input frames before `t − 2L`. Change frame 0 and every output from frame
# `2L + 1` on stays bit-for-bit the same:

# %%
changed = clip64.clone()
changed[:, :, 0] = -changed[:, :, 0]  # a different first frame
for mode in PAD_MODES:
    torch.manual_seed(4)
    model = causal_block(mode)
    with torch.no_grad():
        moved = (model(changed) - model(clip64)).abs().amax(dim=(0, 1, 3, 4))  # per frame
    assert moved[:2 * LAYERS + 1].min() > 0 and moved[2 * LAYERS + 1:].max() == 0, mode
print(f"frame 0 moves output frames 0…{2 * LAYERS} only; frames ≥ {2 * LAYERS + 1} are untouched")

# %% [markdown]
# **Why stream at all: memory.** One activation of Wan2.1's VAE encoder at full resolution has 96
# channels. Held for a whole 81-frame clip versus for one chunk of 4 plus a 2-frame cache (fp32;
# one tensor, not the network's whole peak, but every full-resolution layer scales the same way):

# %%
memory_rows = []
for height, width in ((480, 832), (720, 1280)):
    per_frame = 96 * height * width * 4  # bytes
    memory_rows.append({"video": f"{height}×{width}", "one frame (MiB)": f"{per_frame / 2**20:.0f}",
                        "81 frames (GiB)": f"{81 * per_frame / 2**30:.1f}",
                        "chunk 4 + cache 2 (GiB)": f"{6 * per_frame / 2**30:.2f}"})
display(viz.table(memory_rows))

# %% [markdown]
# ## 6. A strided causal conv and its cache
#
# A causal conv with stride 2 halves the frame rate. HunyuanVideo's temporal downsampling is exactly that
# (`CausalConv3d`, kernel 3, stride 2, `k − 1 = 2` replicated frames in front), so 17 frames
# become 9, then 5: windows start at padded positions 0, 2, 4, …, so the output count is
# `1 + (T − 1) / 2`. Streaming now has to keep the windows *aligned*: after a chunk the cache
# holds every frame from the next window's start on — 1 frame after each chunk of 4, 1 or 2
# frames for other chunk sizes (a chunk too short to complete a window produces nothing and
# keeps all it read).

# %%
def strided(mode="replicate"):
    return CausalConv3d(CH, CH, (3, 3, 3), stride=(2, 1, 1), padding=(1, 1, 1), pad_mode=mode).double()


torch.manual_seed(5)
down = strided()
frames17 = torch.randn(1, CH, 17, 8, 8, dtype=torch.float64)
with torch.no_grad():
    assert down(frames17).shape[2] == 9 and down(down(frames17)).shape[2] == 5  # HunyuanVideo: 17 -> 9 -> 5
    whole = down(frames17)
    chunkings = [wan_schedule(17), [3, 3, 5, 1, 5]] + [random_sizes(17, rng) for _ in range(CHUNKINGS)]
    for number, sizes in enumerate(chunkings):
        report = []
        with streaming(down):
            outputs = []
            for chunk in frames17.split(sizes, dim=2):
                outputs.append(down(chunk))
                report.append(f"{chunk.shape[2]}→{outputs[-1].shape[2]} (cache {down.cache.shape[2]})")
        assert_close(torch.cat(outputs, dim=2), whole, rtol=0, atol=1e-12)
        assert [out.shape[2] for out in outputs] == chunk_inputs(17, sizes, stride=2)[1]  # the picture below
        if number < 2:
            print(f"chunks {sizes}: " + ", ".join(report))
print(f"stride 2: streaming == whole for {CHUNKINGS + 2} chunkings of 17 frames")

awkward = [3, 3, 5, 1, 5]
fig, axes = plt.subplots(1, 2, figsize=(13, 2.8), layout="constrained")
draw_chunks(axes[0], 17, wan_schedule(17), "stride 2, chunks 1, 4, 4, 4, 4", stride=2)
draw_chunks(axes[1], 17, awkward, f"stride 2, chunks {awkward}", stride=2, legend=True)
plt.close(fig)
fig

# %% [markdown]
# With chunks of 1, 4, 4, … every chunk of 4 gives 2 output frames and leaves one frame cached
# (the last, where the next window starts); odd chunks leave the window straddling two chunks.
# Wan's own `Resample.downsample3d` is a variant: its first chunk skips the temporal conv (frame 0
# passes through unchanged), then it runs windows (0,1,2), (2,3,4), … with a cache of exactly one
# frame — which is only right for chunks of even size, i.e. its 1, 4, 4, … schedule (exercise 3).
#
# ## 7. Causal convolutions are not a causal model
#
# Convolutions are not the only layers that could read the future. A `GroupNorm` on a `B C T H W`
# tensor pools its statistics over all frames — CogVideoX's and HunyuanVideo's VAEs do this — so
# a later frame changes an earlier frame's output. Then chunked encoding is no longer the
# whole-clip encoding, and even "frame 0 is an image" fails: the image's statistics are not the
# clip's. (A static video survives: its statistics over time are the image's.) Wan replaced every
# GroupNorm by a channel RMSNorm for this reason (notebook 04). A causal conv, a norm, SiLU and
# another causal conv, with frame-0 padding:

# %%
norm_rows = []
norms = {"ChannelRMSNorm": lambda: ChannelRMSNorm(CH), "GroupNorm(2, C)": lambda: nn.GroupNorm(2, CH)}
for name, make_norm in norms.items():
    torch.manual_seed(6)
    block = nn.Sequential(CausalConv3d(3, CH, 3, pad_mode="first_frame"), make_norm(), nn.SiLU(),
                          CausalConv3d(CH, CH, 3, pad_mode="first_frame")).double()
    with torch.no_grad():
        with streaming(block):
            chunked = torch.cat([block(chunk) for chunk in clip64.split(wan_schedule(FRAMES), dim=2)], dim=2)
        chunk_gap = (chunked - block(clip64)).abs().max().item()
        image_out = block(clip64[:, :, :1])
        frame0_gap = (image_out[:, :, 0] - block(clip64)[:, :, 0]).abs().max().item()
        static_gap = (block(clip64[:, :, :1].expand(-1, -1, FRAMES, -1, -1)) - image_out).abs().max().item()
    leak = future_leak(block, clip64, t=2)
    norm_rows.append({"norm in the block": name, "future leak t=2": leak, "|chunked − whole|": chunk_gap,
                      "|image − frame 0|": frame0_gap, "|image − static|": static_gap})
    assert static_gap < 1e-12
    if name == "ChannelRMSNorm":
        assert leak == 0 and chunk_gap < 1e-12 and frame0_gap == 0
    else:
        assert min(leak, chunk_gap, frame0_gap) > 1e-3
display(viz.table(norm_rows, floatfmt=".2e"))

# %% [markdown]
# ## 8. Where the popular accounts get it wrong
#
# - **"A causal conv zero-pads `k − 1` frames in front."** True of Wan (`F.pad` constant) and of
#   lucidrains' MAGVIT-v2 default, not of the other two big VAEs. CogVideoX puts `k − 1` copies
#   of frame 0 in front (`cp_enc_dec.py`; in diffusers `CogVideoXCausalConv3d`, whose `pad_mode`
#   default is called `"constant"` although time is never zero-padded there:
#   `[inputs[:, :, :1]] * (kernel_size - 1)`), and HunyuanVideo replicate-pads every axis. It
#   matters: section 4 shows a still image and a static video agree under frame-0 padding and
#   disagree under zeros.
# - ***From T2I to T2V*: "causal padding keeps frame 1's receptive field to itself, so images and
#   videos can be trained together."** Right about frame 0 of the convolutions — proven above for
#   every padding mode — and the growing receptive field of ordinary padding is right too. But it
#   is only part of joint training: whether an image and the same image held still get the same
#   features depends on the padding *values* (section 4), and a norm that pools over frames
#   breaks "frame 0 is an image" even with causal convs (section 7).
# - ***Controllable Video Generation* (a survey blog post by Lu Yuxin): the cache keeps "the
#   features of the previous two chunks".**
#   It keeps the last **two frames** of each conv's input (`CACHE_T = 2`;
#   `cache_x = x[:, :, -CACHE_T:]` in `wan/modules/vae.py`), whatever the chunk size — asserted
#   above on every conv after every chunk.
# - ***Diffusion Models Code Walkthrough: Getting Started and in Practice* (a blog post on
#   Wan2.1/2.2's code): the cache is "like an RNN's h_t".** An RNN state can carry
#   information from arbitrarily far back; the cache is a fixed window per layer, and changing
#   frame 0 leaves every output after frame `2L` untouched (section 5). Long-range memory in a
#   causal VAE comes from depth and temporal downsampling, not from the cache.
# - **A quirk in a peer implementation:** diffusers' `HunyuanVideoCausalConv3d` builds its padding
#   as `(k[0]//2, k[0]//2, k[1]//2, k[1]//2, k[2] - 1, 0)` — the time kernel size pads the width and
#   the width kernel size pads time. It is right only for cubic kernels, which is all HunyuanVideo uses.
#
# ## Summary
#
# - Causal padding puts all `k − 1` padding frames in front: output frame `t` reads frames `≤ t`,
#   and after `L` layers frames `t − L(k − 1) … t`. Symmetric padding reads `L(k−1)/2` frames into
#   the future.
# - Output frame 0 depends on input frame 0 only, in every padding mode: an image is a one-frame
#   video, bit for bit.
# - Zeros (Wan), frame-0 copies in time with zero space (CogVideoX) and replicate everywhere
#   (HunyuanVideo): only frame-0 padding makes a static video equal its still image on every frame.
# - Carrying the last `k − 1` input frames of every conv makes any chunking equal to the whole
#   clip — including 1-frame chunks and stride 2 — as long as no other layer mixes frames.
#
# ## Check yourself
#
# 1. Which input frames does output frame 5 read after two causal layers of kernel 3? After two
#    symmetric ones?
# 2. Why is "frame 0 is encoded like an image" true for zero padding too, while "a static video
#    is encoded like its image" is not?
# 3. After a chunk of one frame, which frames are in a kernel-3 conv's cache, and from which chunks?
# 4. A stride-2, kernel-3 causal conv has read padded positions 0–6 in its first chunk. How many
#    outputs did it produce, and which frames does it keep?
# 5. Why would a GroupNorm over `(C/G, T, H, W)` make chunked encoding differ from whole-clip encoding?
#
# ## Exercises
#
# Each exercise that has a single right answer comes with a cell that checks yours: replace `None`,
# run the cell, and it says whether you are right (left at `None`, it only reminds you). The worked
# solution sits in a collapsed cell below each exercise: click it to open it once you have tried.
#
# **Exercise 1.** In a stack of `L` causal layers with temporal kernel `k`, which is the first
# output frame that no longer depends on input frame 0? Answer for `(L, k) = (4, 3)` and for
# `(L, k) = (3, 5)`, as a tuple of two ints. (The check measures it with `frame_influence`.)

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
first_free = []
for depth, k in ((4, 3), (3, 5)):
    torch.manual_seed(7)
    stack = positive_stack(lambda: CausalConv3d(2, 2, (k, 1, 1)), depth)
    reads = frame_influence(stack, frames=16, size=1, channels=2)  # T_out T_in
    first_free.append(int((reads[:, 0] == 0).nonzero().min()))  # first output row blind to input frame 0
check(answer_1, tuple(first_free), "each causal layer reaches k − 1 frames further into the past")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1: after L layers output frame t reads frames t − L(k − 1) … t
solution_1 = tuple(depth * (k - 1) + 1 for depth, k in ((4, 3), (3, 5)))  # (9, 13)
check(solution_1, tuple(first_free))

# %% [markdown]
# **Exercise 2.** Give the stride-2 conv of section 6 (`down`) chunks of 2 frames only (17 frames:
# eight chunks of 2, then one of 1). How many frames does it keep in its cache after each chunk?
# Answer with a tuple of nine ints. Is the result still exact?

# %%
# Exercise 2: replace None with your answer, then run the cell; it tells you whether you are right
answer_2 = None
with torch.no_grad(), streaming(down):
    outputs, caches = [], []
    for chunk in frames17.split(2, dim=2):
        outputs.append(down(chunk))
        caches.append(down.cache.shape[2])
check(answer_2, tuple(caches), "the cache holds every frame it has read from the start of the next window on; "
      "windows start every 2 frames, the first at the first padding frame")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2: each chunk of 2 plus the 2 cached frames is one window of 3 and keeps the last 2;
# the final chunk of 1 completes one more window and keeps only its last frame
cached, solution_2 = 2, []  # before the first chunk: the 2 padding frames
for size in [2] * 8 + [1]:
    read = cached + size
    windows = max(0, (read - 3) // 2 + 1)  # windows of 3 that fit, one every 2 frames
    cached = read - 2 * windows
    solution_2.append(cached)
solution_2 = tuple(solution_2)
check(solution_2, tuple(caches))
with torch.no_grad():
    assert_close(torch.cat(outputs, dim=2), whole, rtol=0, atol=1e-12)  # still exact

# %% [markdown]
# **Exercise 3.** Write Wan's `downsample3d` twice — as a whole-clip function
# (`cat(x[:, :, :1], conv(x))`, a kernel-3 stride-2 conv with no padding) and chunk by chunk the Wan
# way (the first chunk passes through and is cached; later chunks prepend the last cached frame and
# cache their own last frame) — and check that they agree on the 1, 4, 4, … schedule but not on
# chunks of 3.

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
def wan_down_whole(x, conv):  # B C T H W -> B C 1+(T-1)//2 H W
    return torch.cat([x[:, :, :1], conv(x)], dim=2)


def wan_down_chunked(x, sizes, conv):
    outputs, cache = [], None
    for chunk in x.split(sizes, dim=2):
        if cache is None:  # first chunk: no temporal conv, frame 0 passes through
            outputs.append(chunk)
        else:
            outputs.append(conv(torch.cat([cache, chunk], dim=2)))
        cache = chunk[:, :, -1:]
    return torch.cat(outputs, dim=2)


torch.manual_seed(8)
time_conv = nn.Conv3d(CH, CH, (3, 1, 1), stride=(2, 1, 1)).double()  # Wan: CausalConv3d with padding 0
with torch.no_grad():
    reference = wan_down_whole(frames17, time_conv)
    assert_close(wan_down_chunked(frames17, wan_schedule(17), time_conv), reference)
    odd = wan_down_chunked(frames17, [1, 3, 3, 3, 3, 4], time_conv)
    assert odd.shape != reference.shape or not torch.allclose(odd, reference)
