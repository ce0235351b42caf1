"""minivid `CogVideoXModel` == diffusers `CogVideoXTransformer3DModel` on random weights (fp32), for the 2B
(3D sin-cos), 5B (3D RoPE), 5B-I2V (RoPE + learned table, 32 channels) and 1.5 I2V (2x2x2 tubes, ofs)
layouts; converter round trips; `from_pretrained` on folders diffusers wrote itself, sharded too.

Tiny configs (2 heads x 32, 2 layers, the scale of diffusers' own tests). Every constant-initialised
parameter (norm weights and biases, the zero-initialised adaLN) is jittered first, so a swapped shift and
scale or a text/video expert mix-up shows. diffusers takes the RoPE tables from its pipeline; they are
built here the way the pipelines build them (integer positions on the token grid, as the official code).
"""
import math

import pytest
import torch

from minivid.interop.cogvideox import (config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
                                       from_diffusers, from_pretrained, minivid_to_diffusers, to_diffusers)

diffusers = pytest.importorskip("diffusers")
from diffusers.models.embeddings import get_3d_rotary_pos_embed  # noqa: E402

TOLERANCE = 1e-5  # max |minivid - diffusers| / max |diffusers|
TINY = dict(num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16, time_embed_dim=64,
            text_embed_dim=32, num_layers=2, sample_width=16, sample_height=16, sample_frames=17, patch_size=2,
            patch_size_t=None, temporal_compression_ratio=4, max_text_seq_length=16)
VARIANTS = {"2b": dict(use_rotary_positional_embeddings=False),
            "5b": dict(use_rotary_positional_embeddings=True),
            "5b-i2v": dict(in_channels=32, use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True),
            "1.5-i2v": dict(in_channels=32, use_rotary_positional_embeddings=True, patch_size_t=2, patch_bias=False,
                            ofs_embed_dim=64)}
# (batch, latent frames, H, W, text tokens): odd token grids (6x10 latents -> 3x5 tokens), 1 and 7+ latent
# frames, batch 3, text shorter and longer than max_text_seq_length where the layout allows it
CASES = {
    "2b": [(2, 5, 16, 16, 16), (3, 1, 6, 10, 16), (1, 7, 10, 6, 16)],  # diffusers needs the full text length
    "5b": [(2, 5, 16, 16, 16), (3, 1, 6, 10, 7), (1, 8, 10, 6, 23), (2, 3, 16, 16, 16)],
    "5b-i2v": [(2, 5, 16, 16, 16), (3, 5, 16, 16, 16)],  # learned positions: the training grid only
    "1.5-i2v": [(2, 2, 16, 16, 16), (3, 8, 6, 10, 7), (1, 4, 10, 6, 23)],
}


def peer(variant: str, seed: int = 0):
    torch.manual_seed(seed)
    model = diffusers.CogVideoXTransformer3DModel(**{**TINY, **VARIANTS[variant]}).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.unique().numel() == 1:  # constant init: LayerNorm weights/biases, zero adaLN
                p.add_(0.1 * torch.randn_like(p))
        if getattr(model.patch_embed, "pos_embedding", None) is not None and VARIANTS[variant].get(
                "use_learned_positional_embeddings"):
            table = model.patch_embed.pos_embedding  # diffusers keeps it in float64; checkpoints hold float32
            table.copy_(torch.randn(table.shape, dtype=torch.float32) * 0.5)  # a learned table worth the name
    return model


def rotary(frames: int, h: int, w: int, head_dim: int = 32, patch_t=None):
    """The (cos, sin) tables of `pipeline_cogvideox.py` for a grid of tokens, at integer positions."""
    if patch_t is None:
        return get_3d_rotary_pos_embed(head_dim, ((0, 0), (h, w)), (h, w), frames, use_real=True)
    return get_3d_rotary_pos_embed(head_dim, None, (h, w), frames, grid_type="slice", max_size=(h, w), use_real=True)


def run_both(variant, batch, frames, h, w, text, seed=3):
    theirs = peer(variant)
    ours = from_diffusers(theirs).eval()
    cfg = ours.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, cfg.in_channels, h, w, generator=g)  # B F C H W
    context = torch.randn(batch, text, 32, generator=g)
    t = torch.tensor([999, 500, 17][:batch])
    ofs = torch.full((batch,), 2.0) if cfg.ofs_embed_dim else None
    extra = {}
    if cfg.positions != "sincos":
        pt = cfg.patch_t or 1
        extra["image_rotary_emb"] = rotary(frames // pt, h // 2, w // 2, cfg.head_dim, cfg.patch_t)
    with torch.no_grad():
        expected = theirs(x, context, t, ofs=ofs, **extra).sample
        out = ours(x, t, context, ofs=ofs)
    return out, expected


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("variant,case", [(v, c) for v, cases in CASES.items() for c in cases],
                         ids=lambda c: str(c))
def test_minivid_matches_diffusers(variant, case):
    out, expected = run_both(variant, *case)
    assert out.shape == expected.shape == (case[0], case[1], 16, case[2], case[3])
    error = relative_error(out, expected)
    print(f"{variant} {case}: relative error {error:.1e}")
    assert error <= TOLERANCE


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_converters_round_trip_exactly(variant):
    theirs = peer(variant)
    config = config_from_diffusers(theirs.config)
    state = theirs.state_dict()
    back = minivid_to_diffusers(diffusers_to_minivid(state, config), config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    rebuilt = to_diffusers(from_diffusers(theirs))
    assert config_from_diffusers(rebuilt.config) == config
    assert all(torch.equal(v, state[k]) for k, v in rebuilt.state_dict().items())


def test_expert_adaln_splits_text_and_video_the_way_the_official_checkpoint_does():
    """Chunk 2 of the 12 (video's attention gate) lands in diffusers' norm1 chunk 2; chunk 8 (the text's
    attention gate) in norm1 chunk 5; chunk 5 (video's MLP gate) in norm2 chunk 2."""
    theirs = peer("5b")
    config = config_from_diffusers(theirs.config)
    ours = diffusers_to_minivid(theirs.state_dict(), config)
    chunks = ours["blocks.0.modulation.1.weight"].chunk(12)
    norm1 = theirs.state_dict()["transformer_blocks.0.norm1.linear.weight"].chunk(6)
    norm2 = theirs.state_dict()["transformer_blocks.0.norm2.linear.weight"].chunk(6)
    assert torch.equal(chunks[2], norm1[2]) and torch.equal(chunks[8], norm1[5]) and torch.equal(chunks[5], norm2[2])


@pytest.mark.parametrize("sharded", [False, True])
def test_from_pretrained_reads_a_diffusers_folder(tmp_path, sharded):
    theirs = peer("5b", seed=4)
    theirs.save_pretrained(tmp_path, max_shard_size="100KB" if sharded else "10GB")
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").exists() == sharded
    ours = from_pretrained(tmp_path)
    assert ours.config == config_from_diffusers(theirs.config) and not ours.training
    g = torch.Generator().manual_seed(0)
    x, context = torch.randn(2, 3, 16, 6, 10, generator=g), torch.randn(2, 9, 32, generator=g)
    with torch.no_grad():
        expected = theirs(x, context, torch.tensor([10, 900]), image_rotary_emb=rotary(3, 3, 5)).sample
        assert relative_error(ours(x, torch.tensor([10, 900]), context), expected) <= TOLERANCE


def test_diffusers_swaps_the_learned_table_for_sin_cos_at_another_frame_count():
    """Found on the way: at a frame count other than its sample_frames, diffusers' 5B-I2V silently adds a
    freshly computed sin-cos table instead of its learned one; the official code (and minivid) cut the learned
    table at the clip's length. The outputs then differ by far more than rounding."""
    out, expected = run_both("5b-i2v", 1, 3, 16, 16, 16)
    assert relative_error(out, expected) > 1e-2


def test_counts_match_diffusers_on_the_meta_device():
    import minivid.presets as presets

    for name in ("cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b"):
        with torch.device("meta"):
            theirs = diffusers.CogVideoXTransformer3DModel(**config_to_diffusers(presets.COGVIDEOX_CONFIGS[name]))
        assert presets.count_params(name) == sum(p.numel() for p in theirs.parameters()) == presets.get(name).expected_params
    assert math.prod(presets.cost("cogvideox-2b", 49, 480, 720).token_grid) == 17_550
