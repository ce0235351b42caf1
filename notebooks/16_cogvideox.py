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
# # 16 — CogVideoX end to end: the expert block, joint attention, positions by release, the VAE, sampling
#
# CogVideoX (Zhipu AI / Tsinghua, 2024) puts the text **inside** the video sequence. Where Wan reads its
# prompt through a cross-attention, CogVideoX projects the 226 T5 states to the model width, writes them
# in front of the video tokens and runs one full attention over `[text ; video]`. Text and video share
# every weight of a block except their adaLN modulation ("expert adaLN"). This notebook rebuilds the
# block — and then the whole network — from scratch in plain torch + einops and proves both equal to
# `minivid.models.cogvideox`; draws who attends to whom, next to Wan; sets expert adaLN beside Wan's
# shared modulation and DiT's adaLN-Zero at full size; shows that the position encoding is different in
# each release (and which release cannot change its resolution); measures what GroupNorm does to the
# causal VAE when it runs in chunks; counts the four published transformers and the VAE to the last
# parameter and prices one denoising step; loads a diffusers-layout folder; and samples the CogVideoX
# way: v-prediction on a zero-terminal-SNR schedule with an SNR shift and dynamic guidance. It ends with
# what popular accounts get wrong, checked against the official code (`THUDM/CogVideo`, now
# `zai-org/CogVideo`, commit `e519ece`; and `huggingface/diffusers`).
#
# **Prerequisites:** notebooks 01 (v-prediction, zero terminal SNR, guidance), 03 (causal padding),
# 04 (the causal VAE, GroupNorm vs RMSNorm), 05 (full 3D attention), 06 (3D RoPE), 07 (patchify),
# 08 (adaLN-Zero, Wan's shared modulation and expert adaLN) and 15 (Wan end to end), which this
# notebook mirrors section by section.
#
# **Run time:** CI mode ≈ 20 s, learner mode ≈ 55 s on a 2-core CPU (measured by `scripts/time_notebooks.py`).

# %% tags=["parameters"]
import minivid

FAST = minivid.fast_mode()  # CI mode shrinks sizes; a learner who sets nothing gets full size
GRID = (2, 3, 4) if FAST else (3, 6, 8)  # (t, h, w) token grid of the from-scratch proofs
TEXT_TOKENS = 16  # the tiny models' padded prompt length (226 in CogVideoX 1.0, 224 in 1.5)
VAE_FRAMES, VAE_SIZE = (17, 32) if FAST else (33, 64)  # the clip the tiny VAE encodes: 1 + 8m frames, pixels
SAMPLE_LATENT = (3, 8, 8) if FAST else (5, 16, 16)  # (F, H, W) latent of the sampling demo
SAMPLE_STEPS = 6 if FAST else 50  # DDIM steps of the sampling demo (the official configs use 50)
SUSTAINED_TFLOPS = 400  # an assumption for the time estimates: what your GPU sustains in bf16 matmuls
BAKE_SEEDS = (0,) if FAST else (0, 1)  # noise seeds of the bake-off (the shipped rows: 4 seeds)
BAKE_COMBOS = 4 if FAST else 18  # seen and held-out combinations each (18 = every held-out one)

# %%
import copy
import importlib.util
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from IPython.display import Markdown, display
from torch import nn
from torch.testing import assert_close

import minivid.presets as presets
from minivid import data, evaluation, viz
from minivid.diffusion import (cfg_combine, cfg_model, ddim_step, dynamic_guidance_scale, noise_schedule,
                               predicted_x0, sample_ddim)
from minivid.exercises import check
from minivid.layers.conv import CausalConv3d
from minivid.layers.embed import sincos_3d, timestep_embedding, token_count
from minivid.layers.norm import ChannelRMSNorm, future_leak
from minivid.layers.rope import rope_3d, rope_dims
from minivid.models.cogvideox import CogVideoXBlock, CogVideoXModel, forward_flops, modulate_experts
from minivid.models.cogvideox_vae import chunk_spans
from minivid.models.wan import WanBlock
from minivid.training import t2v_task

minivid.check_environment()
torch.set_num_threads(1)  # tiny models: a second thread costs more in syncing than it saves
_ = torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
HAVE_DIFFUSERS = importlib.util.find_spec("diffusers") is not None  # the peer implementation (`test` extra)
TINY_2B = presets.COGVIDEOX_CONFIGS["cogvideox-2b-tiny"]  # sin-cos positions
TINY_5B = presets.COGVIDEOX_CONFIGS["cogvideox-5b-tiny"]  # 3D RoPE: 2 heads × 32, 2 layers, time width 64
GiB = 2.0**30


def jitter_(module, std=0.1):
    """Random values on top of every parameter: a zero modulation or a unit norm weight could hide a mistake."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def jitter_constants_(module, std=0.1):
    """Noise on the parameters that start constant (norm weights and biases), as the parity tests do."""
    with torch.no_grad():
        for p in module.parameters():
            if p.unique().numel() == 1:
                p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# %% [markdown]
# ## 1. The whole pipeline, with the real shapes
#
# For 49 frames at 480×720, CogVideoX 1.0 (`sat/configs/cogvideox_2b.yaml`, `cogvideox_5b.yaml`; diffusers
# `pipeline_cogvideox.py`):
#
# | stage | what | shape |
# | --- | --- | --- |
# | text encoder | T5-v1.1-XXL encoder, prompt padded to **226** tokens (`max_length: 226`; 224 in 1.5), no attention mask anywhere downstream | `226 × 4096` |
# | noise | Gaussian latent of the CogVideoX VAE (4× time, 8× space, 16 channels), **frames before channels** | `13 × 16 × 60 × 90` (F C H W) |
# | transformer | `Linear(4096, D)` on the text; 2×2 patches on the video (17,550 tokens); `[text ; video]` through 30 (2B) or 42 (5B) expert blocks; the text tokens dropped; head; unpatchify | `13 × 16 × 60 × 90`, a v-prediction |
# | sampler | DDPM schedule (scaled-linear β 0.00085 → 0.012) rescaled to zero terminal SNR, SNR shift 3 (2B) or 1 (5B); 50 steps; guidance 6 | — |
# | VAE decoder | latents ÷ scaling factor (1.15258426 for 2B, 0.7 for 5B and 1.5) → pixels, in chunks of about two latent frames | `3 × 49 × 480 × 720` (C T H W) |
#
# Two layouts meet here: the transformer takes `B F C H W` as the official code does (`dit_video_concat.py
# : DiffusionTransformer.forward`: `b, t, d, h, w = x.shape`), the VAE takes `B C T H W`. minivid keeps
# both and raises a `ValueError` that names the rearrange when they are mixed up (§6 shows one).
#
# ## 2. The CogVideoX block from scratch
#
# One block in the order data flows (`THUDM/CogVideo sat/dit_video_concat.py : AdaLNMixin.layer_forward`):
#
# 1. **modulation** — `SiLU → Linear(time_embed_dim, 12·D)` on the time embedding, chunked into twelve
#    `B D` vectors: **the video's six first** (shift, scale, gate for attention; shift, scale, gate for
#    the MLP), **then the text's six**. The Linear is zero-initialised (`AdaLNMixin.reinit`);
# 2. **joint attention** — one shared LayerNorm, then each modality modulated with its own shift and
#    scale, concatenated **text first**, and one attention over the whole sequence: shared q/k/v/out
#    projections, a **LayerNorm over each head's 64 channels** on q and k (`query_layernorm_list`,
#    eps 1e-6, with weight and bias), 3D RoPE on the video tokens only (5B; the 2B has none), no mask;
#    split again and gated per modality;
# 3. **MLP** — the same pattern: shared LayerNorm, per-modality shift/scale, one shared
#    `Linear → GELU(tanh) → Linear` (4×), per-modality gate.
#
# Written the way the SAT code writes it — split, modulate, concatenate, attend, split, gate — with the
# attention spelled out as `softmax(q kᵀ/√d) v`:

# %%
def rotate_pairs(x, angles):
    """Rotate adjacent channel pairs (x0, x1), (x2, x3), … of x `B h L d` by `angles` `L d/2`
    (SAT `Rotary3DPositionEmbeddingMixin.rotary`: `t * cos + rotate_half(t) * sin` on '(d r)' pairs)."""
    cos = repeat(angles.cos().float(), "l n -> l (n r)", r=2)  # angles in float64, applied in float32
    sin = repeat(angles.sin().float(), "l n -> l (n r)", r=2)
    pairs = rearrange(x, "... (n r) -> ... n r", r=2)
    turned = rearrange(torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1), "... n r -> ... (n r)")
    return x * cos + turned * sin


def cogvideox_rope_angles(grid, head_dim, theta=10000.0):
    """3D RoPE angles of the video tokens, `(t h w) head_dim/2`: channels [t | h | w] = d/4, 3d/8, 3d/8
    (16/24/24 of 64), each axis its own frequency ladder, integer positions."""
    dims = (head_dim // 4, head_dim // 8 * 3, head_dim // 8 * 3)
    coords = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in grid], indexing="ij")
    parts = []
    for coord, dim in zip(coords, dims):
        freqs = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        parts.append(rearrange(coord, "t h w -> (t h w) 1") * freqs)  # L dim/2
    return torch.cat(parts, dim=-1)


class ScratchJointAttention(nn.Module):
    """One attention over [text ; video]: shared projections, LayerNorm per head on q and k, RoPE on video."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q = nn.LayerNorm(dim // heads, eps=1e-6)  # over each head's channels, with weight and bias
        self.norm_k = nn.LayerNorm(dim // heads, eps=1e-6)

    def weights_and_values(self, x, text_len, angles):
        """x `B L D` → attention weights `B h L L` (rows: queries) and values `B h L d`."""
        q = self.norm_q(rearrange(self.to_q(x), "b l (h d) -> b h l d", h=self.heads))
        k = self.norm_k(rearrange(self.to_k(x), "b l (h d) -> b h l d", h=self.heads))
        v = rearrange(self.to_v(x), "b l (h d) -> b h l d", h=self.heads)
        if angles is not None:  # 5B: rotate q and k of the video tokens; the text tokens are left alone
            q = torch.cat([q[:, :, :text_len], rotate_pairs(q[:, :, text_len:], angles)], dim=2)
            k = torch.cat([k[:, :, :text_len], rotate_pairs(k[:, :, text_len:], angles)], dim=2)
        weights = (torch.einsum("bhqd,bhkd->bhqk", q, k) / q.shape[-1] ** 0.5).softmax(dim=-1)  # no mask
        return weights, v

    def forward(self, x, text_len, angles):
        weights, v = self.weights_and_values(x, text_len, angles)
        return self.to_out(rearrange(torch.einsum("bhqk,bhkd->bhqd", weights, v), "b h l d -> b l (h d)"))


class ScratchCogVideoXBlock(nn.Module):
    def __init__(self, dim, heads, time_dim, eps=1e-5):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, eps=eps)  # official `input_layernorm`: one, for both modalities
        self.attn = ScratchJointAttention(dim, heads)
        self.mlp_norm = nn.LayerNorm(dim, eps=eps)  # `post_attention_layernorm`
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 12 * dim))  # both experts in one Linear

    def forward(self, x, emb, text_len, angles):
        """x `B (Lt+Lv) D` text first, emb `B time_dim`, angles `Lv head_dim/2` or None → `B (Lt+Lv) D`."""
        (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp,  # the video expert's six …
         text_shift_msa, text_scale_msa, text_gate_msa,  # … then the text's
         text_shift_mlp, text_scale_mlp, text_gate_mlp) = (m[:, None] for m in self.modulation(emb).chunk(12, dim=1))
        text, video = x[:, :text_len], x[:, text_len:]
        attn_in = torch.cat([self.attn_norm(text) * (1 + text_scale_msa) + text_shift_msa,
                             self.attn_norm(video) * (1 + scale_msa) + shift_msa], dim=1)  # [text ; video]
        attn_out = self.attn(attn_in, text_len, angles)
        text = text + text_gate_msa * attn_out[:, :text_len]
        video = video + gate_msa * attn_out[:, text_len:]
        mlp_out = self.mlp(torch.cat([self.mlp_norm(text) * (1 + text_scale_mlp) + text_shift_mlp,
                                      self.mlp_norm(video) * (1 + scale_mlp) + shift_mlp], dim=1))
        text = text + text_gate_mlp * mlp_out[:, :text_len]
        video = video + gate_mlp * mlp_out[:, text_len:]
        return torch.cat([text, video], dim=1)


# %% [markdown]
# **The proof.** A block taken from a freshly built `CogVideoXModel` is exactly the identity (its
# modulation Linear is zero, so every gate is 0) — which is also why a comparison on fresh weights could
# not fail. So every parameter is jittered first, then loaded into the scratch block with `strict=True`.
# minivid's block takes the RoPE angles for the whole sequence, zeros on the text; the scratch block
# rotates only the video slice, as the SAT code does. Last, a scratch block whose two experts are swapped
# must *not* match: the check can fail.

# %%
fresh_block = CogVideoXModel(TINY_5B).blocks[0].eval()
text_len, L_video = TEXT_TOKENS, math.prod(GRID)
tokens = torch.randn(2, text_len + L_video, TINY_5B.dim, generator=g)  # B (Lt+Lv) D, text first
emb = torch.randn(2, TINY_5B.time_embed_dim, generator=g)  # B time_embed_dim: what the time MLP hands every block
angles = cogvideox_rope_angles(GRID, TINY_5B.head_dim)  # Lv hd/2
rope = torch.cat([torch.zeros(text_len, TINY_5B.head_dim // 2, dtype=torch.float64),
                  rope_3d(GRID, rope_dims("cogvideox", TINY_5B.head_dim))])  # (Lt+Lv) hd/2: text angle 0
assert_close(rope[text_len:], angles)  # the scratch angles are minivid's
with torch.no_grad():
    assert torch.equal(fresh_block(tokens, emb, text_len, rope), tokens)  # zero modulation: the identity

ours = jitter_(CogVideoXBlock(TINY_5B)).eval()
scratch_block = ScratchCogVideoXBlock(TINY_5B.dim, TINY_5B.heads, TINY_5B.time_embed_dim)
scratch_block.load_state_dict(ours.state_dict(), strict=True)
with torch.no_grad():
    expected = ours(tokens, emb, text_len, rope)
    assert_close(scratch_block(tokens, emb, text_len, angles), expected)
    swapped = copy.deepcopy(scratch_block)  # the text rows of the 12·D Linear where the video's are, and back
    for p in swapped.modulation[1].parameters():
        p.copy_(rearrange(rearrange(p, "(e r) ... -> e r ...", e=2).flip(0), "e r ... -> (e r) ..."))
    assert not torch.allclose(swapped(tokens, emb, text_len, angles), expected, atol=1e-3)
print(f"scratch CogVideoX block == minivid CogVideoXBlock on {text_len} text + {GRID} video tokens "
      f"({sum(p.numel() for p in ours.parameters()):,} parameters); with the experts swapped it is not")

# %% [markdown]
# And the whole network around it (`DiffusionTransformer`, `ImagePatchEmbeddingMixin`, `FinalLayerMixin`):
#
# - **patch embedding** — every 2×2 patch of a latent frame, flattened in `(c p q)` order, through one
#   Linear: the same numbers as the `Conv3d` with a 1×2×2 kernel and stride minivid keeps (notebook 07);
# - **text projection** `Linear(4096, D)`, and the text goes **first**: `torch.cat((text_emb, emb), dim=1)`;
# - **positions** — 2B: a fixed 3D sin-cos table added to the video tokens (the text slots of the official
#   table are zeros); 5B: RoPE inside the attention, nothing added (§5 takes the releases apart);
# - **time** — a `cat[cos, sin]` sinusoid as wide as the model (D, not 256 as in DiT and Wan) through
#   `Linear(D, 512) → SiLU → Linear(512, 512)`: one `emb` for every block and the head;
# - **head** — the text tokens dropped, `final_layernorm`, then the head's LayerNorm modulated by its own
#   `SiLU → Linear(512, 2·D)` (shift first, then scale, no gate) and a Linear to `16 · 2 · 2` numbers per
#   token, unpatchified channels-first (`'b (t h w) (c o p q) -> b (t o) c (h p) (w q)'`).
#
# Proven on the tiny twins of the 2B (sin-cos) and the 5B (RoPE):

# %%
def sincos_table_3d(grid, dim, spatial_interpolation, temporal_interpolation=1.0):
    """`Basic3DPositionEmbeddingMixin`'s table, `(t h w) dim`: channels [time d/4 | w 3d/8 | h 3d/8], each
    `cat[sin(p ω), cos(p ω)]`; h and w positions divided by the interpolation (1.875 for the 2B)."""
    def table_1d(positions, width):  # N -> N width
        omega = 1.0 / 10000 ** (torch.arange(width // 2, dtype=torch.float64) / (width / 2))
        angles = torch.outer(positions.double(), omega)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    t, h, w = grid
    space = dim // 4 * 3
    time_part = table_1d(torch.arange(t, dtype=torch.float32) / temporal_interpolation, dim // 4)
    by_w = table_1d(torch.arange(w, dtype=torch.float32) / spatial_interpolation, space // 2)
    by_h = table_1d(torch.arange(h, dtype=torch.float32) / spatial_interpolation, space // 2)
    return torch.cat([repeat(time_part, "t c -> (t h w) c", h=h, w=w), repeat(by_w, "w c -> (t h w) c", t=t, h=h),
                      repeat(by_h, "h c -> (t h w) c", t=t, w=w)], dim=-1).float()


class ScratchCogVideoX(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, self.cfg = cfg.dim, cfg
        self.patch_embedding = nn.Module()  # the weight lives in a Conv3d, as in minivid; used as a Linear below
        kernel = (1, cfg.patch, cfg.patch)  # v1.0: 2×2 patches of one latent frame
        self.patch_embedding.proj = nn.Conv3d(cfg.in_channels, dim, kernel, stride=kernel)
        self.text_projection = nn.Linear(cfg.text_dim, dim)
        self.time_embedding = nn.Sequential(nn.Linear(dim, cfg.time_embed_dim), nn.SiLU(),
                                            nn.Linear(cfg.time_embed_dim, cfg.time_embed_dim))
        self.blocks = nn.ModuleList(ScratchCogVideoXBlock(dim, cfg.heads, cfg.time_embed_dim)
                                    for _ in range(cfg.layers))
        self.final_norm, self.head_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.head_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.time_embed_dim, 2 * dim))
        self.head = nn.Linear(dim, cfg.patch * cfg.patch * cfg.out_channels)

    def forward(self, x, t, context):  # x `B F C H W`, t `(B,)`, context `B Lt text_dim` → `B F C' H W`
        cfg, p = self.cfg, self.cfg.patch
        grid = (x.shape[1], x.shape[3] // p, x.shape[4] // p)
        patches = rearrange(x, "b f c (h p) (w q) -> b (f h w) (c p q)", p=p, q=p)
        proj = self.patch_embedding.proj
        video = F.linear(patches, proj.weight.flatten(1), proj.bias)  # B Lv D: a Linear on flattened patches
        text_len = context.shape[1]
        tokens = torch.cat([self.text_projection(context), video], dim=1)  # B (Lt+Lv) D: text FIRST
        angles = None
        if cfg.positions == "sincos":  # 2B: a fixed table on the video tokens, nothing on the text
            table = sincos_table_3d(grid, cfg.dim, cfg.spatial_interpolation, cfg.temporal_interpolation)
            tokens = tokens + torch.cat([torch.zeros(text_len, cfg.dim), table])
        else:  # 5B: rotate q and k of the video tokens inside every attention
            angles = cogvideox_rope_angles(grid, cfg.head_dim)
        half = cfg.dim // 2
        args = t.float()[:, None] * torch.exp(-math.log(10000.0) * torch.arange(half) / half)  # B D/2
        emb = self.time_embedding(torch.cat([args.cos(), args.sin()], dim=-1))  # B 512: one for all blocks
        for block in self.blocks:
            tokens = block(tokens, emb, text_len, angles)
        video = self.final_norm(tokens[:, text_len:])  # the text tokens are dropped here
        shift, scale = rearrange(self.head_modulation(emb), "b (two d) -> two b 1 d", two=2)
        out = self.head(self.head_norm(video) * (1 + scale) + shift)  # B Lv (c p q)
        return rearrange(out, "b (f h w) (c p q) -> b f c (h p) (w q)", f=grid[0], h=grid[1], w=grid[2], p=p, q=p)


latent = torch.randn(2, GRID[0], 16, 2 * GRID[1], 2 * GRID[2], generator=g)  # B F C H W
timesteps, prompt = torch.tensor([937, 81]), torch.randn(2, TEXT_TOKENS, 32, generator=g)
for cfg in (TINY_2B, TINY_5B):
    model = jitter_(CogVideoXModel(cfg)).eval()
    scratch_model = ScratchCogVideoX(cfg)
    scratch_model.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert_close(scratch_model(latent, timesteps, prompt), model(latent, timesteps, prompt), rtol=1e-5, atol=1e-5)
    print(f"scratch CogVideoX == minivid CogVideoXModel ({cfg.positions}): latent {tuple(latent.shape)} B F C H W "
          "→ v-prediction of the same shape")
assert_close(sincos_table_3d(GRID, 64, 1.875), sincos_3d(*GRID, 64, 1.875))  # minivid's table, checked alone too

# %% [markdown]
# ## 3. Text-first joint attention: who sees whom
#
# In CogVideoX every token is a query *and* a key: text queries read video keys, video queries read text
# keys, all in one softmax. Wan keeps the text out of the sequence: video tokens attend to video tokens
# (self-attention) and, in a *separate* softmax, to the text (cross-attention); the text tokens are never
# queries, so the text a block reads is the same in every block. The masks over `[text ; video]` (orange
# lines: the text/video border and the frames), and then what one block actually does — the influence
# of every input token on every output token, `‖∂ out_i / ∂ x_j‖`, through a jittered tiny CogVideoX block
# and a jittered tiny Wan block (gray: exactly zero):

# %%
def influence(fn, x):
    """`L L` table of ‖∂ (r_i · out_i) / ∂ x_j‖ for a random direction r_i per output token i."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    directions = torch.randn(out.shape, generator=g)
    rows = []
    for i in range(out.shape[1]):
        grad, = torch.autograd.grad((out[:, i] * directions[:, i]).sum(), x, retain_graph=True)
        rows.append(grad[0].norm(dim=-1))  # L
    return torch.stack(rows)


Lt_pic, grid_pic = 4, (2, 2, 3)  # a small sequence for the pictures: 4 text + 12 video tokens
L_pic = Lt_pic + math.prod(grid_pic)
is_text = torch.arange(L_pic) < Lt_pic
cog_mask = torch.ones(L_pic, L_pic, dtype=torch.bool)  # one attention, everyone to everyone
wan_mask = ~is_text[:, None] & torch.ones(L_pic, L_pic, dtype=torch.bool)  # only video queries; both key sets

wan_tiny = presets.WAN_CONFIGS["wan2.1-t2v-tiny"]
wan_block = jitter_(WanBlock(wan_tiny)).eval()
cog_block = jitter_(CogVideoXBlock(TINY_5B)).eval()
x_pic = torch.randn(1, L_pic, 64, generator=g)  # B L D, text first (both tiny models are 64 wide)
emb_pic, e0_pic = torch.randn(1, 64, generator=g), torch.randn(1, 1, 6, 64, generator=g)
rope_pic = torch.cat([torch.zeros(Lt_pic, 16, dtype=torch.float64), rope_3d(grid_pic, rope_dims("cogvideox", 32))])
wan_rope = rope_3d(grid_pic, rope_dims("wan", wan_tiny.head_dim))


def wan_joint(x):  # the text is context: it reaches the video through cross-attention and comes out unchanged
    text, video = x[:, :Lt_pic], x[:, Lt_pic:]
    return torch.cat([text, wan_block(video, e0_pic, text, None, wan_rope)], dim=1)


cog_influence = influence(lambda x: cog_block(x, emb_pic, Lt_pic, rope_pic), x_pic)
wan_influence = influence(wan_joint, x_pic)
assert (cog_influence > 0).all()  # every output depends on every input, text on video included
assert (wan_influence[:Lt_pic, Lt_pic:] == 0).all() and (wan_influence[Lt_pic:] > 0).all()  # text: untouched by video

groups = [Lt_pic] + [grid_pic[1] * grid_pic[2]] * grid_pic[0]
fig, axes = plt.subplots(2, 2, figsize=(11, 8.4), layout="constrained")
viz.show_mask(cog_mask, "CogVideoX: one attention over [text ; video]", groups=groups, ax=axes[0, 0])
viz.show_mask(wan_mask, "Wan: video→video (self) and video→text (cross),\ntwo softmaxes; text is never a query",
              groups=groups, ax=axes[0, 1])
viz.show_receptive_field(cog_influence, "one CogVideoX block: ‖∂out/∂x‖", xlabel="input token (text first)",
                         ylabel="output token", ax=axes[1, 0])
viz.show_receptive_field(wan_influence, "one Wan block: the text rows are the identity",
                         xlabel="input token (text first)", ylabel="output token", ax=axes[1, 1])
for ax in axes[1]:
    ax.axhline(Lt_pic - 0.5, color="tab:orange", linewidth=1)
    ax.axvline(Lt_pic - 0.5, color="tab:orange", linewidth=1)
plt.close(fig)
fig

# %% [markdown]
# The attention weights themselves, `softmax(q kᵀ/√d)` of block 0 of the jittered tiny 5B from §2 on the
# proof's sequence (16 text tokens, then the video), read with the scratch attention loaded from the
# block — after checking that those weights times the values *are* the block's attention output. Each
# row sums to 1 over **all** keys: text keys and video keys compete for the same attention. With random
# weights the pattern means nothing yet; what counts is that no quadrant is empty.

# %%
captured = {}
handle = model.blocks[0].attn.register_forward_pre_hook(
    lambda module, args, kwargs: captured.update(x=args[0], rope=kwargs["rope"]), with_kwargs=True)
with torch.no_grad():
    model(latent[:1], timesteps[:1], prompt[:1])
handle.remove()
probe = ScratchJointAttention(TINY_5B.dim, TINY_5B.heads)
probe.load_state_dict(model.blocks[0].attn.state_dict(), strict=True)
with torch.no_grad():
    weights, _ = probe.weights_and_values(captured["x"], TEXT_TOKENS, angles)  # 1 h L L
    assert_close(probe(captured["x"], TEXT_TOKENS, angles), model.blocks[0].attn(captured["x"], rope=captured["rope"]))
assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))

quadrants = {"text → text": (slice(0, text_len), slice(0, text_len)),
             "text → video": (slice(0, text_len), slice(text_len, None)),
             "video → text": (slice(text_len, None), slice(0, text_len)),
             "video → video": (slice(text_len, None), slice(text_len, None))}
L_all = text_len + L_video
display(viz.table([{"queries → keys": name,
                    "mean share of a query's attention": f"{weights[0, :, q, k].sum(-1).mean():.2f}",
                    "share of the keys": f"{len(range(L_all)[k])} / {L_all} = {len(range(L_all)[k]) / L_all:.2f}"}
                   for name, (q, k) in quadrants.items()]))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
for head, ax in enumerate(axes):
    image = ax.imshow(weights[0, head].numpy(), cmap="viridis", norm=plt.matplotlib.colors.LogNorm())
    ax.axhline(text_len - 0.5, color="tab:orange")
    ax.axvline(text_len - 0.5, color="tab:orange")
    ax.set(title=f"block 0, head {head}: attention weights", xlabel="key (text | video)", ylabel="query (text | video)")
fig.colorbar(image, ax=axes, shrink=0.8, label="weight (log scale)")
plt.close(fig)
fig

# %% [markdown]
# ## 4. Expert adaLN beside Wan's shared modulation and DiT's adaLN-Zero
#
# Notebook 08 builds all three from scratch (§2, §5, §6 there). Side by side at full size — where the
# modulation comes from, what it produces, and what it weighs, counted on the meta-device builds:

# %%
def modulation_counts(name):
    """(per block, shared, head) modulation parameters of a full-size preset, found by parameter name."""
    model_m = presets.build(name)
    per_block, shared, head = 0, 0, 0
    for key, p in model_m.named_parameters():
        if key.startswith("blocks.0.") and ("modulation" in key or "adaLN" in key):
            per_block += p.numel()
        elif key.startswith("time_projection."):  # Wan: one Linear(D, 6D) for all blocks
            shared += p.numel()
        elif not key.startswith("blocks.") and ("modulation" in key or "adaLN" in key):
            head += p.numel()
    return per_block, shared, head, len(model_m.blocks)


DESIGNS = {
    "dit-xl-2": ("adaLN-Zero: `c = t_emb + y_emb` → SiLU → Linear(D, 6D) in every block", "6, same for all", "yes"),
    "wan2.1-t2v-1.3b": ("one shared `time_projection` Linear(D, 6D) + a (1, 6, D) table per block", "6, same for all",
                        "no (only the head Linear)"),
    "wan2.1-t2v-14b": ("as 1.3B", "6, same for all", "no (only the head Linear)"),
    "cogvideox-2b": ("time emb (512) → SiLU → Linear(512, 12D) in every block", "6 for text, 6 for video",
                     "yes, all but the head Linear"),
    "cogvideox-5b": ("as 2B", "6 for text, 6 for video", "yes, all but the head Linear"),
}
modulation_rows, amortised = [], {}
for name, (source, vectors, zero) in DESIGNS.items():
    per_block, shared, head, layers = modulation_counts(name)
    total = layers * per_block + shared + head
    amortised[name] = (per_block, shared / layers)
    modulation_rows.append({"model": name, "where the modulation comes from": source, "vectors per block": vectors,
                            "zero init": zero, "per block": per_block, "shared": shared,
                            "all modulation": total, "of the model": f"{total / presets.count_params(name):.0%}"})
display(viz.table(modulation_rows))
cog2 = presets.COGVIDEOX_CONFIGS["cogvideox-2b"]
assert modulation_rows[3]["per block"] == (cog2.time_embed_dim + 1) * 12 * cog2.dim == 11_819_520
assert modulation_rows[0]["per block"] == (1152 + 1) * 6 * 1152  # DiT-XL/2: a Linear(D, 6D) per block

# %% [markdown]
# Reading it: CogVideoX's modulation reads the 512-wide time embedding, not the model width, so a block's
# `Linear(512, 12·D)` is *smaller* than DiT's `Linear(D, 6·D)` at the same D (for any D above 1025) — even
# with two experts. Wan's per-block cost is a table of 6·D numbers; its one shared Linear does the work.
# What the second expert buys is visible per token: the shift, scale and gate a token gets depend on
# which modality it is. Left, the attention scale each token of the §2 sequence receives from the jittered
# tiny 5B at one timestep (rows: tokens, text first) — two bands, where DiT and Wan would give every token
# the same row; right, the modulation weights per block at full size, Wan's shared Linear spread over its
# blocks:

# %%
with torch.no_grad():
    t_show = torch.tensor([500.0])
    emb_show = model.time_embedding(timestep_embedding(t_show, TINY_5B.dim))  # 1 × 64: the tiny 5B's time MLP
    video_six, text_six = rearrange(model.blocks[0].modulation(emb_show), "1 (expert six d) -> expert six d",
                                    expert=2, six=6)  # each six × D
    per_token_scale = torch.cat([repeat(text_six[1], "d -> l d", l=text_len),
                                 repeat(video_six[1], "d -> l d", l=L_video)])  # L D: what modulate_experts applies
    h_test = torch.randn(1, text_len + L_video, TINY_5B.dim, generator=g)
    assert_close(modulate_experts(h_test, text_len, text_six[:2, None, None], video_six[:2, None, None]),
                 h_test * (1 + per_token_scale) + torch.cat([repeat(text_six[0], "d -> l d", l=text_len),
                                                             repeat(video_six[0], "d -> l d", l=L_video)]))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained", gridspec_kw=dict(width_ratios=[1, 1.1]))
image = axes[0].imshow(per_token_scale.numpy(), aspect="auto", cmap="coolwarm")
axes[0].axhline(text_len - 0.5, color="k", linewidth=1)
axes[0].set(xlabel="channel", ylabel="token (text first)", title="CogVideoX: attention scale per token, t = 500")
fig.colorbar(image, ax=axes[0], shrink=0.8)
names_m = list(amortised)
axes[1].barh(names_m, [amortised[n][0] / 1e6 for n in names_m], label="the block's own")
axes[1].barh(names_m, [amortised[n][1] / 1e6 for n in names_m], left=[amortised[n][0] / 1e6 for n in names_m],
             label="shared Linear ÷ blocks (Wan)")
axes[1].invert_yaxis()
axes[1].set(xlabel="modulation parameters per block (millions)", title="what one block's modulation weighs")
axes[1].legend(fontsize=8, loc="upper right")
plt.close(fig)
fig

# %% [markdown]
# ## 5. Positions: one per release
#
# The CogVideoX paper describes 3D RoPE, and the popular summaries repeat it for "CogVideoX". The
# released configs say otherwise (`sat/configs/*.yaml`, `pos_embed_config`):
#
# | release | `pos_embed_config` | what it means |
# | --- | --- | --- |
# | 2B | `Basic3DPositionEmbeddingMixin`, `height_interpolation: 1.875`, `width_interpolation: 1.875` | a **fixed** 3D sin-cos table (`requires_grad=False`) added to the video tokens; time d/4, space 3d/4; h and w positions divided by 1.875 |
# | 5B | `Rotary3DPositionEmbeddingMixin`, `hidden_size_head: 64` | 3D RoPE (16/24/24 channels of each head) on the video tokens' q and k; nothing added to the tokens |
# | 5B-I2V | the same with `learnable_pos_embed: True` | RoPE **plus** a learned absolute table over `[226 text ; 13 × 30 × 45 video]` |
# | 1.5 (T2V, I2V) | `Rotary3DPositionEmbeddingMixin`, `text_length: 224`, `patch_size: [2, 2, 2]` | RoPE on 2×2×2 tubes; no absolute table |
#
# So neither "2B learned, 5B sinusoidal" nor "CogVideoX uses RoPE" is right: the 2B's table is
# sinusoidal and frozen, the 5B's positions live only inside attention, and the only *learned* table is
# the 5B-I2V's (the maintainers confirm it: `zai-org/CogVideo` #64 for the 2B, #367 for the I2V). The
# evidence that runs: each release's tiny twin, inspected — what it adds to the tokens, which angles it
# hands the attention, and whether it accepts a latent of another size (16×20 instead of its 16×16):

# %%
TWINS = {"2B": "cogvideox-2b-tiny", "5B": "cogvideox-5b-tiny", "5B-I2V": "cogvideox-5b-i2v-tiny",
         "1.5 I2V": "cogvideox1.5-5b-i2v-tiny"}
position_rows, errors = [], {}
for release, name in TWINS.items():
    twin = jitter_(presets.build(name, device="cpu")).eval()
    cfg = twin.config
    if cfg.positions == "rope+learned":  # a buffer, not a parameter: give it values a trained table would have
        twin.learned_positions.copy_(torch.randn(twin.learned_positions.shape, generator=g))
    grid = (2, 8, 8)  # a token grid the model accepts
    zeros = torch.zeros(1, cfg.text_length + math.prod(grid), cfg.dim)
    with torch.no_grad():
        added, twin_rope = twin.positions(zeros, grid, cfg.text_length)
    frames = 2 * (cfg.patch_t or 1)
    x_other = torch.randn(1, frames, cfg.in_channels, 16, 20, generator=g)  # B F C H W, a wider latent
    extra = dict(ofs=2.0) if cfg.ofs_embed_dim else {}
    try:
        with torch.no_grad():
            twin(x_other, 500, torch.randn(1, cfg.text_length, 32, generator=g), **extra)
        other_size = "runs"
    except ValueError as error:
        other_size, errors[release] = "ValueError", str(error)
    buffers = {key: tuple(b.shape) for key, b in twin.named_buffers()}
    position_rows.append({
        "release (tiny twin)": f"{release} (`{name}`)", "config": cfg.positions,
        "added to text tokens": f"{added[0, :cfg.text_length].abs().max():.2f}",
        "added to video tokens": f"{added[0, cfg.text_length:].abs().max():.2f}",
        "RoPE (t, h, w) channels": "—" if twin_rope is None else str(rope_dims("cogvideox", cfg.head_dim)),
        "RoPE angles on text": "—" if twin_rope is None else f"{twin_rope[:cfg.text_length].abs().max():.0f}",
        "stored table": ", ".join(f"`{k}` {v} (buffer)" for k, v in buffers.items()) or
                        ("none: computed for the grid" if twin_rope is None else "none"),
        "16×20 latent": other_size})
display(viz.table(position_rows))
print("ValueError of the 5B-I2V twin:", errors["5B-I2V"])
assert list(errors) == ["5B-I2V"]
assert position_rows[0]["added to text tokens"] == "0.00" and position_rows[1]["added to video tokens"] == "0.00"

# %% [markdown]
# The 2B adds its table to the video tokens only (the text slots of the official table are zeros); RoPE
# gives the text angle 0. The learned table of the 5B-I2V is the only position signal that reaches the
# *text* tokens: it has a slot for each of them. (The tiny twin's table was filled with random values; a
# fresh one is zeros, as in the SAT code, and only training fills it.)
#
# The full-size builds say the same, and explain a count that otherwise looks odd: the 5B-I2V's table is a
# **buffer** (in the checkpoint, but not a parameter — diffusers registers `pos_embedding` the same
# way), 54,607,872 numbers that the parameter count leaves out. The I2V transformer is 196,608 parameters
# heavier than the T2V one for another reason: its 16 extra input channels (the image latent).

# %%
i2v_full = presets.build("cogvideox-5b-i2v")
table_numbers = i2v_full.learned_positions.numel()
assert table_numbers == (226 + 13 * 30 * 45) * 3072 == 54_607_872
assert "learned_positions" not in dict(i2v_full.named_parameters())
assert presets.count_params("cogvideox-5b-i2v") - presets.count_params("cogvideox-5b") == 16 * 2 * 2 * 3072
for name in ("cogvideox-2b", "cogvideox-5b", "cogvideox1.5-5b"):
    assert not list(presets.build(name).buffers())  # no stored table: computed (2B) or none (RoPE)
print(f"5B-I2V: learned table {tuple(i2v_full.learned_positions.shape)} = {table_numbers:,} numbers, a buffer; "
      f"I2V − T2V parameters = {16 * 2 * 2 * 3072:,} (16 more input channels × 2 × 2 × 3072)")

# %% [markdown]
# What the 2B's table looks like at 49 frames, 480×720 (13 × 30 × 45 tokens), and what the 1.875 does:
# the 30 rows and 45 columns get positions 0 … 15.5 and 0 … 23.5 — the range integer positions would
# cover on a 16 × 24 grid, i.e. on 256×384 pixels (480 / 1.875 = 256; presumably an earlier, lower training
# resolution whose positions were kept — the configs only give the number). Why the I2V's
# learned table fixes the resolution: it holds one vector per *slot* of the 226 + 13·30·45 sequence, and
# the code adds `pos_embedding[:, :text_length + seq_length]` — a wider frame would put row 1 of the video
# on the slots trained as the end of row 0. Fewer frames still fit (the table is cut); another height,
# width or prompt length does not, so minivid raises where diffusers raises too (`CogVideoXPatchEmbed`:
# "It is currently not possible to generate videos at a different resolution").

# %%
table_2b = sincos_3d(13, 30, 45, 1920, spatial_interpolation=1.875)  # (t h w) D, as the full 2B uses it
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained", gridspec_kw=dict(width_ratios=[1.6, 1]))
image = axes[0].imshow(table_2b[: 2 * 30 * 45: 7].numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].axvline(1920 // 4 - 0.5, color="k")
axes[0].axvline(1920 // 4 + 1920 * 3 // 8 - 0.5, color="k")
axes[0].set(xlabel="channel: time 480 | width 720 | height 720", ylabel="video token (every 7th, frames 0–1)",
            title="CogVideoX-2B: fixed 3D sin-cos table")
fig.colorbar(image, ax=axes[0], shrink=0.8)
axes[1].plot(torch.arange(30), torch.arange(30) / 1.875, "o-", markersize=3, label="2B: row / 1.875")
axes[1].plot(torch.arange(30), torch.arange(30), "--", color="0.6", label="integer positions (RoPE)")
axes[1].set(xlabel="token row", ylabel="position the table encodes", title="spatial interpolation 1.875")
axes[1].legend(fontsize=8)
plt.close(fig)
fig

# %% [markdown]
# Two more differences appear only away from the training size. The SAT 2B *slices* its stored 13 × 30 × 45
# table (`Basic3DPositionEmbeddingMixin.position_embedding_forward`), which is right only at 480×720;
# diffusers and minivid recompute it for the actual grid. For the 5B, the SAT code slices integer RoPE
# positions (`freqs[:rope_T, :rope_H, :rope_W]`), while the diffusers pipeline stretches them over the
# trained 30 × 45 grid (`get_resize_crop_region_for_grid`, then `linspace`); minivid uses integer
# positions like the official code. At 480×720 all three agree.
#
# ## 6. The VAE: frame-0 padding, and what GroupNorm does to chunks
#
# The CogVideoX VAE (`sat/vae_modules/cp_enc_dec.py`) is a causal 3D-conv VAE like Wan's (notebook 04):
# 4× in time, 8× in space, 16 channels. Two things differ. Its causal convs pad time with **copies of
# frame 0** instead of zeros (`_fake_cp_pass_from_previous_rank`: `torch.cat([input_[:1]] * (kernel_size -
# 1) + [input_])`, zeros in space). And it normalises with **GroupNorm**. First the padding, from scratch
# against minivid's `CausalConv3d(pad_mode="first_frame")`:

# %%
conv = jitter_(CausalConv3d(4, 5, 3, pad_mode="first_frame"))
clip_x = torch.randn(1, 4, 6, 8, 8, generator=g)  # B C T H W


def scratch_first_frame_conv(x, conv):
    """k_t − 1 copies of frame 0 in front, one zero pixel around each frame, then a plain Conv3d."""
    front = repeat(x[:, :, :1], "b c 1 h w -> b c k h w", k=conv.kernel_size[0] - 1)
    padded = F.pad(torch.cat([front, x], dim=2), (1, 1, 1, 1, 0, 0))  # (w, w, h, h, t, t): zeros in space only
    return F.conv3d(padded, conv.weight, conv.bias)


with torch.no_grad():
    assert_close(scratch_first_frame_conv(clip_x, conv), conv(clip_x))
print("from-scratch frame-0 padding == minivid CausalConv3d(pad_mode='first_frame')")

# %% [markdown]
# Why frame 0? A still image then encodes exactly like a clip that holds that image: every window of a
# static clip sees copies of the same frame, as the padded window of the image does. On the tiny
# random-weight VAE (the `cogvideox-vae-tiny` preset, the peer config of the diffusers tests): every
# latent frame of a held image equals the image's latent — and the same VAE with zero padding (Wan's
# choice) breaks that.

# %%
vae = jitter_constants_(presets.build("cogvideox-vae-tiny", device="cpu")).eval()
still = data.make_clip("circle", "red", "right", frames=5, size=VAE_SIZE, seed=1).video[None, :, :1]  # 1 3 1 H W
held = repeat(still, "b c 1 h w -> b c t h w", t=9)  # a static clip of 9 frames → 3 latent frames
zero_padded = copy.deepcopy(vae)
for module in zero_padded.modules():
    if isinstance(module, CausalConv3d):
        module.pad_mode = "zeros"
with torch.no_grad():
    still_latent, held_latent = vae.encode(still), vae.encode(held)  # B 16 T' h w
    assert_close(held_latent, still_latent.expand_as(held_latent), rtol=1e-4, atol=1e-5)
    zero_gap = (zero_padded.encode(held) - zero_padded.encode(still)).abs().max().item()
assert zero_gap > 1e-2
print(f"frame-0 padding: held image == image in every latent frame; zero padding: off by {zero_gap:.2f}")

# %% [markdown]
# **GroupNorm.** A GroupNorm on `B C T H W` pools its mean and variance over `(C/G, T, H, W)` — over every
# frame it is given (notebook 04 §1). So a latent depends on how many frames went through *together*:
#
# - the **official SAT code** encodes the whole clip in one pass (`diffusion_video.py : encode_first_stage`
#   calls `first_stage_model.encode(x)` on all frames; with several GPUs, `ContextParallelGroupNorm`
#   gathers every frame's statistics so the split stays equal to that one pass) and decodes in chunks of
#   about two latent frames (`decode_first_stage`, `fake_cp_size`);
# - **diffusers** (`AutoencoderKLCogVideoX._encode`) encodes in batches of 8 frames — 9, 8, 8, … for 49 —
#   carrying each causal conv's last frames along (`conv_cache`), and decodes in 3, 2, 2, … latent frames.
#
# minivid runs either: `encode(video, chunked=False)` is the official single pass, `chunked=True` (the
# default) the diffusers schedule. The chunk schedule first:

# %%
def sizes(spans):
    return " + ".join(str(b - a) for a, b in spans)


display(viz.table([{"frames": n, "encoder chunks (pixel frames)": sizes(chunk_spans(n, 8)),
                    "decoder chunks (latent frames)": sizes(chunk_spans(1 + (n - 1) // 4, 2))} for n in (17, 33, 49)]))
assert [b - a for a, b in chunk_spans(49, 8)] == [9, 8, 8, 8, 8, 8]

# %% [markdown]
# Then the two measurements, on a clip of the course's synthetic data through the tiny random-weight VAE:
#
# - **drift** — how far the chunked latents are from the single-pass latents, per latent frame
#   (`max |chunked − whole| / max |whole|`);
# - **causality** — `future_leak`: replace every pixel frame after t by noise and see how far the latents
#   of frames ≤ t move (each latent frame spread back over the pixel frames it covers: frame 0, then 4 each).
#   Wan's RMSNorm VAE (`wan2.1-vae-tiny`, notebook 04) is the control: exactly 0.

# %%
clip = data.make_clip("square", "red", "right", frames=VAE_FRAMES, size=VAE_SIZE, seed=0).video[None]  # 1 3 T H W
wan_vae = jitter_constants_(presets.build("wan2.1-vae-tiny", device="cpu")).eval()


def in_pixel_time(latent):
    """`B C T' h w` → `B C (1 + 4(T'−1)) h w`: latent frame 0 for pixel frame 0, then each latent frame 4×."""
    return torch.cat([latent[:, :, :1], repeat(latent[:, :, 1:], "b c t h w -> b c (t four) h w", four=4)], dim=2)


ENCODERS = {"CogVideoX VAE, whole clip (official)": lambda v: vae.encode(v, chunked=False),
            "CogVideoX VAE, 9/8/8 chunks (diffusers)": lambda v: vae.encode(v, chunked=True),
            "Wan VAE (RMSNorm), whole clip": lambda v: wan_vae.encode(v, chunked=False)}
probe_t = list(range(0, VAE_FRAMES - 1, 4))  # pixel frames that end a latent frame: 0, 4, 8, …
with torch.no_grad():
    whole, chunked = vae.encode(clip, chunked=False), vae.encode(clip)
    drift = ((chunked - whole).abs().amax(dim=(0, 1, 3, 4)) / whole.abs().max()).numpy()  # per latent frame
    leaks = {name: [future_leak(lambda v: in_pixel_time(fn(v)), clip, t) for t in probe_t]
             for name, fn in ENCODERS.items()}
    decoded_whole, decoded_chunked = vae.decode(whole, chunked=False), vae.decode(whole)
    decode_drift = ((decoded_chunked - decoded_whole).abs().max() / decoded_whole.abs().max()).item()
    wan_exact = (wan_vae.encode(clip) - wan_vae.encode(clip, chunked=False)).abs().max().item()

chunked_leak = dict(zip(probe_t, leaks["CogVideoX VAE, 9/8/8 chunks (diffusers)"]))
assert drift.min() > 1e-3 and wan_exact < 1e-5  # Wan: the same up to float rounding
assert all(leak > 1e-3 for leak in leaks["CogVideoX VAE, whole clip (official)"])
assert all(leak == 0.0 for leak in leaks["Wan VAE (RMSNorm), whole clip"])
assert chunked_leak[8] == 0.0 and chunked_leak[4] > 1e-3  # causal at a chunk border only

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
starts = [1 + (a - 1) // 4 if a else 0 for a, _ in chunk_spans(VAE_FRAMES, 8)]
axes[0].bar(range(len(drift)), drift, color="tab:red")
for s in starts[1:]:
    axes[0].axvline(s - 0.5, color="0.3", linestyle=":")
axes[0].set(xlabel="latent frame (dotted: a new encoder chunk)", ylabel="max |chunked − whole| / max |whole|",
            title=f"GroupNorm drift: chunked vs one pass, {VAE_FRAMES} frames")
width = 0.8 / len(leaks)
for i, (name, values) in enumerate(leaks.items()):
    where = np.arange(len(probe_t)) + (i - 1) * width
    bars = axes[1].bar(where, values, width, label=name)
    for x_bar, value in zip(where, values):
        if value == 0.0:  # no bar on a log axis: write the exact zero instead
            axes[1].text(x_bar, 2e-4, "0", ha="center", va="bottom", fontsize=9, color=bars.patches[0].get_facecolor())
axes[1].set_yscale("log")
axes[1].set_ylim(1e-4, 1e3)
axes[1].set_xticks(range(len(probe_t)), [f"t = {t}" for t in probe_t])
axes[1].set(ylabel="future_leak: max change of latents ≤ t",
            title="frames after t replaced: do earlier latents move?")
axes[1].legend(fontsize=7, loc="upper right")
plt.close(fig)
fig

# %% [markdown]
# Reading it. The single pass (what the official code runs) is **not causal**: latent frame 0 moves when
# the last frames change, because every GroupNorm saw them. The 9/8/8 chunks are causal exactly at a
# chunk border (t = 8: frames 0–8 were one chunk) and not inside a chunk. The two disagree by
# several percent of the latent's range on this tiny VAE (how much on the real one depends on its trained
# weights — the size of the effect, not its existence); Wan's RMSNorm VAE gives exactly 0 everywhere and
# its chunked pass equals its single pass up to float rounding. The decoder drifts too: chunked (3, 2, 2,
# …) and one pass differ by this much on the same latents:

# %%
display(viz.table([{"pass": "encode: 9/8/8 chunks vs one pass", "max relative difference": f"{drift.max():.1%}"},
                   {"pass": "decode: 3/2/2 latent chunks vs one pass",
                    "max relative difference": f"{decode_drift:.1%}"},
                   {"pass": "Wan VAE: chunked vs one pass (absolute)", "max relative difference": f"{wan_exact:.0e}"}]))
assert decode_drift > 1e-3
assert future_leak(nn.GroupNorm(4, 16), torch.randn(1, 16, 5, 4, 4, generator=g), t=1) > 0.05
assert future_leak(ChannelRMSNorm(16), torch.randn(1, 16, 5, 4, 4, generator=g), t=1) == 0.0

# %% [markdown]
# Tiling (`tiled_encode` / `tiled_decode`, notebook 04 §8) is one more approximation of the same kind at
# high resolution: each tile's GroupNorms see only that tile.
#
# What the transformer sees is the latent **mean** times a scaling factor (the 2B's 1.15258426; the 5B and
# 1.5 use 0.7: `model.scale_factor` in the yaml files) — `encode` returns exactly that, `decode` divides it
# out. Passing the clip in `B T C H W` instead of `B C T H W` is a `ValueError` that says which rearrange
# to use:

# %%
with torch.no_grad():
    mean, _ = vae.encode_moments(clip)
    assert_close(vae.encode(clip), mean * vae.config.scaling_factor)
try:
    vae.encode(rearrange(clip, "b c t h w -> b t c h w"))
except ValueError as error:
    print("ValueError:", error)
print(f"scaling factor: {vae.config.scaling_factor} (2B); 5B and 1.5: 0.7")

# %% [markdown]
# ## 7. The four published transformers and the VAE at full size
#
# Built on the meta device by `minivid.presets`, counted to the parameter, compared with the official
# counts (the diffusers builds of the same configs agree: `tests/test_cogvideox_parity.py`), and split by
# module:

# %%
MODELS = {"cogvideox-2b": 1_693_783_872, "cogvideox-5b": 5_570_283_072, "cogvideox-5b-i2v": 5_570_479_680,
          "cogvideox1.5-5b": 5_570_676_352}
GROUPS = {  # module: what a parameter name contains (first match wins)
    "patch embedding": ("patch_embedding",),
    "text projection (4096 → D)": ("text_projection",),
    "time MLP": ("time_embedding", "ofs_embedding"),
    "attention q, k, v, out": (".attn.to_",),
    "qk LayerNorms": (".attn.norm_",),
    "MLP (4×, GELU-tanh)": (".mlp.",),
    "block LayerNorms": ("attn_norm", "mlp_norm"),
    "expert adaLN (12·D per block)": (".modulation.",),
    "final norm + head": ("final_norm", "head"),
}


tables_by_model = {name: presets.parameter_breakdown(name, GROUPS) for name in MODELS}  # as in notebook 15
display(viz.count_table({name.removeprefix("cogvideox"): tables_by_model[name] for name in MODELS}))
for name, official in MODELS.items():
    assert sum(tables_by_model[name].values()) == presets.count_params(name) == official
assert presets.count_params("cogvideox-vae") == 215_583_907
config_rows = []
for name in MODELS:
    cfg = presets.COGVIDEOX_CONFIGS[name]
    config_rows.append({"model": name, "D": cfg.dim, "heads × head dim": f"{cfg.heads} × {cfg.head_dim}",
                        "blocks": cfg.layers, "patch (t, h, w)": str(cfg.patch_size), "in channels": cfg.in_channels,
                        "text tokens": cfg.text_length, "positions": cfg.positions})
display(viz.table(config_rows))
for name in ("cogvideox-2b", "cogvideox-5b"):
    core = tables_by_model[name]["attention q, k, v, out"] + tables_by_model[name]["MLP (4×, GELU-tanh)"]
    adaln = tables_by_model[name]["expert adaLN (12·D per block)"]
    print(f"{name}: attention + MLP {core / MODELS[name]:.0%}, expert adaLN {adaln / MODELS[name]:.0%}")
assert MODELS["cogvideox1.5-5b"] - MODELS["cogvideox-5b"] == 64 * 3072 + (64 * 3072 + 64)  # tubes in, tubes out
vae_full = presets.build("cogvideox-vae")
print(f"CogVideoX VAE: {sum(p.numel() for p in vae_full.encoder.parameters()):,} encoder + "
      f"{sum(p.numel() for p in vae_full.decoder.parameters()):,} decoder = {presets.count_params('cogvideox-vae'):,}")

# %% [markdown]
# The attention projections and the MLP are most of each model, the expert adaLN almost all the rest
# (printed above); "5B" has 5.57B parameters and "2B" 1.69B. The 1.5 model is 393,280 heavier than the 5B:
# its patch embedding reads 2×2×2 tubes (16 · 8 inputs instead of 16 · 4) and its head writes them.
#
# **What one step costs.** `presets.cost(name, frames, height, width)` as in notebook 15. 49 frames at
# 480×720 give 13 × 30 × 45 = 17,550 video tokens; with the 226 text tokens the joint sequence is
# **17,776** tokens long — in every one of the 30 or 42 blocks. (1.5 generates 81 frames at 768×1360: 21
# latent frames, which its 2-frame tubes cannot split, so the pipeline samples 22 and drops the first one
# afterwards — `additional_frames` in diffusers, `z[:, :, 1:]` in the SAT `decode_first_stage`; 85 frames
# give the same 22 here.)

# %%
SIZES = [("cogvideox-2b", 49, 480, 720), ("cogvideox-5b", 49, 480, 720), ("cogvideox-5b-i2v", 49, 480, 720),
         ("cogvideox1.5-5b", 85, 768, 1360)]
costs = {size: presets.cost(*size) for size in SIZES}
display(viz.table([{"step of": f"{name.removeprefix('cogvideox')} {f}×{h}×{w}",
                    "latent C×T×H×W": "×".join(map(str, c.latent_shape)),
                    "video + text tokens": f"{c.tokens:,} + {presets.COGVIDEOX_CONFIGS[name].text_length}",
                    "TFLOPs / step": f"{c.flops / 1e12:,.0f}", "attention": f"{c.flops_attention / c.flops:.0%}",
                    "weights bf16 (GiB)": f"{c.weight_bytes['bfloat16'] / GiB:.1f}",
                    "activations (GiB)": f"{c.activation_bytes / GiB:.1f}",
                    "eager L×L (GiB)": f"{c.attention_matrix_bytes / GiB:.0f}"}
                   for (name, f, h, w), c in costs.items()]))
c5 = costs["cogvideox-5b", 49, 480, 720]
assert c5.tokens == 17_550 == token_count(49, 480, 720) and c5.tokens + 226 == 17_776

# %% [markdown]
# **Why joint attention costs what it does.** Per block, `QKᵀ` and `AV` are each `L² · D` multiply-adds
# over the *joint* length L = 17,776, so attention is `4 · L² · D` FLOPs per block — quadratic in L, while
# everything else (q/k/v/out, the MLP, 12·D of modulation) is linear in L. The 226 text tokens are 1.3% of
# the sequence but take part in every query and every key: they add `(17,776² − 17,550²)/17,550² = 2.6%` to
# the attention FLOPs (a Wan-style cross-attention would add ~1.3%). What grows is the video: the attention
# share climbs with the clip length, and the `heads × L × L` score matrix of an eager
# `softmax(QKᵀ)V` is 28 GiB per block for the 5B — fused attention is mandatory here too.

# %%
cfg5 = presets.COGVIDEOX_CONFIGS["cogvideox-5b"]
L_joint = 17_550 + 226
assert forward_flops(cfg5, (13, 30, 45), 226)["attention"] == 42 * 4 * L_joint**2 * 3072
text_share = forward_flops(cfg5, (13, 30, 45), 226)["attention"] / forward_flops(cfg5, (13, 30, 45), 0)["attention"] - 1
assert abs(text_share - (L_joint**2 / 17_550**2 - 1)) < 1e-12
frame_counts = list(range(9, 82, 8))
by_frames = [presets.cost("cogvideox-5b", n, 480, 720) for n in frame_counts]
fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
ax.stackplot(frame_counts, [c.flops_linear / 1e12 for c in by_frames], [c.flops_attention / 1e12 for c in by_frames],
             labels=["projections, MLP, adaLN (∝ L)", "attention QKᵀ, AV (∝ L²)"], alpha=0.8)
ax.axvline(49, color="k", linestyle=":", linewidth=1)
ax.set(xlabel="frames at 480×720", ylabel="TFLOPs per step", title="CogVideoX-5B: one denoising step")
ax.legend(fontsize=8, loc="upper left")
plt.close(fig)
display(fig)
video_flops = 50 * 2 * c5.flops  # 50 steps, conditional + unconditional
print(f"226 text tokens add {text_share:.1%} to the attention; one 49-frame 5B video = {video_flops / 1e15:.0f} PFLOP "
      f"= {video_flops / (SUSTAINED_TFLOPS * 1e12) / 60:.1f} min at {SUSTAINED_TFLOPS} TFLOPS sustained")

# %% [markdown]
# ## 8. Loading a diffusers-layout checkpoint folder
#
# `CogVideoX-2b/transformer/` and its siblings are a `config.json` and `diffusion_pytorch_model*.safetensors`.
# `minivid.interop.cogvideox.from_pretrained(folder)` reads the config (`use_rotary_positional_embeddings`,
# `use_learned_positional_embeddings` → minivid's `positions`), builds the model on the meta device,
# renames the keys and reassembles the expert adaLN: diffusers splits each block's 12·D Linear into
# `norm1.linear` (the attention half: video 0:3, text 6:9) and `norm2.linear` (the MLP half: video 3:6,
# text 9:12). Here on a tiny random 5B-style model that diffusers itself writes; nothing is downloaded.
# diffusers takes its RoPE tables from the pipeline, so they are built here as the pipeline builds them.

# %%
if HAVE_DIFFUSERS:
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    from minivid.interop.cogvideox import from_pretrained
    from minivid.interop.cogvideox_vae import from_pretrained as vae_from_pretrained

    torch.manual_seed(0)
    theirs = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16,
                                         time_embed_dim=64, text_embed_dim=32, num_layers=2, sample_width=16,
                                         sample_height=16, sample_frames=17, patch_size=2, max_text_seq_length=16,
                                         use_rotary_positional_embeddings=True).eval()
    with torch.no_grad():  # constant-initialised parameters (LayerNorms, the zero adaLN) get noise
        for p in theirs.parameters():
            if p.unique().numel() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as folder:
        theirs.save_pretrained(folder)
        print("diffusers wrote:", ", ".join(sorted(f.name for f in Path(folder).iterdir())))
        loaded = from_pretrained(folder)
    x_d = torch.randn(1, 3, 16, 6, 10, generator=g)  # B F C H W: an odd 3 × 3 × 5 token grid
    t_d, text_d = torch.tensor([937]), torch.randn(1, 16, 32, generator=g)
    rotary = get_3d_rotary_pos_embed(32, ((0, 0), (3, 5)), (3, 5), 3, use_real=True)  # integer positions
    with torch.no_grad():
        expected_d = theirs(x_d, text_d, t_d, image_rotary_emb=rotary).sample
        got_d = loaded(x_d, t_d, text_d)
    relative = ((got_d - expected_d).abs().max() / expected_d.abs().max()).item()
    print(f"minivid from_pretrained vs diffusers: max |difference| / max |output| = {relative:.1e}")
    assert relative < 1e-5
    ours_12 = loaded.blocks[0].modulation[1].weight.chunk(12)
    norm1 = theirs.transformer_blocks[0].norm1.linear.weight.chunk(6)
    norm2 = theirs.transformer_blocks[0].norm2.linear.weight.chunk(6)
    assert torch.equal(ours_12[2], norm1[2]) and torch.equal(ours_12[8], norm1[5])  # video / text attention gates
    assert torch.equal(ours_12[5], norm2[2]) and torch.equal(ours_12[11], norm2[5])  # video / text MLP gates

    their_vae = AutoencoderKLCogVideoX(block_out_channels=(16, 32, 32, 32), latent_channels=16, layers_per_block=1,
                                       norm_num_groups=4, sample_height=32, sample_width=32).eval()
    with tempfile.TemporaryDirectory() as folder:
        their_vae.save_pretrained(folder)
        loaded_vae = vae_from_pretrained(folder)
    with torch.no_grad():
        clip9 = clip[:, :, :9, :32, :32]
        expected_mean = their_vae.encode(clip9).latent_dist.mean * their_vae.config.scaling_factor
        assert_close(loaded_vae.encode(clip9), expected_mean, rtol=1e-4, atol=1e-5)
    print("VAE folder: minivid encode == diffusers latent_dist.mean × scaling_factor")
else:
    print("diffusers is not installed (it is in the `notebooks` extra): this cell would build a tiny random "
          "CogVideoXTransformer3DModel and AutoencoderKLCogVideoX, save_pretrained() them to temporary folders, "
          "load them with minivid's from_pretrained and compare the outputs.")

# %% [markdown]
# ## 9. Sampling the CogVideoX way
#
# CogVideoX is a DDPM-family model, not a flow model: it predicts **v** (`v = √ᾱ·ε − √(1−ᾱ)·x0`) on the
# SD β-schedule, rescaled so the last step has **zero SNR** (pure noise; notebook 01), after an **SNR shift**
# that divides every step's SNR by 3 for the 2B (`ZeroSNRDDPMDiscretization(shift_scale=3.0)` in
# `cogvideox_2b.yaml`; 1.0 for the 5B): training and sampling spend more time at high noise, the DDPM
# counterpart of the flow shift of Wan. The official SAT configs sample with DPM-Solver++(2M)
# (`VPSDEDPMPP2MSampler`, 50 steps). On the diffusers side, the conversion script writes a
# `CogVideoXDDIMScheduler` (v-prediction, "trailing" steps so that sampling starts at t = 999, the zero-SNR
# step), and the official demo (`inference/cli_demo.py`) recommends it for the 2B and
# `CogVideoXDPMScheduler` for the 5B. minivid has the DDIM one (`sample_ddim`, equal to diffusers' step by
# step in `tests/test_diffusion_parity.py`).

# %%
schedules = {s: noise_schedule("scaled_linear", 1000, 0.00085, 0.012, zero_terminal_snr=True, snr_shift_scale=s)
             for s in (1.0, 3.0)}
plain = {s: noise_schedule("scaled_linear", 1000, 0.00085, 0.012, snr_shift_scale=s, dtype=torch.float64)
         for s in (1.0, 3.0)}  # without the rescale, in float64
assert_close(plain[3.0].snr(), plain[1.0].snr() / 3)  # the shift divides every SNR by 3 …
assert schedules[3.0].alphas_cumprod[-1] == 0 == schedules[1.0].alphas_cumprod[-1]  # … and the rescale ends at SNR 0
visited = schedules[3.0].timesteps(SAMPLE_STEPS, "trailing")
assert visited[0] == 999
print(f"SNR shift 3 moves the step where SNR = 1 from t = {int((schedules[1.0].snr() < 1).nonzero()[0])} "
      f"to t = {int((schedules[3.0].snr() < 1).nonzero()[0])}; {SAMPLE_STEPS} trailing steps visit "
      f"{visited.tolist() if SAMPLE_STEPS <= 10 else str(visited[:4].tolist())[:-1] + ', …]'}")

# %% [markdown]
# **Dynamic guidance.** The official `DynamicCFG` (`sat/sgm/modules/diffusionmodules/guiders.py`) is
# `1 + scale · (1 − cos(π · (i/n)⁵)) / 2` — no guidance at the start, `1 + scale` at the end, rising late
# (scale 6, exponent 5, 50 steps in every config). That is what `minivid.diffusion.dynamic_guidance_scale`
# computes from the step index i (and, with `timestep=t`, what the releases run). But look at what the samplers put in place of i: the SAT sampler calls it
# with `step_index=self.num_steps - timestep` (`VideoDDIMSampler.denoise`), where `timestep` is the
# *training* step (999, 979, …, 19), and the diffusers pipeline does the same
# (`(num_inference_steps - t.item()) / num_inference_steps`). `(50 − 999)/50` raised to the 5th power is
# about −2.5 million, so the cosine lands anywhere: the scale that actually runs jumps between 1 and 7 from
# step to step, and is close to 1 on the last few. Both curves, for the official 50 steps:

# %%
n_official = 50
sat_timesteps = np.linspace(999, 0, n_official, endpoint=False).astype(int)  # generate_roughly_equally_spaced_steps
assert sat_timesteps.tolist() == noise_schedule().timesteps(n_official, "trailing").tolist()
as_designed = [dynamic_guidance_scale(6.0, i, n_official) for i in range(n_official)]
as_run = [1 + 6.0 * (1 - math.cos(math.pi * ((n_official - t) / n_official) ** 5.0)) / 2 for t in sat_timesteps]
assert as_run == [dynamic_guidance_scale(6.0, i, n_official, timestep=t) for i, t in enumerate(sat_timesteps)]
assert as_designed[0] == 1.0 and all(a <= b for a, b in zip(as_designed, as_designed[1:]))
assert max(abs(a - b) for a, b in zip(as_designed, as_run)) > 3 and as_run[-1] < 1.2
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
for s, sched in schedules.items():
    log_snr = sched.snr().log10()
    finite = torch.isfinite(log_snr)
    line, = axes[0].plot(torch.arange(1000)[finite], log_snr[finite], label=f"shift {s:g} ({'2B' if s == 3 else '5B'})")
    axes[0].plot(visited[1:], log_snr[visited[1:]], "o", color=line.get_color(), markersize=3)
axes[0].axhline(0, color="0.7", linewidth=0.8)
axes[0].set(xlabel="training step t (dots: the steps visited; t = 999 has SNR 0)", ylabel="log₁₀ SNR",
            title="zero-terminal-SNR schedule, SNR shift 1 and 3")
axes[0].legend(fontsize=8)
axes[1].plot(as_designed, marker="o", markersize=3, label="DynamicCFG's formula with the step index (minivid)")
axes[1].plot(as_run, marker=".", markersize=4, linewidth=0.8,
             label="with num_steps − timestep (SAT sampler, diffusers; minivid's timestep=)")
axes[1].set(xlabel="sampling step", ylabel="guidance scale", title="dynamic CFG, scale 6, exponent 5, 50 steps")
axes[1].legend(fontsize=7, loc="upper left")
plt.close(fig)
fig

# %% [markdown]
# The loop itself, written out: at every visited step run the model on the doubled batch `[uncond ; cond]`,
# combine with the guidance scale of that step, and take a DDIM step on the v-prediction. With a constant
# scale it must equal minivid's `sample_ddim` driven by `cfg_model` — checked first. At t = 999 the SNR is
# 0 (`√ᾱ = 0`), so the predicted clean latent is `x̂0 = √ᾱ·x − √(1−ᾱ)·v = −v`: only a v- (or x0-)
# predicting model can say anything there, an ε-predictor could not.

# %%
def sample_cogvideox(model_s, prompt_states, null_states, latent_shape, num_steps, scale=6.0, dynamic=True,
                     shift=3.0, seed=0):
    """v-prediction DDIM over the shifted zero-terminal-SNR schedule with (dynamic) CFG → latent `B F C H W`."""
    schedule = noise_schedule("scaled_linear", 1000, 0.00085, 0.012, zero_terminal_snr=True, snr_shift_scale=shift)
    steps = schedule.timesteps(num_steps, "trailing")  # 999, …: starts at the zero-SNR step
    alpha_bar, alpha_bar_next = schedule.step_alpha_bars(steps)
    x = torch.randn((prompt_states.shape[0], *latent_shape), generator=torch.Generator().manual_seed(seed))
    context = torch.cat([null_states, prompt_states])  # 2B Lt text_dim: [uncond ; cond]
    for i, t in enumerate(steps):
        with torch.no_grad():
            v_uncond, v_cond = model_s(torch.cat([x, x]), t.expand(2 * x.shape[0]), context).chunk(2)
        w = dynamic_guidance_scale(scale, i, num_steps) if dynamic else scale
        x = ddim_step(cfg_combine(v_cond, v_uncond, w), x, alpha_bar[i], alpha_bar_next[i], "v")
    return x


sampler_model = jitter_(presets.build("cogvideox-5b-tiny", device="cpu"), std=0.02).eval()
prompt_states = torch.randn(1, TEXT_TOKENS, 32, generator=g)  # stands in for T5 states of a prompt
null_states = torch.randn(1, TEXT_TOKENS, 32, generator=g)  # and of the empty prompt (T5("") is not zeros)
latent_shape = (SAMPLE_LATENT[0], 16, SAMPLE_LATENT[1], SAMPLE_LATENT[2])  # F C H W
ours_const = sample_cogvideox(sampler_model, prompt_states, null_states, latent_shape, SAMPLE_STEPS, dynamic=False)
x_T = torch.randn((1, *latent_shape), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    reference = sample_ddim(cfg_model(sampler_model, prompt_states, null_states, 6.0), x_T, schedules[3.0],
                            SAMPLE_STEPS, prediction="v", spacing="trailing")
assert_close(ours_const, reference)
with torch.no_grad():
    v_first = sampler_model(x_T, torch.tensor([999]), prompt_states)
assert_close(predicted_x0(v_first, x_T, schedules[3.0].alphas_cumprod[999], "v"), -v_first)
sampled = sample_cogvideox(sampler_model, prompt_states, null_states, latent_shape, SAMPLE_STEPS)
assert sampled.shape == (1, *latent_shape) and torch.isfinite(sampled).all()
print(f"the written-out loop == sample_ddim + cfg_model (constant scale); at t = 999, x̂0 = −v; "
      f"dynamic-CFG sample {tuple(sampled.shape)} B F C H W, mean {sampled.mean():.2f}, std {sampled.std():.2f}")

# %% [markdown]
# With random weights there is nothing to generate — the sample is whatever the untrained velocity field
# makes of the noise. Three of the 16 latent channels of the starting noise and of the sample, shown as RGB
# (`B F C H W` rearranged to the `B C T H W` the viewers take); a real pipeline would decode all 16 with the
# VAE of §6.

# %%
def display_scale(z):
    """Latent channels 0–2 of `B F 16 H W` as RGB in [-1, 1], frames as time."""
    return (rearrange(z[:, :, :3], "b f c h w -> b c f h w") / 2).clamp(-1, 1)


viz.frame_grid(display_scale(x_T), display_scale(sampled), titles=["noise x_T", f"after {SAMPLE_STEPS} DDIM steps"],
               size=1.4)

# %% [markdown]
# ## 10. Where the popular accounts get it wrong
#
# *Controllable Video Generation* (Lu Yuxin's survey blog post) summarises CogVideoX from its paper; checked
# against `THUDM/CogVideo` (commit `e519ece`) and diffusers. With the evidence above:
#
# | claim (translated) | the official code | shown in |
# | --- | --- | --- |
# | "CogVideoX encodes each coordinate (x, y, t) with rotary position encoding and concatenates them along the channels" | only the 5B family: `cogvideox_2b.yaml` uses `Basic3DPositionEmbeddingMixin`, a frozen 3D sin-cos table with interpolation 1.875 (`zai-org/CogVideo` #64); the 5B-I2V adds a learned absolute table | §5 |
# | "multi-resolution frame pack … uses 3D-RoPE to represent positions of videos of different resolutions and durations" | true of RoPE, not of the released 5B-I2V: its learned `[226 ; 13 × 30 × 45]` table fixes the resolution and the prompt length (diffusers raises, minivid raises) | §5 |
# | "the two modalities each do their own projection and AdaLN, then interact through attention" | one attention and one MLP per layer (`layer.attention`, `layer.mlp` in `AdaLNMixin.layer_forward`), shared LayerNorms too; only the 12·D modulation is per modality. Separate weights per modality is HunyuanVideo's double stream | §2, §4 |
# | "patchify does not patch along time, so that images and videos can be trained together" | CogVideoX 1.0 only; 1.5 patches 2×2×2 tubes (`patch_size: [2, 2, 2]` in `cogvideox1.5_5b.yaml`) and pads the latent frames to an even count | §7 |
# | "the 3D causal VAE pads only in front, so no future information leaks to the current or earlier frames" | the convs are causal (and pad with frame 0, not zeros), but every GroupNorm pools over all frames it is given: the official single-pass encode lets the last frame move latent frame 0; diffusers' 8-frame batches never look at a later chunk, but inside a chunk they pool too, and their latents differ from the official pass | §6 |
#
# And two facts about the released code that the accounts pass over:
#
# - **Dynamic CFG as it runs.** `DynamicCFG`'s formula ramps the guidance up over the steps, but the SAT
#   sampler and the diffusers pipeline both feed it `num_steps − timestep`, so the scale that runs jumps
#   between 1 and 7 (§9). minivid's `dynamic_guidance_scale` is the formula with the step index — the
#   intent — by default, and the released behaviour with `timestep=`.
# - **Encode: one pass or chunks.** The official encoder sees the whole clip (§6); diffusers' default 8-frame
#   batching is an approximation of it whose size depends on the weights.
#
# Evidence that runs for the row on shared weights: a block holds one attention and one MLP — its parameter
# count is the shared formula, and a "two-stream" block would be almost twice as big.

# %%
block5 = presets.build("cogvideox-5b").blocks[0]
d, T = 3072, 512
shared_formula = (4 * (d * d + d) + 2 * 2 * 64  # q, k, v, out; the qk LayerNorms (per head: 64 weights + 64 biases)
                  + (d * 4 * d + 4 * d) + (4 * d * d + d)  # MLP
                  + 2 * 2 * d  # two shared LayerNorms
                  + (T + 1) * 12 * d)  # expert adaLN
assert sum(p.numel() for p in block5.parameters()) == shared_formula
two_stream = shared_formula + 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
assert [type(m).__name__ for m in block5.children()] == ["LayerNorm", "SelfAttention", "LayerNorm", "Sequential",
                                                         "Sequential"]  # attn_norm, attn, mlp_norm, mlp, modulation
print(f"CogVideoX-5B block: {shared_formula:,} parameters = one shared attention + MLP + 12·D adaLN; "
      f"with per-modality attention and MLP it would be {two_stream:,}")

# %% [markdown]
# ## 11. The bake-off: a tiny CogVideoX against the tiny Wan
#
# Notebook 11 trains a tiny text-to-video model: a word-level text encoder, Wan's transformer at width
# 128 (4 blocks, 2 heads, 1×2×2 patches), flow matching on the tiny VAE's latents of the course's
# synthetic clips. Swap its transformer for CogVideoX's at the same width, depth, heads and patches —
# `minivid.models.tiny_t2v.TINY_COGVIDEOX`: joint `[text ; video]` attention, expert adaLN, 3D RoPE as in
# the 5B, the official 4× MLP and `time_embed_dim / dim` ratio — and keep **everything else**: tokenizer
# and text encoder, the 10,000 training clips and their latents, the flow-matching objective (not
# CogVideoX's v-prediction DDPM, so that the comparison is about the architecture), the optimiser, the
# 12,000 steps of 32 clips, the sampler (20 Euler steps, shift 3, guidance 4). Both were trained by the
# same command with only `--task` changed (`data_samples/README.md`). Then both are read by the strict
# benchmark of notebook 11: shape and colour must hold on 90% of the frames.

# %%
families = {"wan": "t2v-tiny", "cogvideox": "t2v-tiny-cogvideox"}
tiny = evaluation.load_shipped(list(families))
infos = {name: t2v_task.read_info(t2v_task.SHIPPED_FILES[task]) for name, task in families.items()}
assert isinstance(tiny["cogvideox"].transformer, CogVideoXModel)
assert infos["wan"]["train"] == infos["cogvideox"]["train"] and infos["wan"]["run"]["data"] == infos["cogvideox"]["run"]["data"]
display(viz.table(evaluation.training_table(tiny)))
evaluation.loss_curves(list(families))

# %% [markdown]
# The strict rows, on the same prompts and the same noise (CI mode measures a small sample;
# `python scripts/eval_t2v.py --model cogvideox` gives the full row with 4 seeds):

# %%
rows = [evaluation.benchmark(name, seeds=BAKE_SEEDS, combinations=BAKE_COMBOS) for name in families]
display(Markdown(evaluation.table(rows)))
for row in rows:  # strict "all three" on both sets; an untrained model scores about 1%
    assert min(row.scores["seen"]["all"], row.scores["held-out"]["all"]) >= 0.5, (row.family, row.scores)

# %% [markdown]
# The same held-out prompts and seeds through both models, side by side (drag the slider):

# %%
evaluation.side_by_side(tiny, [data.caption(*combo) for combo in t2v_task.HELD_OUT[:2]], seed=0)

# %% [markdown]
# And the CogVideoX row's clips — seen, held out, and its failures — with what the analyser read in
# every frame:

# %%
evaluation.grid(rows[1])

# %% [markdown]
# **What the bake-off shows.** The full rows (`python scripts/eval_t2v.py --model wan` and `--model
# cogvideox` on the shipped files: 18 seen and 18 held-out combinations, seeds 0–3, 72 clips a set),
# and the accuracy of each run's checkpoints along the way (seeds 0–1, 36 clips a set):
#
# | | tiny Wan | tiny CogVideoX |
# |---|---|---|
# | seen, all three (strict) | **93.1%** | **91.7%** |
# | held out, all three (strict) | **90.3%** | **81.9%** |
# | held out: shape / colour | 90.3% / 100% | 86.1% / 93.1% |
# | identity drift, seen / held out | 2.0% / 3.2% | 2.1% / 5.1% |
# | training loss (mean of the last 500 steps) | 0.272 | 0.238 |
# | training minutes, same 12,000 steps (2-core CPU) | 21.9 | 32.6 |
# | held out, all three, at 4k / 6k / 8k / 10k / 12k steps | 19 / 75 / 94 / 92 / 92% | 25 / 64 / 83 / 81 / 81% |
#
# On the seen combinations the two are level (one standard error on 72 clips is about 3 points). On
# held-out combinations, the words it has met only apart, Wan is ahead by 8 points — 7 failed clips
# against 13 — and it was ahead at every checkpoint from 8,000 steps on, while CogVideoX's training
# loss was the lower one throughout: CogVideoX fits the captions it was trained on at least as well
# and composes new ones less well. Its held-out failures are mostly colour: the blue triangle bouncing
# or moving right (combinations training never showed) drifts to another colour on 12–47% of its
# frames. Wan's held-out colour is right on every clip.
#
# Why we think so — a reading of the mechanisms, not a proof (one training seed per family; an
# ablation would settle it):
#
# - **Cross-attention keeps a word's meaning fixed; joint attention rewrites it.** In Wan the text
#   states come out of the text encoder once, and every block *reads* them; "blue" is the same vector
#   whatever else the prompt says (§3: text never attends). In CogVideoX the text tokens are part of
#   the sequence: every block updates them from the other words *and from the noisy video tokens*, so
#   what "blue" is after block 1 depends on "triangle" and "bouncing" and on the noise. A held-out
#   combination then meets text states no training clip produced — which is where CogVideoX slips.
# - **Expert adaLN spends capacity on the text stream.** Half of each block's 12·D modulation serves
#   the six text tokens; Wan's shared modulation spends nothing on text. With 80 video tokens and a
#   15-word vocabulary the extra text capacity has little to learn that generalises, and the lower
#   training loss fits that picture of a model that memorises its caption patterns a little better.
# - **Cost:** CogVideoX's MLP is 4× wide (its official ratio; the tiny Wan's is 2×) and every
#   sub-layer runs over 86 tokens instead of 80, so the same steps took 1.5× the time. At equal
#   *minutes* Wan would have been ahead by more.
#
# At full size CogVideoX's choice has other reasons — T5's 226 tokens are rich, and letting them adapt
# to the video is the point of "expert" modulation — so this is a finding about tiny models on a
# 15-word language, not a verdict on CogVideoX.

# %% [markdown]
# ## Summary
#
# - A CogVideoX block: shared LayerNorm → per-modality shift/scale → one attention over `[text ; video]`
#   (text first, LayerNorm qk-norm per head, RoPE on video only in the 5B, no mask) → per-modality gate;
#   the same for the 4× GELU-tanh MLP. The 12·D modulation is `Linear(512, 12·D)`, video's six then text's
#   six, zero-initialised. Block and whole network built from scratch and proven equal to minivid.
# - Every token attends to every token, text included; in Wan text never attends and leaves each block
#   unchanged.
# - Positions: 2B fixed 3D sin-cos (spatial ÷ 1.875), 5B RoPE 16/24/24 on video only, 5B-I2V RoPE + a
#   learned 54.6M-number buffer that fixes the resolution, 1.5 RoPE on 2×2×2 tubes.
# - VAE: causal convs padded with frame 0 (an image encodes like a held clip), GroupNorm everywhere: the
#   official single pass is not causal, chunked passes differ from it; Wan's RMSNorm VAE is exact.
# - Full sizes (meta device, exact): 2B 1,693,783,872; 5B 5,570,283,072; 5B-I2V 5,570,479,680; 1.5-5B
#   5,570,676,352; VAE 215,583,907. 49 frames at 480×720: 17,550 + 226 = 17,776 tokens; the 5B needs
#   332 TFLOPs per step, half of it attention.
# - Sampling: v-prediction, zero terminal SNR, SNR shift 3 (2B) / 1 (5B), 50 steps from t = 999, guidance 6;
#   the dynamic-CFG formula ramps up, the released samplers feed it the timestep.
# - Bake-off at an equal budget (12,000 steps of 32 clips, same data, objective and sampler): the tiny
#   Wan and the tiny CogVideoX are level on seen prompts (93.1% vs 91.7% strict), Wan composes
#   held-out prompts better (90.3% vs 81.9%), and CogVideoX took 1.5× the training time.
#
# ## Check yourself
#
# 1. Which weights of a CogVideoX block do text and video tokens share, and which not?
# 2. Why is a block of a freshly built CogVideoX exactly the identity, while the model's output is not zero?
# 3. Which CogVideoX release can be run at another resolution than it was trained at, and which cannot? Why?
# 4. A still image and a clip holding that image: why do they get the same latents in the CogVideoX VAE,
#    and why would they not with zero padding?
# 5. Why does encoding a clip in 8-frame chunks give other latents than encoding it at once, in CogVideoX but
#    not in Wan?
# 6. At t = 999 of a zero-terminal-SNR schedule, what does a v-prediction tell the sampler that an
#    ε-prediction could not?
#
# ## Exercises
#
# Each exercise has a cell for you. Where it says `answer_N = None`, put your answer and run the cell:
# `check` tells you whether it is right (and gives a hint if not). The worked solution is in the
# collapsed cell below each exercise; click it to open it.
#
# **Exercise 1.** CogVideoX-5B-I2V's learned position table covers the whole joint sequence at 49 frames,
# 480×720. How many numbers does it hold? Work it out from the shapes (text length, latent grid, patch,
# width); the cell checks it against the full-size build.

# %%
# Exercise 1: replace None with your answer, then run the cell; it tells you whether you are right
answer_1 = None
check(answer_1, presets.build("cogvideox-5b-i2v").learned_positions.numel(),
      "one D-wide vector per slot of [text ; video]: 226 text slots, and the video tokens of 13 latent frames "
      "of 60 × 90 cut into 2 × 2 patches; D = 48 heads × 64")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
solution_1 = (226 + 13 * (60 // 2) * (90 // 2)) * 48 * 64
check(solution_1, presets.build("cogvideox-5b-i2v").learned_positions.numel())
print(f"{solution_1:,} numbers = {solution_1 * 2 / 2**20:.0f} MiB in bf16, saved in the checkpoint as a buffer")

# %% [markdown]
# **Exercise 2.** With minivid's dynamic guidance (scale 6, exponent 5, 50 steps), at which step index does
# the scale first exceed half its final value's boost, `1 + 6/2 = 4`? Solve `cos(π x⁵) < 0` by hand first.

# %%
# Exercise 2: replace None with your answer (a step index 0–49), then run the cell
answer_2 = None
check(answer_2, next(i for i in range(50) if dynamic_guidance_scale(6.0, i, 50) > 4.0),
      "the scale is 1 + 3·(1 − cos(π (i/50)⁵)); it exceeds 4 when the cosine turns negative, "
      "i.e. when (i/50)⁵ > 1/2")

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2
solution_2 = math.ceil(50 * 0.5 ** (1 / 5) + 1e-9)  # (i/50)^5 > 1/2  ⇔  i > 50 · 2^(−1/5) = 43.5
check(solution_2, next(i for i in range(50) if dynamic_guidance_scale(6.0, i, 50) > 4.0))
print(f"step {solution_2} of 50: the first {solution_2} steps run with less than half the guidance boost")

# %% [markdown]
# **Exercise 3.** "Text first" is a convention, not a mask. Show it: run §2's scratch block on the sequence
# in the order `[video ; text]` (write a variant of its forward that takes the video first, or permute the
# tokens and the modulation), and check that every token's output is the same as with `[text ; video]`.

# %%
# Exercise 3: write your code here. The scratch block, the sequence and the RoPE angles of §2:
exercise_block, exercise_tokens = scratch_block, tokens  # B (Lt+Lv) D, text first; emb, text_len, angles as in §2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3
def video_first_forward(block, x, emb, video_len, angles):
    """The scratch block with the video tokens first: same modulation, same attention, another order."""
    (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp, t_shift_msa, t_scale_msa, t_gate_msa,
     t_shift_mlp, t_scale_mlp, t_gate_mlp) = (m[:, None] for m in block.modulation(emb).chunk(12, dim=1))
    video, text = x[:, :video_len], x[:, video_len:]
    attn_in = torch.cat([block.attn_norm(video) * (1 + scale_msa) + shift_msa,
                         block.attn_norm(text) * (1 + t_scale_msa) + t_shift_msa], dim=1)
    q = block.attn.norm_q(rearrange(block.attn.to_q(attn_in), "b l (h d) -> b h l d", h=block.attn.heads))
    k = block.attn.norm_k(rearrange(block.attn.to_k(attn_in), "b l (h d) -> b h l d", h=block.attn.heads))
    v = rearrange(block.attn.to_v(attn_in), "b l (h d) -> b h l d", h=block.attn.heads)
    q = torch.cat([rotate_pairs(q[:, :, :video_len], angles), q[:, :, video_len:]], dim=2)  # video is rotated
    k = torch.cat([rotate_pairs(k[:, :, :video_len], angles), k[:, :, video_len:]], dim=2)
    w = (torch.einsum("bhqd,bhkd->bhqk", q, k) / q.shape[-1] ** 0.5).softmax(dim=-1)
    attn_out = block.attn.to_out(rearrange(torch.einsum("bhqk,bhkd->bhqd", w, v), "b h l d -> b l (h d)"))
    video = video + gate_msa * attn_out[:, :video_len]
    text = text + t_gate_msa * attn_out[:, video_len:]
    mlp_out = block.mlp(torch.cat([block.mlp_norm(video) * (1 + scale_mlp) + shift_mlp,
                                   block.mlp_norm(text) * (1 + t_scale_mlp) + t_shift_mlp], dim=1))
    return torch.cat([video + gate_mlp * mlp_out[:, :video_len], text + t_gate_mlp * mlp_out[:, video_len:]], dim=1)


with torch.no_grad():
    text_first = exercise_block(exercise_tokens, emb, text_len, angles)
    video_first_in = torch.cat([exercise_tokens[:, text_len:], exercise_tokens[:, :text_len]], dim=1)
    video_first = video_first_forward(exercise_block, video_first_in, emb, L_video, angles)
assert_close(torch.cat([video_first[:, L_video:], video_first[:, :L_video]], dim=1), text_first)
print("[video ; text] gives every token the same output as [text ; video]: attention without a mask does not "
      "care about order — positions come from RoPE or the table, never from the place in the sequence")
