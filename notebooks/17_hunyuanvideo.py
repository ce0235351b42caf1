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
# # 17 — HunyuanVideo end to end: double-stream then single-stream blocks, the token refiner, the mask, distilled guidance, the tiled VAE
#
# HunyuanVideo (Tencent, December 2024; 13B parameters) reads its prompt neither through a
# cross-attention (Wan) nor by writing it into one shared sequence from the first block (CogVideoX).
# It does both in turn: 20 **double-stream** blocks in which text and video keep *their own* weights
# and meet only inside one joint attention, then 40 **single-stream** blocks in which `[video ; text]`
# is one sequence with one set of weights — the "MM-DiT" design of Stable Diffusion 3 and FLUX. Its text
# comes from a decoder-only language model, so it first goes through a small **token refiner**; its
# padding is isolated exactly the way the official varlen attention isolates it; and the released model
# is **guidance-distilled**: the guidance scale is an input, so a step costs one forward pass instead of
# two.
#
# This notebook rebuilds the whole transformer from scratch in plain torch + einops and proves it equal to
# `minivid.models.hunyuan`; draws who shares which weights in the three DiT systems of the course; draws
# the mask and proves that padding has no effect at all; measures what distillation saves; tiles the VAE
# in space and time and shows its seams; counts Wan 14B, CogVideoX 5B and HunyuanVideo 13B side by side;
# loads a diffusers-layout folder; samples the HunyuanVideo way; and puts a tiny HunyuanVideo, trained with
# the tiny Wan's exact budget, into the bake-off. Facts come from the official code
# (`Tencent-Hunyuan/HunyuanVideo`, `hyvideo/modules/*.py`, `hyvideo/vae/*.py`, `hyvideo/config.py`) and
# `huggingface/diffusers` (`transformer_hunyuan_video.py`, `autoencoder_kl_hunyuan_video.py`).
#
# **Prerequisites:** notebooks 06 (3D RoPE), 08 (adaLN-Zero), 11 (the tiny text-to-video model and the strict
# benchmark), 15 (Wan end to end) and 16 (CogVideoX: joint attention, expert adaLN), which this one mirrors.
#
# **Run time:** CI mode ≈ 25 s, learner mode ≈ 2 min on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
GRID = (2, 3, 4) if FAST else (3, 6, 8)  # (t, h, w) token grid of the from-scratch proofs
TEXT_TOKENS = 7  # the from-scratch prompt length (the real model: up to 256 MLLM tokens)
VAE_FRAMES, VAE_SIZE = (17, 64) if FAST else (33, 128)  # the clip the tiny VAE tiles: 1 + 4n frames, pixels
SUSTAINED_TFLOPS = 400  # an assumption for the time estimates: what your GPU sustains in bf16 matmuls
BAKE_SEEDS = (0,) if FAST else (0, 1)  # noise seeds of the bake-off (the shipped rows: 4 seeds)
BAKE_COMBOS = 4 if FAST else 18  # seen and held-out combinations each (18 = every held-out one)

# %%
import dataclasses
import importlib.util
import math
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from IPython.display import Markdown, display
from torch import nn
from torch.testing import assert_close

import minivid.presets as presets
from minivid import data, evaluation, viz
from minivid.diffusion import flow_sigmas
from minivid.exercises import check
from minivid.layers.tiling import crossfade, tiled_apply
from minivid.memory import peak_bytes
from minivid.models.hunyuan import HunyuanVideoModel, forward_flops, joint_attention
from minivid.sampling import generate
from minivid.training import t2v_task
from minivid.training.vae_task import load_vae

minivid.check_environment()
torch.set_num_threads(1)  # tiny models: a second thread costs more in syncing than it saves
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`test` extra)
TINY = presets.HUNYUANVIDEO_CONFIGS["hunyuanvideo-t2v-tiny"]  # 2 heads × 32, 2 double + 2 single blocks
GiB = 2.0**30


def jitter_(module, std=0.1):
    """Random values on top of every parameter: a zero modulation or a unit norm weight could hide a mistake."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# %% [markdown]
# ## 1. The whole pipeline, with the real shapes
#
# For 129 frames at 720×1280 (`hyvideo/config.py` defaults; `sample_video.py`; diffusers
# `pipeline_hunyuan_video.py`):
#
# | stage | what | shape |
# | --- | --- | --- |
# | text encoder 1 | a decoder-only MLLM (LLaVA-LLaMA-3-8B), prompt inside a chat template that is cut off again (`crop_start` 95), hidden states of the **third-last** layer (`hidden_state_skip_layer=2`), up to **256** tokens, with their attention mask | `256 × 4096` + mask |
# | text encoder 2 | CLIP-L: only its **pooled** vector | `768` |
# | noise | Gaussian latent of the HunyuanVideo VAE (4× time, 8× space, 16 channels) | `16 × 33 × 90 × 160` (C T H W) |
# | transformer | 1×2×2 patches (**118,800** video tokens); the text through the token refiner; 20 double-stream + 40 single-stream blocks over `[video ; text]`; the text dropped; head; unpatchify | `16 × 33 × 90 × 160`, a flow velocity |
# | sampler | flow matching, 50 Euler steps, shift **7**, guidance **embedded** (scale 6 → `guidance = 6000`), no CFG pass | — |
# | VAE decoder | latents ÷ 0.476986 → pixels, tiled in space (256-px tiles every 192) and time (16-frame windows every 12) | `3 × 129 × 720 × 1280` |
#
# The transformer takes `B C F H W` like Wan (CogVideoX takes frames first), timesteps σ·1000 like Wan, and
# three text inputs no other model of the course needs: the states, **their mask** and **a pooled vector**
# (and, distilled, the guidance). minivid raises a `ValueError` that names the missing one.
#
# ## 2. The transformer from scratch
#
# Everything below is plain torch + einops, written from the official modules
# (`hyvideo/modules/models.py : MMDoubleStreamBlock, MMSingleStreamBlock, HYVideoDiffusionTransformer`,
# `token_refiner.py`, `embed_layers.py`, `posemb_layers.py`, `attenion.py`), with minivid's parameter names
# so that the two can share one state dict.
#
# **Pieces.** The timestep (and, distilled, the guidance scale) become a 256-wide cos|sin sinusoid and an
# MLP; the condition vector `vec` is `time_in(t) + vector_in(CLIP pooled) (+ guidance_in(g))`. Every
# adaLN reads `vec` through `SiLU → Linear` and splits it into shift, scale, gate vectors. qk-norm is an
# RMSNorm over each head's 128 channels. RoPE rotates adjacent channel pairs by angles from the token's
# (t, h, w), split 16/56/56 over the head, θ = 256, on **video tokens only**.

# %%
def sinusoid(t, dim=256):
    """`timestep_embedding`: cos | sin of t · 10000^(−i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t[:, None].float() * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


def rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_angles(grid, axes, theta):
    """Angles `(t h w) head/2`: each axis its own ladder 1 / θ^(2i / d_axis) times the coordinate."""
    coords = torch.stack(torch.meshgrid(*[torch.arange(n) for n in grid], indexing="ij"), -1).reshape(-1, 3)
    ladders = [coords[:, a, None].double() / theta ** (torch.arange(0, d, 2).double() / d) for a, d in enumerate(axes)]
    return torch.cat(ladders, dim=-1)


def rotate(x, angles):
    """x `B h L d`: adjacent pairs (x0, x1), (x2, x3) … turned by `angles` `L d/2` (the complex view)."""
    z = torch.view_as_complex(rearrange(x.double(), "b h l (d two) -> b h l d two", two=2).contiguous())
    z = z * torch.polar(torch.ones_like(angles), angles)
    return rearrange(torch.view_as_real(z), "b h l d two -> b h l (d two)").to(x.dtype)


def attend(q, k, v, allowed):
    """softmax(q kᵀ / √d) v with `allowed` `B L L` (True = may attend), written out."""
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    return torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), v)


def segments(video_len, text_valid):
    """The official varlen attention (`get_cu_seqlens`) as an L×L mask: [video + real text] | [padding]."""
    real = torch.cat([torch.ones(text_valid.shape[0], video_len, dtype=torch.bool), text_valid], dim=1)
    return real[:, :, None] == real[:, None, :]


def linear(dim_in, dim_out):
    return nn.Linear(dim_in, dim_out)


def two_layer(dim_in, dim, hidden=None):
    """Linear → SiLU → Linear, as an nn.Sequential so that its keys are `0.*` and `2.*` (the official MLPs)."""
    return nn.Sequential(linear(dim_in, hidden or dim), nn.SiLU(), linear(hidden or dim, dim))


# %% [markdown]
# **The double-stream block.** Each modality owns an adaLN (6 vectors), a QKV projection, per-head q/k
# RMSNorms, an output projection and a 4× GELU-tanh MLP. Only the attention is joint: q, k, v of both
# streams are concatenated **video first**, attention runs once, the result is split back.

# %%
class ScratchStream(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.mod = nn.Sequential(nn.SiLU(), linear(dim, 6 * dim))
        self.attn_qkv, self.attn_proj = linear(dim, 3 * dim), linear(dim, dim)
        self.attn_norm = nn.Module()
        self.attn_norm.q_norm, self.attn_norm.k_norm = (nn.Module(), nn.Module())
        self.attn_norm.q_norm.weight = nn.Parameter(torch.ones(dim // heads))
        self.attn_norm.k_norm.weight = nn.Parameter(torch.ones(dim // heads))
        self.mlp = nn.Sequential(linear(dim, mlp), nn.GELU(approximate="tanh"), linear(mlp, dim))
        self.heads = heads

    def qkv(self, x, shift, scale):
        h = F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale) + shift
        q, k, v = rearrange(self.attn_qkv(h), "b l (three h d) -> three b h l d", three=3, h=self.heads)
        return rms_norm(q, self.attn_norm.q_norm.weight), rms_norm(k, self.attn_norm.k_norm.weight), v


class ScratchDouble(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.video, self.text = ScratchStream(dim, heads, mlp), ScratchStream(dim, heads, mlp)

    def forward(self, video, text, vec, text_valid, angles):
        mv = rearrange(self.video.mod(vec), "b (six d) -> six b 1 d", six=6)  # shift, scale, gate (attention)
        mt = rearrange(self.text.mod(vec), "b (six d) -> six b 1 d", six=6)  # then shift, scale, gate (MLP)
        qv, kv, vv = self.video.qkv(video, mv[0], mv[1])
        qt, kt, vt = self.text.qkv(text, mt[0], mt[1])
        qv, kv = rotate(qv, angles), rotate(kv, angles)  # RoPE: video only
        out = attend(torch.cat([qv, qt], 2), torch.cat([kv, kt], 2), torch.cat([vv, vt], 2),
                     segments(video.shape[1], text_valid))
        out_v, out_t = rearrange(out, "b h l d -> b l (h d)").split([video.shape[1], text.shape[1]], dim=1)
        video = video + mv[2] * self.video.attn_proj(out_v)
        text = text + mt[2] * self.text.attn_proj(out_t)
        video = video + mv[5] * self.video.mlp(F.layer_norm(video, video.shape[-1:], eps=1e-6) * (1 + mv[4]) + mv[3])
        text = text + mt[5] * self.text.mlp(F.layer_norm(text, text.shape[-1:], eps=1e-6) * (1 + mt[4]) + mt[3])
        return video, text


# %% [markdown]
# **The single-stream block** is the "parallel" layout: one `linear1` makes q, k, v *and* the MLP input
# from the same modulated tokens, one `linear2` maps `[attention ; GELU(MLP)]` back to the width, and one
# gate scales the sum — 3 modulation vectors instead of 6, and one sequence, one set of weights for both
# modalities.

# %%
class ScratchSingle(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.modulation = nn.Sequential(nn.SiLU(), linear(dim, 3 * dim))
        self.linear1, self.linear2 = linear(dim, 3 * dim + mlp), linear(dim + mlp, dim)
        self.attn_norm = ScratchStream(dim, heads, mlp).attn_norm  # the same two per-head RMSNorm weights
        self.heads, self.dim, self.mlp_dim = heads, dim, mlp

    def forward(self, x, vec, text_valid, angles):
        shift, scale, gate = rearrange(self.modulation(vec), "b (three d) -> three b 1 d", three=3)
        h = F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale) + shift
        qkv, m = self.linear1(h).split([3 * self.dim, self.mlp_dim], dim=-1)
        q, k, v = rearrange(qkv, "b l (three h d) -> three b h l d", three=3, h=self.heads)
        q, k = rms_norm(q, self.attn_norm.q_norm.weight), rms_norm(k, self.attn_norm.k_norm.weight)
        n = angles.shape[0]  # video tokens come first; the text after them is not rotated
        q = torch.cat([rotate(q[:, :, :n], angles), q[:, :, n:]], 2)
        k = torch.cat([rotate(k[:, :, :n], angles), k[:, :, n:]], 2)
        out = rearrange(attend(q, k, v, segments(n, text_valid)), "b h l d -> b l (h d)")
        return x + gate * self.linear2(torch.cat([out, F.gelu(m, approximate="tanh")], dim=-1))


# %% [markdown]
# **The token refiner** (`SingleTokenRefiner`): the MLLM's states go through a Linear to the model
# width and two self-attention blocks over the text alone. Their only adaLN is a **pair of gates** (no
# shift or scale), conditioned on `t` and on the masked mean of the text itself, zero-initialised — the
# refiner starts as the identity after its input Linear. The mask is pairwise, "both real", with column 0
# always open so that no padding row is empty (an all-masked softmax row is NaN).

# %%
class ScratchRefinerBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn_qkv, self.attn_proj = linear(dim, 3 * dim), linear(dim, dim)
        self.mlp = two_layer(dim, dim, mlp)
        self.gates = nn.Sequential(nn.SiLU(), linear(dim, 2 * dim))
        self.heads = heads

    def forward(self, x, cond, allowed):
        gate_attn, gate_mlp = rearrange(self.gates(cond), "b (two d) -> two b 1 d", two=2)
        q, k, v = rearrange(self.attn_qkv(self.norm1(x)), "b l (three h d) -> three b h l d", three=3, h=self.heads)
        x = x + gate_attn * self.attn_proj(rearrange(attend(q, k, v, allowed), "b h l d -> b l (h d)"))
        return x + gate_mlp * self.mlp(self.norm2(x))


class ScratchRefiner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_embedder = linear(cfg.text_dim, cfg.dim)
        self.t_embedder = nn.Module()
        self.t_embedder.mlp = two_layer(256, cfg.dim)
        self.c_embedder = two_layer(cfg.text_dim, cfg.dim)
        self.blocks = nn.ModuleList(ScratchRefinerBlock(cfg.dim, cfg.heads, cfg.mlp_dim) for _ in range(cfg.refiner_layers))

    def forward(self, text, t, text_valid):
        w = text_valid.float()[..., None]
        cond = self.t_embedder.mlp(sinusoid(t)) + self.c_embedder((text * w).sum(1) / w.sum(1))
        allowed = text_valid[:, :, None] & text_valid[:, None, :]
        allowed[:, :, 0] = True
        x = self.input_embedder(text)
        for block in self.blocks:
            x = block(x, cond, allowed)
        return x


class ScratchHunyuanVideo(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.img_in = nn.Module()
        self.img_in.proj = nn.Conv3d(cfg.in_channels, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        self.txt_in = ScratchRefiner(cfg)
        self.time_in, self.guidance_in = nn.Module(), nn.Module()
        self.time_in.mlp, self.guidance_in.mlp = two_layer(256, cfg.dim), two_layer(256, cfg.dim)
        self.vector_in = two_layer(cfg.pooled_dim, cfg.dim)
        self.double_blocks = nn.ModuleList(ScratchDouble(cfg.dim, cfg.heads, cfg.mlp_dim) for _ in range(cfg.double_layers))
        self.single_blocks = nn.ModuleList(ScratchSingle(cfg.dim, cfg.heads, cfg.mlp_dim) for _ in range(cfg.single_layers))
        self.final_layer = nn.Module()
        self.final_layer.adaLN_modulation = nn.Sequential(nn.SiLU(), linear(cfg.dim, 2 * cfg.dim))
        self.final_layer.linear = linear(cfg.dim, math.prod(cfg.patch_size) * cfg.out_channels)

    def forward(self, x, t, context, context_mask, pooled, guidance):
        cfg, (pt, ph, pw) = self.cfg, self.cfg.patch_size
        grid = (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)
        valid = context_mask.bool()
        vec = self.time_in.mlp(sinusoid(t)) + self.vector_in(pooled) + self.guidance_in.mlp(sinusoid(guidance))
        angles = rope_angles(grid, cfg.rope_axes, cfg.rope_theta)
        video = rearrange(self.img_in.proj(x), "b d t h w -> b (t h w) d")
        text = self.txt_in(context, t, valid)
        for block in self.double_blocks:
            video, text = block(video, text, vec, valid, angles)
        tokens = torch.cat([video, text], dim=1)
        for block in self.single_blocks:
            tokens = block(tokens, vec, valid, angles)
        shift, scale = rearrange(self.final_layer.adaLN_modulation(vec), "b (two d) -> two b 1 d", two=2)
        video = F.layer_norm(tokens[:, :video.shape[1]], (cfg.dim,), eps=1e-6) * (1 + scale) + shift
        out = self.final_layer.linear(video)  # B (t h w) (c pt ph pw): channels first, as `unpatchify` does
        return rearrange(out, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
                         t=grid[0], h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw)


# %% [markdown]
# **Proof.** minivid's model with random weights everywhere (a zero adaLN or a unit norm could hide a
# bug), its state dict loaded into the scratch model with `strict=True` — every name and shape agree — and
# the two outputs compared on a batch of two prompts, one of them padded.

# %%
ours = jitter_(HunyuanVideoModel(TINY)).eval()
scratch = ScratchHunyuanVideo(TINY).eval()
scratch.load_state_dict(ours.state_dict(), strict=True)
t_grid, h_grid, w_grid = GRID
x = torch.randn(2, 16, t_grid, 2 * h_grid, 2 * w_grid, generator=g)  # B C T H W: 2×2 patches
t = torch.tensor([900.0, 250.0])
context = torch.randn(2, TEXT_TOKENS, TINY.text_dim, generator=g)
context_mask = (torch.arange(TEXT_TOKENS) < torch.tensor([[TEXT_TOKENS], [3]])).long()  # sample 1: 3 real tokens
pooled, guidance = torch.randn(2, TINY.pooled_dim, generator=g), torch.tensor([6000.0, 6000.0])
with torch.no_grad():
    out_ours = ours(x, t, context, context_mask, pooled, guidance)
    out_scratch = scratch(x, t, context, context_mask, pooled, guidance)
assert_close(out_scratch, out_ours, rtol=1e-5, atol=1e-5)
print(f"scratch == minivid on a {GRID} token grid and {TEXT_TOKENS} text tokens: "
      f"max |difference| {(out_scratch - out_ours).abs().max():.1e}, output {tuple(out_ours.shape)}")

# %% [markdown]
# At initialisation every adaLN and the output Linear are zero (`ModulateDiT`, `FinalLayer`): each block
# is exactly the identity and the first prediction is exactly zero, whatever the inputs.

# %%
fresh = HunyuanVideoModel(TINY)
with torch.no_grad():
    v_in, t_in = torch.randn(2, 12, TINY.dim, generator=g), torch.randn(2, 5, TINY.dim, generator=g)
    cond = fresh.conditioning(t, pooled, guidance, 0)
    rope = torch.zeros(12, TINY.head_dim // 2)
    v_out, t_out = fresh.double_blocks[0](v_in, t_in, cond, torch.ones(2, 5, dtype=torch.bool), rope)
    assert torch.equal(v_out, v_in) and torch.equal(t_out, t_in)
    assert torch.equal(fresh(x, t, context, context_mask, pooled, guidance), torch.zeros_like(x))
print("fresh model: every block the identity, output exactly 0")

# %% [markdown]
# ## 3. Who shares which weights: the MM-DiT lineage
#
# Three answers to "how does the video read the text", as the three DiT systems of the course ship
# them. Each strip below is one full-size transformer, block by block, each block as wide as its
# parameter count, coloured by who its weights serve: **video only**, **text only**, or **both**
# (`minivid.presets`, exact counts):
#
# - **Wan** (cross-attention): the text is a side input. Its keys and values are projected in every
#   block, but it is never updated; everything else is video-only weight.
# - **CogVideoX** (one sequence from the start): text and video share every weight of a block except
#   half of the 12·D expert adaLN each.
# - **HunyuanVideo** (double → single, as SD3's MM-DiT and FLUX): the first third of the depth has a
#   full set of weights per modality (and the refiner adds text-only depth before it); then one set for
#   both.

# %%
def served(name: str, family: str, numel: int) -> dict[str, int]:
    """How many of a full-size parameter's numbers work on video tokens only, text tokens only, or both."""
    if family == "wan":  # the text is projected to keys and values (and normalised), never updated
        return {"text" if re.search(r"cross_attn\.(to_k|to_v|norm_k)|text_embedding", name) else "video": numel}
    if family == "cogvideox":
        if re.search(r"blocks\.\d+\.modulation\.", name):  # expert adaLN: the video's six vectors, the text's six
            return {"video": numel // 2, "text": numel // 2}
        return {"text" if "text_projection" in name else "both": numel}
    if name.startswith("txt_in") or ".text." in name:  # HunyuanVideo: the refiner, the double blocks' text stream
        return {"text": numel}
    return {"video" if ".video." in name or name.startswith(("img_in", "final_layer")) else "both": numel}


LINEAGE = {"wan": "wan2.1-t2v-14b", "cogvideox": "cogvideox-5b", "hunyuanvideo": "hunyuanvideo-t2v"}
COLOURS = {"video": "#4c72b0", "text": "#dd8452", "both": "#8172b3"}
strips = {}
for family, name in LINEAGE.items():
    blocks = {}  # (stage, index) of a block -> {served: count}
    for pname, p in presets.build(name).named_parameters():  # meta device: shapes only
        match = re.match(r"(blocks|double_blocks|single_blocks)\.(\d+)\.", pname)
        if match:
            counts_ = blocks.setdefault((match[1] == "single_blocks", int(match[2])), {})
            for who, n in served(pname, family, p.numel()).items():
                counts_[who] = counts_.get(who, 0) + n
    strips[family] = [blocks[key] for key in sorted(blocks)]

fig, ax = plt.subplots(figsize=(10, 2.8), layout="constrained")
for row, (family, per_block) in enumerate(strips.items()):
    left = 0.0
    total = sum(sum(b.values()) for b in per_block)
    for b in per_block:
        for who in ("video", "both", "text"):
            width = b.get(who, 0) / total
            ax.barh(row, width, left=left, color=COLOURS[who], edgecolor="none", height=0.6)
            left += width
    ax.text(-0.01, row, f"{family}\n{presets.count_params(LINEAGE[family]) / 1e9:.1f}B", ha="right", va="center")
for who, colour in COLOURS.items():
    ax.barh(0, 0, color=colour, label=f"{who} tokens")
ax.set(xlim=(0, 1), yticks=[], xlabel="share of the blocks' parameters, first block on the left",
       title="whose weights, block by block")
ax.invert_yaxis()
ax.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
plt.close(fig)
display(fig)
shares = {family: {who: sum(b.get(who, 0) for b in per_block) / sum(sum(b.values()) for b in per_block)
                   for who in COLOURS} for family, per_block in strips.items()}
display(viz.table([{"model": LINEAGE[family], **{("shared" if who == "both" else f"{who} only"): f"{share[who]:.1%}"
                                                   for who in COLOURS}} for family, share in shares.items()]))
assert shares["hunyuanvideo"]["text"] > 0.25 > shares["cogvideox"]["text"]

# %% [markdown]
# **Why separate first, shared later.** The MLLM's states and the VAE's patches arrive in unrelated
# spaces with unrelated statistics. With separate weights each modality gets its own projections and its
# own modulation while the two learn to talk through attention (the paper's words: each learns "its own
# modulation mechanisms without interference"). Once aligned, one set of weights serves both and costs
# half the parameters per unit of depth; the single-stream block also fuses attention and MLP into two
# matmuls. The price shows in the strip and the table: more than a quarter of HunyuanVideo's block
# parameters work on the (at most 256) text tokens alone — a lot of weight for 0.2% of the sequence, but
# almost no compute (§8). Wan spends a seventh on projecting the text into keys and values; CogVideoX
# shares everything but half of its expert adaLN.
#
# ## 4. The mask: padding attends only to padding
#
# The MLLM pads each prompt to 256 tokens on the right. The official attention is varlen flash-attention
# with **two segments per sample**, `[video + real text]` and `[text padding]` (`attenion.py :
# get_cu_seqlens`): real tokens never see a pad, and pads see only pads. minivid builds that with SDPA
# masks without ever materialising `L × L` (`joint_attention`: one key mask, then the pad rows redone over
# the text keys). diffusers uses a plain key-padding mask — the pads' own rows differ, the video does not.

# %%
text_valid = torch.tensor([[True] * 4 + [False] * 3])  # 4 real tokens, 3 pads
video_len = 12
official = segments(video_len, text_valid)
key_only = torch.cat([torch.ones(1, video_len, dtype=torch.bool), text_valid], 1)[:, None, :].expand_as(official)
refiner = (text_valid[:, :, None] & text_valid[:, None, :]).clone()
refiner[:, :, 0] = True
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
viz.show_mask(official, "official (varlen segments), minivid", groups=[video_len, 4, 3], ax=axes[0])
viz.show_mask(key_only, "diffusers (key padding mask)", groups=[video_len, 4, 3], ax=axes[1])
viz.show_mask(refiner, "token refiner (text only)", groups=[4, 3], ax=axes[2])
plt.close(fig)
display(fig)

q, k, v = (torch.randn(1, 2, video_len + 7, 8, generator=g) for _ in range(3))
assert_close(joint_attention(q, k, v, text_valid), attend(q, k, v, official), rtol=1e-6, atol=1e-6)
diff_rows = (attend(q, k, v, official) - attend(q, k, v, key_only)).abs().amax(dim=(0, 1, 3))
assert diff_rows[:video_len + 4].max() == 0 and diff_rows[video_len + 4:].min() > 0
print(f"joint_attention == the L×L segment mask; the key-only mask changes nothing in the {video_len + 4} "
      f"video and real-text rows and moves the 3 pad rows by {diff_rows[video_len + 4:].min():.2f} to "
      f"{diff_rows[video_len + 4:].max():.2f}")

# %% [markdown]
# And the property that matters: whatever the padded slots hold, the video does not move — bit for bit.

# %%
noisy_pads = context.clone()
noisy_pads[1, 3:] = 1000 * torch.randn(TEXT_TOKENS - 3, TINY.text_dim, generator=g)  # sample 1's pads
with torch.no_grad():
    assert torch.equal(ours(x, t, noisy_pads, context_mask, pooled, guidance), out_ours)
print("pads × 1000: identical output")

# %% [markdown]
# ## 5. Distilled guidance: the scale as an input
#
# Classifier-free guidance runs the model twice a step, with and without the prompt, and extrapolates
# (notebook 01). The released `HYVideo-T/2-cfgdistill` was trained to produce the *guided* velocity in one
# pass, given the scale: `guidance_in` embeds `g × 1000` like a timestep and adds it to `vec`
# (`hyvideo/modules/models.py`; the pipeline passes `embedded_guidance_scale * 1000`, default 6.0, and
# `--cfg-scale 1.0`: no CFG pass at all). What that buys at full size, per video:

# %%
c13 = presets.cost("hunyuanvideo-t2v", 129, 720, 1280)
one_video = 50 * c13.flops  # 50 steps, one pass each
print(f"one step: {c13.flops / 1e12:,.0f} TFLOPs ({c13.flops_attention / c13.flops:.0%} attention); "
      f"50 steps: {one_video / 1e15:,.0f} PFLOP = {one_video / (SUSTAINED_TFLOPS * 1e12) / 60:.0f} min at "
      f"{SUSTAINED_TFLOPS} TFLOPS; with CFG's second pass: {2 * one_video / (SUSTAINED_TFLOPS * 1e12) / 60:.0f} min")
guidance_embedder = sum(p.numel() for p in presets.build("hunyuanvideo-t2v").guidance_in.parameters())
assert presets.count_params("hunyuanvideo-t2v") - presets.count_params("hunyuanvideo-i2v") == \
    guidance_embedder - 17 * 4 * 3072  # the I2V model: no guidance_in, but 33 input channels
print(f"the guidance embedder: {guidance_embedder:,} parameters (0.08% of the model) halve the sampling cost")

# %% [markdown]
# ## 6. Token replace: image-to-video with the same weights
#
# HunyuanVideo-I2V's "token replace" variant (diffusers `image_condition_type="token_replace"`) keeps 16
# input channels: the pipeline writes the clean image latent into latent frame 0 every step, and the model
# modulates that frame's tokens with the embedding of **t = 0** — a second set of shift/scale/gate vectors
# from the same adaLN weights. At t = 0 it is therefore the plain model (no guidance embedding in either):

# %%
plain_cfg = dataclasses.replace(TINY, guidance_embed=False)
plain = jitter_(HunyuanVideoModel(plain_cfg)).eval()
replace = HunyuanVideoModel(dataclasses.replace(plain_cfg, image_condition="token_replace")).eval()
replace.load_state_dict(plain.state_dict())  # no extra parameter: the same state dict
with torch.no_grad():
    at_zero = [m(x, torch.zeros(2), context, context_mask, pooled) for m in (plain, replace)]
    at_500 = [m(x, torch.full((2,), 500.0), context, context_mask, pooled) for m in (plain, replace)]
assert torch.equal(*at_zero)
moved = (at_500[0] - at_500[1]).abs()
print(f"t = 0: identical; t = 500: first latent frame differs by {moved[:, :, 0].max():.2f} at most, "
      f"the others by {moved[:, :, 1:].max():.2f} (they see the first frame through attention)")

# %% [markdown]
# ## 7. The VAE: crossfaded tiles in space and time
#
# The HunyuanVideo VAE (`hyvideo/vae/autoencoder_kl_causal_3d.py`; `minivid.models.hunyuan_vae`) is a
# causal 3D VAE like CogVideoX's — 4× time, 8× space, 16 channels, GroupNorm — but its causal convs pad
# with **replicate** on every axis (edge pixels, not zeros), it resamples with strided causal convs, and its
# mid-blocks add an attention over all positions with a **frame-causal** mask. At 720p × 129 frames its
# decoder's activations do not fit a GPU, so the official pipeline always decodes **tiled**: 256-pixel
# tiles every 192 in space, windows of 16 (+1) frames every 12 in time.
#
# Its blend is not notebook 04's symmetric weighted mean (`tiled_apply`). Tiles are processed in order,
# and each one's first `overlap` rows are **replaced** by a linear crossfade from its already-blended
# predecessor (`blend_v`, `blend_h`, `blend_t`); then each tile keeps its first `stride` rows. From
# scratch, on one axis, against `minivid.layers.tiling.crossfade`:

# %%
overlap = 4
prev, tile = torch.arange(10.0), 100 + torch.arange(10.0)
y = torch.arange(overlap)
faded = torch.cat([prev[-overlap + y] * (1 - y / overlap) + tile[:overlap] * (y / overlap), tile[overlap:]])
assert torch.equal(crossfade(prev, tile, overlap, dim=0), faded)
print("crossfade, first rows:", faded[:overlap + 1].tolist(), "(row 0 is all previous tile)")

# %% [markdown]
# On a tiny random-weight HunyuanVideo VAE (diffusers' test size; there is no trained one in the course),
# a clip is decoded whole and tiled — in space only, in time only, and both — and the difference is
# drawn on a frame with the tile borders:

# %%
vae = jitter_(presets.build("hunyuanvideo-vae-tiny", "cpu"), std=0.02).eval()
clip = data.load_samples()[0].video[None]  # 1 3 17 32 32 in [-1, 1]
clip = F.interpolate(clip, size=(VAE_FRAMES, VAE_SIZE, VAE_SIZE), mode="trilinear")  # a bigger canvas
tile_px, stride_px = VAE_SIZE // 2, VAE_SIZE // 2 - VAE_SIZE // 8
with torch.no_grad():
    z = vae.encode(clip)
    whole = vae.decode(z)
    tiled = {"space": vae.tiled_decode(z, tile_size=tile_px, tile_stride=stride_px, tile_frames=VAE_FRAMES + 3),
             "time": vae.tiled_decode(z, tile_size=4 * VAE_SIZE, tile_frames=8, tile_frame_stride=4),
             "space + time": vae.tiled_decode(z, tile_size=tile_px, tile_stride=stride_px, tile_frames=8,
                                              tile_frame_stride=4)}
rows = [{"tiling": k, "max |tiled − whole|": f"{(v - whole).abs().max():.3f}",
         "mean |tiled − whole|": f"{(v - whole).abs().mean():.4f}"} for k, v in tiled.items()]
display(viz.table(rows))
frame = VAE_FRAMES // 2
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), layout="constrained")
axes[0].imshow(viz.to_frames(whole)[frame])
axes[0].set_title(f"whole decode, frame {frame}")
axes[1].imshow(viz.to_frames(tiled["space + time"])[frame])
axes[1].set_title("tiled decode")
err = axes[2].imshow((tiled["space"] - whole)[0, :, frame].abs().mean(0), cmap="magma")
for s in range(stride_px, VAE_SIZE, stride_px):
    for edge in (s, s + tile_px - stride_px):
        axes[2].axvline(edge - 0.5, color="w", linewidth=0.5, linestyle=":")
        axes[2].axhline(edge - 0.5, color="w", linewidth=0.5, linestyle=":")
axes[2].set_title("|space-tiled − whole| (overlaps dotted)")
fig.colorbar(err, ax=axes[2], shrink=0.8)
for a in axes:
    a.set(xticks=[], yticks=[])
plt.close(fig)
display(fig)
assert (tiled["time"] - whole).abs().mean() < (tiled["space"] - whole).abs().mean()

# %% [markdown]
# **What the picture says.** Windows in time cost little on average (the table's mean error, an order of
# magnitude below space's): every window restarts the causal history, which a few frames near each window
# start feel. Tiles in space cost much more on these random weights — and not mainly at the seams:
# every tile's GroupNorms compute their statistics over that tile alone, so the whole tile shifts. That is
# why the HunyuanVideo report fine-tunes the VAE with tiling switched on and off at random ("Controllable
# Video Generation", the write-up's §3D VAE, says the same): a real VAE has to *learn* to be tile-robust;
# the crossfade only hides the seam that remains. What tiling buys, measured on the same decode:

# %%
whole_peak = peak_bytes(lambda: vae.decode(z))
tiled_peak = peak_bytes(lambda: vae.tiled_decode(z, tile_size=tile_px, tile_stride=stride_px, tile_frames=8,
                                                 tile_frame_stride=4))
print(f"peak activation memory of one decode: whole {whole_peak / 2**20:.0f} MiB, tiled {tiled_peak / 2**20:.0f} MiB "
      f"({tiled_peak / whole_peak:.0%})")
assert tiled_peak < whole_peak

# %% [markdown]
# ## 8. Wan 14B, CogVideoX 5B and HunyuanVideo 13B side by side
#
# Built on the meta device, counted to the parameter (the diffusers builds agree:
# `tests/test_hunyuan_parity.py`), split by module, and priced at their own default clip:

# %%
GROUPS = {
    "token refiner (text)": ("txt_in",),
    "embedders (patch, time, pooled CLIP, guidance)": ("img_in", "time_in", "vector_in", "guidance_in"),
    "double-stream, video weights": ("double_blocks", ".video."),
    "double-stream, text weights": ("double_blocks",),
    "single-stream (shared)": ("single_blocks",),
    "final layer": ("final_layer",),
}


def group_of(name):
    if name.startswith("double_blocks"):
        return "double-stream, video weights" if ".video." in name else "double-stream, text weights"
    return next(g_ for g_, prefixes in GROUPS.items() if name.startswith(prefixes[0]) or any(
        name.startswith(p) for p in prefixes))


counts = {}
for name in ("hunyuanvideo-t2v", "hunyuanvideo-i2v"):
    table_ = dict.fromkeys(GROUPS, 0)
    for pname, p in presets.build(name).named_parameters():
        table_[group_of(pname)] += p.numel()
    counts[name] = table_
display(viz.count_table(counts))
assert sum(counts["hunyuanvideo-t2v"].values()) == presets.count_params("hunyuanvideo-t2v") == 12_821_012_544
assert sum(counts["hunyuanvideo-i2v"].values()) == presets.count_params("hunyuanvideo-i2v") == 12_810_991_680
assert presets.count_params("hunyuanvideo-vae") == 246_478_803

SYSTEMS = [("wan2.1-t2v-14b", 81, 720, 1280), ("cogvideox-5b", 49, 480, 720), ("hunyuanvideo-t2v", 129, 720, 1280)]
display(viz.table([{"model": name, "parameters": f"{presets.count_params(name):,}",
                    "default clip": f"{f} × {h}×{w}", "video tokens": f"{c.tokens:,}",
                    "TFLOPs / step": f"{c.flops / 1e12:,.0f}", "attention": f"{c.flops_attention / c.flops:.0%}",
                    "passes / step": 1 if name.startswith("hunyuan") else 2,
                    "weights bf16 (GiB)": f"{c.weight_bytes['bfloat16'] / GiB:.1f}",
                    "eager L×L per block (GiB)": f"{c.attention_matrix_bytes / GiB:,.0f}"}
                   for name, f, h, w in SYSTEMS for c in [presets.cost(name, f, h, w)]]))
assert presets.cost("hunyuanvideo-t2v", 129, 720, 1280).tokens == 118_800

# %% [markdown]
# HunyuanVideo's default clip is the longest of the three: 118,800 video tokens, 1.6× Wan's 720p clip
# and 6.8× CogVideoX's, so attention is almost 90% of its FLOPs. Distillation gives back the factor two
# that CFG would cost; the text's separate weights cost parameters, not FLOPs.
#
# ## 9. Loading a diffusers-layout checkpoint folder
#
# `HunyuanVideo/transformer/` is a `config.json` and `diffusion_pytorch_model*.safetensors` in diffusers'
# layout: its names differ (`x_embedder`, `context_embedder.token_refiner`, `transformer_blocks`,
# `single_transformer_blocks`), the fused projections are split (`img_attn_qkv` → `to_q/k/v`; the single
# block's `linear1` → `to_q/k/v` + `proj_mlp`), and the final adaLN's two halves are swapped
# (`AdaLayerNormContinuous` chunks scale first; the official `FinalLayer` shift first).
# `minivid.interop.hunyuan.from_pretrained` undoes all three. Here on a tiny random model that diffusers
# itself writes; nothing is downloaded.

# %%
if HAVE_DIFFUSERS:
    from diffusers import HunyuanVideoTransformer3DModel

    from minivid.interop.hunyuan import config_to_diffusers, from_pretrained

    theirs = HunyuanVideoTransformer3DModel(**config_to_diffusers(TINY)).eval()
    with torch.no_grad():  # constant-initialised parameters (the RMSNorm weights) get noise
        for p in theirs.parameters():
            if p.unique().numel() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as folder:
        theirs.save_pretrained(folder)
        print("diffusers wrote:", ", ".join(sorted(f.name for f in Path(folder).iterdir())))
        loaded = from_pretrained(folder)
    with torch.no_grad():
        expected = theirs(x, t, context, context_mask, pooled, guidance).sample
        got = loaded(x, t, context, context_mask, pooled, guidance)
    relative = ((got - expected).abs().max() / expected.abs().max()).item()
    print(f"minivid from_pretrained vs diffusers: max |difference| / max |output| = {relative:.1e}")
    assert relative < 1e-5
else:
    print("diffusers is not installed (it is in the `notebooks` extra): this cell would build a tiny random "
          "HunyuanVideoTransformer3DModel, save_pretrained() it and load it with minivid's from_pretrained.")

# %% [markdown]
# ## 10. Sampling the HunyuanVideo way
#
# `minivid.sampling.sample_hunyuanvideo` runs the loop every text-to-video model of the course shares
# (`sample_text_flow`: seeded noise, Euler steps over shifted sigmas) with HunyuanVideo's settings: shift
# 7 (`--flow-shift`), 50 steps, one pass per step with `guidance = 6000`. `tests/test_hunyuan_parity.py`
# checks it step for step against diffusers' `FlowMatchEulerDiscreteScheduler(shift=7.0)`. A larger shift
# spends more of the 50 steps at high noise — where a long, large clip's layout is decided:

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
for shift, who in [(1.0, "no shift"), (3.0, "tiny models (3)"), (5.0, "Wan (5)"), (7.0, "HunyuanVideo (7)")]:
    ax.plot(flow_sigmas(50, shift).numpy(), label=who, marker=".", markersize=3)
ax.set(xlabel="step", ylabel="σ", title="50 Euler steps")
ax.legend(fontsize=8)
plt.close(fig)
display(fig)
print(f"steps spent above σ = 0.5: " + ", ".join(f"shift {s:g}: {(flow_sigmas(50, s)[:-1] > 0.5).sum().item()}"
                                                  for s in (1.0, 5.0, 7.0)))

# %% [markdown]
# ## 11. The bake-off: a tiny HunyuanVideo against the tiny Wan and CogVideoX
#
# The tiny text-to-video model of notebook 11 with HunyuanVideo's transformer in place of Wan's —
# `minivid.models.tiny_t2v.TINY_HUNYUANVIDEO`: width 128, 2 heads, 2×2 patches, the token refiner
# (2 blocks), **1 double-stream + 3 single-stream blocks** (the official 1 : 2 ratio; each costs a video
# token the same multiply-adds as a CogVideoX block), the 4× MLP, RoPE axes in the official proportions,
# the padding mask, the masked mean of the text as its "pooled" vector. Everything else is the same as the
# other two rows: tokenizer and text encoder, the 10,000 clips and their latents, flow matching, the
# optimiser, **12,000 steps of 32 clips** (the command differs in `--task` only), the sampler (20 steps,
# shift 3, CFG 4 — this tiny model is not distilled, so it learns the null caption like the others).

# %%
families = {"wan": "t2v-tiny", "cogvideox": "t2v-tiny-cogvideox", "hunyuanvideo": "t2v-tiny-hunyuanvideo"}
tiny = evaluation.load_shipped(list(families))
infos = {name: t2v_task.read_info(t2v_task.SHIPPED_FILES[task]) for name, task in families.items()}
assert isinstance(tiny["hunyuanvideo"].transformer, HunyuanVideoModel)
assert infos["wan"]["train"] == infos["hunyuanvideo"]["train"] and infos["wan"]["run"]["data"] == infos["hunyuanvideo"]["run"]["data"]
display(viz.table(evaluation.training_table(tiny)))
evaluation.loss_curves(list(families))

# %% [markdown]
# The strict rows on the same prompts and noise (CI mode measures a small sample;
# `python scripts/eval_t2v.py --model hunyuanvideo` gives the full row with 4 seeds):

# %%
rows = [evaluation.benchmark(name, seeds=BAKE_SEEDS, combinations=BAKE_COMBOS) for name in families]
display(Markdown(evaluation.table(rows)))
for row in rows:  # strict "all three" on both sets; an untrained model scores about 1%
    assert min(row.scores["seen"]["all"], row.scores["held-out"]["all"]) >= 0.5, (row.family, row.scores)

# %% [markdown]
# Held-out prompts through the three models, side by side (drag the slider):

# %%
evaluation.side_by_side(tiny, [data.caption(*combo) for combo in t2v_task.HELD_OUT[:2]], seed=0)

# %% [markdown]
# And the HunyuanVideo row's clips — seen, held out, and its failures — with what the analyser read in
# every frame:

# %%
evaluation.grid(rows[2])

# %% [markdown]
# **Guidance distillation at tiny scale** (§5's idea, `minivid/training/distill_task.py`): the shipped
# tiny HunyuanVideo is the teacher; a student with the same weights plus a `guidance_in` embedder (its last
# Linear set to zero, so it starts as the teacher's conditional model) is trained to output the teacher's
# CFG velocity `u + w·(c − u)` in one pass, given `w ~ U[1, 6]` as `w × 1000` — 2,000 steps of 32 clips
# with the repo's trainer. Same prompts, noise and sampler (20 steps, shift 3, scale 4) for both, and the
# number of samples the transformer processes per step, counted with a forward hook:

# %%
student_row = evaluation.benchmark("hunyuanvideo-distilled", seeds=BAKE_SEEDS, combinations=BAKE_COMBOS)
display(Markdown(evaluation.table([rows[2], student_row])))
student = t2v_task.load_t2v(t2v_task.SHIPPED_FILES["t2v-tiny-hunyuanvideo-distilled"])
samples_per_step = {}
for name, model in (("teacher (CFG)", tiny["hunyuanvideo"]), ("student (distilled)", student)):
    seen_batches = []
    hook = model.transformer.register_forward_hook(lambda m, args, out: seen_batches.append(out.shape[0]))
    generate(model, load_vae(), ["red circle moving left"], seed=0, num_steps=4)
    hook.remove()
    samples_per_step[name] = sum(seen_batches) / 4
print("transformer samples per step for one clip:", samples_per_step,
      f"; sampling time per clip: teacher {rows[2].seconds_per_clip:.3f} s, student {student_row.seconds_per_clip:.3f} s")
assert samples_per_step == {"teacher (CFG)": 2.0, "student (distilled)": 1.0}
assert min(student_row.scores["seen"]["all"], student_row.scores["held-out"]["all"]) >= 0.5, student_row.scores

# %% [markdown]
# **What the bake-off shows.** The full rows (`python scripts/eval_t2v.py --model NAME` on the shipped
# files: 18 seen and 18 held-out combinations, seeds 0–3, 72 clips a set; `data_samples/README.md`):
#
# | | tiny Wan | tiny CogVideoX | tiny HunyuanVideo | HunyuanVideo, distilled |
# |---|---|---|---|---|
# | seen, all three (strict) | **93.1%** | **91.7%** | **93.1%** | **94.4%** |
# | held out, all three (strict) | **90.3%** | **81.9%** | **90.3%** | **88.9%** |
# | held out: shape / colour | 90.3% / 100% | 86.1% / 93.1% | 93.1% / 97.2% | 90.3% / 97.2% |
# | identity drift, seen / held out | 2.0% / 3.2% | 2.1% / 5.1% | 1.7% / 2.6% | 1.6% / 2.9% |
# | training loss (mean of the last 500 steps) | 0.272 | 0.238 | 0.236 | — |
# | transformer parameters | 0.99 M | 1.04 M | 2.00 M | 2.00 M + 49 k |
# | transformer samples per sampling step | 2 (CFG) | 2 (CFG) | 2 (CFG) | **1** |
#
# HunyuanVideo composes held-out prompts as well as Wan and 8 points better than CogVideoX, and fits its
# training captions best of the three (lowest loss). Notebook 16 read CogVideoX's held-out slip as text
# tokens that joint attention rewrites from the noisy video; HunyuanVideo's text is rewritten by joint
# attention too, but first by its refiner (text only) and then, in the double-stream block, with
# projections and an MLP of its own — only from the single-stream blocks on does it share CogVideoX's
# fate. That fits the result, without proving it: one training seed per family, and HunyuanVideo's design
# spends twice the parameters (the text weights, §3), so "more parameters" is an equally short explanation.
# The distilled student keeps the teacher's accuracy within one clip or two per set (94.4 / 88.9% against
# 93.1 / 90.3%, within a standard error of about 3 points) at half the transformer work per step; at this
# size the VAE decode and the analyser dominate the wall clock, so a clip got 1.3× faster, not 2×. At
# 13B and 118,800 tokens the transformer is everything, and the factor is the full two (§5).
#
# ## 12. What the popular accounts say, and what the code does
#
# | claim (paraphrased from the popular write-ups) | the code | here |
# | --- | --- | --- |
# | "dual stream: video and text tokens go through the blocks *independently*, each learning its own modulation without interference" | independent **weights**, not independent computation: every double-stream block runs one attention over `[video ; text]` (`MMDoubleStreamBlock.forward`: `torch.cat((img_q, txt_q), dim=1)`), so text changes video from block 1 on | §2, §3 |
# | "RoPE on every token" / "3D RoPE like Wan" | video tokens only (`MMSingleStreamBlock` rotates `q[:, :-txt_len]`), axes 16/56/56, θ = **256**, not 10,000 | §2 |
# | "text first, like CogVideoX" | **video first**: `[img ; txt]` in both block types | §2 |
# | "the CLIP pooled vector is expanded and added to the timestep embedding" | correct: `vec = time_in(t) + vector_in(pooled)` (+ `guidance_in`), one vector per sample | §2 |
# | "tiling blends the overlaps linearly" | a crossfade that *replaces* each tile's first rows and then crops to the stride, not a symmetric weighted mean; GroupNorm statistics per tile are the larger error on an untuned VAE | §7 |
# | "13B parameters" | 12,821,012,544 for the distilled T2V model, 12,810,991,680 for the 33-channel I2V; the VAE 246,478,803 | §8 |

# %% [markdown]
# ## Summary
#
# - HunyuanVideo's transformer: token refiner (2 gated self-attention blocks over the text) → 20
#   double-stream blocks (per-modality adaLN, QKV, RMS qk-norm, projection, MLP; one joint attention,
#   video first) → 40 single-stream blocks (`linear1` = q, k, v + MLP in, `linear2` back, 3 modulation
#   vectors) → final layer. Built from scratch and proven equal to minivid; identity at init.
# - RoPE 16/56/56, θ = 256, video only. `vec = time + pooled CLIP (+ guidance × 1000)`.
# - Padding: two varlen segments per sample; minivid reproduces them with SDPA masks and no `L × L`
#   tensor; padded slots have no effect at all.
# - Distilled guidance: one pass per step instead of two, for 0.08% more parameters.
# - Token-replace I2V: the first frame's tokens modulated as t = 0, no new weights.
# - VAE: replicate padding, frame-causal mid attention, crossfaded tiling in space and time; GroupNorm
#   makes spatial tiles differ beyond the seams unless the VAE is tuned for it.
# - Exact counts: 12,821,012,544 (T2V), 12,810,991,680 (I2V 33 channels), VAE 246,478,803; 129 frames at
#   720p = 118,800 video tokens.
#
# ## Check yourself
#
# 1. Which weights do text and video share in a double-stream block, and which in a single-stream block?
# 2. A prompt has 40 real tokens padded to 256. Which tokens can the 41st token attend to, officially and
#    in diffusers? Does the difference reach the video?
# 3. Why can the refiner's mask not leave a padding row empty, and how does the official code avoid it?
# 4. What does the distilled model take instead of a second forward pass, and in which unit?
# 5. Why do spatial tiles of a GroupNorm VAE differ from the whole decode even far from the seams?
#
# ## Exercises
#
# **Exercise 1.** How many parameters does one full-size single-stream block hold? Work it out from D =
# 3072 and the 4× MLP (`linear1`, `linear2`, the two per-head RMSNorm weights, the 3-vector adaLN).

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
single = presets.build("hunyuanvideo-t2v").single_blocks[0]
check(answer_1, sum(p.numel() for p in single.parameters()),
      "linear1: D → 3D + 4D with bias; linear2: D + 4D → D with bias; two RMSNorm weights of 128; adaLN D → 3D")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
d = 3072
solution_1 = (d * 7 * d + 7 * d) + (5 * d * d + d) + 2 * 128 + (d * 3 * d + 3 * d)
check(solution_1, sum(p.numel() for p in single.parameters()))
print(f"{solution_1:,} parameters; a double-stream block holds {sum(p.numel() for p in presets.build('hunyuanvideo-t2v').double_blocks[0].parameters()):,}")

# %% [markdown]
# **Exercise 2.** HunyuanVideo's 540p setting is 129 frames at 544×960. How many video tokens does the
# transformer see? (4× time and 8× space in the VAE, then 1×2×2 patches.)

# %%
# Exercise 2: replace None with your answer, then run the cell
answer_2 = None
check(answer_2, presets.cost("hunyuanvideo-t2v", 129, 544, 960).tokens,
      "latent frames 1 + (129 − 1)/4; latent height and width ÷ 8; then ÷ 2 for the patches")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
solution_2 = (1 + (129 - 1) // 4) * (544 // 8 // 2) * (960 // 8 // 2)
check(solution_2, presets.cost("hunyuanvideo-t2v", 129, 544, 960).tokens)
print(f"{solution_2:,} video tokens, {solution_2 / 118_800:.0%} of the 720p clip's; attention, ∝ L², costs "
      f"{(solution_2 / 118_800) ** 2:.0%} as much")
