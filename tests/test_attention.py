"""minivid.layers.attention: one SDPA core, qk-norm as Wan/HunyuanVideo/CogVideoX do it, and the
self / cross / decoupled (IP-Adapter, Wan I2V) modules built on it."""
from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from minivid.layers.attention import (CrossAttention, DecoupledCrossAttention, SelfAttention,
                                      additive_mask, attention, split_heads)
from minivid.layers.rope import apply_rope, axial_rope_angles, grid_positions

QK_VARIANTS = ["rms_across_heads", "rms_per_head", "layer_norm_per_head", None]


def reference_attention(q, k, v, mask=None):
    """softmax(QKᵀ/√d)V written out, in float64."""
    logits = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return (logits.softmax(-1) @ v.double()).to(q.dtype)


def random_mask(*shape, generator):
    mask = torch.rand(*shape, generator=generator) > 0.5
    mask[..., 0] = True  # every query keeps at least one key
    return mask


def jitter(module, seed=0):
    """Give every parameter (norm weights = 1, zero biases included) random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if p.dim() == 1 else 0.0))
    return module


def rms(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def layer_norm(x, weight, bias, eps=1e-6):
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def normed_heads(x, proj, norm, kind, heads):
    """The qk-norm formulas, written per variant without the module's helpers."""
    y = x @ proj.weight.T + proj.bias  # B L (h d)
    if kind == "rms_across_heads":
        y = rms(y, norm.weight)
    y = y.reshape(y.shape[0], y.shape[1], heads, -1).transpose(1, 2)  # B h L d
    if kind == "rms_per_head":
        y = rms(y, norm.weight)
    if kind == "layer_norm_per_head":
        y = layer_norm(y, norm.weight, norm.bias)
    return y


def plain_heads(x, proj, heads):
    y = x @ proj.weight.T + proj.bias
    return y.reshape(y.shape[0], y.shape[1], heads, -1).transpose(1, 2)


def merged_out(o, proj):
    o = o.transpose(1, 2).flatten(2)  # B L (h d)
    return o @ proj.weight.T + proj.bias


# --- the core -------------------------------------------------------------------------------------

def test_attention_matches_softmax_reference():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (5, 7, 7))
    assert_close(attention(q, k, v), reference_attention(q, k, v), rtol=1e-5, atol=1e-6)
    mask = random_mask(2, 3, 5, 7, generator=g)
    assert_close(attention(q, k, v, mask), reference_attention(q, k, v, mask), rtol=1e-5, atol=1e-6)


def test_boolean_and_additive_masks_agree():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 6, 4, generator=g) for _ in range(3))
    mask = random_mask(6, 6, generator=g)
    assert_close(attention(q, k, v, mask), attention(q, k, v, additive_mask(mask)), rtol=1e-6, atol=1e-6)


def test_masked_out_key_has_no_influence():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, 4, 8, generator=g) for _ in range(3))
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[:, 2] = False
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 2] = 1e3 * torch.randn(2, 8, generator=g)
    v2[:, :, 2] = 1e3 * torch.randn(2, 8, generator=g)
    assert_close(attention(q, k, v, mask), attention(q, k2, v2, mask), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(attention(q, k, v), attention(q, k2, v2))


def test_three_dim_mask_is_per_sample():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g) for _ in range(3))
    mask = random_mask(3, 5, 5, generator=g)
    per_sample = torch.cat([attention(q[i:i + 1], k[i:i + 1], v[i:i + 1], mask[i]) for i in range(3)])
    assert_close(attention(q, k, v, mask), per_sample, rtol=1e-6, atol=1e-6)


def test_attention_rejects_bad_shapes_and_masks():
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ValueError, match="B, heads, L, head_dim"):
        attention(q[0], q[0], q[0])
    with pytest.raises(ValueError, match="head_dim"):
        attention(q, torch.randn(1, 2, 4, 6), torch.randn(1, 2, 4, 6))
    with pytest.raises(ValueError, match="bool"):
        attention(q, q, q, torch.ones(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(Lq, Lk\)"):
        attention(q, q, q, torch.ones(4, 5, dtype=torch.bool))


# --- qk-norm and RoPE -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", QK_VARIANTS)
def test_self_attention_matches_qk_norm_formulas(kind):
    heads, dim = 2, 16
    layer = jitter(SelfAttention(dim, heads=heads, qk_norm=kind))
    x = torch.randn(2, 6, dim, generator=torch.Generator().manual_seed(4))
    q = normed_heads(x, layer.to_q, layer.norm_q, kind, heads)
    k = normed_heads(x, layer.to_k, layer.norm_k, kind, heads)
    expected = merged_out(reference_attention(q, k, plain_heads(x, layer.to_v, heads)), layer.to_out)
    assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_qk_norm_eps_and_affine_follow_the_official_code():
    wan, hunyuan, cog = (SelfAttention(32, heads=4, qk_norm=k) for k in QK_VARIANTS[:3])
    assert wan.norm_q.normalized_shape == (32,) and wan.norm_q.eps == 1e-6  # WanRMSNorm(dim)
    assert hunyuan.norm_q.normalized_shape == (8,) and hunyuan.norm_q.eps == 1e-6
    assert cog.norm_q.normalized_shape == (8,) and cog.norm_q.eps == 1e-6 and cog.norm_q.bias is not None


def test_rope_is_applied_after_qk_norm():
    heads, dim = 2, 24
    layer = jitter(SelfAttention(dim, heads=heads, qk_norm="rms_across_heads"))
    grid = (2, 3, 2)
    x = torch.randn(1, 12, dim, generator=torch.Generator().manual_seed(5))
    angles = axial_rope_angles(grid_positions(*grid), dims=(4, 4, 4))  # L head_dim/2
    q = apply_rope(normed_heads(x, layer.to_q, layer.norm_q, "rms_across_heads", heads), angles)
    k = apply_rope(normed_heads(x, layer.to_k, layer.norm_k, "rms_across_heads", heads), angles)
    expected = merged_out(reference_attention(q, k, plain_heads(x, layer.to_v, heads)), layer.to_out)
    assert_close(layer(x, rope=angles), expected, rtol=1e-5, atol=1e-5)


# --- parity with diffusers (the peer implementation) ----------------------------------------------

def load_from_diffusers(layer, peer, extra_names=None):
    names = {"to_out.0.": "to_out.", "add_k_proj.": "to_k_img.", "add_v_proj.": "to_v_img.",
             "norm_added_k.": "norm_k_img.", **(extra_names or {})}
    state = {}
    for name, value in peer.state_dict().items():
        for old, new in names.items():
            name = name.replace(old, new)
        state[name] = value
    layer.load_state_dict(state)


@pytest.mark.parametrize("kind, peer_kind", [("layer_norm_per_head", "layer_norm"),  # CogVideoX
                                             ("rms_per_head", "rms_norm")])  # HunyuanVideo
def test_per_head_qk_norm_matches_diffusers(kind, peer_kind):
    from diffusers.models.attention_processor import Attention as PeerAttention
    torch.manual_seed(0)
    peer = jitter(PeerAttention(32, heads=2, dim_head=16, qk_norm=peer_kind, eps=1e-6, bias=True))
    layer = SelfAttention(32, heads=2, qk_norm=kind)
    load_from_diffusers(layer, peer)
    x = torch.randn(2, 7, 32)
    assert_close(layer(x), peer(x), rtol=1e-5, atol=1e-6)


def wan_peer(dim, heads, **kwargs):
    from diffusers.models.transformers.transformer_wan import WanAttention, WanAttnProcessor
    torch.manual_seed(0)
    return jitter(WanAttention(dim, heads=heads, dim_head=dim // heads, eps=1e-6,
                               processor=WanAttnProcessor(), **kwargs))


def test_wan_self_attention_with_rope_matches_diffusers():
    dim, heads, grid = 32, 2, (2, 2, 3)
    peer = wan_peer(dim, heads)
    layer = SelfAttention(dim, heads=heads, qk_norm="rms_across_heads")
    load_from_diffusers(layer, peer)
    angles = axial_rope_angles(grid_positions(*grid), dims=(4, 6, 6))
    # diffusers wants cos/sin repeated per pair, laid out as B L heads d
    cos = angles.cos().repeat_interleave(2, -1)[None, :, None, :]
    sin = angles.sin().repeat_interleave(2, -1)[None, :, None, :]
    x = torch.randn(2, 12, dim)
    assert_close(layer(x, rope=angles), peer(x, rotary_emb=(cos, sin)), rtol=1e-5, atol=1e-6)


def test_wan_i2v_cross_attention_matches_diffusers():
    dim, heads = 32, 2
    peer = wan_peer(dim, heads, added_kv_proj_dim=dim, cross_attention_dim_head=dim // heads)
    layer = DecoupledCrossAttention(dim, context_dim=dim, image_dim=dim, heads=heads, qk_norm="rms_across_heads")
    load_from_diffusers(layer, peer)
    x, image, text = torch.randn(1, 6, dim), torch.randn(1, 5, dim), torch.randn(1, 512, dim)
    # diffusers (like the official code) receives [image; text] and assumes the text is 512 long
    assert_close(layer(x, text, image), peer(x, torch.cat([image, text], 1)), rtol=1e-5, atol=1e-6)


def test_ip_adapter_matches_diffusers():
    from diffusers.models.attention_processor import Attention as PeerAttention
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
    torch.manual_seed(0)
    peer = PeerAttention(16, cross_attention_dim=12, heads=2, dim_head=8)  # SD: no q/k/v bias
    peer.set_processor(IPAdapterAttnProcessor2_0(16, cross_attention_dim=20, num_tokens=(4,), scale=0.6))
    jitter(peer)
    layer = DecoupledCrossAttention(16, context_dim=12, image_dim=20, heads=2, bias=False, image_scale=0.6)
    names = {"processor.to_k_ip.0.": "to_k_img.", "processor.to_v_ip.0.": "to_v_img."}
    load_from_diffusers(layer, peer, names)
    x, text, image = torch.randn(2, 5, 16), torch.randn(2, 3, 12), torch.randn(2, 4, 20)
    assert_close(layer(x, text, image), peer(x, encoder_hidden_states=(text, [image])), rtol=1e-5, atol=1e-6)


# --- cross and decoupled attention ----------------------------------------------------------------

def test_decoupled_with_zero_image_scale_is_cross_attention_on_text():
    dim, heads = 16, 2
    decoupled = jitter(DecoupledCrossAttention(dim, context_dim=12, image_dim=20, heads=heads, image_scale=0.0))
    cross = CrossAttention(dim, context_dim=12, heads=heads)
    cross.load_state_dict(decoupled.state_dict(), strict=False)
    g = torch.Generator().manual_seed(6)
    x, text, image = (torch.randn(2, n, width, generator=g) for n, width in ((5, dim), (3, 12), (4, 20)))
    assert_close(decoupled(x, text, image), cross(x, text), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("image_scale", [1.0, 0.6])
def test_wan_i2v_form_is_the_sum_of_two_attentions_before_one_projection(image_scale):
    dim, heads, kind = 16, 2, "rms_across_heads"
    layer = jitter(DecoupledCrossAttention(dim, context_dim=dim, image_dim=dim, heads=heads, qk_norm=kind,
                                         image_scale=image_scale))
    g = torch.Generator().manual_seed(7)
    x, text, image = (torch.randn(2, n, dim, generator=g) for n in (5, 3, 4))
    q = normed_heads(x, layer.to_q, layer.norm_q, kind, heads)
    text_out = reference_attention(q, normed_heads(text, layer.to_k, layer.norm_k, kind, heads),
                                   plain_heads(text, layer.to_v, heads))
    image_out = reference_attention(q, normed_heads(image, layer.to_k_img, layer.norm_k_img, kind, heads),
                                    plain_heads(image, layer.to_v_img, heads))
    expected = merged_out(text_out + image_scale * image_out, layer.to_out)
    assert_close(layer(x, text, image), expected, rtol=1e-5, atol=1e-5)


def test_cross_attention_context_mask_hides_padded_text():
    layer = jitter(CrossAttention(16, context_dim=8, heads=2))
    g = torch.Generator().manual_seed(8)
    x, text = torch.randn(2, 4, 16, generator=g), torch.randn(2, 6, 8, generator=g)
    valid = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    out = layer(x, text, context_mask=valid)
    assert_close(out[1:], layer(x[1:], text[1:, :3]), rtol=1e-5, atol=1e-6)
    assert_close(out[:1], layer(x[:1], text[:1]), rtol=1e-5, atol=1e-6)


def test_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, L, 12\).*\(2, 3, 10\)"):
        CrossAttention(16, context_dim=12, heads=2)(torch.randn(2, 4, 16), torch.randn(2, 3, 10))
    with pytest.raises(ValueError, match="image tokens"):
        DecoupledCrossAttention(16, context_dim=12, image_dim=20, heads=2)(torch.randn(1, 4, 16), torch.randn(1, 3, 12),
                                               torch.randn(1, 2, 12))
    with pytest.raises(ValueError, match="qk_norm must be one of"):
        SelfAttention(16, heads=2, qk_norm="rms")
    with pytest.raises(ValueError, match="divisible"):
        SelfAttention(10, heads=3)
    with pytest.raises(ValueError, match="context_mask"):
        CrossAttention(16, context_dim=8, heads=2)(torch.randn(1, 4, 16), torch.randn(1, 3, 8),
                                 context_mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="x must be"):
        SelfAttention(16, heads=2)(torch.randn(1, 4, 8))


def test_split_heads_layout():
    x = torch.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    assert_close(split_heads(x, 2)[:, 1], x[..., 4:])  # head 1 = the second half of the channels
