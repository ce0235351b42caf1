"""DiT: minivid vs diffusers `DiTTransformer2DModel` on random weights (fp32), and the converter.

The peer is a tiny config (2 heads x 32, 2 layers) with a fixed seed; every parameter gets
N(0, 0.1) noise on top of its init (diffusers itself zero-inits nothing, minivid's adaLN-Zero would), and
block 0's timestep+label embedder is copied into every block, as diffusers' conversion script does with
the official weights (random per-block copies differ, and minivid shares one embedder). The weights
reach minivid through `minivid.interop.dit` only.
"""
import dataclasses

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

import minivid.presets as presets  # noqa: E402
from minivid.interop.dit import (config_from_diffusers, config_to_diffusers, diffusers_to_minivid,  # noqa: E402
                                 from_diffusers, from_pretrained, minivid_to_diffusers, to_diffusers)
from minivid.models.dit import DiT  # noqa: E402

DIFFUSERS_TINY = dict(  # tiny DiTTransformer2DModel, the scale of diffusers' own tests
    num_attention_heads=2, attention_head_dim=32, in_channels=4, out_channels=8, num_layers=2, sample_size=16,
    patch_size=2, attention_bias=True, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
    norm_type="ada_norm_zero", norm_elementwise_affine=False)
DIFFUSERS_XL = dict(  # huggingface/diffusers scripts/convert_dit_to_diffusers.py, 256 px
    sample_size=32, num_layers=28, attention_head_dim=72, in_channels=4, out_channels=8, patch_size=2,
    attention_bias=True, num_attention_heads=16, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
    norm_type="ada_norm_zero", norm_elementwise_affine=False)
TOLERANCE = 1e-5  # relative: max |ours - theirs| / max |theirs|



def embedder_size(dim: int, classes: int = 1000, frequencies: int = 256) -> int:
    """One timestep+label embedder: Linear(256, D), Linear(D, D), a (classes + 1) x D table."""
    return frequencies * dim + dim + dim * dim + dim + (classes + 1) * dim


def peer(seed=0, share_embedder=True):
    torch.manual_seed(seed)
    theirs = diffusers.DiTTransformer2DModel(**DIFFUSERS_TINY).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if share_embedder:
            first = theirs.transformer_blocks[0].norm1.emb.state_dict()
            for block in theirs.transformer_blocks[1:]:
                block.norm1.emb.load_state_dict(first)
    return theirs


@pytest.fixture(scope="module")
def pair():
    theirs = peer()
    return theirs, from_diffusers(theirs).eval()


def relative_error(ours, theirs) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def run_both(theirs, ours, x, t, y):
    with torch.no_grad():
        return ours(x, t, y), theirs(x, timestep=t, class_labels=y).sample


def latent(height, width, batch=2, seed=1):
    return torch.randn(batch, 4, height, width, generator=torch.Generator().manual_seed(seed))


# ---- outputs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("height,width", [(16, 16), (24, 24), (8, 8)])
@pytest.mark.parametrize("timesteps", [[999, 3], [0, 500], [250.5, 17.25]])
def test_forward_matches_diffusers(pair, height, width, timesteps):
    """Trained size 16x16, and square grids off it (diffusers rescales the positions; so does the config)."""
    theirs, ours = pair
    x, t, y = latent(height, width), torch.tensor(timesteps), torch.tensor([207, 1000])  # 1000 = null label
    out, expected = run_both(theirs, ours, x, t, y)
    error = relative_error(out, expected)
    print(f"{height}x{width} t={timesteps}: relative error {error:.2e} (output std {expected.std():.3f})")
    assert out.shape == expected.shape == (2, 8, height, width)
    assert error <= TOLERANCE


@pytest.mark.parametrize("height,width", [(16, 24), (16, 36)])
def test_non_square_latents(pair, height, width):
    """diffusers 0.42.1 unpatchifies with h = w = sqrt(N): 16x24 raises, 16x36 silently returns 24x24."""
    theirs, ours = pair
    x, t, y = latent(height, width), torch.tensor([999, 3]), torch.tensor([207, 1000])
    with torch.no_grad():
        out = ours(x, t, y)
        assert out.shape == (2, 8, height, width)
        try:
            expected = theirs(x, timestep=t, class_labels=y).sample
        except RuntimeError as error:
            pytest.xfail(f"diffusers cannot unpatchify a non-square latent: {error}")
    if expected.shape != out.shape:
        pytest.xfail(f"diffusers returns {tuple(expected.shape)} for a {height}x{width} latent")
    assert relative_error(out, expected) <= TOLERANCE  # reached once diffusers handles non-square grids


def test_official_conventions_differ_from_diffusers_by_more_than_the_tolerance(pair):
    """The 127 vs 128 frequency divisor is not a weight: without the flag, parity is lost."""
    theirs, ours = pair
    official = DiT(dataclasses.replace(ours.config, timestep_freq_shift=0.0)).eval()
    official.load_state_dict(ours.state_dict())
    x, t, y = latent(16, 16), torch.tensor([999, 3]), torch.tensor([207, 1000])
    out, expected = run_both(theirs, official, x, t, y)
    error = relative_error(out, expected)
    print(f"freq_shift 0 vs diffusers: relative error {error:.2e}")
    assert error > 100 * TOLERANCE


def test_config_from_diffusers_takes_diffusers_conventions():
    config = config_from_diffusers(DIFFUSERS_TINY)
    assert (config.timestep_freq_shift, config.mlp_norm_eps, config.pos_embed_rescale) == (1.0, 1e-5, True)
    assert dataclasses.replace(config, timestep_freq_shift=0.0, mlp_norm_eps=1e-6,
                               pos_embed_rescale=False) == presets.DIT_CONFIGS["dit-tiny"]
    assert config_from_diffusers(DIFFUSERS_XL) == dataclasses.replace(
        presets.DIT_CONFIGS["dit-xl-2"], timestep_freq_shift=1.0, mlp_norm_eps=1e-5, pos_embed_rescale=True)
    assert DiT(config).blocks[0].norm2.eps == 1e-5 and DiT(config).blocks[0].norm1.eps == 1e-6


# ---- the converter -------------------------------------------------------------------------------------

def test_round_trips_are_exact(pair):
    theirs, ours = pair
    config = ours.config
    there = minivid_to_diffusers(ours.state_dict(), config)
    assert set(there) == set(theirs.state_dict())
    for key, tensor in theirs.state_dict().items():
        assert torch.equal(there[key], tensor), key
    back = diffusers_to_minivid(there, config)
    assert set(back) == set(ours.state_dict())
    for key, tensor in ours.state_dict().items():
        assert torch.equal(back[key], tensor), key


def test_to_diffusers_builds_an_equal_model(pair):
    _, ours = pair
    theirs = to_diffusers(ours).eval()
    x, t, y = latent(16, 16), torch.tensor([10, 700]), torch.tensor([1000, 3])
    out, expected = run_both(theirs, ours, x, t, y)
    assert relative_error(out, expected) <= TOLERANCE


def test_per_block_embedders_that_differ_are_refused_unless_a_tolerance_allows_it():
    theirs = peer(share_embedder=False)  # random diffusers init: 2 different embedders
    config = config_from_diffusers(theirs.config)
    with pytest.raises(ValueError, match="block 1 has its own timestep/label embedder"):
        diffusers_to_minivid(theirs.state_dict(), config)
    ours = from_diffusers(theirs, atol=float("inf"))
    emb = theirs.transformer_blocks[0].norm1.emb
    assert torch.equal(ours.y_embedder.embedding_table.weight, emb.class_embedder.embedding_table.weight)
    assert torch.equal(ours.t_embedder.mlp[2].weight, emb.timestep_embedder.linear_2.weight)


def test_converter_rejects_what_it_cannot_represent(pair):
    _, ours = pair
    with pytest.raises(ValueError, match="does not match the config"):
        diffusers_to_minivid(minivid_to_diffusers(ours.state_dict(), ours.config),
                             dataclasses.replace(ours.config, depth=3))
    with pytest.raises(ValueError, match="adaLN-Zero blocks only"):
        minivid_to_diffusers(ours.state_dict(), dataclasses.replace(ours.config, conditioning="in_context"))
    with pytest.raises(ValueError, match="norm_type"):
        config_from_diffusers(dict(DIFFUSERS_TINY, norm_type="ada_norm_single"))
    with pytest.warns(UserWarning, match="127"):
        config_to_diffusers(presets.DIT_CONFIGS["dit-tiny"])


# ---- parameter counts ----------------------------------------------------------------------------------

def test_diffusers_counts_one_embedder_per_block():
    """tiny: 330,208 = 245,536 + 1 extra copy; XL: 749,826,464 = 674,834,720 + 27 x 2,777,472."""
    assert embedder_size(1152) == 2_777_472 and embedder_size(64) == 84_672
    tiny = sum(p.numel() for p in peer().parameters())
    assert tiny == 330_208 == presets.count_params("dit-tiny") + embedder_size(64)
    with torch.device("meta"):
        xl = sum(p.numel() for p in diffusers.DiTTransformer2DModel(**DIFFUSERS_XL).parameters())
    assert xl == 749_826_464 == presets.count_params("dit-xl-2") + 27 * embedder_size(1152)


def test_from_pretrained_reads_a_diffusers_folder(tmp_path):
    theirs = peer(seed=3)
    theirs.save_pretrained(tmp_path)
    ours = from_pretrained(tmp_path)
    assert ours.config == config_from_diffusers(theirs.config) and not ours.training
    out, expected = run_both(theirs, ours, latent(16, 16), torch.tensor([999, 3]), torch.tensor([207, 1000]))
    assert relative_error(out, expected) <= TOLERANCE
