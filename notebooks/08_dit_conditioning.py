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
# # 08 — Conditioning a DiT: adaLN, adaLN-Zero, cross-attention, in-context tokens
#
# A denoiser must be told *how noisy* its input is (the timestep `t`) and *what* to make (a class
# label `y`, a prompt). DiT (Peebles & Xie 2023) tried four ways to feed `t` and `y` into a
# transformer: regress the LayerNorm's shift and scale from them (**adaLN**), do that plus a
# per-channel gate on each residual branch, all starting at zero (**adaLN-Zero**), read them with an
# extra **cross-attention**, or append them to the sequence as two more tokens (**in-context**).
# adaLN-Zero won and became the default of video DiTs — with variations this notebook also
# rebuilds: **Wan** shares one modulation MLP across all blocks and is *not* zero-initialised,
# **CogVideoX** gives text and video tokens separate modulation inside one sequence ("expert adaLN"),
# and **U-ViT** treats the conditions as tokens and adds U-Net-style long skips. Each is built small
# from scratch, proven equal to `minivid` (or to a plain reference), trained for a few steps or
# counted at full size — plus DiT's classifier-free-guidance quirk.
#
# **Prerequisites:** notebook 01 (diffusion, guidance), notebook 05 (attention), notebook 07 (patchify).
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 25 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
TRAIN_STEPS = 40 if FAST else 400  # optimiser steps of the overfit run, per conditioning
IMAGES = 8  # images (frame 0 of the sample clips, 16×16) the overfit run memorises, one class each
DIM, DEPTH, HEADS = 64, 2, 2  # the tiny DiT: width, blocks, attention heads

# %%
import importlib.util

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from IPython.display import display
from torch import nn
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

import minivid.presets as presets
from minivid import data, viz
from minivid.diffusion import cfg_model, noise_schedule, noisy_sample
from minivid.exercises import check
from minivid.layers.embed import sincos_2d, timestep_embedding
from minivid.models.dit import CONDITIONINGS, DiT, DiTBlock, DiTConfig
from minivid.models.wan import WanConfig, WanModel

minivid.check_environment()
torch.set_num_threads(1)  # tiny models: a second thread costs more in syncing than it saves
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`test` extra)


def tiny_config(conditioning, **overrides):
    """The notebook's tiny DiT: 16×16×3 inputs, 2×2 patches (64 tokens), IMAGES classes."""
    return DiTConfig(**{**dict(input_size=16, in_channels=3, hidden_size=DIM, depth=DEPTH, num_heads=HEADS,
                               num_classes=IMAGES, learn_sigma=False, class_dropout_prob=0.0,
                               conditioning=conditioning), **overrides})


def jitter_(module, std=0.1):
    """Random values on top of every parameter: a zero-initialised gate could hide a wrong formula."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# %% [markdown]
# ## 1. Four ways in
#
# The timestep goes through a 256-wide `cat[cos, sin]` sinusoid and a two-layer MLP; the label
# picks a row of a table with one extra "null" row for classifier-free guidance. Then:
#
# | strategy | what the block sees | extra weights per block |
# | --- | --- | --- |
# | adaLN | `c = t_emb + y_emb` → `SiLU → Linear(D, 4D)` → shift, scale for attention and MLP: `LN(x)·(1 + scale) + shift` | `4D² + 4D` |
# | adaLN-Zero | the same with `Linear(D, 6D)`: + a gate on each residual branch, `x + gate · f(…)`; that Linear (and the head) start at **zero** | `6D² + 6D` |
# | cross-attention | `[t_emb ; y_emb]` as a 2-token sequence, read by a cross-attention after the self-attention | `4D² + 4D` + a LayerNorm |
# | in-context | `[t_emb ; y_emb]` prepended to the patch tokens, dropped before the head | none |
#
# adaLN is "the only conditioning mechanism that is restricted to apply the same function to all
# tokens" (DiT paper): every token of an image gets the same shift, scale and gate.
#
# ## 2. All four from scratch
#
# Plain torch + einops, with the parameter names `minivid.models.dit` uses, so that one
# `load_state_dict` moves the weights across and a missing or extra parameter is an error.

# %%
def attend(q, k, v, heads):
    """softmax(q kᵀ / √d) v over heads; q `B L (h d)`, k, v `B Lk (h d)` → `B L (h d)`."""
    q, k, v = (rearrange(z, "b l (h d) -> b h l d", h=heads) for z in (q, k, v))
    weights = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(dim=-1)  # B h L Lk
    return rearrange(weights @ v, "b h l d -> b l (h d)")


class MultiHead(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, context=None):  # x `B L D`, context `B Lc D` (None: self-attention)
        context = x if context is None else context
        return self.to_out(attend(self.to_q(x), self.to_k(context), self.to_v(context), self.heads))


CHUNKS = {"adaln_zero": 6, "adaln": 4, "cross_attention": 0, "in_context": 0}


class Block(nn.Module):
    def __init__(self, dim, heads, conditioning):
        super().__init__()
        self.conditioning, chunks = conditioning, CHUNKS[conditioning]
        affine = chunks == 0  # adaLN supplies the LayerNorm's affine; the token variants learn their own
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=affine)
        self.attn = MultiHead(dim, heads)
        if conditioning == "cross_attention":
            self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
            self.cross_attn = MultiHead(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=affine)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        if chunks:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, chunks * dim))

    def forward(self, x, c, cond_tokens):  # x `B L D`, c `B D`, cond_tokens `B 2 D`
        if self.conditioning == "adaln_zero":
            modulation = rearrange(self.adaLN_modulation(c), "b (k d) -> k b 1 d", k=6)  # 6 × B 1 D
            shift1, scale1, gate1, shift2, scale2, gate2 = modulation
            x = x + gate1 * self.attn(self.norm1(x) * (1 + scale1) + shift1)
            return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)
        if self.conditioning == "adaln":
            shift1, scale1, shift2, scale2 = rearrange(self.adaLN_modulation(c), "b (k d) -> k b 1 d", k=4)
            x = x + self.attn(self.norm1(x) * (1 + scale1) + shift1)
            return x + self.mlp(self.norm2(x) * (1 + scale2) + shift2)
        x = x + self.attn(self.norm1(x))  # the token variants: a plain pre-LN ViT block ...
        if self.conditioning == "cross_attention":
            x = x + self.cross_attn(self.norm_cross(x), cond_tokens)  # ... that also reads [t ; y]
        return x + self.mlp(self.norm2(x))


# %% [markdown]
# The model around the blocks: patch embedding plus the frozen 2D sin-cos table (notebook 07), the
# shared timestep and label embedders, and a head that (for the adaLN variants) gets its own shift
# and scale but no gate.

# %%
class Head(nn.Module):
    def __init__(self, dim, out_dim, adaptive):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=not adaptive)
        self.linear = nn.Linear(dim, out_dim)
        if adaptive:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):  # x `B N D`, c `B D` → `B N out_dim`
        x = self.norm_final(x)
        if hasattr(self, "adaLN_modulation"):
            shift, scale = rearrange(self.adaLN_modulation(c), "b (k d) -> k b 1 d", k=2)
            x = x * (1 + scale) + shift
        return self.linear(x)


class ScratchDiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, p, self.cfg = cfg.hidden_size, cfg.patch_size, cfg
        self.x_embedder = nn.Conv2d(cfg.in_channels, dim, p, stride=p)
        self.t_embedder = nn.Module()
        self.t_embedder.mlp = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.y_embedder = nn.Module()
        self.y_embedder.embedding_table = nn.Embedding(cfg.num_classes + 1, dim)  # + the null label
        self.blocks = nn.ModuleList(Block(dim, cfg.num_heads, cfg.conditioning) for _ in range(cfg.depth))
        self.final_layer = Head(dim, p * p * cfg.out_channels, CHUNKS[cfg.conditioning] > 0)

    def forward(self, x, t, y):  # x `B C H W`, t `(B,)`, y `(B,)` → `B C' H W`
        p, dim = self.cfg.patch_size, self.cfg.hidden_size
        h, w = x.shape[2] // p, x.shape[3] // p
        tokens = rearrange(self.x_embedder(x), "b d h w -> b (h w) d") + sincos_2d(h, w, dim)  # B N D
        t_emb = self.t_embedder.mlp(timestep_embedding(t, 256).to(x.dtype))  # B D (sinusoid taken in float32)
        y_emb = self.y_embedder.embedding_table(y)  # B D
        c = t_emb + y_emb  # what adaLN regresses from
        cond_tokens = torch.stack([t_emb, y_emb], dim=1)  # B 2 D: what the token variants read
        if self.cfg.conditioning == "in_context":
            tokens = torch.cat([cond_tokens, tokens], dim=1)  # B (2+N) D
        for block in self.blocks:
            tokens = block(tokens, c, cond_tokens)
        out = self.final_layer(tokens[:, -h * w:], c)  # in-context tokens dropped: B N (p p C')
        return rearrange(out, "b (h w) (p q c) -> b c (h p) (w q)", h=h, p=p, q=p)


# %% [markdown]
# **The proof.** For each strategy: a `minivid` DiT with every parameter jittered (so the zero
# initialisation of adaLN-Zero cannot hide a mistake), its state dict loaded into the from-scratch
# model with `strict=True`, and the same outputs on the same inputs.

# %%
x = torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)  # B C H W
t = torch.tensor([0.0, 421.5, 999.0], dtype=torch.float64)
y = torch.tensor([0, 5, IMAGES])  # the last one is the null label
for conditioning in CONDITIONINGS:
    ours = jitter_(DiT(tiny_config(conditioning)).double()).eval()
    scratch = ScratchDiT(tiny_config(conditioning)).double()
    scratch.load_state_dict(ours.state_dict(), strict=True)  # same parameters, same names, same shapes
    with torch.no_grad():
        assert_close(scratch(x, t, y), ours(x, t, y))
    print(f"{conditioning:16} from scratch == minivid.models.dit.DiT "
          f"({sum(p.numel() for p in ours.parameters()):,} parameters)")

# %% [markdown]
# ## 3. Why zero init makes a block start as the identity
#
# In adaLN-Zero every block adds `gate · f(modulated LN(x))` to its input. The Linear that produces
# shift, scale *and* gate starts at zero weight and zero bias, so at initialisation `gate = 0`
# exactly, and `x + 0 · f(…)` is `x` — bit for bit, whatever `f` computes. The head's Linear starts
# at zero too, so the untrained model predicts exactly 0. Plain adaLN has no gate and random
# modulation: its blocks change the input from the first step.

# %%
fresh = DiT(tiny_config("adaln_zero")).eval()
tokens = torch.randn(2, 64, DIM, generator=g)
c, cond_tokens = torch.randn(2, DIM, generator=g), torch.randn(2, 2, DIM, generator=g)
with torch.no_grad():
    for block in fresh.blocks:
        assert torch.equal(block(tokens, c, cond_tokens), tokens)  # exactly the identity
    assert torch.equal(fresh(x.float(), t.float(), y), torch.zeros(3, 3, 16, 16))  # exactly zero out
    plain = DiT(tiny_config("adaln")).eval()
    change = (plain.blocks[0](tokens, c, cond_tokens) - tokens).norm() / tokens.norm()
print(f"adaLN-Zero at init: every block is the identity and the model outputs exactly 0; "
      f"a fresh adaLN block changes its input by {change:.0%}")
assert change > 0.05

# %% [markdown]
# A zero init is not a *dead* init. The gradients arrive in a cascade, one group per step: at
# step 0 only the head's Linear gets a gradient (everything behind it is multiplied by its zero
# weight); once it has moved, the gates, the head's modulation and the embedders get gradients
# (through the identity blocks); only after the gates have opened do the attention and MLP weights
# learn. Measured on one batch: the largest |gradient| in each group of parameters, step by step.

# %%
GROUPS = {  # parameter-name fragments of each group
    "head Linear": ("final_layer.linear",),
    "head modulation": ("final_layer.adaLN_modulation",),
    "block modulation (gates)": ("blocks.0.adaLN_modulation", "blocks.1.adaLN_modulation"),
    "attention + MLP": (".attn.", ".mlp."),
    "embedders": ("x_embedder", "t_embedder", "y_embedder"),
}
cascade_model = DiT(tiny_config("adaln_zero"))
optimiser = torch.optim.AdamW(cascade_model.parameters(), lr=1e-3, weight_decay=0.0)
xb, eps = torch.randn(8, 3, 16, 16, generator=g), torch.randn(8, 3, 16, 16, generator=g)
tb, yb = torch.randint(0, 1000, (8,), generator=g), torch.arange(8)
first_moving, cascade_rows = {}, []
for step in range(4):
    optimiser.zero_grad()
    F.mse_loss(cascade_model(xb, tb, yb), eps).backward()
    largest = {name: max(p.grad.abs().max().item() for n, p in cascade_model.named_parameters()
                         if any(part in n for part in parts)) for name, parts in GROUPS.items()}
    cascade_rows.append({"step": step, **largest})
    for name, v in largest.items():
        if v > 0:
            first_moving.setdefault(name, step)
    optimiser.step()
display(viz.table(cascade_rows, floatfmt=".1e"))  # the largest |gradient| in each group of parameters
assert first_moving == {"head Linear": 0, "head modulation": 1, "block modulation (gates)": 1, "embedders": 1,
                        "attention + MLP": 2}

# %% [markdown]
# ### Overfitting one batch with each strategy
#
# The course's promise for anything trainable: a small run that must reach a stated loss, so a
# learner who gets noise knows the code is right. Eight 16×16 images (frame 0 of the sample clips),
# each its own class, learned by a tiny DiT with ε-prediction on DDPM's linear schedule — the same
# data, seed and steps for all four strategies. For adaLN-Zero we also record each block's mean
# |gate| and how much each block changes its input, `‖block(x) − x‖ / ‖x‖`.

# %%
samples = data.load_samples()
images = torch.stack([F.avg_pool2d(clip.video[:, 0], 2) for clip in samples[:IMAGES]])  # B 3 16 16
labels = torch.arange(IMAGES)
alphas_cumprod = noise_schedule("linear").alphas_cumprod


def overfit(conditioning, steps=TRAIN_STEPS, seed=0):
    """Train a fresh tiny DiT on `images`; returns losses, per-block |gate| and relative updates per step."""
    torch.manual_seed(seed)
    model = DiT(tiny_config(conditioning))
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    updates = []
    hooks = [block.register_forward_hook(lambda _, args, out: updates.append(
        ((out - args[0]).norm() / args[0].norm()).item())) for block in model.blocks]
    losses, gates = [], []
    for _ in range(steps):
        t_ = torch.randint(0, 1000, (IMAGES,), generator=gen)
        eps_ = torch.randn(images.shape, generator=gen)
        loss = F.mse_loss(model(noisy_sample(images, eps_, alphas_cumprod[t_]), t_, labels), eps_)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if conditioning == "adaln_zero":
            with torch.no_grad():
                c_ = model.t_embedder(t_.float()) + model.y_embedder(labels, train=False)
                gates.append([[m[2].abs().mean().item(), m[5].abs().mean().item()]
                              for m in (block.modulation(c_) for block in model.blocks)])
    for hook in hooks:
        hook.remove()
    return np.array(losses), np.array(gates), np.array(updates).reshape(steps, len(model.blocks))


runs = {conditioning: overfit(conditioning) for conditioning in CONDITIONINGS}
viz.table([{"conditioning": conditioning, "first loss": float(losses[0]),
            "mean loss of the last 10 steps": float(losses[-10:].mean())}
           for conditioning, (losses, _, _) in runs.items()], floatfmt=".3f")

# %% [markdown]
# adaLN-Zero's first loss is the variance of the noise itself — it predicted exactly 0 — while
# the others start with random predictions on top. The stated target: adaLN-Zero must reach a mean
# loss below 0.3 over its last 10 steps (a model that ignores its input stays near 1).

# %%
losses_zero, gates, updates = runs["adaln_zero"]
assert losses_zero[-10:].mean() < 0.3, "the tiny DiT did not overfit: something is broken"

fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
for conditioning, (losses, _, _) in runs.items():
    axes[0].plot(np.convolve(losses, np.ones(5) / 5, mode="valid"), label=conditioning)
axes[0].set(yscale="log", xlabel="step", ylabel="loss (5-step mean)", title="overfitting 8 images")
axes[0].legend(fontsize=8)
steps_axis = np.arange(1, TRAIN_STEPS + 1)
for b in range(DEPTH):
    axes[1].plot(steps_axis, gates[:, b, 0], label=f"block {b}: attention gate")
    axes[1].plot(steps_axis, gates[:, b, 1], "--", label=f"block {b}: MLP gate")
axes[1].set(xlabel="step", ylabel="mean |gate|", title="adaLN-Zero: the gates open from 0")
axes[1].legend(fontsize=8)
for b, colour in zip(range(DEPTH), ("tab:blue", "tab:green")):
    axes[2].plot(np.arange(TRAIN_STEPS), updates[:, b], color=colour, label=f"adaLN-Zero block {b}")
    axes[2].plot(np.arange(TRAIN_STEPS), runs["adaln"][2][:, b], ":", color=colour, label=f"adaLN block {b}")
axes[2].set(xlabel="step", ylabel="‖block(x) − x‖ / ‖x‖", title="how much each block changes its input")
axes[2].legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# The right panel is the whole argument for the zero init: adaLN-Zero blocks start as the identity
# (0 at step 0) and open as the loss asks for it; adaLN blocks start by rewriting their input with
# random weights. At DiT's scale the paper ranks the strategies by FID (its Figure 5: "adaLN-Zero
# outperforms cross-attention and in-context conditioning at all stages of training"); eight images
# cannot rank them reliably, so nothing here asserts an order.
#
# ## 4. What each strategy costs at DiT-XL/2 size
#
# Built on the meta device (no memory), at the published XL/2 shape: depth 28, width 1152, 16 heads,
# 256 tokens of 2×2×4 latents, 1000 classes. FLOPs are counted by `torch.utils.flop_counter` on
# the meta tensors (2 per multiply-add), for the blocks plus patch embedding and head.

# %%
def dit_flops(config):
    """FLOPs of one forward pass of one 256-token image (blocks, patch embedding, head), on meta."""
    n = (config.input_size // config.patch_size) ** 2
    extra = 2 if config.conditioning == "in_context" else 0
    with torch.device("meta"):
        model = DiT(config)
        x_ = torch.empty(1, n + extra, config.hidden_size)
        c_, tok_ = torch.empty(1, config.hidden_size), torch.empty(1, 2, config.hidden_size)
        image = torch.empty(1, config.in_channels, config.input_size, config.input_size)
    with FlopCounterMode(display=False) as counter:
        model.blocks[0](x_, c_, tok_)
    per_block = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        model.x_embedder(image)
        model.final_layer(x_[:, :n], c_)
    return config.depth * per_block + counter.get_total_flops()


def machinery(model):
    """Parameters that exist only to bring t and y in: modulation Linears, or cross-attention + its norm."""
    return sum(p.numel() for n, p in model.named_parameters() if "adaLN_modulation" in n or "cross" in n)


table = {}
for conditioning in CONDITIONINGS:
    config = DiTConfig(conditioning=conditioning)
    with torch.device("meta"):
        model = DiT(config)
    table[conditioning] = (sum(p.numel() for p in model.parameters()), machinery(model), dit_flops(config))
base_params, _, base_flops = table["adaln_zero"]
display(viz.table([{"DiT-XL/2": conditioning, "parameters": params, "conditioning parameters": machine,
                    "share": f"{machine / params:.0%}", "GFLOPs": f"{flops / 1e9:.1f}",
                    "FLOPs vs adaLN-Zero": f"{flops / base_flops - 1:+.1%}"}
                   for conditioning, (params, machine, flops) in table.items()]))
assert base_params == presets.count_params("dit-xl-2") == 674_834_720
assert 0.13 < table["cross_attention"][2] / base_flops - 1 < 0.18  # the paper: "roughly a 15% overhead"
assert abs(table["in_context"][2] / base_flops - 1) < 0.01 and table["adaln"][2] < base_flops

# %% [markdown]
# Two things a FLOP comparison alone hides. The *cheapest in FLOPs* strategy is the
# *heaviest in parameters*: a third of DiT-XL/2 — 28 × (6·1152² + 6·1152) + the head's
# 2·1152² + 2·1152 ≈ 226M — is adaLN modulation, computed once per image, not per token. And
# cross-attention's 16% extra FLOPs come from its query and output projections over all 256 tokens;
# its keys and values cover just 2 tokens.
#
# ### 674,834,720 or 749,826,464?
#
# The official DiT has one timestep+label embedder shared by all blocks. diffusers'
# `DiTTransformer2DModel` keeps a copy in **every** block (`transformer_blocks.{i}.norm1.emb`; its
# conversion script writes the same official tensors into all 28), so it counts 27 extra copies.
# (The paper's "675M" also counts the frozen 256 × 1152 position table, which the official code
# stores as a `requires_grad=False` parameter: 674,834,720 + 294,912 = 675,129,632.)

# %%
D = 1152
embedder = (256 * D + D) + (D * D + D) + 1001 * D  # timestep MLP + label table with the null row
assert embedder == 2_777_472
assert 674_834_720 + 27 * embedder == 749_826_464
assert 674_834_720 + 256 * D == 675_129_632
if HAVE_DIFFUSERS:
    from diffusers import DiTTransformer2DModel

    xl_kwargs = dict(sample_size=32, num_layers=28, attention_head_dim=72, num_attention_heads=16, in_channels=4,
                     out_channels=8, patch_size=2, attention_bias=True, activation_fn="gelu-approximate",
                     num_embeds_ada_norm=1000, norm_type="ada_norm_zero", norm_elementwise_affine=False)
    with torch.device("meta"):  # diffusers/scripts/convert_dit_to_diffusers.py's kwargs, 256 px
        theirs = DiTTransformer2DModel(**xl_kwargs)
    copies = sum(p.numel() for n, p in theirs.named_parameters() if ".norm1.emb." in n)
    assert sum(p.numel() for p in theirs.parameters()) == 749_826_464 and copies == 28 * embedder
    print(f"diffusers DiT-XL/2: {sum(p.numel() for p in theirs.parameters()):,} parameters, of which "
          f"{copies:,} = 28 × {embedder:,} in per-block embedder copies")
    small = DiTTransformer2DModel(**{**xl_kwargs, "num_layers": 1, "sample_size": 8})  # on the CPU, real init
    assert small.transformer_blocks[0].norm1.linear.weight.abs().max() > 0 and small.proj_out_2.weight.abs().max() > 0
    print("and a freshly built diffusers DiT is not zero-initialised: it is made for loading weights, "
          "not for training from the paper's init")
else:
    print("diffusers is not installed: the arithmetic above is the whole story (install the `test` extra to "
          "build its DiT on the meta device)")

# %% [markdown]
# ## 5. Wan: one modulation MLP for the whole network
#
# Wan2.1 keeps adaLN's six vectors (shift, scale, gate for self-attention and for the MLP) but
# computes them **once**: `time_embedding` (Linear–SiLU–Linear on the 256-wide sinusoid) gives
# `e`, one shared `time_projection = SiLU → Linear(D, 6D)` gives `e0` of shape `(B, 6, D)`, and each
# block adds its own learned table `modulation` of shape `(1, 6, D)`
# (`wan/modules/model.py : WanAttentionBlock.forward`: `e = (self.modulation + e).chunk(6, dim=1)`).
# The text enters through cross-attention, never through the modulation. From scratch, against
# `minivid.models.wan`:

# %%
wan = jitter_(WanModel(WanConfig(dim=DIM, ffn_dim=2 * DIM, heads=HEADS, layers=4, text_dim=32))).eval()
times = torch.linspace(0, 100, 501)  # fine steps: the sinusoid's fastest frequency turns 1 rad per unit of t


def wan_modulation(model, t):
    """t `(B,)` → per block `(B, 6, D)`: one shared projection + each block's table."""
    sinusoid = timestep_embedding(t, 256, dtype=torch.float64).float()  # Wan's sinusoid is float64
    e = model.time_embedding(sinusoid)  # B D
    e0 = rearrange(model.time_projection(e), "b (six d) -> b six d", six=6)  # shared by all blocks
    return [block.modulation + e0 for block in model.blocks]


with torch.no_grad():
    scratch_mod = wan_modulation(wan, times)
    _, e0_minivid = wan.embed_time(times)  # B 1 6 D
    for block, mod in zip(wan.blocks, scratch_mod):
        assert_close(mod, block.modulation + e0_minivid[:, 0])
    # any two blocks differ by a constant: their tables. The dependence on t is shared.
    gap = scratch_mod[2] - scratch_mod[0]
    assert_close(gap, repeat(wan.blocks[2].modulation - wan.blocks[0].modulation, "1 k d -> b k d", b=len(times)))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.3), layout="constrained", sharex=True)
for b, mod in enumerate(scratch_mod):
    axes[0].plot(times, mod[:, 2, 3], label=f"block {b}")
    axes[1].plot(times, mod[:, 2, 3] - scratch_mod[0][:, 2, 3], label=f"block {b} − block 0")
axes[0].set(xlabel="timestep t", title="self-attention gate, channel 3, per block")
axes[1].set(xlabel="timestep t", title="the same minus block 0's: constant in t")
for ax in axes:
    ax.legend(fontsize=8)
fig.suptitle("Wan: every block's modulation is one shared curve in t, shifted by the block's own table")
plt.close(fig)
fig

# %% [markdown]
# **Wan is not adaLN-Zero.** The official initialisation (`WanModel.init_weights`) gives every
# Linear Xavier-uniform weights and zero biases — `time_projection` included —, `N(0, 0.02)` to the
# text and time embedding MLPs, and zeroes **only** the head: `nn.init.zeros_(self.head.head.weight)`.
# The per-block tables are created as `nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)` and
# `init_weights` never touches them. So the gates are random at step 0, every block changes its
# input, and only the model's *output* starts at zero. minivid follows that init; asserted on a fresh
# model:

# %%
fresh_wan = WanModel(WanConfig(dim=256, ffn_dim=512, heads=4, layers=2, text_dim=32)).eval()
assert all(abs(block.modulation.std().item() * 256**0.5 - 1) < 0.1 for block in fresh_wan.blocks)  # randn/√D
projection = fresh_wan.time_projection[1].weight
assert projection.abs().max() <= (6 / sum(projection.shape)) ** 0.5 and projection.std() > 0.01  # Xavier, not 0
assert (fresh_wan.head.proj.weight == 0).all() and (fresh_wan.head.proj.bias == 0).all()
with torch.no_grad():
    tokens_w = torch.randn(1, 12, 256, generator=g)
    _, e0_w = fresh_wan.embed_time(torch.tensor([500.0]))
    rope = torch.zeros(12, 256 // 4 // 2)  # angle 0: no rotation, enough for this check
    moved = (fresh_wan.blocks[0](tokens_w, e0_w, torch.randn(1, 5, 256, generator=g), None, rope) - tokens_w)
    gate_sa = (fresh_wan.blocks[0].modulation + e0_w[:, 0])[0, 2]
    out = fresh_wan(torch.randn(1, 16, 1, 4, 4, generator=g), torch.tensor([500.0]), torch.randn(1, 5, 32, generator=g))
print(f"fresh Wan block: mean |gate| {gate_sa.abs().mean():.3f}, changes its input by "
      f"{moved.norm() / tokens_w.norm():.0%}; the model output is exactly 0: {bool((out == 0).all())}")
assert moved.norm() / tokens_w.norm() > 0.05 and (out == 0).all()

# %% [markdown]
# What sharing saves. A DiT-style design would give each block its own `SiLU → Linear(D, 6D)`;
# Wan has one, plus 6·D numbers per block. The Wan report credits the design with cutting the
# parameter count by about 25% (*Controllable Video Generation*, a survey blog post by Lu Yuxin,
# repeats the figure); at the released sizes:

# %%
savings, saving_rows = {}, []
for name in ("wan2.1-t2v-1.3b", "wan2.1-t2v-14b"):
    cfg = presets.WAN_CONFIGS[name]
    shared = presets.count_params(name)
    per_block_linear = cfg.dim * 6 * cfg.dim + 6 * cfg.dim
    tables = cfg.layers * 6 * cfg.dim
    per_block_model = shared - per_block_linear - tables + cfg.layers * per_block_linear
    savings[name] = 1 - shared / per_block_model
    saving_rows.append({"model": name, "Wan (shared)": shared, "per-block adaLN": per_block_model,
                        "saving": f"{savings[name]:.0%}"})
display(viz.table(saving_rows))
assert 0.2 < savings["wan2.1-t2v-1.3b"] < 0.25 < savings["wan2.1-t2v-14b"] < 0.31

# %% [markdown]
# 22% at 1.3B, 30% at 14B: "about 25%" is the right size. At 14B a per-block modulation Linear
# would be 5120 × 30720 ≈ 157M parameters — more than a whole Wan2.1-14B self-attention (4 × 5120² ≈
# 105M).
#
# ## 6. CogVideoX: expert adaLN — two modalities, one sequence
#
# CogVideoX runs full attention over `[text ; video]` (text first, notebook 05). Text and video
# tokens live on different scales, so each layer regresses **12·D** numbers from the time
# embedding: 6 for the video tokens, 6 for the text tokens (`zai-org/CogVideo :
# sat/dit_video_concat.py : AdaLNMixin`: `nn.Linear(time_embed_dim, 12 * hidden_size)`, chunked
# `shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, text_shift_msa, …`, all zero-
# initialised by `reinit`). The LayerNorm, the attention and the MLP weights are **shared**: only
# the modulation is per modality. diffusers splits the same 12·D into two `CogVideoXLayerNormZero`s
# of 6·D each (video then text in each).
#
# Built here vectorised — one per-token modulation table, one pass over the whole sequence — and
# proven against the straightforward reference that handles each token group on its own, as the
# SAT code does (split, normalise, modulate, concatenate, attend, split, gate):

# %%
class ExpertAdaLNBlock(nn.Module):
    def __init__(self, dim, heads, time_dim):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)  # shared by both modalities (affine)
        self.attn = MultiHead(dim, heads)  # shared by text and video
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 12 * dim))
        nn.init.zeros_(self.modulation[1].weight)  # `reinit`: zero, as in DiT
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x, temb, text_len):
        """x `B (text + video) D`, text first; temb `B time_dim` → `B (text + video) D`."""
        video_mod, text_mod = rearrange(self.modulation(temb), "b (expert k d) -> expert k b 1 d", expert=2, k=6)
        n_video = x.shape[1] - text_len
        per_token = torch.cat([text_mod.expand(-1, -1, text_len, -1),  # 6 B L D: each token its expert's six
                               video_mod.expand(-1, -1, n_video, -1)], dim=2)
        shift1, scale1, gate1, shift2, scale2, gate2 = per_token
        x = x + gate1 * self.attn(self.norm1(x) * (1 + scale1) + shift1)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


def expert_reference(block, x, temb, text_len):
    """The same layer written group by group (SAT `AdaLNMixin.layer_forward`)."""
    mods = block.modulation(temb).chunk(12, dim=1)  # video's six, then text's six; each B D
    video, text = mods[:6], mods[6:]
    modulate = lambda h, shift, scale: h * (1 + scale[:, None]) + shift[:, None]  # noqa: E731
    txt, vid = x[:, :text_len], x[:, text_len:]
    attn_in = torch.cat([modulate(block.norm1(txt), text[0], text[1]),
                         modulate(block.norm1(vid), video[0], video[1])], dim=1)
    attn_out = block.attn(attn_in)  # full attention over [text ; video]
    txt = txt + text[2][:, None] * attn_out[:, :text_len]
    vid = vid + video[2][:, None] * attn_out[:, text_len:]
    mlp_in = torch.cat([modulate(block.norm2(txt), text[3], text[4]),
                        modulate(block.norm2(vid), video[3], video[4])], dim=1)
    mlp_out = block.mlp(mlp_in)
    return torch.cat([txt + text[5][:, None] * mlp_out[:, :text_len],
                      vid + video[5][:, None] * mlp_out[:, text_len:]], dim=1)


expert = ExpertAdaLNBlock(32, 2, 16).double()
seq = torch.randn(2, 5 + 12, 32, generator=g, dtype=torch.float64)  # 5 text tokens, then 12 video tokens
temb = torch.randn(2, 16, generator=g, dtype=torch.float64)
assert torch.equal(expert(seq, temb, 5), seq)  # zero-initialised modulation: the identity, as in DiT
jitter_(expert)
assert_close(expert(seq, temb, 5), expert_reference(expert, seq, temb, 5))
swapped = ExpertAdaLNBlock(32, 2, 16).double()
swapped.load_state_dict(expert.state_dict())
with torch.no_grad():  # give the text tokens the video expert's rows and vice versa
    linear = swapped.modulation[1]
    linear.weight.copy_(rearrange(rearrange(linear.weight, "(e r) i -> e r i", e=2).flip(0), "e r i -> (e r) i"))
    linear.bias.copy_(rearrange(rearrange(linear.bias, "(e r) -> e r", e=2).flip(0), "e r -> (e r)"))
assert not torch.allclose(swapped(seq, temb, 5), expert(seq, temb, 5))
print("expert adaLN (one pass, per-token modulation) == the group-by-group reference; zero init = identity")

# %% [markdown]
# The price of the second expert is one more 6·D chunk per layer. At CogVideoX-2B size (30 layers,
# D = 1920, time embedding 512) the modulation Linears hold 30 × 513 × 12·1920 parameters — a fifth
# of the model; a DiT-style single expert would need half of that. (HunyuanVideo's double-stream
# blocks go much further and duplicate the attention and MLP weights too, notebook 17.)

# %%
cog_modulation = 30 * (512 + 1) * 12 * 1920
print(f"CogVideoX-2B expert adaLN: {cog_modulation:,} parameters "
      f"({cog_modulation / 1_693_783_872:.0%} of 1,693,783,872)")
if HAVE_DIFFUSERS:
    from diffusers import CogVideoXTransformer3DModel

    with torch.device("meta"):
        cog = CogVideoXTransformer3DModel()  # the class defaults are CogVideoX-2B
    assert sum(p.numel() for p in cog.parameters()) == 1_693_783_872
    modulation_linears = [p for n, p in cog.named_parameters() if ".norm1.linear." in n or ".norm2.linear." in n]
    assert sum(p.numel() for p in modulation_linears) == cog_modulation
    print("diffusers' CogVideoXTransformer3DModel: norm1.linear + norm2.linear of its 30 blocks hold exactly that")

# %% [markdown]
# ## 7. U-ViT: conditions as tokens, and long skips
#
# U-ViT (Bao et al. 2022, `baofff/U-ViT : libs/uvit.py`) uses no adaLN at all. The timestep is a
# **token** — on the ImageNet configs just the `D`-wide sinusoid (`time_embed` is an `Identity`
# unless `mlp_time_embed`) — and the label another, `[label ; time ; patches]`, with a learned
# position embedding over all of them; the extra tokens are dropped before the output. Its
# U-Net-like part: `depth // 2` "in" blocks push their outputs on a stack, a mid block, then
# `depth // 2` "out" blocks each pop one and merge it with `skip_linear = Linear(2D, D)` applied to
# `cat[x, skip]` before an ordinary pre-LN block. The first out-block meets the *last* in-block.

# %%
class UViTBlock(nn.Module):
    def __init__(self, dim, heads, skip=False):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHead(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, skip=None):  # x, skip `B L D`
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))  # the long skip: B L 2D → B L D
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyUViT(nn.Module):
    def __init__(self, dim, depth, heads, patch=2, channels=4, size=8, classes=10, long_skips=True):
        super().__init__()
        self.dim, self.patch = dim, patch
        self.patch_embed = nn.Conv2d(channels, dim, patch, stride=patch)
        self.label_emb = nn.Embedding(classes, dim)
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 2 + (size // patch) ** 2, dim))
        self.in_blocks = nn.ModuleList(UViTBlock(dim, heads) for _ in range(depth // 2))
        self.mid_block = UViTBlock(dim, heads)
        self.out_blocks = nn.ModuleList(UViTBlock(dim, heads, skip=long_skips) for _ in range(depth // 2))
        self.norm = nn.LayerNorm(dim)
        self.decoder_pred = nn.Linear(dim, patch * patch * channels)

    def forward(self, x, t, y):  # x `B C H W`, t `(B,)`, y `(B,)` → `B C H W`
        h = x.shape[2] // self.patch
        patches = rearrange(self.patch_embed(x), "b d h w -> b (h w) d")
        time_token = timestep_embedding(t, self.dim)[:, None]  # the sinusoid itself is the token
        tokens = torch.cat([self.label_emb(y)[:, None], time_token, patches], dim=1) + self.pos_embed
        skips = []
        for block in self.in_blocks:
            tokens = block(tokens)
            skips.append(tokens)
        tokens = self.mid_block(tokens)
        for block in self.out_blocks:
            tokens = block(tokens, skips.pop())  # last in, first out
        out = self.decoder_pred(self.norm(tokens))[:, 2:]  # condition tokens dropped
        return rearrange(out, "b (h w) (p q c) -> b c (h p) (w q)", h=h, p=self.patch, q=self.patch)


# %% [markdown]
# A property that pins the skips down: set every `skip_linear` to `[I | 0]` (keep `x`, ignore the
# skip) and U-ViT becomes exactly the plain ViT with the same blocks — so whatever the skips add is
# carried by the right half of that matrix. And with a random right half, changing an in-block's
# output reaches the out-blocks *directly*, not only through the blocks in between.

# %%
uvit = TinyUViT(dim=32, depth=4, heads=2)
plain_vit = TinyUViT(dim=32, depth=4, heads=2, long_skips=False)
state = {k: v for k, v in uvit.state_dict().items() if "skip_linear" not in k}
plain_vit.load_state_dict(state)
with torch.no_grad():
    for block in uvit.out_blocks:
        block.skip_linear.weight.copy_(torch.cat([torch.eye(32), torch.zeros(32, 32)], dim=1))
        block.skip_linear.bias.zero_()
xu, tu, yu = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([10.0, 900.0]), torch.tensor([3, 7])
with torch.no_grad():
    assert_close(uvit(xu, tu, yu), plain_vit(xu, tu, yu))
print("U-ViT with skip_linear = [I | 0] == the plain ViT with the same blocks")

D = 1152  # U-ViT-H/2 (configs/imagenet256_uvit_huge.py): D 1152, depth 28 (14 in, 1 mid, 14 out), patch 2
with torch.device("meta"):
    huge = TinyUViT(dim=D, depth=28, heads=16, patch=2, channels=4, size=32, classes=1001)
huge_params = sum(p.numel() for p in huge.parameters())
skip_params = sum(p.numel() for n, p in huge.named_parameters() if "skip_linear" in n)
# the official attention has no qkv bias (qkv_bias=False); our MultiHead has one on q, k and v
huge_params -= 29 * 3 * D
print(f"U-ViT-H/2: {huge_params:,} parameters, long skips {skip_params:,} ({skip_params / huge_params:.1%})")
assert skip_params == 14 * (2 * D * D + D) and huge_params == 500_832_016

# %% [markdown]
# About 501M parameters, 7% of them in the skips — U-ViT pays for its conditions in sequence length
# (2 tokens of 258, like DiT's in-context variant) rather than in modulation weights.
#
# ## 8. DiT's guidance quirk: only 3 of 4 channels
#
# DiT predicts 8 channels: the noise of the 4 latent channels and 4 variance-interpolation values.
# Its `forward_with_cfg` guides `model_out[:, :3]` only — "for exact reproducibility", says the
# comment — so the fourth latent channel comes from the conditional branch, unguided (VDT copied
# this; Latte patched it to 4). `minivid.diffusion.cfg_model(…, guided_channels=3)` reproduces it;
# the standard form guides every noise channel.

# %%
dit = jitter_(DiT(DiTConfig(input_size=8, hidden_size=DIM, depth=DEPTH, num_heads=HEADS, num_classes=10))).eval()
xc, tc = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([500.0, 500.0])
yc, null = torch.tensor([1, 7]), torch.full((2,), 10)  # row 10 = the null label
with torch.no_grad():
    cond, uncond = dit(xc, tc, yc), dit(xc, tc, null)
    quirk = cfg_model(dit, yc, null, 4.0, guided_channels=3)(xc, tc)
    standard = cfg_model(dit, yc, null, 4.0, guided_channels=4)(xc, tc)
assert_close(quirk[:, :3], uncond[:, :3] + 4.0 * (cond[:, :3] - uncond[:, :3]))
assert_close(quirk[:, 3:], cond[:, 3:])  # channel 3 and the variance channels: conditional only
assert_close(standard[:, :4], uncond[:, :4] + 4.0 * (cond[:, :4] - uncond[:, :4]))

fig, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
channels = np.arange(8)
for offset, (name, out) in zip((-0.2, 0.2), (("official (3 channels)", quirk), ("standard (4 channels)", standard))):
    ax.bar(channels + offset, (out - cond).abs().mean(dim=(0, 2, 3)).numpy(), width=0.4, label=name)
ax.set(xticks=channels, xticklabels=[f"ε{i}" for i in range(4)] + [f"σ{i}" for i in range(4)],
       ylabel="mean |guided − conditional|", title="what guidance changes, per output channel (scale 4)")
ax.legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# ## 9. Where the popular accounts get it wrong
#
# - **"DiT's 3 conditioning strategies"** (a heading in *A Complete Analysis of Sora: from AI
#   Painting and ViT to ViViT, TECO, DiT, VDT and NaViT*, v_JULY_v's long survey blog post) — then
#   lists four: adaLN, adaLN-Zero, cross-attention, in-context. The figures it repeats are right:
#   cross-attention costs "roughly 15%" more FLOPs (16% by our count, §4) and in-context tokens
#   almost nothing (+0.6%). What such accounts leave out is the other side of the bill: adaLN-Zero
#   is the *parameter-heaviest* design, with a third of DiT-XL/2 in its modulation Linears.
# - **"adaLN-Zero additionally regresses a scale α"** (*the Sora analysis*) is the gate, but the
#   *Zero* is not α alone: the whole `Linear(D, 6D)` starts at zero, so shift, scale and gate are
#   all 0, and the official code zeroes the head's modulation and its output Linear too
#   (`initialize_weights`). Zero shift and scale are harmless only because the code writes
#   `LN(x)·(1 + scale) + shift`; in the form `scale · LN(x) + shift` that *the Sora analysis* writes
#   for VDT, a zero scale would feed zeros to the attention. A zero gate alone already makes the
#   block the identity (exercise 2).
# - **"Wan's MLP processes the *text* embedding and predicts six modulation parameters"**
#   (*the controllable-generation survey*, summarising the Wan report). It is the *time* embedding:
#   `e = self.time_embedding(sinusoidal_embedding_1d(self.freq_dim, t))`,
#   `e0 = self.time_projection(e)`; the text reaches the blocks only through cross-attention. The
#   "shared MLP + per-block biases" and "≈25% fewer parameters" in the same paragraph are right
#   (§5: 22% / 30%).
# - **"Wan uses adaLN-Zero, like DiT."** It does not: random `modulation` tables, a Xavier
#   `time_projection`, only the head zeroed (§5, asserted). Its blocks are active from step 0.
# - **"CogVideoX's two modalities each get their own projection and adaLN"** (*the
#   controllable-generation survey*). Only the modulation is per modality; `layer.attention` and
#   `layer.mlp` are one module each, applied to the concatenated `[text ; video]`
#   (`AdaLNMixin.layer_forward`). Separate Q/K/V and MLP weights
#   per modality is HunyuanVideo's double-stream design, a different (and much larger) idea.
# - **diffusers' DiT has 750M parameters.** 749,826,464 — 27 duplicated embedders (§4); and the
#   model it builds is not zero-initialised.
#
# ## Summary
#
# - adaLN regresses shift/scale from `c = t_emb + y_emb`; adaLN-Zero adds a gate per residual
#   branch and starts that Linear (and the head) at zero, so every block is *exactly* the identity
#   and the model outputs exactly 0 at init; gradients then reach the head, the gates, and only then
#   attention and MLP. Cross-attention and in-context variants read `[t ; y]` as tokens.
# - All four built from scratch and proven equal to `minivid.models.dit.DiT` on the same weights.
# - DiT-XL/2: adaLN-Zero 674,834,720 parameters (a third of it modulation); cross-attention +16%
#   FLOPs; in-context +0.6%. diffusers counts 749,826,464 = + 27 × 2,777,472.
# - Wan: one shared `time_projection` + a `(1, 6, D)` table per block — every block's modulation is
#   the same curve in t, shifted; not adaLN-Zero; 22–30% fewer parameters than per-block adaLN.
# - CogVideoX expert adaLN: 12·D per layer, text and video each get six vectors, all weights shared.
# - U-ViT: conditions as tokens, `Linear(2D, D)` long skips (7% of U-ViT-H/2).
# - DiT's official CFG guides 3 of the 4 latent channels: `cfg_model(…, guided_channels=3)`.
#
# ## Check yourself
#
# 1. Why is an adaLN-Zero block *exactly* the identity at init, and why would `scale · LN(x) + shift`
#    instead of `(1 + scale) · LN(x) + shift` break plain adaLN at zero init?
# 2. At step 0 of training adaLN-Zero, which parameters get a non-zero gradient, and why not the gates?
# 3. Which strategy costs the most FLOPs and which the most parameters at DiT-XL/2 size, and why
#    are those two different?
# 4. In Wan, what is the same for all blocks and what differs? What does a fresh Wan block do to its input?
# 5. What do text and video tokens share in a CogVideoX layer, and what do they not?
#
# ## Exercises
#
# Each exercise has a cell for you. Where it says `answer_N = None`, put your answer and run the cell:
# `check` tells you whether it is right (and gives a hint if not). The worked solution is in the
# collapsed cell below each exercise; click it to open it.
#
# **Exercise 1.** Count the modulation parameters (blocks and head) of DiT-B/2 (depth 12, width 768,
# 12 heads) by formula. The cell checks it against a meta-device build.

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
with torch.device("meta"):
    dit_b = DiT(DiTConfig(hidden_size=768, depth=12, num_heads=12))
check(answer_1, machinery(dit_b), "every adaLN_modulation Linear counts: one in each block and one in the "
      "head, each with a weight matrix and a bias; how many vectors of width D does each produce?")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
solution_1 = 12 * (768 * 6 * 768 + 6 * 768) + (768 * 2 * 768 + 2 * 768)  # 12 × Linear(D, 6D) + Linear(D, 2D)
check(solution_1, machinery(dit_b))
print(f"DiT-B/2: {solution_1:,} modulation parameters of {sum(p.numel() for p in dit_b.parameters()):,}")

# %% [markdown]
# **Exercise 2.** Show that the gate alone makes an adaLN-Zero block the identity: zero only the gate
# rows of the modulation Linear (leave shift and scale random) and check `block(x) == x`; then zero
# only the shift and scale rows and check that it is not.

# %%
# Exercise 2: write your code here. A block with random weights to start from, and its six chunks:
block = jitter_(DiTBlock(tiny_config("adaln_zero")))
rows = rearrange(torch.arange(6 * DIM), "(k d) -> k d", k=6)  # rows[k]: the output rows of chunk k of the 6D
# block.adaLN_modulation[1] is the Linear(D, 6D); test with block(tokens, c, cond_tokens)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
with torch.no_grad():
    gates_only = block.adaLN_modulation[1]
    saved = gates_only.weight.clone(), gates_only.bias.clone()
    for k in (2, 5):  # gate_msa, gate_mlp
        gates_only.weight[rows[k]] = 0
        gates_only.bias[rows[k]] = 0
    assert torch.equal(block(tokens, c, cond_tokens), tokens)
    gates_only.weight.copy_(saved[0])
    gates_only.bias.copy_(saved[1])
    for k in (0, 1, 3, 4):  # shifts and scales only
        gates_only.weight[rows[k]] = 0
        gates_only.bias[rows[k]] = 0
    assert not torch.allclose(block(tokens, c, cond_tokens), tokens)
print("zero gates: the identity; zero shifts and scales with random gates: not the identity")

# %% [markdown]
# **Exercise 3.** CogVideoX-5B has 42 layers of width 3072 and a 512-wide time embedding. How many
# parameters does its expert adaLN hold, and what fraction of 5,570,283,072 is that? The cell checks
# the count against 42 of §6's `ExpertAdaLNBlock`s built at that size on the meta device.

# %%
# Exercise 3: replace None with your answer, then run the cell; it tells you whether you are right
answer_3 = None
with torch.device("meta"):
    cog5b_layer = ExpertAdaLNBlock(3072, 48, 512)
check(answer_3, 42 * sum(p.numel() for p in cog5b_layer.modulation.parameters()),
      "one Linear per layer, from the time embedding (plus a bias) to the shift, scale and gate of two experts")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
solution_3 = 42 * (512 + 1) * 12 * 3072
check(solution_3, 42 * sum(p.numel() for p in cog5b_layer.modulation.parameters()))
print(f"CogVideoX-5B expert adaLN: {solution_3:,} = {solution_3 / 5_570_283_072:.1%} of the model")
assert solution_3 == 794_271_744

# %% [markdown]
# **Exercise 4.** Wan2.1-T2V-1.3B (width 1536, 30 blocks) shares one `time_projection` among its
# blocks, and each block adds its own `(1, 6, D)` table (§5). Give the two counts as a tuple:
# `(parameters of the shared time_projection, parameters of the 30 block tables together)`.

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
wan_13b = presets.build("wan2.1-t2v-1.3b")  # on the meta device: no memory
check(answer_4, (sum(p.numel() for p in wan_13b.time_projection.parameters()),
                 sum(block.modulation.numel() for block in wan_13b.blocks)),
      "time_projection is SiLU → Linear(D, 6D) with a bias; a table holds six vectors of width D")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
solution_4 = (1536 * 6 * 1536 + 6 * 1536, 30 * 6 * 1536)
check(solution_4, (sum(p.numel() for p in wan_13b.time_projection.parameters()),
                   sum(block.modulation.numel() for block in wan_13b.blocks)))
print(f"Wan2.1-T2V-1.3B: shared time_projection {solution_4[0]:,}, all 30 tables {solution_4[1]:,} parameters; "
      f"a DiT-style Linear per block would be {30 * solution_4[0]:,}")
