"""The Wan2.1 / Wan2.2 video diffusion transformer (Wan-Video/Wan2.1 and Wan2.2 `wan/modules/model.py`).

    latents B C T H W --Conv3d (1,2,2)--> tokens B L D --N x WanBlock--> head --> velocity B C' T H W

Each block: 3D-RoPE self-attention, cross-attention to the text (and, for Wan2.1 I2V, to 257 CLIP
image tokens in a decoupled branch), then an MLP. The timestep enters through ONE shared MLP for the
whole network (`time_embedding` -> `time_projection`, six vectors of width D); every block adds its
own learned table `modulation (1, 6, D)` and reads chunks 0-2 (shift, scale, gate) for self-attention
and 3-5 for the MLP. Cross-attention has an affine LayerNorm and no modulation, no gate.

Three ways to call the same network:
- T2V: `x` is the noisy latent (16 channels), `t` is `(B,)`.
- Wan2.1 I2V: `x` is [noisy latent 16 | mask 4 | first-frame latent 16] = 36 channels (`image_condition`)
  and `image` holds the CLIP tokens. The official code and diffusers glue `[image; text]` into one
  context and cut it as "the last 512 tokens are text": right in the official model, which pads the
  text to 512 itself, silently wrong in diffusers when the caller passes shorter text. minivid takes
  the two apart, so the text may have any length.
- Wan2.2 TI2V: `t` is `(B, L)`, one timestep per token, 0 on the clean first frame
  (`first_frame_timesteps`); every modulation vector is then per token, `(B, L, 6, D)`.

Precision follows the official code: the timestep sinusoid is float64; the time MLP, the modulation,
the LayerNorms, the residual updates and the head run in float32 with autocast switched off, so under
`torch.autocast(device, torch.bfloat16)` only the attention and MLP matmuls run in bf16.

Two official input-padding steps live outside this module: the official model zero-pads the video
tokens to `seq_len` and masks them out of self-attention (only matters for batches of different-size
videos, which minivid does not mix), and it zero-pads the text to 512 tokens and attends to the pads,
which does change the output: call `pad_text` to get the official numbers (`minivid.sampling` does).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from minivid.layers.attention import CrossAttention, DecoupledCrossAttention, SelfAttention
from minivid.layers.embed import PatchEmbed3d, patch_grid, timestep_embedding, unpatchify
from minivid.layers.norm import modulate
from minivid.layers.rope import ROPE_THETA, rope_3d, rope_dims

TEXT_LEN = 512  # umT5 tokens the official model pads every prompt to (`text_len`)
CLIP_TOKENS = 257  # 16x16 patches + class token of the CLIP ViT-H/14 penultimate layer (Wan2.1 I2V)


@dataclass(frozen=True)
class WanConfig:
    dim: int = 1536
    ffn_dim: int = 8960
    heads: int = 12
    layers: int = 30
    in_channels: int = 16  # 36 for Wan2.1 I2V (noise | mask | image latent), 48 for Wan2.2 TI2V
    out_channels: int = 16
    text_dim: int = 4096  # umT5-XXL width
    freq_dim: int = 256  # width of the timestep sinusoid
    patch: tuple[int, int, int] = (1, 2, 2)
    image_dim: int | None = None  # CLIP token width (1280) -> decoupled image cross-attention (Wan2.1 I2V)
    eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


# --- fp32 islands ---------------------------------------------------------------------------------

def fp32_island(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast switched off (the meta device, which has no autocast, runs as is)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def fp32_linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """A Linear computed in float32 whatever the weight dtype: what the official
    `torch.amp.autocast('cuda', dtype=torch.float32)` blocks do to bf16 weights."""
    bias = None if layer.bias is None else layer.bias.float()
    return F.linear(x.float(), layer.weight.float(), bias)


def fp32_mlp(mlp: nn.Sequential, x: Tensor) -> Tensor:
    """Run an nn.Sequential of Linears and activations in float32."""
    for layer in mlp:
        x = fp32_linear(layer, x) if isinstance(layer, nn.Linear) else layer(x.float())
    return x


class WanLayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input and weight dtypes, returned in the input dtype
    (official `WanLayerNorm`)."""

    def __init__(self, dim: int, eps: float = 1e-6, affine: bool = False):
        super().__init__(dim, eps=eps, elementwise_affine=affine)

    def forward(self, x: Tensor) -> Tensor:  # B L D -> B L D
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


# --- the block ------------------------------------------------------------------------------------

class WanBlock(nn.Module):
    """One Wan block: modulated self-attention with 3D RoPE, cross-attention to the condition, modulated MLP.

        x = x + gate_sa · self_attn(LN(x) · (1 + scale_sa) + shift_sa)     # 3D RoPE on q, k
        x = x + cross_attn(LN_affine(x), text [, image])                   # no modulation, no gate
        x = x + gate_ff · ffn(LN(x) · (1 + scale_ff) + shift_ff)

    The six vectors are the block's own learned table `modulation (1, 6, D)` plus `e0`, the output of the
    time MLP shared by every block. Norms, modulation and residual updates run in float32 (`fp32_chunks`,
    `modulated`), as the official code keeps them outside bf16 autocast.
    """

    def __init__(self, cfg: WanConfig):
        super().__init__()
        dim, heads = cfg.dim, cfg.heads
        self.self_attn_norm = WanLayerNorm(dim, cfg.eps)  # official `norm1`
        self.self_attn = SelfAttention(dim, heads=heads, qk_norm="rms_across_heads", eps=cfg.eps)
        self.cross_attn_norm = WanLayerNorm(dim, cfg.eps, affine=True)  # official `norm3` (!)
        if cfg.image_dim is None:
            self.cross_attn = CrossAttention(dim, context_dim=dim, heads=heads, qk_norm="rms_across_heads", eps=cfg.eps)
        else:  # image tokens arrive already projected to width `dim` by `image_embedding`
            self.cross_attn = DecoupledCrossAttention(dim, context_dim=dim, image_dim=dim, heads=heads,
                                                      qk_norm="rms_across_heads", eps=cfg.eps)
        self.ffn_norm = WanLayerNorm(dim, cfg.eps)  # official `norm2`
        self.ffn = nn.Sequential(nn.Linear(dim, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def fp32_chunks(self, e0: Tensor) -> tuple[Tensor, ...]:
        """The block's table + the shared `e0` `B l 6 D`, in float32 -> six `B l D` vectors
        (shift, scale, gate for self-attention, then for the MLP)."""
        with fp32_island(e0.device):
            return (self.modulation.float() + e0).unbind(dim=2)

    @staticmethod
    def modulated(norm: nn.Module, x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
        """`norm(x) · (1 + scale) + shift` in float32; autocast casts it down for the next matmul."""
        return modulate(norm(x).float(), shift, scale)

    def forward(self, x: Tensor, e0: Tensor, context: Tensor, image: Tensor | None, rope: Tensor) -> Tensor:
        """x `B L D`, e0 `B l 6 D` float32 (l = 1, or L for per-token timesteps), context `B Lt D`,
        image `B Li D` or None, rope angles `L head_dim/2` -> `B L D` (float32 residual stream)."""
        shift_sa, scale_sa, gate_sa, shift_ff, scale_ff, gate_ff = self.fp32_chunks(e0)  # B l D each
        conditions = (context,) if image is None else (context, image)
        # the float32 gate lifts the residual stream to float32 from the first block on, as in the official code
        x = x + gate_sa * self.self_attn(self.modulated(self.self_attn_norm, x, shift_sa, scale_sa), rope=rope)
        x = x + self.cross_attn(self.cross_attn_norm(x), *conditions)
        return x + gate_ff * self.ffn(self.modulated(self.ffn_norm, x, shift_ff, scale_ff))


class WanHead(nn.Module):
    """Final LayerNorm, shift/scale (2 chunks, no gate) from the *pre-projection* time embedding, Linear."""

    def __init__(self, dim: int, out_dim: int, eps: float = 1e-6):
        super().__init__()
        self.norm = WanLayerNorm(dim, eps)
        self.proj = nn.Linear(dim, out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        """x `B L D`, e `B l D` (time embedding, l = 1 or L) -> `B L out_dim` float32."""
        with fp32_island(x.device):
            shift, scale = (self.modulation.float() + e[:, :, None]).unbind(dim=2)  # B l D each
            return fp32_linear(self.proj, modulate(self.norm(x).float(), shift, scale))


# --- the model ------------------------------------------------------------------------------------

class WanModel(nn.Module):
    """The Wan2.1 / Wan2.2 diffusion transformer: latents `B C T H W`, timesteps and text states in, flow
    velocity `B C' T H W` out (module docstring: the three modes T2V, Wan2.1 I2V, Wan2.2 TI2V).

    Patch embedding -> `layers` x `WanBlock` -> `WanHead` -> unpatchify; the timestep goes through one time
    MLP (`time_embedding`) and one shared projection to six vectors (`time_projection`) that every block
    adds to its own table; the text goes through `text_embedding`; the 3D RoPE angles are built per grid.
    """
    video_layout = "b c f h w"  # the axes of its latents (einops names), channels before frames

    def __init__(self, config: WanConfig = WanConfig()):
        super().__init__()
        cfg = self.config = config
        dim = cfg.dim
        rope_dims("wan", cfg.head_dim)  # ValueError early if head_dim cannot be split (t, h, w)
        self.patch_embedding = PatchEmbed3d(cfg.in_channels, dim, cfg.patch)
        self.text_embedding = nn.Sequential(nn.Linear(cfg.text_dim, dim), nn.GELU(approximate="tanh"),
                                            nn.Linear(dim, dim))
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))  # shared by all blocks
        self.image_embedding = None
        if cfg.image_dim is not None:  # official `MLPProj`: LN -> Linear -> GELU -> Linear -> LN, eps 1e-5
            d_img = cfg.image_dim
            self.image_embedding = nn.Sequential(WanLayerNorm(d_img, 1e-5, affine=True), nn.Linear(d_img, d_img),
                                                 nn.GELU(), nn.Linear(d_img, dim), WanLayerNorm(dim, 1e-5, affine=True))
        self.blocks = nn.ModuleList(WanBlock(cfg) for _ in range(cfg.layers))
        self.head = WanHead(dim, cfg.out_channels * math.prod(cfg.patch), cfg.eps)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """The official `WanModel.init_weights`. Wan is *not* adaLN-Zero: the modulation tables keep
        their randn/sqrt(D) init from `__init__` and `time_projection` is Xavier like every Linear."""
        # every Linear (attention, MLP, time_projection, image embedding, head): Xavier-uniform, zero bias
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # the patch Conv3d as the Linear it is; its bias keeps PyTorch's default init
        nn.init.xavier_uniform_(self.patch_embedding.proj.weight.flatten(1))
        # text and time embedding MLPs: N(0, 0.02) weights (biases stay zero)
        for m in [*self.text_embedding, *self.time_embedding]:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        # the output layer starts at zero weight (its bias is zero too), so the first prediction is 0
        nn.init.zeros_(self.head.proj.weight)

    def embed_time(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """t `(B,)` or per token `(B, L)` -> e `B l D` (head) and e0 `B l 6 D` (blocks), float32, l = 1 or L."""
        t = t[:, None] if t.ndim == 1 else t  # B l
        with fp32_island(t.device):
            sinusoid = timestep_embedding(t, self.config.freq_dim, cos_first=True, dtype=torch.float64).float()
            e = fp32_mlp(self.time_embedding, sinusoid)  # B l D
            e0 = rearrange(fp32_mlp(self.time_projection, e), "b l (six d) -> b l six d", six=6)
        return e, e0

    def forward(self, x: Tensor, t: Tensor, context: Tensor, image: Tensor | None = None) -> Tensor:
        """Predict the flow velocity.

        x: `B in_channels T H W` latents; T, H, W divisible by the patch.
        t: `(B,)` timesteps (sigma*1000), or `(B, L)` per token with L = (T/pt)(H/ph)(W/pw) (Wan2.2 TI2V);
           a plain number (or 0-d tensor) is the same timestep for the whole batch.
        context: `B Lt text_dim` text-encoder states (any Lt; the official model pads to 512, see `pad_text`).
        image: `B Li image_dim` CLIP tokens, only for a model with `image_dim` (Wan2.1 I2V).
        Returns `B out_channels T H W` in float32.
        """
        cfg = self.config
        x, t, context, image, grid = self.check_inputs(x, t, context, image)

        tokens = self.patch_embedding(x)  # B L D
        e, e0 = self.embed_time(t)  # B l D, B l 6 D
        context = self.text_embedding(context)  # B Lt D
        if image is not None:
            image = self.image_embedding(image)  # B Li D
        rope = rope_3d(grid, rope_dims("wan", cfg.head_dim), ROPE_THETA["wan"], device=x.device)  # L head_dim/2

        for block in self.blocks:
            tokens = block(tokens, e0, context, image, rope)
        tokens = self.head(tokens, e)  # B L (pt ph pw C')
        return unpatchify(tokens, grid, cfg.patch, cfg.out_channels, patch_order="pt ph pw c")

    def check_inputs(self, x: Tensor, t: Tensor | float, context: Tensor, image: Tensor | None):
        """ValueError for anything the official code would silently mis-handle. Returns (x, t, context, image,
        token grid) with a scalar t spread over the batch and float inputs in the weights' float dtype."""
        cfg = self.config
        weight = self.patch_embedding.proj.weight
        if not torch.is_tensor(x) or x.ndim != 5 or x.shape[1] != cfg.in_channels:
            hint = " (I2V: noise 16 | mask 4 | image latent 16, see `image_condition`)" if cfg.image_dim else ""
            raise ValueError(f"x must be latents (B, {cfg.in_channels}, T, H, W){hint}; got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        grid = patch_grid(tuple(x.shape[2:]), cfg.patch)
        batch, tokens = x.shape[0], math.prod(grid)
        if not torch.is_tensor(t):
            t = torch.tensor(float(t), device=x.device)
        if t.ndim == 0:
            t = t.expand(batch)
        if tuple(t.shape) not in ((batch,), (batch, tokens)):
            raise ValueError(f"t must be a number, (B,) = ({batch},) or per token (B, L) = ({batch}, {tokens}) for "
                             f"the {grid} token grid; got {tuple(t.shape)}")
        if context.ndim != 3 or context.shape[0] != batch or context.shape[2] != cfg.text_dim:
            raise ValueError(f"context must be text states (B, Lt, text_dim) = ({batch}, Lt, {cfg.text_dim}); "
                             f"got {tuple(context.shape)}")
        if cfg.image_dim is None and image is not None:
            raise ValueError("this model has no image branch (image_dim=None): T2V/TI2V condition on the "
                             "image through the latent channels, not through image tokens; drop `image`")
        if cfg.image_dim is not None:
            if image is None:
                raise ValueError(f"an I2V model needs the CLIP image tokens: image (B, {CLIP_TOKENS}, "
                                 f"{cfg.image_dim})")
            if image.ndim != 3 or image.shape[0] != batch or image.shape[2] != cfg.image_dim:
                raise ValueError(f"image must be (B, Li, image_dim) = ({batch}, Li, {cfg.image_dim}); "
                                 f"got {tuple(image.shape)}")
        for name, value in (("x", x), ("context", context), ("image", image)):
            if value is not None and not value.is_floating_point():
                raise ValueError(f"{name} must hold floats, got {value.dtype}")
        autocast = torch.amp.is_autocast_available(x.device.type) and torch.is_autocast_enabled(x.device.type)
        if weight.dtype != torch.float32 and not autocast:
            raise ValueError(f"weights in {weight.dtype}: run low precision under torch.autocast(device, dtype) "
                             f"as the official code does (fp32 islands need the residual stream in float32)")
        # inputs in another float dtype (float64 latents from numpy, say) follow the weights
        x, context = x.to(weight.dtype), context.to(weight.dtype)
        image = None if image is None else image.to(weight.dtype)
        return x, t, context, image, grid


# --- inputs the pipelines build -------------------------------------------------------------------

def pad_text(context: Tensor, length: int = TEXT_LEN) -> Tensor:
    """Zero-pad text states `B Lt C` to `B length C`, as the official `WanModel.forward` (and diffusers'
    pipelines) do. The pad slots are not masked: they become `text_embedding(0)` and are attended to."""
    if context.shape[1] > length:
        raise ValueError(f"text has {context.shape[1]} tokens, more than the {length} the model pads to; "
                         f"truncate it (the official tokenizer cuts at {length})")
    return F.pad(context, (0, 0, 0, length - context.shape[1]))


def image_condition(image_latent: Tensor) -> Tensor:
    """Wan2.1 I2V condition channels: `B 16 T H W` latent of [first frame, zero frames] (zeros in [-1, 1] pixels: mid-grey) -> `B 20 T H W`.

    The 4 mask channels are the 4 pixel frames folded into each latent frame (`WanI2V.generate`: the
    first-frame mask repeated 4 times, viewed as (T, 4)); only the first frame is given, so latent frame
    0 gets 1 in all four channels and every other latent frame 0. Concatenate after the noise.
    """
    b, _, frames, h, w = image_latent.shape
    mask = torch.zeros(b, 4, frames, h, w, dtype=image_latent.dtype, device=image_latent.device)
    mask[:, :, 0] = 1
    return torch.cat([mask, image_latent], dim=1)


def first_frame_timesteps(t: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """Wan2.2 TI2V per-token timesteps: t `(B,)` on every token, 0 on the first latent frame's tokens
    (which hold the clean image latent) -> `(B, L)` in `(t h w)` token order."""
    frames, h, w = grid
    keep = torch.ones(frames, h * w, dtype=t.dtype, device=t.device)
    keep[0] = 0
    return t[:, None] * repeat(keep, "f n -> 1 (f n)")


# --- compute accounting ---------------------------------------------------------------------------

def forward_flops(cfg: WanConfig, grid: tuple[int, int, int], text_tokens: int = TEXT_LEN,
                  image_tokens: int = 0, per_token_timesteps: bool = False) -> dict[str, int]:
    """FLOPs of one forward pass of ONE sample, 2 FLOPs per multiply-add, matmuls and convs only.

    "attention": QKᵀ and AV of self-attention (L x L) and cross-attention (L x Lt, L x Li);
    "linear": every Linear and the patch Conv3d (projections, MLPs, embeddings, head). Norms, RoPE,
    softmax, modulation and other elementwise work are not counted (they are O(L D), a few % at most).
    """
    d, f, n = cfg.dim, cfg.ffn_dim, cfg.layers
    tokens = math.prod(grid)
    timesteps = tokens if per_token_timesteps else 1
    per_block = (4 * tokens * d * d  # self-attention q, k, v, o
                 + 2 * tokens * d * d  # cross-attention q, o
                 + 2 * (text_tokens + image_tokens) * d * d  # cross-attention k, v of text and image tokens
                 + 2 * tokens * d * f)  # MLP
    linear = (n * per_block
              + tokens * cfg.in_channels * math.prod(cfg.patch) * d  # patch embedding
              + tokens * d * cfg.out_channels * math.prod(cfg.patch)  # head
              + text_tokens * (cfg.text_dim * d + d * d)  # text embedding
              + timesteps * (cfg.freq_dim * d + d * d + 6 * d * d))  # time embedding + projection
    if image_tokens:
        linear += image_tokens * (cfg.image_dim**2 + cfg.image_dim * d)
    attention = n * 2 * tokens * (tokens + text_tokens + image_tokens) * d  # QKᵀ + AV
    return {"linear": 2 * linear, "attention": 2 * attention}
