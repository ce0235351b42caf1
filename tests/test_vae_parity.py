"""Wan VAEs: minivid vs diffusers `AutoencoderKLWan` on random weights (fp32), and the state-dict converter.

The peer is built with tiny configs at the scale of diffusers' own tests and a fixed seed; its constant-
initialised parameters (RMS gains = 1, biases) get small random values first, so a dropped or swapped
affine shows. Its weights reach minivid through `minivid.interop.wan_vae` only.
"""
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

import minivid.presets as presets  # noqa: E402
from minivid.interop.wan_vae import (config_from_diffusers, config_to_diffusers, diffusers_to_minivid,  # noqa: E402
                                     from_diffusers, from_pretrained, key_map, minivid_to_diffusers,
                                     to_diffusers)
from minivid.models.vae import WanVAE, space_to_channels  # noqa: E402

DIFFUSERS_TINY = {  # tiny AutoencoderKLWan configs (Wan2.1 and Wan2.2 layouts)
    "wan2.1-vae-tiny": dict(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
                            temperal_downsample=[False, True, True], latents_mean=[0.0] * 16, latents_std=[1.0] * 16),
    "wan2.2-vae-tiny": dict(base_dim=8, decoder_base_dim=12, z_dim=8, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                            temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
                            out_channels=12, patch_size=2, scale_factor_temporal=4, scale_factor_spatial=16,
                            latents_mean=[0.0] * 8, latents_std=[1.0] * 8),
}
DIFFUSERS_FULL = {  # the full configs: class defaults, and convert_wan_to_diffusers.py `vae22_diffusers_config`
    "wan2.1-vae": {},
    "wan2.2-vae": dict(base_dim=160, z_dim=48, is_residual=True, in_channels=12, out_channels=12,
                       decoder_base_dim=256, scale_factor_temporal=4, scale_factor_spatial=16, patch_size=2),
}
TOLERANCE = 1e-5  # relative: max |ours - theirs| / max |theirs|



def peer(name, seed=0):
    torch.manual_seed(seed)
    theirs = diffusers.AutoencoderKLWan(**DIFFUSERS_TINY[name]).eval()
    with torch.no_grad():
        for key, p in theirs.named_parameters():
            if key.endswith((".gamma", ".bias")):
                p.add_(0.1 * torch.randn_like(p))
    return theirs


@pytest.fixture(scope="module", params=list(DIFFUSERS_TINY))
def pair(request):
    theirs = peer(request.param)
    return request.param, theirs, from_diffusers(theirs).eval()


def relative_error(ours, theirs) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize("frames", [1, 5, 9, 13])
def test_encode_and_decode_match_diffusers(pair, frames):
    name, theirs, ours = pair
    g = torch.Generator().manual_seed(frames)
    video = torch.rand(2, 3, frames, 32, 48, generator=g) * 2 - 1  # batch 2, non-square
    with torch.no_grad():
        dist = theirs.encode(video).latent_dist  # unnormalised, like minivid's encode_moments
        decoded = theirs.decode(dist.mean).sample
        errors = {}
        for chunked in (True, False):
            mean, logvar = ours.encode_moments(video, chunked=chunked)
            errors[f"mean/{'chunked' if chunked else 'whole'}"] = relative_error(mean, dist.mean)
            errors[f"logvar/{'chunked' if chunked else 'whole'}"] = relative_error(logvar, dist.logvar)
            out = ours.decode(ours.normalize_latent(dist.mean), chunked=chunked)
            errors[f"decoded/{'chunked' if chunked else 'whole'}"] = relative_error(out, decoded)
    assert mean.shape == dist.mean.shape and out.shape == decoded.shape == video.shape
    print(f"\n{name} {frames} frames: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) <= TOLERANCE, errors


def test_patchify_matches_diffusers():
    from diffusers.models.autoencoders.autoencoder_kl_wan import patchify as theirs

    x = torch.randn(2, 3, 5, 8, 12)
    assert torch.equal(space_to_channels(x, 2), theirs(x, 2))


# ---- converter ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DIFFUSERS_TINY))
def test_round_trip_diffusers_minivid_diffusers_is_identical(name):
    theirs = peer(name)
    config = config_from_diffusers(theirs.config)
    state = theirs.state_dict()
    back = minivid_to_diffusers(diffusers_to_minivid(state, config), config)
    assert set(back) == set(state)
    for key, tensor in state.items():
        assert back[key].shape == tensor.shape and torch.equal(back[key], tensor), key


@pytest.mark.parametrize("name", list(DIFFUSERS_TINY))
def test_tiny_presets_are_the_diffusers_tiny_configs(name):
    theirs = peer(name)
    assert config_from_diffusers(theirs.config) == presets.build(name).config
    assert presets.count_params(name) == sum(p.numel() for p in theirs.parameters())
    ours = from_diffusers(theirs)
    assert config_from_diffusers(to_diffusers(ours).config) == ours.config
    for key, tensor in to_diffusers(ours).state_dict().items():
        assert torch.equal(tensor, theirs.state_dict()[key]), key


@pytest.mark.parametrize("name", list(DIFFUSERS_FULL))
def test_full_size_key_maps_cover_diffusers_exactly(name):
    """The full configs (num_res_blocks=2 changes Wan2.1's flat indices), on the meta device."""
    with torch.device("meta"):
        theirs = diffusers.AutoencoderKLWan(**DIFFUSERS_FULL[name])
    config = presets.build(name).config
    shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert set(key_map(config).values()) == set(shapes)
    converted = minivid_to_diffusers(presets.build(name).state_dict(), config)
    assert {k: tuple(v.shape) for k, v in converted.items()} == shapes
    kwargs = config_to_diffusers(config)
    for key in ("base_dim", "z_dim", "is_residual", "in_channels", "patch_size", "decoder_base_dim"):
        assert kwargs[key] == theirs.config[key] or (key == "decoder_base_dim" and theirs.config[key] is None), key


def test_converter_rejects_a_state_dict_of_another_config():
    state = peer("wan2.1-vae-tiny").state_dict()
    with pytest.raises(ValueError, match="does not match the config"):
        diffusers_to_minivid(state, presets.build("wan2.2-vae-tiny").config)
    with pytest.raises(ValueError, match="does not match the config"):
        minivid_to_diffusers(WanVAE(presets.build("wan2.1-vae-tiny").config).state_dict(),
                             presets.build("wan2.2-vae-tiny").config)


@pytest.mark.parametrize("name", list(DIFFUSERS_TINY))
def test_from_pretrained_reads_a_diffusers_vae_folder(tmp_path, name):
    theirs = peer(name)
    theirs.save_pretrained(tmp_path)
    ours = from_pretrained(tmp_path)
    assert ours.config == config_from_diffusers(theirs.config) and not ours.training
    video = torch.rand(1, 3, 5, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = theirs.encode(video).latent_dist.mean
        assert relative_error(ours.encode_moments(video)[0], expected) <= 1e-5
