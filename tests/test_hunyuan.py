"""minivid.models.hunyuan: identity at init, the padding as the official varlen attention sees it, token
replace, and the FLOP formula against a direct count."""
import dataclasses

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

import minivid.presets as presets
from minivid.layers.attention import attention
from minivid.models.hunyuan import (Conditioning, DoubleStreamBlock, HunyuanVideoModel, SingleStreamBlock,
                                    TokenRefinerBlock, forward_flops, joint_attention)

TINY = presets.HUNYUANVIDEO_CONFIGS["hunyuanvideo-t2v-tiny"]


def jittered(config, seed: int = 0) -> HunyuanVideoModel:
    torch.manual_seed(seed)
    model = HunyuanVideoModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def call(model, batch=2, frames=2, size=6, text=7, valid=(7, 3), t=(500.0, 80.0), seed=0, context=None):
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, frames, size, size, generator=g)
    context = torch.randn(batch, text, cfg.text_dim, generator=g) if context is None else context
    mask = torch.arange(text) < torch.tensor(valid)[:, None]
    pooled = torch.randn(batch, cfg.pooled_dim, generator=g)
    with torch.no_grad():
        return model(x, torch.tensor(t), context, mask, pooled, 6000.0 if cfg.guidance_embed else None)


def test_every_block_is_the_identity_and_the_model_outputs_zero_at_init():
    torch.manual_seed(0)
    model = HunyuanVideoModel(TINY)
    video, text = torch.randn(2, 12, TINY.dim), torch.randn(2, 5, TINY.dim)
    cond, valid = Conditioning(torch.randn(2, TINY.dim)), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool()
    rope = torch.randn(12, TINY.head_dim // 2)
    assert all(torch.equal(a, b) for a, b in zip(model.double_blocks[0](video, text, cond, valid, rope), (video, text)))
    joint = torch.cat([video, text], 1)
    assert torch.equal(model.single_blocks[0](joint, cond, valid, rope), joint)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    assert torch.equal(model.txt_in.blocks[0](text, cond.vec, mask), text)
    assert torch.equal(call(model), torch.zeros(2, 16, 2, 6, 6))
    assert {type(b) for b in model.modules()} >= {DoubleStreamBlock, SingleStreamBlock, TokenRefinerBlock}


def test_padded_text_tokens_have_no_effect_at_all():
    """Whatever sits in the padded slots (and whatever a pad token's state becomes), the velocity is the same."""
    model = jittered(TINY)
    context = torch.randn(2, 7, TINY.text_dim)
    changed = context.clone()
    changed[1, 3:] = 100 * torch.randn(4, TINY.text_dim)  # sample 1 has 3 real tokens
    assert torch.equal(call(model, context=context), call(model, context=changed))


def test_joint_attention_is_the_official_two_segment_varlen_attention():
    """[video + real text] attend among themselves; the padding attends to the padding only (checked against
    an explicit L x L segment mask, which `joint_attention` never builds)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 10 + 6, 8, generator=g) for _ in range(3))
    text_valid = torch.arange(6) < torch.tensor([6, 4, 1])[:, None]  # B Lt
    segment = torch.cat([torch.ones(3, 10, dtype=torch.bool), text_valid], 1)  # True: first segment
    reference = attention(q, k, v, (segment[:, :, None] == segment[:, None, :])[:, None])
    assert_close(joint_attention(q, k, v, text_valid), reference, rtol=1e-6, atol=1e-6)
    # a pad's output moves with the other pads' values only
    v2 = v.clone()
    v2[:, :, :14] += 1.0  # every video and real text token of samples 1 and 2, none of their pads
    moved = joint_attention(q, k, v2, text_valid) - joint_attention(q, k, v, text_valid)
    assert moved[1, :, 14:].abs().max() == 0 and moved[1, :, :14].abs().min() > 0


def test_token_replace_modulates_the_first_frame_as_at_t_0():
    """Token replace gives the first latent frame's tokens the modulation of t = 0: at t = 0 the I2V model is
    the T2V model with the same weights; at t > 0 only the first frame's tokens see a different condition."""
    plain = dataclasses.replace(TINY, guidance_embed=False)
    replace = dataclasses.replace(plain, image_condition="token_replace")
    a, b = jittered(plain), HunyuanVideoModel(replace).eval()
    b.load_state_dict(a.state_dict())
    assert torch.equal(call(a, t=(0.0, 0.0)), call(b, t=(0.0, 0.0)))
    assert not torch.allclose(call(a), call(b))


def test_guidance_changes_the_distilled_models_output():
    model = jittered(TINY)
    cfg = model.config
    g = torch.Generator().manual_seed(1)
    x, context = torch.randn(1, 16, 2, 4, 4, generator=g), torch.randn(1, 5, cfg.text_dim, generator=g)
    pooled, mask = torch.randn(1, cfg.pooled_dim, generator=g), torch.ones(1, 5)
    with torch.no_grad():
        low, high = (model(x, 500.0, context, mask, pooled, guidance) for guidance in (1000.0, 6000.0))
    assert (low - high).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["hunyuanvideo-t2v-tiny", "hunyuanvideo-i2v-33ch-tiny"])
def test_flop_formula_equals_a_direct_count_on_the_tiny_model(name):
    """Linear (addmm) + patch Conv3d vs "linear"; QKᵀ and AV (bmm, math SDPA backend) vs "attention"."""
    model = presets.build(name, "cpu").eval()
    cfg, text = model.config, 16
    x = torch.randn(1, cfg.in_channels, 3, 6, 10)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, torch.tensor([500.0]), torch.randn(1, text, cfg.text_dim), torch.ones(1, text),
              torch.randn(1, cfg.pooled_dim), 6000.0 if cfg.guidance_embed else None)
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    flops = forward_flops(cfg, (3, 3, 5), text)
    assert counts["aten.convolution"] + counts["aten.addmm"] == flops["linear"]
    assert counts["aten.bmm"] == flops["attention"]


def test_129_frames_at_720p_are_118800_video_tokens():
    c = presets.cost("hunyuanvideo-t2v", 129, 720, 1280)
    assert c.latent_shape == (16, 33, 90, 160) and c.token_grid == (33, 45, 80) and c.tokens == 118_800
    assert c.params == 12_821_012_544
