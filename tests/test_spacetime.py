"""minivid.layers.spacetime: every factorisation of video attention is the same thing twice — a
reshape into short sequences, and a mask over the full (t h w) sequence."""
from __future__ import annotations

import pytest
import torch
from einops import rearrange
from torch.testing import assert_close

from minivid.layers.attention import attention
from minivid.layers.spacetime import VARIANTS, attention_cost, spacetime_attention, spacetime_mask

# (grid, window): non-square frames, a single frame, windows that are not squares
CASES = [((3, 4, 6), (2, 3)), ((5, 2, 3), (2, 1)), ((1, 4, 4), (2, 2)), ((4, 6, 4), (3, 4)),
         ((2, 3, 5), (3, 5))]


def qkv(grid, heads=4, batch=2, head_dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    length = grid[0] * grid[1] * grid[2]
    return [torch.randn(batch, heads, length, head_dim, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("grid, window", CASES)
def test_reshape_equals_masked_full_attention(variant, grid, window):
    q, k, v = qkv(grid, seed=10 * VARIANTS.index(variant) + sum(grid))
    mask = spacetime_mask(variant, grid, window, heads=q.shape[1])
    via_reshape = spacetime_attention(q, k, v, variant, grid, window)
    via_mask = attention(q, k, v, mask)
    assert_close(via_reshape, via_mask, rtol=1e-12, atol=1e-12)


def test_token_order_is_t_h_w():
    """A token's position in the sequence is the `(t h w)` flattening of the latent grid."""
    video = torch.randn(1, 2, 3, 4, 5)  # B C T H W
    tokens = rearrange(video, "b c t h w -> b (t h w) c")
    t, h, w = 2, 1, 3
    assert_close(tokens[0, t * 4 * 5 + h * 5 + w], video[0, :, t, h, w])
    mask = spacetime_mask("spatial", (3, 4, 5))
    assert mask[t * 20 + h * 5 + w].nonzero().squeeze(1).tolist() == list(range(t * 20, t * 20 + 20))


def frames_seen(mask, grid, frame):
    """Which frames a query in `frame` may attend to."""
    t, h, w = grid
    row = mask[frame * h * w].reshape(t, h * w)
    return [f for f in range(t) if row[f].any()]


def test_sparse_causal_follows_tune_a_video():
    """Official SparseCausalAttention: keys = [frame 0 ; frame max(i-1, 0)], never frame i for i ≥ 2."""
    grid = (5, 2, 2)
    mask = spacetime_mask("sparse_causal", grid)
    assert [frames_seen(mask, grid, i) for i in range(5)] == [[0], [0], [0, 1], [0, 2], [0, 3]]


def test_frame_causal_sees_the_past_and_its_own_frame():
    grid = (4, 2, 3)
    mask = spacetime_mask("frame_causal", grid)
    assert [frames_seen(mask, grid, i) for i in range(4)] == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]
    q, k, v = qkv(grid)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 12:], v2[:, :, 12:] = 7.0, -3.0  # change frames 2 and 3
    out, out2 = (spacetime_attention(q, kk, vv, "frame_causal", grid) for kk, vv in ((k, v), (k2, v2)))
    assert_close(out[:, :, :12], out2[:, :, :12])  # frames 0 and 1 cannot tell


def test_windows_stay_inside_their_window():
    grid, window = (2, 4, 6), (2, 3)
    spatial = spacetime_mask("spatial_window", grid, window).reshape(2, 4, 6, 2, 4, 6)
    query = spatial[1, 3, 4]  # frame 1, bottom-right window rows 2..3, cols 3..5
    assert query.nonzero().tolist() == [[1, r, c] for r in (2, 3) for c in (3, 4, 5)]
    spatiotemporal = spacetime_mask("spatiotemporal_window", grid, window).reshape(2, 4, 6, 2, 4, 6)
    every_frame = [[f, r, c] for f in (0, 1) for r in (2, 3) for c in (3, 4, 5)]
    assert spatiotemporal[1, 3, 4].nonzero().tolist() == every_frame


def test_factorised_heads_split_temporal_then_spatial():
    """ViViT model 4 (scenic factorized_dot_product_attention): first half temporal, second half spatial."""
    grid = (3, 2, 2)
    mask = spacetime_mask("factorised_heads", grid, heads=4)
    assert mask.shape == (1, 4, 12, 12)
    assert torch.equal(mask[0, 0], spacetime_mask("temporal", grid))
    assert torch.equal(mask[0, 3], spacetime_mask("spatial", grid))


@pytest.mark.parametrize("variant", VARIANTS)
def test_cost_counts_the_keys_of_the_mask(variant):
    grid, window, heads, dim = (4, 6, 4), (3, 2), 4, 32
    cost = attention_cost(variant, *grid, dim=dim, heads=heads, window=window)
    mask = spacetime_mask(variant, grid, window, heads=heads)
    allowed = mask.sum().item() * (1 if mask.dim() == 4 else heads)
    if variant == "sparse_causal":  # the official code computes frame 0 twice for frames 0 and 1
        allowed += 2 * (6 * 4) ** 2 * heads
    assert cost["scores"] == allowed
    assert cost["flops"] == 4 * cost["scores"] * (dim // heads)  # QKᵀ and AV, 2·L·L_k·d each
    assert cost["score_bytes_bf16"] == 2 * cost["scores"] and cost["score_bytes_fp32"] == 4 * cost["scores"]


def test_wan_480p_and_720p_sequence_lengths():
    """81 frames → 21 latent frames (4× causal VAE), 8× space, 1×2×2 patch (Wan2.1)."""
    def tokens(frames, height, width):
        t, h, w = 1 + (frames - 1) // 4, height // 8 // 2, width // 8 // 2
        return attention_cost("full", t, h, w, dim=1536, heads=12)["tokens"], (t, h, w)

    assert tokens(81, 480, 832) == (32_760, (21, 30, 52))
    assert tokens(81, 720, 1280) == (75_600, (21, 45, 80))
    full = attention_cost("full", 21, 30, 52, dim=1536, heads=12)
    spatial = attention_cost("spatial", 21, 30, 52, dim=1536, heads=12)
    assert full["flops"] == 4 * 32_760**2 * 1536
    assert full["flops"] == 21 * spatial["flops"]  # spatial attention saves a factor t


def test_clear_errors():
    q, k, v = qkv((2, 4, 4))
    with pytest.raises(ValueError, match="variant must be one of"):
        spacetime_mask("axial", (2, 4, 4))
    with pytest.raises(ValueError, match="window"):
        spacetime_attention(q, k, v, "spatial_window", (2, 4, 4))
    with pytest.raises(ValueError, match="must divide"):
        spacetime_mask("spatial_window", (2, 4, 4), (3, 2))
    with pytest.raises(ValueError, match="does not match grid"):
        spacetime_attention(q, k, v, "spatial", (2, 4, 5))
    with pytest.raises(ValueError, match="even"):
        spacetime_attention(q[:, :3], k[:, :3], v[:, :3], "factorised_heads", (2, 4, 4))
    with pytest.raises(ValueError, match="heads="):
        spacetime_mask("factorised_heads", (2, 4, 4))
