"""minivid.layers.packing: NaViT Patch n' Pack for video. The key property: a transformer block on
a packed batch gives every clip exactly the output it gets alone."""
from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

from minivid.layers.attention import SelfAttention
from minivid.layers.packing import (STRATEGIES, group_by_max_len, mixed_clip_grids, pack_clips,
                                    packing_waste, padding_waste, unpack, waste_report)
from minivid.layers.rope import axial_rope_angles, grid_positions

DIM, HEADS, ROPE_DIMS = 32, 2, (4, 6, 6)  # head_dim 16 = 4 + 6 + 6


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN x) with 3D RoPE, then x + MLP(LN x)."""

    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.attn = SelfAttention(DIM, heads=HEADS, qk_norm="rms_across_heads")
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * DIM, DIM))

    def forward(self, x, positions, mask=None):  # x B L C, positions (B) L 3
        x = x + self.attn(self.norm1(x), mask=mask, rope=axial_rope_angles(positions, ROPE_DIMS))
        return x + self.mlp(self.norm2(x))


def random_clips(rng, count, channels=DIM):
    grids = [(rng.randint(1, 4), rng.randint(1, 5), rng.randint(1, 5)) for _ in range(count)]
    g = torch.Generator().manual_seed(rng.randint(0, 10**6))
    clips = [torch.randn(t * h * w, channels, generator=g, dtype=torch.float64) for t, h, w in grids]
    return clips, grids


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", range(4))
def test_packed_block_equals_each_clip_alone(strategy, seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    block = Block().double()
    with torch.no_grad():  # norm weights = 1 and zero biases would hide a dropped affine
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    clips, grids = random_clips(rng, rng.randint(2, 8))
    packed = pack_clips(clips, grids, max_len=max(80, max(len(c) for c in clips)), strategy=strategy)
    out = unpack(block(packed.tokens, packed.positions, packed.attn_mask), packed)
    for clip, grid, clip_out in zip(clips, grids, out):
        alone = block(clip[None], grid_positions(*grid))[0]
        assert_close(clip_out, alone, rtol=1e-10, atol=1e-10)


def test_packed_output_is_finite_and_padding_stays_apart():
    clips, grids = random_clips(random.Random(5), 5)
    packed = pack_clips(clips, grids, max_len=100)
    mask, valid = packed.attn_mask, packed.key_valid
    assert (~valid).any(), "the case should contain padding"
    assert not (mask & valid[:, :, None] & ~valid[:, None, :]).any(), "a real token attends to padding"
    assert mask.any(-1).all(), "every query (padding included) must attend to something"
    out = Block().double()(packed.tokens, packed.positions, mask)
    assert torch.isfinite(out).all()


def test_mask_is_block_diagonal_by_clip():
    clips, grids = random_clips(random.Random(6), 4)
    packed = pack_clips(clips, grids, max_len=120)
    ids = packed.clip_ids
    same_clip = (ids[:, :, None] == ids[:, None, :]) & (ids[:, :, None] >= 0)
    assert torch.equal(packed.attn_mask & packed.key_valid[:, :, None], same_clip)
    assert torch.equal(packed.key_valid, ids >= 0)


def test_positions_restart_in_every_clip():
    clips, grids = random_clips(random.Random(7), 6)
    packed = pack_clips(clips, grids, max_len=150)
    for i, (row, start, n) in enumerate(packed.slots):
        assert torch.equal(packed.positions[row, start:start + n], grid_positions(*grids[i]))
        assert (packed.clip_ids[row, start:start + n] == i).all()
    assert (packed.positions[~packed.key_valid] == 0).all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_unpack_returns_the_clips_in_input_order(strategy):
    clips, grids = random_clips(random.Random(8), 7)
    packed = pack_clips(clips, grids, max_len=110, strategy=strategy)
    for original, back in zip(clips, unpack(packed.tokens, packed)):
        assert torch.equal(original, back)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=25), st.sampled_from(STRATEGIES))
def test_grouping_places_every_clip_once_within_max_len(lengths, strategy):
    rows = group_by_max_len(lengths, 50, strategy)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 50 for row in rows)
    if strategy == "next_fit":  # keeps the input order, a new row only when the next clip does not fit
        assert [i for row in rows for i in row] == list(range(len(lengths)))
        assert all(sum(lengths[i] for i in a) + lengths[b[0]] > 50 for a, b in zip(rows, rows[1:]))


def test_waste_formulas_on_a_hand_example():
    assert padding_waste([2, 4]) == pytest.approx(2 / 8)
    assert packing_waste([2, 4, 3], 5, "next_fit") == pytest.approx(1 - 9 / 15)  # [2] [4] [3]
    assert packing_waste([2, 4, 3], 5, "first_fit_decreasing") == pytest.approx(1 - 9 / 10)  # [4] [3 2]


def test_packing_wastes_less_than_padding_on_a_realistic_mix():
    grids = mixed_clip_grids(64, seed=0)
    assert {t for t, _, _ in grids} == {2, 3, 4, 5}  # 5/9/13/17 frames through a 4x causal VAE
    lengths = [t * h * w for t, h, w in grids]
    report = waste_report(lengths, max_len=4096)
    assert report["first_fit_decreasing_waste"] <= report["next_fit_waste"] < report["padding_waste"]


def test_clear_errors():
    clip = torch.randn(12, 8)
    with pytest.raises(ValueError, match="at least one clip"):
        pack_clips([], [], 16)
    with pytest.raises(ValueError, match="longer than max_len"):
        pack_clips([clip], [(3, 2, 2)], 10)
    with pytest.raises(ValueError, match=r"\(N_i, 8\)"):
        pack_clips([clip, torch.randn(4, 6)], [(3, 2, 2), (1, 2, 2)], 16)
    with pytest.raises(ValueError, match="grid"):
        pack_clips([clip], [(2, 2, 2)], 16)
    with pytest.raises(ValueError, match="one \\(t, h, w\\) grid per clip"):
        pack_clips([clip], [], 16)
    with pytest.raises(ValueError, match="strategy must be one of"):
        group_by_max_len([3], 4, "best_fit")
