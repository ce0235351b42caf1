"""RoPE: the relative-position property first, then the published splits, then parity with diffusers.

Parity runs each model's own diffusers code path: the rotary table its model builds and the
rotation its attention processor applies, with q/k captured right before attention.
"""
import pytest
import torch
from einops import rearrange
from torch import nn
from torch.testing import assert_close

from minivid.layers.rope import (ROPE_THETA, apply_rope, axial_rope_angles, check_rope_dims, grid_positions,
                                 rope_3d, rope_angles, rope_dims)

PAIRINGS = ["adjacent", "half"]
GRIDS = [(3, 4, 6), (5, 3, 7)]  # latent tokens after patchify: (t, h, w), non-square and odd


def scores(q, k):
    return torch.einsum("bhnd,bhmd->bhnm", q, k)


# --- the property ---------------------------------------------------------------------------

@pytest.mark.parametrize("pairing", PAIRINGS)
@pytest.mark.parametrize("dims", [(44, 42, 42), (16, 24, 24), (16, 56, 56), (4, 2, 10)])
def test_scores_depend_only_on_relative_3d_offset(pairing, dims):
    generator = torch.Generator().manual_seed(sum(dims))
    head_dim = sum(dims)
    for _ in range(5):
        q = torch.randn(2, 3, 7, head_dim, generator=generator, dtype=torch.float64)
        k = torch.randn(2, 3, 7, head_dim, generator=generator, dtype=torch.float64)
        positions_q = torch.randint(0, 50, (7, 3), generator=generator)
        positions_k = torch.randint(0, 50, (7, 3), generator=generator)
        shift = torch.randint(-30, 300, (3,), generator=generator)

        def rotated_scores(offset):
            rq = apply_rope(q, axial_rope_angles(positions_q + offset, dims, theta=256.0), pairing)
            rk = apply_rope(k, axial_rope_angles(positions_k + offset, dims, theta=256.0), pairing)
            return scores(rq, rk)

        assert_close(rotated_scores(shift), rotated_scores(torch.zeros(3, dtype=torch.long)),
                     rtol=1e-10, atol=1e-10)
        # and the positions do matter: moving only the keys changes the scores
        moved = scores(q, apply_rope(k, axial_rope_angles(positions_k + shift, dims), pairing))
        assert not torch.allclose(moved, scores(q, apply_rope(k, axial_rope_angles(positions_k, dims), pairing)))


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_1d_scores_depend_only_on_relative_offset(pairing):
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 9, 32, generator=generator, dtype=torch.float64)
    k = torch.randn(1, 2, 9, 32, generator=generator, dtype=torch.float64)
    positions = torch.arange(9)

    def rotated_scores(offset):
        angles = rope_angles(positions + offset, 32)
        return scores(apply_rope(q, angles, pairing), apply_rope(k, angles, pairing))

    assert_close(rotated_scores(1000), rotated_scores(0), rtol=1e-10, atol=1e-10)


def test_rotation_preserves_norm_and_zero_angles_are_identity():
    x = torch.randn(2, 2, 12, 32, dtype=torch.float64)
    angles = rope_3d((2, 2, 3), (12, 10, 10))
    for pairing in PAIRINGS:
        assert_close(apply_rope(x, angles, pairing).norm(dim=-1), x.norm(dim=-1))
        assert_close(apply_rope(x, torch.zeros(12, 16), pairing), x)  # padding tokens stay untouched


def test_pairings_are_a_channel_permutation_of_each_other():
    x = torch.randn(1, 2, 24, 64)
    angles = rope_3d((2, 3, 4), (16, 24, 24))
    interleaved_to_halves = torch.cat([torch.arange(0, 64, 2), torch.arange(1, 64, 2)])
    adjacent = apply_rope(x, angles, "adjacent")
    half = apply_rope(x[..., interleaved_to_halves], angles, "half")
    assert_close(half, adjacent[..., interleaved_to_halves])
    # ...and without that permutation they disagree: weights trained with one cannot load into the other
    assert (apply_rope(x, angles, "half") - adjacent).abs().max() > 0.1


def test_adjacent_pairing_is_complex_multiplication():
    """Wan's `rope_apply`: view_as_complex(x.reshape(..., -1, 2)) * polar(1, angle)."""
    x = torch.randn(2, 3, 30, 44, dtype=torch.float64)
    angles = rope_3d((2, 3, 5), (12, 16, 16), theta=10000.0)
    expected = torch.view_as_real(torch.view_as_complex(x.reshape(2, 3, 30, 22, 2)) *
                                  torch.polar(torch.ones_like(angles), angles)).flatten(3)
    assert_close(apply_rope(x, angles, "adjacent"), expected)


def test_half_pairing_is_llama_rotate_half():
    x = torch.randn(2, 3, 30, 44, dtype=torch.float64)
    angles = rope_3d((2, 3, 5), (12, 16, 16))
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    rotate_half = torch.cat([-x[..., 22:], x[..., :22]], dim=-1)
    assert_close(apply_rope(x, angles, "half"), x * cos + rotate_half * sin)


def test_per_sample_angles_equal_shared_angles_per_sample():
    x = torch.randn(2, 4, 24, 32)
    a0, a1 = rope_3d((2, 3, 4), (8, 12, 12)), rope_3d((4, 3, 2), (8, 12, 12))
    batched = apply_rope(x, torch.stack([a0, a1]))
    assert_close(batched[0], apply_rope(x[:1], a0)[0])
    assert_close(batched[1], apply_rope(x[1:], a1)[0])


def test_low_precision_keeps_dtype_and_value():
    x = torch.randn(1, 2, 60, 128)
    angles = rope_3d((3, 4, 5), rope_dims("wan", 128))
    out = apply_rope(x.bfloat16(), angles)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), apply_rope(x.bfloat16().float(), angles), rtol=1e-2, atol=1e-2)


# --- grid order and the published splits ----------------------------------------------------

def test_grid_positions_follow_rearrange_token_order():
    t, h, w = 3, 4, 5
    coords = torch.stack(torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij"))
    video = rearrange(coords, "c t h w -> 1 c t h w")  # a "video" whose channels are its own coordinates
    tokens = rearrange(video, "b c t h w -> b (t h w) c")[0]
    assert torch.equal(grid_positions(t, h, w), tokens)


def test_published_rope_splits():
    assert rope_dims("wan", 128) == (44, 42, 42)  # 22/21/21 complex frequencies
    assert rope_dims("cogvideox", 64) == (16, 24, 24)
    assert rope_dims("hunyuanvideo", 128) == (16, 56, 56)
    assert ROPE_THETA == {"wan": 10000.0, "cogvideox": 10000.0, "hunyuanvideo": 256.0}
    assert rope_3d((21, 30, 52), rope_dims("wan", 128)).shape == (32760, 64)


def test_each_axis_uses_its_own_frequency_ladder():
    angles = rope_3d((2, 3, 4), (4, 6, 6), theta=100.0)
    t, h, w = grid_positions(2, 3, 4).double().unbind(-1)
    ladder = lambda d: 100.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # noqa: E731
    assert_close(angles, torch.cat([t[:, None] * ladder(4), h[:, None] * ladder(6), w[:, None] * ladder(6)], -1))


def test_bad_splits_and_shapes_raise():
    with pytest.raises(ValueError, match="add up to 126"):
        check_rope_dims((42, 42, 42), 128)
    with pytest.raises(ValueError, match="odd"):
        check_rope_dims((43, 43, 42), 128)
    with pytest.raises(ValueError, match="odd"):
        rope_dims("cogvideox", 24)  # 6/9/9
    with pytest.raises(ValueError, match="head_dim 128"):
        rope_dims("hunyuanvideo", 64)
    with pytest.raises(ValueError, match="unknown model"):
        rope_dims("sora", 64)
    with pytest.raises(ValueError, match="one width per axis"):
        axial_rope_angles(grid_positions(2, 2, 2), (8, 8))
    with pytest.raises(ValueError, match="do not fit"):
        apply_rope(torch.randn(1, 2, 8, 16), torch.zeros(8, 7))
    with pytest.raises(ValueError, match="pairing"):
        apply_rope(torch.randn(1, 2, 8, 16), torch.zeros(8, 8), pairing="neox")


# --- parity with diffusers: the rotated q and k each model actually attends with ---------------

def random_linear(features):
    layer = nn.Linear(features, features)
    nn.init.normal_(layer.bias, std=0.1)
    return layer


def capture_attention(monkeypatch, module, name):
    """Replace the attention call in `module` by one that records (query, key) and returns value."""
    seen = {}

    def record(query, key, value, *args, **kwargs):
        seen["q"], seen["k"] = query, key
        return value

    monkeypatch.setattr(module, name, record)
    return seen


@pytest.mark.parametrize("grid", GRIDS)
def test_wan_rotated_qk_match_diffusers(monkeypatch, grid):
    from diffusers.models.transformers import transformer_wan

    torch.manual_seed(0)
    heads, head_dim = 2, 128
    t, h, w = grid
    attn = transformer_wan.WanAttention(dim=heads * head_dim, heads=heads, dim_head=head_dim,
                                        processor=transformer_wan.WanAttnProcessor())
    attn.norm_q, attn.norm_k = nn.Identity(), nn.Identity()  # isolate the rotation
    attn.to_q, attn.to_k = random_linear(heads * head_dim), random_linear(heads * head_dim)
    seen = capture_attention(monkeypatch, transformer_wan, "dispatch_attention_fn")

    latents = torch.zeros(1, 16, t, 2 * h, 2 * w)  # patch (1, 2, 2) -> grid (t, h, w)
    rotary = transformer_wan.WanRotaryPosEmbed(head_dim, (1, 2, 2), max_seq_len=1024)(latents)
    x = torch.randn(1, t * h * w, heads * head_dim)
    attn(x, None, None, rotary)

    angles = rope_3d(grid, rope_dims("wan", head_dim), ROPE_THETA["wan"])
    for name, proj in (("q", attn.to_q), ("k", attn.to_k)):
        ours = apply_rope(rearrange(proj(x), "b n (h d) -> b h n d", h=heads), angles, "adjacent")
        assert_close(rearrange(ours, "b h n d -> b n h d"), seen[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grid", GRIDS)
def test_cogvideox_rotated_qk_match_diffusers_on_video_tokens_only(monkeypatch, grid):
    from diffusers.models import attention_processor
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    torch.manual_seed(0)
    heads, head_dim, text_len = 2, 64, 5
    t, h, w = grid
    attn = attention_processor.Attention(query_dim=heads * head_dim, dim_head=head_dim, heads=heads, bias=True,
                                         processor=attention_processor.CogVideoXAttnProcessor2_0())
    seen = capture_attention(monkeypatch, attention_processor.F, "scaled_dot_product_attention")

    # the pipeline's crop region is the whole grid when the latent size equals the trained size
    rotary = get_3d_rotary_pos_embed(head_dim, ((0, 0), (h, w)), (h, w), t)
    text, video = torch.randn(1, text_len, heads * head_dim), torch.randn(1, t * h * w, heads * head_dim)
    attn(video, encoder_hidden_states=text, image_rotary_emb=rotary)

    angles = rope_3d(grid, rope_dims("cogvideox", head_dim), ROPE_THETA["cogvideox"])
    for name, proj in (("q", attn.to_q), ("k", attn.to_k)):
        split = lambda y: rearrange(proj(y), "b n (h d) -> b h n d", h=heads)  # noqa: E731
        assert_close(seen[name][:, :, :text_len], split(text), rtol=1e-5, atol=1e-5)  # text first, unrotated
        assert_close(seen[name][:, :, text_len:], apply_rope(split(video), angles, "adjacent"),
                     rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("grid", GRIDS)
def test_hunyuanvideo_rotated_qk_match_diffusers_on_video_tokens_only(monkeypatch, grid):
    from diffusers.models.attention_processor import Attention
    from diffusers.models.transformers import transformer_hunyuan_video as hy

    torch.manual_seed(0)
    heads, head_dim, text_len = 2, 128, 5
    t, h, w = grid
    attn = Attention(query_dim=heads * head_dim, dim_head=head_dim, heads=heads, out_dim=heads * head_dim,
                     bias=True, pre_only=True, processor=hy.HunyuanVideoAttnProcessor2_0())
    seen = capture_attention(monkeypatch, hy, "dispatch_attention_fn")

    latents = torch.zeros(1, 16, t, 2 * h, 2 * w)
    rotary = hy.HunyuanVideoRotaryPosEmbed(patch_size=2, patch_size_t=1, rope_dim=[16, 56, 56], theta=256.0)(latents)
    text, video = torch.randn(1, text_len, heads * head_dim), torch.randn(1, t * h * w, heads * head_dim)
    attn(video, encoder_hidden_states=text, image_rotary_emb=rotary)  # single-stream: [video; text]

    angles = rope_3d(grid, rope_dims("hunyuanvideo", head_dim), ROPE_THETA["hunyuanvideo"])
    for name, proj in (("q", attn.to_q), ("k", attn.to_k)):
        split = lambda y: rearrange(proj(y), "b n (h d) -> b h n d", h=heads)  # noqa: E731
        ours = rearrange(apply_rope(split(video), angles, "adjacent"), "b h n d -> b n h d")
        assert_close(seen[name][:, : t * h * w], ours, rtol=1e-5, atol=1e-5)
        assert_close(seen[name][:, t * h * w:], rearrange(split(text), "b h n d -> b n h d"), rtol=1e-5, atol=1e-5)
