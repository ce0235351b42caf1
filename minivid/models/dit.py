"""DiT (Peebles & Xie 2023, facebookresearch/DiT `models.py`): a ViT on latent patches, denoising
class-conditional images, with the paper's four ways of feeding it the timestep t and the label y.

    latent `B C H W` → p×p patches → tokens `B N D` (+ frozen 2D sin-cos table) → blocks → head → `B C' H W`

`DiTConfig.conditioning` picks the strategy of the paper's block-design ablation. The embedders are
shared by all blocks (the official structure): t → 256-dim cos|sin sinusoid → Linear-SiLU-Linear, y → a
row of a `num_classes + 1` table (the extra row is the null label that classifier-free guidance needs).
  "adaln_zero"       official. c = t + y; per block SiLU→Linear(D, 6D) gives shift/scale/gate for the
                     attention and for the MLP; that Linear and the final layer start at zero, so every
                     block starts as the identity and the model outputs exactly zero.
  "adaln"            the paper's plain adaLN: shift/scale only (4D, no gate) and ordinary Xavier init.
  "cross_attention"  [t; y] as a 2-token sequence, read by a cross-attention after the self-attention.
  "in_context"       [t; y] prepended to the patch tokens as two more tokens, dropped before the head.
The LayerNorms are non-affine where adaLN supplies the affine (eps 1e-6); the two token variants get
ordinary affine LayerNorms, since nothing else would scale them, and a plain LN → Linear head (minivid's
choices: the official repository has code for adaLN-Zero only).

Parameter count of DiT-XL/2 (depth 28, D 1152, 16 heads, patch 2, 32×32×4 latents): 674,834,720.
The official code keeps the 256×1152 = 294,912 values of the frozen position table as an
`nn.Parameter(requires_grad=False)`, hence the paper's 675M (675,129,632); minivid builds the table
from the config (not a parameter, not in the state dict, like diffusers). diffusers'
`DiTTransformer2DModel` counts 749,826,464: each of its 28 blocks holds its own timestep+label
embedder of 2,777,472 (256·1152+1152 + 1152·1152+1152 + 1001·1152), i.e. 27 extra copies =
74,991,744; its final layer reads block 0's copy.

Three conventions differ in diffusers' port; the config can follow either (`interop/dit.py` sets them):
timestep sinusoid `freq_shift` (diffusers 1: divides by half−1 = 127, official by 128), the MLP
LayerNorm eps (diffusers 1e-5, its `norm_eps` default; official 1e-6), and positions off the trained
grid (official: no other size; diffusers: rescaled to span the trained grid; minivid default: integers).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from minivid.layers.attention import CrossAttention, SelfAttention
from minivid.layers.embed import sincos_2d, timestep_embedding, unpatchify
from minivid.layers.norm import modulate

CONDITIONINGS = ("adaln_zero", "adaln", "cross_attention", "in_context")
MODULATION_CHUNKS = {"adaln_zero": 6, "adaln": 4}  # the conditionings that modulate the LayerNorms


@dataclass(frozen=True)
class DiTConfig:
    input_size: int = 32  # latent H = W of training (256 px / 8); other sizes work, see `pos_embed`
    patch_size: int = 2
    in_channels: int = 4
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    class_dropout_prob: float = 0.1
    num_classes: int = 1000
    learn_sigma: bool = True  # also predict the variance interpolation: output channels doubled
    conditioning: str = "adaln_zero"
    frequency_dim: int = 256
    timestep_freq_shift: float = 0.0  # diffusers: 1
    mlp_norm_eps: float = 1e-6  # diffusers: 1e-5
    pos_embed_rescale: bool = False  # diffusers: True (positions span the trained grid at any size)

    def __post_init__(self):
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}; got {self.conditioning!r}")
        if self.hidden_size % self.num_heads or self.hidden_size % 4:
            raise ValueError(f"hidden_size {self.hidden_size} must divide by num_heads {self.num_heads} and by 4 "
                             f"(the 2D sin-cos table)")

    @property
    def out_channels(self) -> int:
        return 2 * self.in_channels if self.learn_sigma else self.in_channels


def gated(gate: Tensor | None, x: Tensor) -> Tensor:
    """adaLN-Zero's per-channel gate `B 1 D` on a residual branch `B L D`; None = no gate."""
    return x if gate is None else gate * x


class TimestepEmbedder(nn.Module):
    """t `(B,)` (integer or fractional) → `B D`: cos|sin sinusoid, then Linear → SiLU → Linear."""

    def __init__(self, dim: int, frequency_dim: int = 256, freq_shift: float = 0.0):
        super().__init__()
        self.frequency_dim, self.freq_shift = frequency_dim, freq_shift
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        freqs = timestep_embedding(t, self.frequency_dim, cos_first=True, freq_shift=self.freq_shift)  # B 256
        return self.mlp(freqs.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """y `(B,)` → `B D`. Row `num_classes` is the null label: training replaces each label by it with
    probability `dropout_prob`, so the same network also learns the unconditional model for CFG."""

    def __init__(self, num_classes: int, dim: int, dropout_prob: float):
        super().__init__()
        self.num_classes, self.dropout_prob = num_classes, dropout_prob
        self.embedding_table = nn.Embedding(num_classes + 1, dim)

    def forward(self, y: Tensor, train: bool, force_drop: Tensor | None = None) -> Tensor:
        """force_drop `(B,)` bool: drop exactly these labels (whatever `train`)."""
        if force_drop is None and train and self.dropout_prob > 0:
            force_drop = torch.rand(y.shape, device=y.device) < self.dropout_prob
        if force_drop is not None:
            y = torch.where(force_drop, self.num_classes, y)
        return self.embedding_table(y)


class DiTBlock(nn.Module):
    """Pre-LN self-attention (+ cross-attention) + GELU-tanh MLP; `conditioning` decides how c enters."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        dim, self.conditioning = config.hidden_size, config.conditioning
        adaptive = config.conditioning in MODULATION_CHUNKS
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not adaptive, eps=1e-6)
        self.attn = SelfAttention(dim, heads=config.num_heads)
        if config.conditioning == "cross_attention":
            self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
            self.cross_attn = CrossAttention(dim, context_dim=dim, heads=config.num_heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not adaptive, eps=config.mlp_norm_eps)
        hidden = int(dim * config.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        if adaptive:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, MODULATION_CHUNKS[self.conditioning] * dim))

    def modulation(self, c: Tensor) -> tuple[Tensor | None, ...]:
        """(shift, scale, gate) for the attention, then for the MLP, each `B 1 D` (None where unused)."""
        if self.conditioning == "adaln_zero":
            return self.adaLN_modulation(c)[:, None].chunk(6, dim=-1)
        if self.conditioning == "adaln":
            shift_msa, scale_msa, shift_mlp, scale_mlp = self.adaLN_modulation(c)[:, None].chunk(4, dim=-1)
            return shift_msa, scale_msa, None, shift_mlp, scale_mlp, None
        return (None,) * 6

    def forward(self, x: Tensor, c: Tensor, cond_tokens: Tensor) -> Tensor:
        """x `B L D`, c = t + y `B D` (adaLN), cond_tokens [t; y] `B 2 D` (cross-attention) → `B L D`."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.modulation(c)
        x = x + gated(gate_msa, self.attn(modulate(self.norm1(x), shift_msa, scale_msa)))
        if self.conditioning == "cross_attention":
            x = x + self.cross_attn(self.norm_cross(x), cond_tokens)
        return x + gated(gate_mlp, self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp)))


class FinalLayer(nn.Module):
    """LN (adaLN shift/scale for the adaLN variants) → Linear to p·p·C' values per token."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        dim, adaptive = config.hidden_size, config.conditioning in MODULATION_CHUNKS
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=not adaptive, eps=1e-6)
        self.linear = nn.Linear(dim, config.patch_size ** 2 * config.out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim)) if adaptive else None

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x `B N D`, c `B D` → `B N (p p C')`."""
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=-1) if self.adaLN_modulation else (None, None)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        dim, p = config.hidden_size, config.patch_size
        self.x_embedder = nn.Conv2d(config.in_channels, dim, kernel_size=p, stride=p)
        self.t_embedder = TimestepEmbedder(dim, config.frequency_dim, config.timestep_freq_shift)
        self.y_embedder = LabelEmbedder(config.num_classes, dim, config.class_dropout_prob)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_layer = FinalLayer(config)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # every Linear (attention, MLP, modulation, embedders, head): Xavier-uniform, zero bias
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm) and module.weight is not None:  # token variants only
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # the patch embedding is a Linear on flattened C·p·p patches: Xavier on that (D, C·p·p) view
        nn.init.xavier_uniform_(self.x_embedder.weight.view(self.config.hidden_size, -1))
        nn.init.zeros_(self.x_embedder.bias)
        # embedding table and the timestep MLP: N(0, 0.02)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        if self.config.conditioning == "adaln_zero":
            # zero modulation: every gate is 0, so each block is the identity at init
            for block in self.blocks:
                nn.init.zeros_(block.adaLN_modulation[-1].weight)
                nn.init.zeros_(block.adaLN_modulation[-1].bias)
            # zero head: the model starts by predicting exactly 0
            nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
            nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
            nn.init.zeros_(self.final_layer.linear.weight)
            nn.init.zeros_(self.final_layer.linear.bias)

    def pos_embed(self, h: int, w: int) -> Tensor:
        """The frozen 2D sin-cos table for an h×w token grid, `(h w) D` float32, [w | h] channels.

        Built from the config on each call (it is cheap), so it is no parameter, never stale after a
        meta-device build, and exists for any grid. The official model knows only its training grid.
        """
        base = self.config.input_size // self.config.patch_size if self.config.pos_embed_rescale else None
        return sincos_2d(h, w, self.config.hidden_size, base_size=base)

    def check_inputs(self, x: Tensor, t: Tensor, y: Tensor) -> None:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must be a latent (B, {cfg.in_channels}, H, W); got {tuple(x.shape)}")
        if x.shape[2] % cfg.patch_size or x.shape[3] % cfg.patch_size:
            raise ValueError(f"latent H, W = {tuple(x.shape[2:])} must be multiples of the patch size "
                             f"{cfg.patch_size}; crop or pad the latent")
        for name, v in (("t", t), ("y", y)):
            if v.shape != (x.shape[0],):
                raise ValueError(f"{name} must have shape (B,) = ({x.shape[0]},); got {tuple(v.shape)}")
        if y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"y must hold integer class labels; got {y.dtype}")
        if y.numel() and not y.is_meta and (y.min() < 0 or y.max() > cfg.num_classes):  # meta: no values
            raise ValueError(f"labels must be in [0, {cfg.num_classes}] ({cfg.num_classes} = the null label); "
                             f"got min {y.min().item()}, max {y.max().item()}")

    def forward(self, x: Tensor, t: Tensor, y: Tensor, force_drop: Tensor | None = None) -> Tensor:
        """x `B C H W` latent, t `(B,)` timesteps, y `(B,)` labels in [0, num_classes] → `B C' H W`
        (C' = 2C with learn_sigma: the noise, then the variance interpolation values).
        force_drop `(B,)` bool replaces those labels by the null label (the official `force_drop_ids`)."""
        self.check_inputs(x, t, y)
        p = self.config.patch_size
        h, w = x.shape[2] // p, x.shape[3] // p
        tokens = rearrange(self.x_embedder(x), "b d h w -> b (h w) d")  # B N D
        tokens = tokens + self.pos_embed(h, w).to(tokens)
        t_emb = self.t_embedder(t)  # B D
        y_emb = self.y_embedder(y, self.training, force_drop)  # B D
        c = t_emb + y_emb  # B D, what adaLN regresses from
        cond_tokens = torch.stack([t_emb, y_emb], dim=1)  # B 2 D, what the token variants read
        if self.config.conditioning == "in_context":
            tokens = torch.cat([cond_tokens, tokens], dim=1)  # B (2+N) D
        for block in self.blocks:
            tokens = block(tokens, c, cond_tokens)
        tokens = self.final_layer(tokens[:, -h * w:], c)  # B N (p p C'), in-context tokens dropped
        return unpatchify(tokens, (1, h, w), (1, p, p), self.config.out_channels, "pt ph pw c")[:, :, 0]
