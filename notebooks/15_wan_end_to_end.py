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
# # 15 — Wan2.1 end to end: the block, the full-size models, a checkpoint, a sample
#
# Wan2.1 (Alibaba, 2025) is the open video model most later work builds on. Its transformer is a
# plain DiT over the tokens of a causal video VAE: 3D-RoPE self-attention over every frame at once,
# cross-attention to 512 umT5 tokens, an MLP, and a timestep that modulates each block through one
# shared MLP. This notebook rebuilds the block — and then the whole network — from scratch in plain
# torch + einops and proves both equal to `minivid.models.wan` on the same weights; builds the
# four published transformers at full size on the meta device and counts them module by module;
# reads the cost table at 480p and 720p as an answer to "what GPU do I need?"; shows the two image
# conditionings (Wan2.1 I2V's mask channels and CLIP branch, Wan2.2 TI2V's per-token timesteps);
# loads a diffusers-layout checkpoint folder; and samples with flow matching, shift and guidance.
# It ends with what popular accounts of Wan get wrong, checked against the official code
# (`Wan-Video/Wan2.1`, commit `9737cba`).
#
# **Prerequisites:** notebooks 01 (flow matching, shift, guidance), 05 (attention), 06 (3D RoPE),
# 07 (patchify), 08 (adaLN and Wan's shared modulation); 10 goes deeper into I2V, 11 trains a tiny
# text-to-video Wan.
#
# **Run time:** CI mode ≈ 10 s, learner mode ≈ 10 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
GRID = (3, 4, 6) if FAST else (5, 6, 8)  # (t, h, w) token grid of the from-scratch proofs
SAMPLE_LATENT = (3, 8, 8) if FAST else (5, 16, 16)  # (T, H, W) latent of the sampling demo
SAMPLE_STEPS = 6 if FAST else 30  # flow-matching Euler steps of the sampling demo
SUSTAINED_TFLOPS = 400  # an assumption for the time estimates: what your GPU sustains in bf16 matmuls

# %%
import importlib.util
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from IPython.display import display
from torch import nn
from torch.testing import assert_close

import minivid.presets as presets
from minivid import viz
from minivid.diffusion import flow_sigmas
from minivid.exercises import check
from minivid.layers.embed import token_count
from minivid.layers.rope import rope_3d, rope_dims
from minivid.models.wan import (CLIP_TOKENS, TEXT_LEN, WanBlock, WanConfig, WanLayerNorm, WanModel,
                                first_frame_timesteps, image_condition, pad_text)
from minivid.sampling import sample_t2v

minivid.check_environment()
torch.set_num_threads(1)  # tiny models: a second thread costs more in syncing than it saves
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`test` extra)
TINY = WanConfig(dim=64, ffn_dim=128, heads=2, layers=2, text_dim=32)  # diffusers_peer.md's tiny Wan


def jitter_(module, std=0.1):
    """Random values on top of every parameter: a zero head or a unit norm weight could hide a mistake."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# %% [markdown]
# ## 1. The whole pipeline, with the real shapes
#
# For 81 frames at 480×832 (`wan/configs/*`, `wan/text2video.py`):
#
# | stage | what | shape |
# | --- | --- | --- |
# | text encoder | umT5-XXL encoder (`t5_model = 'umt5_xxl'`, 24 layers, width 4096), prompt zero-padded to `text_len = 512` | `512 × 4096` |
# | noise | Gaussian latent of the Wan-VAE (4× time, 8× space, 16 channels; notebook 04) | `16 × 21 × 60 × 104` |
# | transformer | `WanModel`: patchify 1×2×2 → 32,760 tokens; 30 (1.3B) or 40 (14B) blocks; head; unpatchify | `16 × 21 × 60 × 104` |
# | sampler | flow matching, shift 5.0, guidance 5.0, 50 steps (UniPC by default) | — |
# | VAE decoder | latents → pixels at the target size (causal, latent frame by latent frame; notebook 04) | `3 × 81 × 480 × 832` |
#
# Wan2.1 I2V adds a CLIP image encoder (257 tokens) and 20 input channels (§5). There is no
# super-resolution stage and no U-Net (§8).
#
# ## 2. The Wan block from scratch
#
# One block, written with nothing but torch and einops, in the order data flows
# (`wan/modules/model.py : WanAttentionBlock.forward`):
#
# 1. **modulation** — `e = block.modulation + e0`: six vectors (shift, scale, gate for
#    self-attention; shift, scale, gate for the FFN), `e0` from the one shared time MLP (notebook 08);
# 2. **self-attention** on `LN(x)·(1 + scale) + shift`, LayerNorm without affine computed in float32;
#    q and k go through an **RMSNorm over the full width** (all heads at once, before the head
#    split) and then **3D RoPE on adjacent channel pairs** (notebook 06); the result is gated;
# 3. **cross-attention** to the text, behind a LayerNorm **with** affine (the official `norm3`), with
#    the same RMS q/k-norm — and **no modulation, no gate**;
# 4. **FFN** `Linear → GELU(tanh) → Linear` on `LN(x)·(1 + scale) + shift`, gated.

# %%
def layer_norm32(x, weight=None, bias=None, eps=1e-6):
    """LayerNorm over the last axis computed in float32 (Wan's `WanLayerNorm`), back in x's dtype."""
    return F.layer_norm(x.float(), x.shape[-1:], weight, bias, eps).to(x.dtype)


class RMSAcrossHeads(nn.Module):
    """`WanRMSNorm(dim)`: x / rms(x) · weight over the whole projected q (or k), all heads together."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):  # B L (h d)
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def wan_rope_tables(head_dim, max_positions=1024, theta=10000.0):
    """Wan's `rope_params`: for t, h and w a complex table e^{i·p·ω} (positions × pairs), float64."""
    d = head_dim
    tables = []
    for axis_dim in (d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)):  # 44/42/42 for d = 128
        omega = 1.0 / theta ** (torch.arange(0, axis_dim, 2, dtype=torch.float64) / axis_dim)
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float64), omega)
        tables.append(torch.polar(torch.ones_like(angles), angles))
    return tables


def rope_apply(x, grid, tables):
    """Rotate adjacent channel pairs of x `B L heads d` as complex numbers (Wan's `rope_apply`)."""
    f, h, w = grid
    table_t, table_h, table_w = tables
    rotation = torch.cat([repeat(table_t[:f], "f c -> f h w c", h=h, w=w),
                          repeat(table_h[:h], "h c -> f h w c", f=f, w=w),
                          repeat(table_w[:w], "w c -> f h w c", f=f, h=h)], dim=-1)  # f h w d/2
    rotation = rearrange(rotation, "f h w c -> (f h w) 1 c")  # L 1 d/2, broadcast over heads
    pairs = torch.view_as_complex(rearrange(x.double(), "b l n (c two) -> b l n c two", two=2).contiguous())
    return rearrange(torch.view_as_real(pairs * rotation), "b l n c two -> b l n (c two)").to(x.dtype)


class Attention(nn.Module):
    """q, k, v, out projections; RMS q/k-norm across heads; RoPE when a grid is given."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = RMSAcrossHeads(dim), RMSAcrossHeads(dim)

    def forward(self, x, context=None, grid=None, tables=None):  # x `B L D`, context `B Lc D`
        context = x if context is None else context
        q = rearrange(self.norm_q(self.to_q(x)), "b l (n d) -> b l n d", n=self.heads)  # norm before the split
        k = rearrange(self.norm_k(self.to_k(context)), "b l (n d) -> b l n d", n=self.heads)
        v = rearrange(self.to_v(context), "b l (n d) -> b l n d", n=self.heads)
        if grid is not None:
            q, k = rope_apply(q, grid, tables), rope_apply(k, grid, tables)
        scores = torch.einsum("bqnd,bknd->bnqk", q, k) / q.shape[-1] ** 0.5
        out = torch.einsum("bnqk,bknd->bqnd", scores.softmax(dim=-1), v)
        return self.to_out(rearrange(out, "b l n d -> b l (n d)"))


class ScratchWanBlock(nn.Module):
    def __init__(self, dim, ffn_dim, heads):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.cross_attn_norm = nn.LayerNorm(dim, eps=1e-6)  # affine: its weight and bias are used below
        self.cross_attn = Attention(dim, heads)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)  # the block's own table

    def forward(self, x, e0, context, grid, tables):
        """x `B L D`, e0 `B 1 6 D` (shared time MLP), context `B Lt D` (embedded text) → `B L D`."""
        shift_sa, scale_sa, gate_sa, shift_ff, scale_ff, gate_ff = (self.modulation + e0).unbind(dim=2)  # B 1 D
        x = x + gate_sa * self.self_attn(layer_norm32(x) * (1 + scale_sa) + shift_sa, grid=grid, tables=tables)
        norm3 = self.cross_attn_norm
        x = x + self.cross_attn(layer_norm32(x, norm3.weight, norm3.bias), context)  # no modulation, no gate
        return x + gate_ff * self.ffn(layer_norm32(x) * (1 + scale_ff) + shift_ff)


# %% [markdown]
# **The proof.** A `minivid` `WanBlock` with every parameter jittered (the q/k-norm weights and the
# cross-attention LayerNorm's affine would otherwise be ones and zeros), loaded into the scratch
# block with `strict=True`; same tokens, same `e0`, same text — same output. minivid's block takes
# the RoPE angles from `rope_3d`; the scratch block builds Wan's complex tables itself.

# %%
ours = jitter_(WanBlock(TINY)).eval()
scratch_block = ScratchWanBlock(TINY.dim, TINY.ffn_dim, TINY.heads)
scratch_block.load_state_dict(ours.state_dict(), strict=True)
L = math.prod(GRID)
tokens = torch.randn(2, L, TINY.dim, generator=g)  # B L D, the residual stream
e0 = torch.randn(2, 1, 6, TINY.dim, generator=g)  # what the shared time projection hands every block
text = torch.randn(2, 7, TINY.dim, generator=g)  # already through text_embedding
tables = wan_rope_tables(TINY.head_dim)
with torch.no_grad():
    expected = ours(tokens, e0, text, None, rope_3d(GRID, rope_dims("wan", TINY.head_dim)))
    assert_close(scratch_block(tokens, e0, text, GRID, tables), expected)
print(f"scratch Wan block == minivid WanBlock on a {GRID} token grid "
      f"({sum(p.numel() for p in ours.parameters()):,} parameters)")

# %% [markdown]
# And the whole network around it: a `Conv3d` patch embedding (notebook 07), the text MLP
# (`Linear → GELU(tanh) → Linear` from 4096 to D), the float64 `cat[cos, sin]` sinusoid → time MLP
# → `e`, the shared `time_projection` → `e0`, the blocks, and the head — which takes its shift and
# scale from `e` (the time embedding *before* the projection) plus its own `(1, 2, D)` table, with
# no gate — then Wan's channels-last unpatchify.

# %%
class ScratchWan(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, self.cfg = cfg.dim, cfg
        self.patch_embedding = nn.Module()
        self.patch_embedding.proj = nn.Conv3d(cfg.in_channels, dim, cfg.patch, stride=cfg.patch)
        self.text_embedding = nn.Sequential(nn.Linear(cfg.text_dim, dim), nn.GELU(approximate="tanh"),
                                            nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.blocks = nn.ModuleList(ScratchWanBlock(dim, cfg.ffn_dim, cfg.heads) for _ in range(cfg.layers))
        self.head = nn.Module()
        self.head.proj = nn.Linear(dim, cfg.out_channels * math.prod(cfg.patch))
        self.head.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.tables = wan_rope_tables(cfg.head_dim)

    def forward(self, x, t, context):  # x `B C T H W`, t `(B,)`, context `B Lt text_dim` → `B C' T H W`
        pt, ph, pw = self.cfg.patch
        grid = (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)
        tokens = rearrange(self.patch_embedding.proj(x), "b d f h w -> b (f h w) d")
        half = self.cfg.freq_dim // 2
        angles = torch.outer(t.double(), 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half))
        e = self.time_embedding(torch.cat([angles.cos(), angles.sin()], dim=1).float())  # B D
        e0 = rearrange(self.time_projection(e), "b (six d) -> b 1 six d", six=6)  # shared by every block
        context = self.text_embedding(context)
        for block in self.blocks:
            tokens = block(tokens, e0, context, grid, self.tables)
        shift, scale = (self.head.modulation + e[:, None]).unbind(dim=1)  # from e, not e0: B D each
        out = self.head.proj(layer_norm32(tokens) * (1 + scale[:, None]) + shift[:, None])
        return rearrange(out, "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)",
                         f=grid[0], h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw)


model = jitter_(WanModel(TINY)).eval()
scratch_model = ScratchWan(TINY)
scratch_model.load_state_dict(model.state_dict(), strict=True)
latent = torch.randn(2, 16, GRID[0], 2 * GRID[1], 2 * GRID[2], generator=g)  # B C T H W
timesteps, prompt = torch.tensor([937.5, 81.25]), torch.randn(2, 11, TINY.text_dim, generator=g)
with torch.no_grad():
    assert_close(scratch_model(latent, timesteps, prompt), model(latent, timesteps, prompt), rtol=1e-5, atol=1e-5)
print(f"scratch Wan == minivid WanModel: latent {tuple(latent.shape)} → velocity of the same shape")

# %% [markdown]
# Precision, as in the official code: the sinusoid is float64; the time MLP, the modulation, the
# LayerNorms, the residual stream and the head stay float32 (`amp.autocast(dtype=torch.float32)`
# islands), so under `torch.autocast(bfloat16)` only the attention and FFN matmuls run in bf16.
# minivid's `WanModel` keeps those islands (`fp32_island`, `fp32_linear`); the scratch version is
# float32 throughout, which is what it is compared in.
#
# ## 3. The four published transformers at full size
#
# Built on the meta device by `minivid.presets` (no memory, instant), counted to the last
# parameter, and split by module:

# %%
MODELS = {"wan2.1-t2v-1.3b": 1_418_996_800, "wan2.1-t2v-14b": 14_288_491_584,
          "wan2.1-i2v-14b-480p": 16_394_878_784, "wan2.2-ti2v-5b": 4_999_787_712}
GROUPS = {  # module: what a parameter name contains (first match wins)
    "patch embedding": ("patch_embedding",),
    "text MLP (4096 → D)": ("text_embedding",),
    "time MLP + shared projection": ("time_embedding", "time_projection"),
    "CLIP projection (MLPProj)": ("image_embedding",),
    "image k/v (decoupled branch)": ("_img",),
    "self-attention": (".self_attn.",),
    "cross-attention (text)": (".cross_attn.",),
    "cross-attention LayerNorm": ("cross_attn_norm",),
    "FFN": (".ffn.",),
    "modulation tables": ("modulation",),
    "head": ("head.",),
}


tables_by_model = {name: presets.parameter_breakdown(name, GROUPS) for name in MODELS}  # on the meta device
display(viz.count_table({name.removeprefix("wan"): tables_by_model[name] for name in MODELS}))
for name, expected in MODELS.items():
    assert sum(tables_by_model[name].values()) == presets.count_params(name) == expected
config_rows = []
for name in MODELS:
    cfg = presets.WAN_CONFIGS[name]
    config_rows.append({"model": name, "dim": cfg.dim, "heads × head dim": f"{cfg.heads} × {cfg.head_dim}",
                        "blocks": cfg.layers, "FFN": cfg.ffn_dim,
                        "in / out channels": f"{cfg.in_channels} / {cfg.out_channels}"})
viz.table(config_rows)

# %% [markdown]
# Reading it: the FFN and the attention projections are 98% of the T2V models; the headline names
# round down ("1.3B" has 1.42B parameters). The I2V model is 2.1B heavier than T2V-14B — almost all
# of it the image key/value projections, 2 × (5120² + 5120) in each of 40 blocks — plus the CLIP
# projection MLP and 20 extra input channels. Checked to the parameter:

# %%
t2v, i2v = tables_by_model["wan2.1-t2v-14b"], tables_by_model["wan2.1-i2v-14b-480p"]
image_kv = 40 * (2 * (5120 * 5120 + 5120) + 5120)  # to_k_img, to_v_img and the k-norm weight, per block
mlp_proj = (2 * 1280) + (1280 * 1280 + 1280) + (1280 * 5120 + 5120) + (2 * 5120)  # LN, Linear, Linear, LN
extra_channels = 20 * 1 * 2 * 2 * 5120  # patch-embedding weights of the mask + image-latent channels
assert i2v["image k/v (decoupled branch)"] == image_kv and i2v["CLIP projection (MLPProj)"] == mlp_proj
assert MODELS["wan2.1-i2v-14b-480p"] - MODELS["wan2.1-t2v-14b"] == image_kv + mlp_proj + extra_channels
print(f"I2V-14B − T2V-14B = {image_kv:,} (image k/v) + {mlp_proj:,} (MLPProj) + {extra_channels:,} "
      f"(20 input channels) = {image_kv + mlp_proj + extra_channels:,}")

# %% [markdown]
# ## 4. What one video costs — and what GPU that needs
#
# `presets.cost(name, frames, height, width)` gives, for one denoising step of one sample: the
# latent and token grid, the FLOPs split into attention (`QKᵀ`, `AV`) and everything else
# (projections, FFN, embeddings), the weight memory per dtype, and two activation estimates —
# what stays live with a fused attention kernel (the float32 residual stream plus the widest FFN
# intermediate), and the `heads × L × L` score matrix an eager `softmax(QKᵀ)V` would build.
# Wan2.2 TI2V-5B generates 704×1280 rather than 720×1280: its 16×16 VAE turns 720 into 45 latent
# rows, which the 2×2 patch cannot split (and its native length is 121 frames; 81 here, to compare).

# %%
try:
    presets.cost("wan2.2-ti2v-5b", 81, 720, 1280)
except ValueError as error:
    print("ValueError:", error)

SIZES = [("wan2.1-t2v-1.3b", 480, 832), ("wan2.1-t2v-1.3b", 720, 1280), ("wan2.1-t2v-14b", 480, 832),
         ("wan2.1-t2v-14b", 720, 1280), ("wan2.1-i2v-14b-480p", 480, 832), ("wan2.2-ti2v-5b", 704, 1280)]
GiB = 2.0**30
costs = {(name, h, w): presets.cost(name, 81, h, w) for name, h, w in SIZES}
display(viz.table([{"81 frames": f"{name.removeprefix('wan')} {h}p", "latent": "×".join(map(str, c.latent_shape)),
                    "tokens": c.tokens, "TFLOPs / step": f"{c.flops / 1e12:,.0f}",
                    "attention": f"{c.flops_attention / c.flops:.0%}",
                    "weights bf16 (GiB)": f"{c.weight_bytes['bfloat16'] / GiB:.1f}",
                    "weights fp32 (GiB)": f"{c.weight_bytes['float32'] / GiB:.1f}",
                    "activations (GiB)": f"{c.activation_bytes / GiB:.1f}",
                    "eager L×L (GiB)": f"{c.attention_matrix_bytes / GiB:.0f}"} for (name, h, w), c in costs.items()]))
assert costs["wan2.1-t2v-14b", 480, 832].tokens == 32_760 == token_count(81, 480, 832)
assert costs["wan2.1-t2v-14b", 720, 1280].tokens == 75_600 == token_count(81, 720, 1280)

# %% [markdown]
# (Memory in GiB; activations in bf16 except the float32 residual stream.) A full video is 50
# steps × 2 passes (guidance runs the model with and without the prompt) of that, plus the text
# encoder and the VAE. The text encoder is not small: umT5-XXL's encoder, counted from its config
# (`wan/modules/t5.py : umt5_xxl`: vocabulary 256,384, width 4096, 24 layers, FFN 10240 gated, no
# biases, a 32 × 64 relative-position table per layer), has 5.68B parameters — 10.6 GiB in bf16.

# %%
umt5_encoder = 256_384 * 4096 + 24 * (4 * 4096**2 + 3 * 4096 * 10240 + 2 * 4096 + 32 * 64) + 4096
vae = presets.count_params("wan2.1-vae")
print(f"umT5-XXL encoder: {umt5_encoder:,} parameters = {2 * umt5_encoder / GiB:.1f} GiB bf16; "
      f"Wan-VAE: {vae:,} = {4 * vae / GiB:.2f} GiB fp32")
gpu_rows = []
for (name, h, w), c in costs.items():
    dit = (c.weight_bytes["bfloat16"] + c.activation_bytes) / GiB
    video_flops = 50 * 2 * c.flops  # 50 steps, conditional + unconditional pass
    gpu_rows.append({"81 frames": f"{name.removeprefix('wan')} {h}p", "DiT bf16 + activations (GiB)": dit,
                     "+ umT5 on the GPU (GiB)": dit + 2 * umt5_encoder / GiB, "PFLOP / video": video_flops / 1e15,
                     f"minutes @ {SUSTAINED_TFLOPS} TFLOPS": video_flops / (SUSTAINED_TFLOPS * 1e12) / 60})
display(viz.table(gpu_rows, floatfmt=".1f"))
readme = costs["wan2.1-t2v-1.3b", 480, 832]
implied = 50 * 2 * readme.flops / (4 * 60) / 1e12
print(f"README: 1.3B, 5 s at 480p on an RTX 4090 in about 4 minutes → ≥ {implied:.0f} TFLOPS sustained "
      f"over the {50 * 2 * readme.flops / 1e15:.0f} PFLOP the sampler needs")

# %% [markdown]
# **Reading the table — "what GPU do I need?"** (learners ask for exactly this table:
# hpcaitech/Open-Sora #854, zai-org/CogVideo #471.)
#
# - **Memory is weights first.** Activations of one step, with a fused attention kernel, are a few
#   GiB even at 720p; the weights are 2.6 GiB (1.3B), 9.3 GiB (5B) and 26.6 GiB (14B) in bf16,
#   twice that in float32. The official pipeline never holds everything at once: `--offload_model`
#   moves the text encoder and the DiT to the CPU between uses and `--t5_cpu` keeps umT5 (10.6 GiB)
#   on the CPU altogether. So **1.3B fits an 8 GB card** (the README: "requires only 8.19 GB
#   VRAM"); **14B needs about 29 GiB in bf16** — beyond any 24 GB card, tight on 32 GB,
#   comfortable on 40–80 GB (80 GB for float32 weights) — or several GPUs (`--dit_fsdp`,
#   `--t5_fsdp`, `--ulysses_size` in `generate.py`).
# - **Never an eager attention.** The `heads × L × L` score matrix is 24 GiB (1.3B) to 426 GiB (14B,
#   720p) *per block*: without FlashAttention / SDPA's fused kernels these models do not run at
#   all. Check that your PyTorch picks a fused backend on your GPU (notebook 20).
# - **Time is FLOPs, and at 720p mostly attention.** Going from 480p to 720p multiplies the tokens
#   by 2.3 and the attention FLOPs by 5.3: 14B spends 72% of its 6.5 PFLOP per step in `QKᵀ`/`AV`.
#   The README's 4 minutes for 1.3B at 480p on an RTX 4090 imply about 120 TFLOPS sustained; scale
#   `SUSTAINED_TFLOPS` to your card.
# - **The VAE decode can be the peak**, not the transformer (the CogVideoX maintainers' answer in
#   #471); the table leaves it out. Decode in tiles or frame by frame (notebook 04).
#
# ## 5. Conditioning on an image: Wan2.1 I2V and Wan2.2 TI2V
#
# **Wan2.1 I2V** feeds the first frame twice (notebook 10 takes both apart): as **20 extra input
# channels** — a 4-channel mask (the 4 pixel frames folded into each latent frame; only frame 0 is
# given, so latent frame 0 is all ones) and the 16-channel VAE latent of `[image, zero frames]` (zeros
# in the [-1, 1] pixel range: mid-grey, not black) —
# and as **257 CLIP tokens** (ViT-H/14 at 224 px: 16 × 16 patches + the class token, width 1280,
# from the penultimate block) read by a decoupled cross-attention branch in every block.
#
# **Wan2.2 TI2V-5B** has neither. The clean image latent *replaces* latent frame 0, and the
# timestep becomes one value **per token**: `t` everywhere, 0 on the first frame's tokens
# (`first_frame_timesteps`). The time MLP then runs per token, so the modulation is `(B, L, 6, D)`.

# %%
i2v_tiny = presets.build("wan2.1-i2v-tiny", device="cpu").eval()
lat_t, lat_h, lat_w = 4, 4, 6
noise = torch.randn(1, 16, lat_t, lat_h, lat_w, generator=g)  # B 16 T H W
image_latent = torch.randn(1, 16, lat_t, lat_h, lat_w, generator=g)  # stands in for VAE([image, zeros])
x_i2v = torch.cat([noise, image_condition(image_latent)], dim=1)  # B 36 T H W: noise | mask | image latent
clip_tokens = torch.randn(1, CLIP_TOKENS, i2v_tiny.config.image_dim, generator=g)
with torch.no_grad():
    velocity = i2v_tiny(x_i2v, torch.tensor([500.0]), torch.randn(1, 9, 32, generator=g), clip_tokens)
print(f"I2V input {tuple(x_i2v.shape)} (16 noise + 4 mask + 16 image), {CLIP_TOKENS} CLIP tokens → "
      f"velocity {tuple(velocity.shape)}")
assert velocity.shape == noise.shape and (x_i2v[0, 16:20, 0] == 1).all() and (x_i2v[0, 16:20, 1:] == 0).all()

ti2v = jitter_(presets.build("wan2.2-ti2v-tiny", device="cpu")).eval()
grid_5b = (lat_t, lat_h // 2, lat_w // 2)
t_tokens = first_frame_timesteps(torch.tensor([700.0]), grid_5b)  # B L: 0 on latent frame 0, 700 elsewhere
with torch.no_grad():
    _, e0_tokens = ti2v.embed_time(t_tokens)  # B L 6 D: one modulation per token
    _, e0_clean = ti2v.embed_time(torch.tensor([0.0]))
    _, e0_noisy = ti2v.embed_time(torch.tensor([700.0]))
    per_frame = grid_5b[1] * grid_5b[2]
    assert_close(e0_tokens[0, :per_frame], e0_clean[0].expand(per_frame, -1, -1))
    assert_close(e0_tokens[0, per_frame:], e0_noisy[0].expand(len(t_tokens[0]) - per_frame, -1, -1))
    x_5b = torch.randn(1, 48, lat_t, lat_h, lat_w, generator=g)  # B 48 T H W: Wan2.2 VAE latents
    velocity_5b = ti2v(x_5b, t_tokens, torch.randn(1, 5, 32, generator=g))
assert velocity_5b.shape == x_5b.shape
print(f"TI2V: timesteps {tuple(t_tokens.shape)} per token → modulation {tuple(e0_tokens.shape)}")

fig, axes = plt.subplots(1, 3, figsize=(15, 3.2), layout="constrained", gridspec_kw=dict(width_ratios=[1, 1.4, 1.4]))
mask = x_i2v[0, 16:20, :, 0, 0]  # 4 mask channels × latent frames (constant over space)
axes[0].imshow(mask.numpy(), cmap="Greys", vmin=0, vmax=1)
axes[0].set(xlabel="latent frame", ylabel="mask channel", xticks=range(lat_t), yticks=range(4),
            title="Wan2.1 I2V: mask channels (black = given)")
axes[1].imshow(rearrange(t_tokens[0], "(f n) -> f n", f=lat_t).numpy(), cmap="viridis", aspect="auto")
axes[1].set(xlabel="token inside the latent frame", ylabel="latent frame", yticks=range(lat_t),
            title="Wan2.2 TI2V: timestep per token (frame 0 clean: t = 0)")
axes[2].plot(e0_tokens[0, :, 2, :4].numpy(), marker=".", markersize=4)
for f in range(1, lat_t):
    axes[2].axvline(f * per_frame - 0.5, color="0.8", linewidth=0.8)
axes[2].set(xlabel="token (t h w order)", ylabel="shared gate e0 (4 channels)",
            title="…so every token gets its own modulation")
plt.close(fig)
fig

# %% [markdown]
# ## 6. Loading a diffusers-layout checkpoint folder
#
# Published Wan checkpoints in the diffusers layout (`Wan2.1-T2V-1.3B-Diffusers/transformer/`) are a
# `config.json` and one or more `diffusion_pytorch_model*.safetensors` files.
# `minivid.interop.wan.from_pretrained(folder)` reads the config, builds the model on the meta
# device (no random init is paid for), renames the keys (`attn1.to_out.0` → `self_attn.to_out`,
# `scale_shift_table` → `modulation`, diffusers' `norm2` → the cross-attention norm — diffusers swaps
# the official `norm2`/`norm3`), and loads the tensors. Here on a tiny random model that diffusers
# itself writes with `save_pretrained`; nothing is downloaded.

# %%
if HAVE_DIFFUSERS:
    from diffusers import WanTransformer3DModel

    from minivid.interop.wan import from_pretrained

    torch.manual_seed(0)
    theirs = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32,
                                   in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=128,
                                   num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                   eps=1e-6, rope_max_seq_len=1024).eval()
    with torch.no_grad():  # constant-initialised parameters (norm weights, LayerNorm biases) get noise
        for p in theirs.parameters():
            if p.unique().numel() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as folder:
        theirs.save_pretrained(folder)
        print("diffusers wrote:", ", ".join(sorted(f.name for f in Path(folder).iterdir())))
        loaded = from_pretrained(folder).eval()
    x_d = torch.randn(1, 16, 3, 6, 10, generator=g)  # an odd 3×3×5 token grid
    t_d, text_d = torch.tensor([937.5]), pad_text(torch.randn(1, 11, 32, generator=g))  # official: 512 text slots
    with torch.no_grad():
        expected_d, got_d = theirs(x_d, t_d, text_d).sample, loaded(x_d, t_d, text_d)
    relative = ((got_d - expected_d).abs().max() / expected_d.abs().max()).item()
    print(f"minivid from_pretrained vs diffusers: max |difference| / max |output| = {relative:.1e}")
    assert relative < 1e-5  # diffusers takes the sinusoid in float32, minivid (like the official code) in float64
else:
    print("diffusers is not installed (it is in the `notebooks` extra): this cell would build a tiny random "
          "WanTransformer3DModel, save_pretrained() it to a temporary folder, load it with "
          "minivid.interop.wan.from_pretrained and compare the outputs.")

# %% [markdown]
# ## 7. Sampling: flow matching with shift and guidance
#
# `minivid.sampling.sample_t2v` is the official T2V loop with an Euler solver: noise of the latent
# shape from a seeded CPU generator, both prompts padded to 512 tokens, `σ` from 1 to 0 through the
# shift `σ' = sσ / (1 + (s − 1)σ)` (s = 5), and `uncond + 5·(cond − uncond)` at every step, both
# branches in one doubled batch.
#
# First a property that checks the sampler without any training: a **fresh** Wan model outputs
# exactly zero (only the head is zero-initialised, notebook 08), so the velocity is 0 and the
# sample must be the starting noise itself.

# %%
fresh = presets.build("wan2.1-t2v-tiny", device="cpu").eval()
prompt_states = torch.randn(1, 6, 32, generator=g)  # stands in for umT5 states of a prompt
null_states = torch.zeros(1, 0, 32)  # the empty negative prompt: padded to 512 zero slots
sampled_fresh = sample_t2v(fresh, prompt_states, null_states, latent_size=SAMPLE_LATENT, num_steps=SAMPLE_STEPS, seed=3)
assert torch.equal(sampled_fresh, torch.randn((1, 16, *SAMPLE_LATENT), generator=torch.Generator().manual_seed(3)))
print("fresh model: velocity 0 everywhere, so the sample is exactly the seeded noise")

random_model = presets.build("wan2.1-t2v-tiny", device="cpu").eval()
nn.init.normal_(random_model.head.proj.weight, std=0.05)  # official init elsewhere; a head that says something
sampled = sample_t2v(random_model, prompt_states, null_states, latent_size=SAMPLE_LATENT,
                     num_steps=SAMPLE_STEPS, seed=3)
again = sample_t2v(random_model, prompt_states, null_states, latent_size=SAMPLE_LATENT,
                   num_steps=SAMPLE_STEPS, seed=3)
assert torch.equal(sampled, again) and sampled.shape == (1, 16, *SAMPLE_LATENT)  # seeded: reproducible
print(f"random model: latent {tuple(sampled.shape)}, mean {sampled.mean():.2f}, std {sampled.std():.2f}")

# %% [markdown]
# With random weights the result is noise-like — there is nothing to generate yet: the sampler
# integrated a velocity field that knows nothing about videos. Below, the schedule the sampler
# walked, then three of the 16 latent channels of the starting noise, of the sample, and of what
# the model changed (sample − noise), shown as RGB; a real pipeline would decode all 16 with the VAE.

# %%
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
for shift in (1.0, 5.0):
    ax.plot(flow_sigmas(SAMPLE_STEPS, shift).numpy(), marker="o", markersize=3, label=f"shift {shift:g}")
ax.set(xlabel="step", ylabel="σ", title=f"{SAMPLE_STEPS} Euler steps: shift 5 lingers at high noise")
ax.legend(fontsize=8)
plt.close(fig)
fig

# %%
def display_scale(z):
    """Latent channels 0–2 of `B 16 T H W` as RGB in [-1, 1] (unit-variance noise → ±2 shown)."""
    return (z[:, :3] / 2).clamp(-1, 1)


viz.frame_grid(display_scale(sampled_fresh), display_scale(sampled), display_scale(4 * (sampled - sampled_fresh)),
               titles=["noise (= fresh model)", "random-weight sample", "4 × (sample − noise)"], size=1.4)

# %% [markdown]
# A model that has actually learned something — a tiny text-to-video Wan trained by the repo's own
# trainer on the course's synthetic clips, with its prompt-following measured — is notebook 11.

# %%
checkpoint = Path("../data_samples/t2v_tiny.safetensors")
where = "is here: open notebook 11 to sample it" if checkpoint.exists() else "is not here yet: notebook 11 makes it"
print(f"data_samples/{checkpoint.name} {where}")

# %% [markdown]
# ## 8. Where the popular accounts get it wrong
#
# *How the Models inside Wan2.1 Image-to-Video Work Together* (flyfish's blog post) and *Diffusion
# Models Code Walkthrough: Getting Started and in Practice* (a blog post on Wan2.1/2.2's code)
# describe Wan2.1; checked against `Wan-Video/Wan2.1` (commit `9737cba`). Notebook 10 has the full
# table for *the Wan2.1 I2V post*; the points that matter here, with evidence:
#
# | claim (translated) | the official code |
# | --- | --- |
# | *the Wan2.1 I2V post*: "image encoder: a DiT-based image model … uses a pretrained DiT-XL/2", then spatial pooling to a global feature | CLIP ViT-H/14 from open-clip XLM-RoBERTa (`wan_i2v_14B.py : clip_model = 'clip_xlm_roberta_vit_h_14'`), penultimate block (`use_31_block=True` → `self.transformer[:-1]`), all 257 tokens of width 1280 kept |
# | *the Wan2.1 I2V post*: "spatio-temporal UNet: the core generator", with a "frame alignment module" | a DiT: `WanModel`, a patch `Conv3d` and 30/40 identical `WanAttentionBlock`s at one resolution; no down/up-sampling, no alignment module |
# | *the Wan2.1 I2V post*: "super-resolution module: cascaded upsampling 64 → 1024, residual connections, adversarial training" | none: `text2video.py` / `image2video.py` end with `videos = self.vae.decode(x0)`; T2V-14B samples 480p or 720p directly, I2V has separate 480P and 720P checkpoints |
# | *the Wan2.1 I2V post*: `t5_model.encode(prompt, max_length=77)`, "77×768", "a CLIP text-encoder variant" | umT5-XXL (`shared_config.py : t5_model = 'umt5_xxl'`, `text_len = 512`), width 4096 |
# | *the Wan code walkthrough*: "SwiGLU FFN", "Pre-RMSNorm" | `nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate='tanh'), nn.Linear(ffn_dim, dim))`; the block norms are `WanLayerNorm` (a LayerNorm, no affine); RMSNorm appears only on q and k |
# | *the Wan code walkthrough*: the six vectors of `e0` feed "the self-attn gate and the cross-attn gate … and the head's scale-shift" | cross-attention has no gate (`x = x + self.cross_attn(self.norm3(x), …)`); the six are shift/scale/gate for self-attention and for the FFN; the head uses `e` (before `time_projection`) plus its own `(1, 2, dim)` table |
# | "Wan uses adaLN-Zero, like DiT" | `modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)`, Xavier `time_projection`; `init_weights` zeroes only `head.head.weight` (notebook 08, asserted) |
#
# Evidence that runs, on minivid's full-size 1.3B (built on the meta device) — every module type in
# the network, and the block's own structure:

# %%
wan13 = presets.build("wan2.1-t2v-1.3b")
census = {}
for module in wan13.modules():
    if not list(module.children()):  # leaves: the layers that compute
        census[type(module).__name__] = census.get(type(module).__name__, 0) + 1
print("leaf modules of Wan2.1-T2V-1.3B:", ", ".join(f"{k} × {v}" for k, v in sorted(census.items())))
assert census["Conv3d"] == 1  # the patch embedding, and no other convolution: not a U-Net
assert not {"Conv2d", "ConvTranspose3d", "Upsample", "GroupNorm"} & set(census)
assert len(wan13.blocks) == 30 and len({tuple(p.shape for p in b.parameters()) for b in wan13.blocks}) == 1

block = wan13.blocks[0]
assert [type(m).__name__ for m in block.ffn] == ["Linear", "GELU", "Linear"] and block.ffn[1].approximate == "tanh"
assert isinstance(block.self_attn_norm, WanLayerNorm) and block.self_attn_norm.weight is None  # LN, no affine
assert type(block.self_attn.norm_q).__name__ == "RMSNorm" and block.self_attn.norm_q.normalized_shape == (1536,)
assert block.modulation.shape == (1, 6, 1536) and wan13.head.modulation.shape == (1, 2, 1536)
assert (224 // 14) ** 2 + 1 == CLIP_TOKENS == 257 and presets.WAN_CONFIGS["wan2.1-i2v-14b-480p"].image_dim == 1280
assert TEXT_LEN == 512 and presets.WAN_CONFIGS["wan2.1-t2v-1.3b"].text_dim == 4096
latent_c, latent_t, latent_h, latent_w = costs["wan2.1-t2v-14b", 720, 1280].latent_shape
assert (latent_h * 8, latent_w * 8) == (720, 1280)  # the DiT works at 1/8 of the output size; the VAE decodes to it
print("a transformer (one Conv3d: the patch embedding), 30 identical blocks, LayerNorm + GELU-tanh FFN, "
      "RMSNorm on q/k across all 1536 channels, 257 CLIP tokens, 512 text slots, no upsampler")

# %% [markdown]
# ## Summary
#
# - A Wan block: modulation = own `(1, 6, D)` table + shared `e0`; gated self-attention with RMS
#   q/k-norm across heads and adjacent-pair 3D RoPE; un-gated cross-attention behind an affine
#   LayerNorm; gated GELU-tanh FFN; float32 LayerNorms. Built from scratch, block and whole network,
#   and proven equal to `minivid.models.wan` on the same weights.
# - Full sizes (meta device, exact): 1.3B 1,418,996,800; 14B 14,288,491,584; I2V-14B-480P
#   16,394,878,784 (+2.1B of image k/v); TI2V-5B 4,999,787,712.
# - 81 frames: 32,760 tokens at 480p, 75,600 at 720p. 14B: 1.7 / 6.5 PFLOP per step (53% / 72%
#   attention), 26.6 GiB of bf16 weights; umT5-XXL adds 10.6 GiB unless kept on the CPU. Fused
#   attention is mandatory.
# - Wan2.1 I2V: 16 + 4 + 16 input channels and 257 CLIP tokens; Wan2.2 TI2V: per-token timesteps,
#   0 on the clean first frame.
# - `from_pretrained(folder)` loads diffusers-layout folders; `sample_t2v` is flow matching with
#   shift 5 and guidance 5 — a fresh model returns its noise unchanged.
#
# ## Check yourself
#
# 1. Which of a Wan block's three sub-layers is not modulated, and which norm sits in front of it?
# 2. Where does the head get its shift and scale, and how does that differ from the blocks?
# 3. Why does I2V-14B have 2.1B more parameters than T2V-14B? Which modules hold them?
# 4. A 24 GB card: which Wan2.1 transformers fit in bf16 at 480p, and what must stay on the CPU?
# 5. Why does a freshly initialised Wan model return its starting noise from the sampler?
#
# ## Exercises
#
# Each exercise has a cell for you. Where it says `answer_N = None`, put your answer and run the cell:
# `check` tells you whether it is right (and gives a hint if not). The worked solution is in the
# collapsed cell below each exercise; click it to open it.
#
# **Exercise 1.** Wan2.1 FLF2V (first + last frame) builds its mask with `msk[:, 1:-1] = 0` on 81
# pixel frames (`first_last_frame2video.py`). Build that 4 × 21 mask with the same fold as I2V and
# find which channels of the last latent frame are 1.

# %%
# Exercise 1: write your code here. The pixel-frame mask to start from (1 = the frame is given):
pixel_mask = torch.ones(81)
pixel_mask[1:-1] = 0  # first and last frame given

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
folded = torch.cat([pixel_mask[:1].repeat(4), pixel_mask[1:]])  # frame 0 repeated 4×: 84 = 21 × 4
flf_mask = rearrange(folded, "(t four) -> four t", four=4)  # 4 channels × 21 latent frames
assert (flf_mask[:, 0] == 1).all() and flf_mask[:, -1].tolist() == [0, 0, 0, 1] and flf_mask[:, 1:-1].sum() == 0
assert torch.equal(rearrange(torch.cat([pixel_mask[:1].repeat(4), torch.zeros(80)]), "(t four) -> four t", four=4),
                   image_condition(torch.zeros(1, 16, 21, 1, 1))[0, :4, :, 0, 0])  # I2V: the same fold
print("FLF2V: the last latent frame has only its 4th mask channel set (it holds pixel frames 77–80)")

# %% [markdown]
# **Exercise 2.** For 14B at 720p, by what fraction do the 512 text tokens increase the attention
# FLOPs (attention FLOPs with 512 text tokens / attention FLOPs with none − 1)? Work it out from the
# shapes first; `minivid.models.wan.forward_flops` with `text_tokens=0` and `512` confirms it.

# %%
# Exercise 2: replace None with your answer (a fraction, e.g. 0.05 for 5%), then run the cell
from minivid.models.wan import forward_flops  # noqa: E402

answer_2 = None
cfg14 = presets.WAN_CONFIGS["wan2.1-t2v-14b"]
check(answer_2, forward_flops(cfg14, (21, 45, 80), text_tokens=512)["attention"]
      / forward_flops(cfg14, (21, 45, 80), text_tokens=0)["attention"] - 1,
      "self-attention scores L queries against L keys, cross-attention L queries against the text tokens",
      rtol=1e-3)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
solution_2 = 512 / token_count(81, 720, 1280)  # per block: L·(L + 512) query-key pairs instead of L·L
with_text = forward_flops(cfg14, (21, 45, 80), text_tokens=512)["attention"]
without_text = forward_flops(cfg14, (21, 45, 80), text_tokens=0)["attention"]
check(solution_2, with_text / without_text - 1)
print(f"512 text tokens add {with_text / without_text - 1:.2%} to the attention FLOPs at 720p")
assert abs(with_text / without_text - 1 - 512 / 75_600) < 1e-12

# %% [markdown]
# **Exercise 3.** Show with the TI2V tiny model that giving every token the same timestep equals
# passing one timestep per sample.

# %%
# Exercise 3: write your code here. A prompt to use (the tiny model `ti2v` and its input `x_5b` are from §5):
text_3 = torch.randn(1, 5, 32, generator=g)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
with torch.no_grad():
    per_token = ti2v(x_5b, torch.full((1, math.prod(grid_5b)), 700.0), text_3)
    per_sample = ti2v(x_5b, torch.tensor([700.0]), text_3)
assert_close(per_token, per_sample)
print("one timestep per token, all equal == one timestep per sample")

# %% [markdown]
# **Exercise 4.** §4's table says an eager attention would build a `heads × L × L` score matrix in
# bf16 per block. How many GiB is that for Wan2.1-T2V-1.3B (12 heads) on a shorter clip, 33 frames
# at 480×832? (Answer in GiB, 2³⁰ bytes; within 1% counts.)

# %%
# Exercise 4: replace None with your answer, then run the cell; it tells you whether you are right
answer_4 = None
check(answer_4, presets.cost("wan2.1-t2v-1.3b", 33, 480, 832).attention_matrix_bytes / GiB,
      "count the tokens first (VAE: 4× in time with frame 0 alone, 8× in space; patch 1×2×2); bf16 is 2 bytes",
      rtol=0.01)

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 4
tokens_33 = (1 + (33 - 1) // 4) * (480 // 16) * (832 // 16)  # 9 × 30 × 52 = 14,040
solution_4 = 12 * tokens_33**2 * 2 / GiB
check(solution_4, presets.cost("wan2.1-t2v-1.3b", 33, 480, 832).attention_matrix_bytes / GiB)
assert tokens_33 == token_count(33, 480, 832)
print(f"{tokens_33:,} tokens: {solution_4:.1f} GiB of scores per block — still more than the whole 1.3B model "
      f"in bf16 ({2 * MODELS['wan2.1-t2v-1.3b'] / GiB:.1f} GiB)")
