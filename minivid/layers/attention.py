"""One attention core on `F.scaled_dot_product_attention`, and the attention modules built on it.

Every attention in minivid (self, cross, decoupled image+text, the spatio-temporal factorisations in
`spacetime.py`, the packed batches in `packing.py`) goes through `attention(q, k, v, mask)`, so a
mask or a reshape is the only thing that tells them apart.

Masks follow SDPA: a boolean mask is True where a query **may** attend a key; a float mask is added
to the logits (0 = attend, -inf = blocked). A query whose row is all False is undefined: some SDPA
backends return NaN, others zeros, so callers must never build one (see `packing.py`).

qk-norm, as the real models do it (eps 1e-6 everywhere, affine weights as in the official code):
- `"rms_across_heads"`: Wan. `WanRMSNorm(dim)` on the full projected q/k, *before* the head split
  (diffusers: `rms_norm_across_heads`, `torch.nn.RMSNorm(heads * head_dim)`).
- `"rms_per_head"`: HunyuanVideo. RMSNorm over each head's `head_dim` (weight, no bias).
- `"layer_norm_per_head"`: CogVideoX. LayerNorm over `head_dim` with weight and bias.
- `None`: plain attention (DiT, Latte, SD).
RoPE, when given, is applied after qk-norm, as Wan, HunyuanVideo and CogVideoX do; a token that must
not rotate (HunyuanVideo's and CogVideoX's text tokens) gets angle 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from minivid.layers.rope import apply_rope

QK_NORMS = ("rms_across_heads", "rms_per_head", "layer_norm_per_head", None)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q kᵀ / √d + mask) v for q `B h Lq d`, k/v `B h Lk d` → `B h Lq d`.

    `mask` is boolean (True = may attend) or additive float, shaped `Lq Lk`, `B Lq Lk` or `B h Lq Lk`.
    A 3-D mask is per sample (SDPA alone would broadcast it over heads, not batch).
    """
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"attention expects q, k, v as (B, heads, L, head_dim); got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"q/k head_dim and k/v lengths must match; got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if mask is not None:
        if mask.dtype != torch.bool and not mask.is_floating_point():
            raise ValueError(f"mask must be bool (True = attend) or float (additive); got {mask.dtype}")
        if mask.dim() == 3:
            mask = mask[:, None]  # B 1 Lq Lk
        if mask.shape[-1] != k.shape[2] or mask.shape[-2] not in (1, q.shape[2]):
            raise ValueError(f"mask must end in (Lq, Lk) = {(q.shape[2], k.shape[2])} (or (1, Lk)); "
                             f"got {tuple(mask.shape)}")
        if mask.is_floating_point():
            mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def additive_mask(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Boolean mask (True = attend) → the equivalent additive mask (0 or -inf), same shape."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))


def key_padding_mask(valid: Tensor | None, context: Tensor) -> Tensor | None:
    """`B Lc` boolean (True = real token) → `B 1 Lc`, the same keys for every query."""
    if valid is None:
        return None
    if valid.dtype != torch.bool or valid.shape != context.shape[:2]:
        raise ValueError(f"context_mask must be bool of shape (B, Lc) = {tuple(context.shape[:2])}; "
                         f"got {valid.dtype} {tuple(valid.shape)}")
    return valid[:, None, :]


def split_heads(x: Tensor, heads: int) -> Tensor:
    """`B L (h d)` → `B h L d`."""
    return rearrange(x, "b l (h d) -> b h l d", h=heads)


def merge_heads(x: Tensor) -> Tensor:
    """`B h L d` → `B L (h d)`."""
    return rearrange(x, "b h l d -> b l (h d)")


def make_qk_norm(kind: str | None, heads: int, head_dim: int, eps: float = 1e-6) -> nn.Module:
    """The norm module for one of `QK_NORMS`; `nn.Identity()` for None."""
    if kind is None:
        return nn.Identity()
    if kind == "rms_across_heads":
        return nn.RMSNorm(heads * head_dim, eps=eps)
    if kind == "rms_per_head":
        return nn.RMSNorm(head_dim, eps=eps)
    if kind == "layer_norm_per_head":
        return nn.LayerNorm(head_dim, eps=eps)
    raise ValueError(f"qk_norm must be one of {QK_NORMS}; got {kind!r}")


class Attention(nn.Module):
    """Multi-head attention from `x` (queries) to `context` (keys/values); self-attention if no context.

    Parameter names follow diffusers' `Attention` (`to_q/to_k/to_v/to_out`, `norm_q/norm_k`) so a
    converter only renames `to_out.0 → to_out`. `bias` is for the q/k/v projections, `out_bias` for
    `to_out` (Stable Diffusion: no q/k/v bias, but an output bias; Wan, CogVideoX: both).

    Every attention class takes `dim` positionally and the rest by keyword, in one order (`context_dim`,
    `image_dim`, `heads`, `qk_norm`, `bias`, `out_bias`, `eps`, ...): widths are all ints, and a call
    like `CrossAttention(dim, heads, context_dim)` would otherwise build a wrong layer without a word.
    """

    def __init__(self, dim: int, *, context_dim: int | None = None, heads: int, qk_norm: str | None = None,
                 bias: bool = True, out_bias: bool = True, eps: float = 1e-6, rope_pairing: str = "adjacent"):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, dim // heads
        self.dim, self.context_dim = dim, context_dim or dim
        self.qk_norm, self.rope_pairing = qk_norm, rope_pairing
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(self.context_dim, dim, bias=bias)
        self.to_v = nn.Linear(self.context_dim, dim, bias=bias)
        self.norm_q = make_qk_norm(qk_norm, heads, self.head_dim, eps)
        self.norm_k = make_qk_norm(qk_norm, heads, self.head_dim, eps)
        self.to_out = nn.Linear(dim, dim, bias=out_bias)

    def heads_of(self, x: Tensor, norm: nn.Module) -> Tensor:
        """Projected `B L (h d)` → normalised `B h L d` (the norm sits before or after the split)."""
        if self.qk_norm == "rms_across_heads":
            return split_heads(norm(x), self.heads)
        return norm(split_heads(x, self.heads))

    def check_width(self, x: Tensor, expected: int, name: str) -> None:
        if x.dim() != 3 or x.shape[-1] != expected:
            raise ValueError(f"{name} must be (B, L, {expected}); got {tuple(x.shape)}. "
                             f"Project it to width {expected} first (or build the layer with that width).")

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None,
                rope: Tensor | None = None) -> Tensor:
        """x `B L dim`, context `B Lc context_dim` (None: x), mask as in `attention`,
        rope: angles `L head_dim/2` or `B L head_dim/2` for q and k (self-attention only) → `B L dim`."""
        self.check_width(x, self.dim, "x")
        if context is None:
            context = x
        elif rope is not None:
            raise ValueError("rope angles apply to self-attention only (q and k over the same tokens)")
        else:
            self.check_width(context, self.context_dim, "context")
        q = self.heads_of(self.to_q(x), self.norm_q)  # B h L d
        k = self.heads_of(self.to_k(context), self.norm_k)  # B h Lc d
        v = split_heads(self.to_v(context), self.heads)
        if rope is not None:
            q = apply_rope(q, rope, pairing=self.rope_pairing)
            k = apply_rope(k, rope, pairing=self.rope_pairing)
        return self.to_out(merge_heads(attention(q, k, v, mask)))


class SelfAttention(Attention):
    """Self-attention over one token sequence, with optional qk-norm and RoPE (Wan, HunyuanVideo...)."""

    def __init__(self, dim: int, *, heads: int, qk_norm: str | None = None, bias: bool = True,
                 out_bias: bool = True, eps: float = 1e-6, rope_pairing: str = "adjacent"):
        super().__init__(dim, heads=heads, qk_norm=qk_norm, bias=bias, out_bias=out_bias, eps=eps,
                         rope_pairing=rope_pairing)

    def forward(self, x: Tensor, mask: Tensor | None = None, rope: Tensor | None = None) -> Tensor:
        """x `B L dim` → `B L dim`; rope angles `L head_dim/2` or `B L head_dim/2`."""
        return super().forward(x, None, mask, rope)


class CrossAttention(Attention):
    """Queries from the video tokens, keys/values from a condition sequence (text, image tokens)."""

    def __init__(self, dim: int, *, context_dim: int, heads: int, qk_norm: str | None = None,
                 bias: bool = True, out_bias: bool = True, eps: float = 1e-6):
        super().__init__(dim, context_dim=context_dim, heads=heads, qk_norm=qk_norm, bias=bias,
                         out_bias=out_bias, eps=eps)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        """x `B L dim`, context `B Lc context_dim`, context_mask `B Lc` (True = real token) → `B L dim`."""
        return super().forward(x, context, key_padding_mask(context_mask, context))


class DecoupledCrossAttention(CrossAttention):
    """Text and image conditions in separate key/value branches, summed before one output projection.

        out = to_out( attn(q, k_txt, v_txt) + image_scale · attn(q, k_img, v_img) )

    - IP-Adapter (diffusers `IPAdapterAttnProcessor2_0`, `to_k_ip`/`to_v_ip`): `qk_norm=None`,
      `bias=False`, `image_scale=λ`; λ = 0 gives back the text-only layer.
    - Wan2.1 I2V (`WanI2VCrossAttention`): `qk_norm="rms_across_heads"`, `image_scale=1`, image tokens
      = the 257 CLIP tokens after `MLPProj` (width dim). q and `to_out` are shared; the image branch
      adds `to_k_img`, `to_v_img` and its own key norm `norm_k_img` (diffusers: `add_k_proj`,
      `add_v_proj`, `norm_added_k`).

    The two sequences are passed separately. The official code and diffusers receive one
    concatenated `[image; text]` context and split it as "the last 512 tokens are text"; in
    diffusers a shorter text silently moves text tokens into the image branch.
    """

    def __init__(self, dim: int, *, context_dim: int, image_dim: int, heads: int,
                 qk_norm: str | None = None, bias: bool = True, out_bias: bool = True, eps: float = 1e-6,
                 image_scale: float = 1.0):
        super().__init__(dim, context_dim=context_dim, heads=heads, qk_norm=qk_norm, bias=bias,
                         out_bias=out_bias, eps=eps)
        self.image_dim, self.image_scale = image_dim, image_scale
        self.to_k_img = nn.Linear(image_dim, dim, bias=bias)
        self.to_v_img = nn.Linear(image_dim, dim, bias=bias)
        self.norm_k_img = make_qk_norm(qk_norm, heads, self.head_dim, eps)

    def forward(self, x: Tensor, context: Tensor, image: Tensor,
                context_mask: Tensor | None = None) -> Tensor:
        """x `B L dim`, context (text) `B Lt context_dim`, image `B Li image_dim`, context_mask `B Lt`
        (True = real text token; Wan itself masks nothing) → `B L dim`."""
        self.check_width(x, self.dim, "x")
        self.check_width(context, self.context_dim, "context (text tokens)")
        self.check_width(image, self.image_dim, "image tokens")
        mask = key_padding_mask(context_mask, context)
        q = self.heads_of(self.to_q(x), self.norm_q)  # B h L d
        k_txt = self.heads_of(self.to_k(context), self.norm_k)  # B h Lt d
        v_txt = split_heads(self.to_v(context), self.heads)
        k_img = self.heads_of(self.to_k_img(image), self.norm_k_img)  # B h Li d
        v_img = split_heads(self.to_v_img(image), self.heads)
        out = attention(q, k_txt, v_txt, mask) + self.image_scale * attention(q, k_img, v_img)
        return self.to_out(merge_heads(out))
