"""The CogVideoX diffusion transformer (THUDM/CogVideo `sat/dit_video_concat.py`; diffusers
`CogVideoXTransformer3DModel`): text and video tokens in ONE sequence, full 3D attention over both.

    text B Lt 4096 --Linear--> B Lt D --+
                                        +--> [text ; video] B (Lt+Lv) D --N x CogVideoXBlock--> video tokens --> head
    latents B F C H W --patch--> B Lv D -+                                                      --> v-prediction B F C H W

The text goes **before** the video tokens, and every block attends over the whole joint sequence (no
cross-attention). Text and video share every weight of a block — LayerNorms, q/k/v/out, MLP — except
their adaLN modulation: one `Linear(time_embed_dim, 12·D)` per block gives six vectors (shift, scale,
gate for attention and for the MLP) for the video tokens and six for the text tokens, zero-initialised
("expert adaLN"). qk-norm is a LayerNorm over each head's channels.

Positions differ by release (`sat/configs/cogvideox_*.yaml`, `dit_video_concat.py` mixins):
- `"sincos"` (2B): a fixed 3D sin-cos table added to the video tokens (`Basic3DPositionEmbeddingMixin`),
  spatial positions divided by 1.875;
- `"rope"` (5B, 1.5): 3D RoPE on the video tokens' q and k only, split (t, h, w) = (d/4, 3d/8, 3d/8) of
  the head width, adjacent pairs, θ = 10000 (`Rotary3DPositionEmbeddingMixin`); no absolute positions;
- `"rope+learned"` (5B-I2V): RoPE plus a learned absolute table over [text ; video], which fixes the
  resolution (and the text length) the model was trained at.

Patches: 2×2 per frame (v1.0: a `Conv2d`) or 2×2×2 tubes (v1.5: a `Linear` on flattened tubes); both are
`PatchEmbed3d` here (the converter reshapes the weights). I2V concatenates the image latent to the noise
on channels (32 in); v1.5 I2V adds an `ofs` embedding to the time embedding.

The transformer's layout is the official one, `B F C H W` (frames before channels), unlike Wan's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from minivid.layers.attention import SelfAttention
from minivid.layers.embed import PatchEmbed3d, patch_grid, per_sample, sincos_3d, timestep_embedding, unpatchify
from minivid.layers.norm import gate_split, modulate, modulate_split
from minivid.layers.rope import rope_3d, rope_dims

POSITIONS = ("sincos", "rope", "rope+learned")


@dataclass(frozen=True)
class CogVideoXConfig:
    heads: int = 30
    head_dim: int = 64
    layers: int = 30
    in_channels: int = 16  # 32 for I2V: noise 16 | image latent 16
    out_channels: int = 16
    time_embed_dim: int = 512
    text_dim: int = 4096  # T5-v1.1-XXL
    patch: int = 2
    patch_t: int | None = None  # v1.5: 2 (2x2x2 tubes)
    positions: str = "sincos"
    text_length: int = 226  # tokens the prompt is padded to (224 for v1.5); the learned table covers them
    sample_grid: tuple[int, int, int] = (13, 60, 90)  # latent (F, H, W) of training: 49 frames at 480x720
    spatial_interpolation: float = 1.875  # 2B's sin-cos positions: h, w divided by this
    temporal_interpolation: float = 1.0
    ofs_embed_dim: int | None = None  # v1.5 I2V: 512
    norm_eps: float = 1e-5
    patch_bias: bool = True  # the v1.0 Conv2d's bias (v1.5's Linear always has one)

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {self.positions!r}")
        if self.ofs_embed_dim not in (None, self.time_embed_dim):
            raise ValueError(f"ofs_embed_dim is added to the time embedding, so it must be time_embed_dim "
                             f"({self.time_embed_dim}) or None; got {self.ofs_embed_dim}")

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return (self.patch_t or 1, self.patch, self.patch)


# expert adaLN: the text's (shift, scale) / gate on the first `text_len` tokens, the video's on the rest
modulate_experts, gate_experts = modulate_split, gate_split


class CogVideoXBlock(nn.Module):
    """One block over [text ; video]: modulated joint self-attention, then a modulated MLP, each gated.

        x = x + gate_sa · attn(LN(x) · (1 + scale_sa) + shift_sa)      # (shift, scale, gate) per token:
        x = x + gate_ff · mlp(LN(x) · (1 + scale_ff) + shift_ff)       # the text's or the video's six

    The modulation `Linear(time_embed_dim, 12·D)` starts at zero, so every gate is 0 and the block is the
    identity at initialisation (`reinit` in the official `AdaLNMixin`).
    """

    def __init__(self, cfg: CogVideoXConfig):
        super().__init__()
        dim = cfg.dim
        self.attn_norm = nn.LayerNorm(dim, eps=cfg.norm_eps)  # official `input_layernorm`, shared
        self.attn = SelfAttention(dim, heads=cfg.heads, qk_norm="layer_norm_per_head", eps=1e-6)
        self.mlp_norm = nn.LayerNorm(dim, eps=cfg.norm_eps)  # `post_attention_layernorm`, shared
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.time_embed_dim, 12 * dim))  # expert adaLN

    def forward(self, x: Tensor, emb: Tensor, text_len: int, rope: Tensor | None) -> Tensor:
        """x `B (Lt+Lv) D` text first, emb `B time_embed_dim`, rope angles `(Lt+Lv) head_dim/2` (0 on text)."""
        # each expert's six: shift, scale, gate for attention (0:3), then for the MLP (3:6); each B 1 D
        video, text = rearrange(self.modulation(emb), "b (expert six d) -> expert six b 1 d", expert=2, six=6)
        # one expression per sub-layer, like the docstring: no local keeps the attention output alive
        # through the MLP (that one `B L D` tensor was 8% of the peak memory)
        x = x + gate_experts(self.attn(modulate_experts(self.attn_norm(x), text_len, text[0:2], video[0:2]),
                                       rope=rope), text_len, text[2], video[2])
        return x + gate_experts(self.mlp(modulate_experts(self.mlp_norm(x), text_len, text[3:5], video[3:5])),
                                text_len, text[5], video[5])


class CogVideoXModel(nn.Module):
    """The CogVideoX transformer: latents `B F C H W`, timesteps `(B,)`, T5 states `B Lt 4096` -> the
    v-prediction `B F C' H W` (module docstring: the joint sequence, expert adaLN, the three position kinds)."""
    video_layout = "b f c h w"  # the axes of its latents (einops names): frames before channels

    def __init__(self, config: CogVideoXConfig = CogVideoXConfig()):
        super().__init__()
        cfg = self.config = config
        dim = cfg.dim
        if cfg.positions != "sincos":
            rope_dims("cogvideox", cfg.head_dim)  # ValueError early if the head cannot be split (t, h, w)
        self.patch_embedding = PatchEmbed3d(cfg.in_channels, dim, cfg.patch_size,
                                            bias=cfg.patch_bias or cfg.patch_t is not None)
        self.text_projection = nn.Linear(cfg.text_dim, dim)
        self.time_embedding = nn.Sequential(nn.Linear(dim, cfg.time_embed_dim), nn.SiLU(),
                                            nn.Linear(cfg.time_embed_dim, cfg.time_embed_dim))
        self.ofs_embedding = None
        if cfg.ofs_embed_dim:  # v1.5 I2V: the same MLP for the 'ofs' value, added to the time embedding
            self.ofs_embedding = nn.Sequential(nn.Linear(cfg.ofs_embed_dim, cfg.ofs_embed_dim), nn.SiLU(),
                                               nn.Linear(cfg.ofs_embed_dim, cfg.ofs_embed_dim))
        if cfg.positions == "rope+learned":  # a buffer in the checkpoint, as in diffusers: not a parameter
            tokens = cfg.text_length + math.prod(patch_grid(cfg.sample_grid, cfg.patch_size))
            self.register_buffer("learned_positions", torch.zeros(1, tokens, dim))
        self.blocks = nn.ModuleList(CogVideoXBlock(cfg) for _ in range(cfg.layers))
        self.final_norm = nn.LayerNorm(dim, eps=cfg.norm_eps)  # the transformer's `final_layernorm`
        self.head_norm = nn.LayerNorm(dim, eps=cfg.norm_eps)  # `FinalLayerMixin.norm_final`
        self.head_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.time_embed_dim, 2 * dim))  # shift, scale
        self.head = nn.Linear(dim, math.prod(cfg.patch_size) * cfg.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier-uniform Linears with zero bias; zero expert adaLN (`AdaLNMixin.reinit`), so every block is
        the identity at init, and a zero head modulation; the head itself stays Xavier (`FinalLayerMixin`)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embedding.proj.weight.flatten(1))
        for linear in [block.modulation[-1] for block in self.blocks] + [self.head_modulation[-1]]:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def embed_time(self, t: Tensor, ofs: Tensor | None) -> Tensor:
        """t `(B,)` (and v1.5 I2V's ofs `(B,)`) -> `B time_embed_dim`: cos|sin sinusoid of width D, MLP."""
        weight = self.time_embedding[0].weight
        emb = self.time_embedding(timestep_embedding(t, self.config.dim).to(weight.dtype))
        if self.ofs_embedding is not None:
            emb = emb + self.ofs_embedding(timestep_embedding(ofs, self.config.ofs_embed_dim).to(weight.dtype))
        return emb

    def positions(self, tokens: Tensor, grid: tuple[int, int, int], text_len: int) -> tuple[Tensor, Tensor | None]:
        """Add the absolute positions to [text ; video] tokens; return them and the RoPE angles (or None)."""
        cfg = self.config
        if cfg.positions == "sincos":  # fixed table on the video tokens (text slots are zeros officially)
            table = sincos_3d(*grid, cfg.dim, cfg.spatial_interpolation, cfg.temporal_interpolation)
            tokens = torch.cat([tokens[:, :text_len], tokens[:, text_len:] + table.to(tokens)], dim=1)
            return tokens, None
        if cfg.positions == "rope+learned":  # the learned table, cut at this clip's length (official slicing)
            tokens = tokens + self.learned_positions[:, :tokens.shape[1]].to(tokens)
        video = rope_3d(grid, rope_dims("cogvideox", cfg.head_dim), device=tokens.device)  # Lv hd/2
        return tokens, torch.cat([video.new_zeros(text_len, video.shape[1]), video])  # text tokens: angle 0

    def forward(self, x: Tensor, t: Tensor | float, context: Tensor, ofs: Tensor | float | None = None) -> Tensor:
        """Predict v (CogVideoX trains with v-prediction on a DDPM schedule).

        x: `B F C H W` latents (frames before channels, as the official code and diffusers take them).
        t: `(B,)` timesteps in [0, 1000), or one number for the whole batch.
        context: `B Lt text_dim` T5 states (the official pipeline pads to `text_length`).
        ofs: v1.5 I2V only, `(B,)` or a number (the pipeline passes 2.0).
        Returns `B F out_channels H W`.
        """
        cfg = self.config
        x, t, context, ofs, grid = self.check_inputs(x, t, context, ofs)
        text_len = context.shape[1]
        video = self.patch_embedding(rearrange(x, "b f c h w -> b c f h w"))  # B Lv D, (f h w) order
        tokens = torch.cat([self.text_projection(context), video], dim=1)  # B (Lt+Lv) D: text first
        tokens, rope = self.positions(tokens, grid, text_len)
        emb = self.embed_time(t, ofs)  # B time_embed_dim
        for block in self.blocks:
            tokens = block(tokens, emb, text_len, rope)
        video = self.final_norm(tokens[:, text_len:])  # the text tokens are dropped here
        shift, scale = rearrange(self.head_modulation(emb), "b (two d) -> two b 1 d", two=2)
        out = self.head(modulate(self.head_norm(video), shift, scale))  # B Lv (C' pt ph pw)
        out = unpatchify(out, grid, cfg.patch_size, cfg.out_channels, patch_order="c pt ph pw")
        return rearrange(out, "b c f h w -> b f c h w")

    def check_inputs(self, x: Tensor, t, context: Tensor, ofs):
        """ValueError for inputs the official code would mishandle; returns them checked, with a scalar t (or
        ofs) spread over the batch and floats in the weights' dtype, and the token grid."""
        cfg = self.config
        weight = self.text_projection.weight
        if x.ndim != 5 or x.shape[2] != cfg.in_channels:
            hint = ""
            if x.ndim == 5 and x.shape[1] == cfg.in_channels:
                hint = "; this looks like B C F H W: CogVideoX takes frames before channels, rearrange 'b c f h w -> b f c h w'"
            elif cfg.in_channels == 32:
                hint = " (I2V: noise 16 | image latent 16 on the channel axis)"
            raise ValueError(f"x must be latents (B, F, {cfg.in_channels}, H, W){hint}; got {tuple(x.shape)}")
        if not x.is_floating_point() or not context.is_floating_point():
            raise ValueError(f"x and context must hold floats; got {x.dtype}, {context.dtype}")
        batch, frames = x.shape[:2]
        grid = patch_grid((frames, x.shape[3], x.shape[4]), cfg.patch_size)
        if context.ndim != 3 or context.shape[0] != batch or context.shape[2] != cfg.text_dim:
            raise ValueError(f"context must be text states (B, Lt, text_dim) = ({batch}, Lt, {cfg.text_dim}); "
                             f"got {tuple(context.shape)}")
        if cfg.positions == "sincos" and context.shape[1] > cfg.text_length:
            raise ValueError(f"text has {context.shape[1]} tokens, more than the {cfg.text_length} this model "
                             f"was trained with (its positions assume the prompt padded to {cfg.text_length}); "
                             f"truncate it to {cfg.text_length}")
        if cfg.positions == "rope+learned":
            sample = patch_grid(cfg.sample_grid, cfg.patch_size)
            if context.shape[1] != cfg.text_length or grid[1:] != sample[1:] or grid[0] > sample[0]:
                raise ValueError(
                    f"this model's learned positions cover {cfg.text_length} text tokens and a {sample} token grid "
                    f"(latent {cfg.sample_grid}: its training resolution); got {context.shape[1]} text tokens and "
                    f"a {grid} grid. Pad the prompt to {cfg.text_length} tokens and keep the latent size "
                    f"{cfg.sample_grid[1]}x{cfg.sample_grid[2]} with at most {cfg.sample_grid[0]} latent frames")
        t = per_sample(t, batch, "t", x.device)
        if cfg.ofs_embed_dim:
            if ofs is None:
                raise ValueError("a v1.5 I2V model needs `ofs` (the pipeline passes 2.0)")
            ofs = per_sample(ofs, batch, "ofs", x.device)
        elif ofs is not None:
            raise ValueError("this model has no ofs embedding (only CogVideoX 1.5 I2V does); drop `ofs`")
        return x.to(weight.dtype), t, context.to(weight.dtype), ofs, grid


# --- compute accounting ---------------------------------------------------------------------------

def forward_flops(cfg: CogVideoXConfig, grid: tuple[int, int, int], text_tokens: int) -> dict[str, int]:
    """FLOPs of one forward pass of ONE sample (2 per multiply-add, matmuls only): "attention" is QKᵀ and AV
    over the joint sequence, "linear" every Linear and the patch embedding."""
    d, n = cfg.dim, cfg.layers
    video = math.prod(grid)
    joint = video + text_tokens
    per_block = 4 * joint * d * d + 2 * joint * d * 4 * d + cfg.time_embed_dim * 12 * d  # qkvo, MLP, adaLN
    linear = (n * per_block + video * cfg.in_channels * math.prod(cfg.patch_size) * d
              + text_tokens * cfg.text_dim * d + d * cfg.time_embed_dim + cfg.time_embed_dim ** 2
              + cfg.time_embed_dim * 2 * d + video * d * math.prod(cfg.patch_size) * cfg.out_channels)
    attention = n * 2 * joint * joint * d
    return {"linear": 2 * linear, "attention": 2 * attention}
