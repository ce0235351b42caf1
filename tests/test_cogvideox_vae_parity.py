"""minivid `CogVideoXVAE` == diffusers `AutoencoderKLCogVideoX` on random weights (fp32): the chunked encode
(9, 8, 8, ... frames) and decode (3, 2, 2, ... latent frames) the official code runs; the converter; and
the lesson of its GroupNorm: chunked is not whole-clip encoding, unlike Wan's RMSNorm VAE."""
import pytest
import torch

import minivid.presets as presets
from minivid.interop.cogvideox_vae import (config_from_diffusers, diffusers_to_minivid, from_diffusers,
                                           from_pretrained, minivid_to_diffusers, to_diffusers)
from minivid.layers.norm import future_leak
from minivid.models.cogvideox_vae import chunk_spans

diffusers = pytest.importorskip("diffusers")

TOLERANCE = 1e-5
TINY = dict(block_out_channels=(16, 32, 32, 32), latent_channels=16, layers_per_block=1, norm_num_groups=4,
            temporal_compression_ratio=4, sample_height=32, sample_width=32)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    theirs = diffusers.AutoencoderKLCogVideoX(**TINY).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            if p.unique().numel() == 1:  # GroupNorm weights and biases
                p.add_(0.1 * torch.randn_like(p))
    return theirs, from_diffusers(theirs).eval()


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_encode_and_decode_match_diffusers(pair, frames):
    theirs, ours = pair
    video = torch.rand(2, 3, frames, 32, 48, generator=torch.Generator().manual_seed(frames)) * 2 - 1  # non-square
    with torch.no_grad():
        dist = theirs.encode(video).latent_dist
        mean, logvar = ours.encode_moments(video)
        decoded = theirs.decode(dist.mean).sample
        out = ours.decode(dist.mean * ours.config.scaling_factor)
    assert mean.shape == dist.mean.shape == (2, 16, 1 + (frames - 1) // 4, 4, 6) and out.shape == video.shape
    errors = [relative_error(mean, dist.mean), relative_error(logvar, dist.logvar),
              relative_error(out, decoded.clamp(-1, 1))]
    print(f"{frames} frames: mean {errors[0]:.1e}, logvar {errors[1]:.1e}, decoded {errors[2]:.1e}")
    assert max(errors) <= TOLERANCE


def test_converter_round_trips_and_the_tiny_preset_is_the_peer_config(pair):
    theirs, ours = pair
    config = config_from_diffusers(theirs.config)
    state = theirs.state_dict()
    back = minivid_to_diffusers(diffusers_to_minivid(state, config), config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    assert config == presets.COGVIDEOX_VAE_CONFIGS["cogvideox-vae-tiny"]
    assert presets.count_params("cogvideox-vae-tiny") == sum(p.numel() for p in theirs.parameters())
    assert all(torch.equal(v, state[k]) for k, v in to_diffusers(ours).state_dict().items())


def test_full_size_count_and_keys_equal_diffusers():
    with torch.device("meta"):
        theirs = diffusers.AutoencoderKLCogVideoX()
    assert presets.count_params("cogvideox-vae") == sum(p.numel() for p in theirs.parameters()) == 215_583_907
    ours = presets.build("cogvideox-vae")
    assert set(minivid_to_diffusers(ours.state_dict(), ours.config)) == set(theirs.state_dict())


def test_from_pretrained_reads_a_diffusers_folder(pair, tmp_path):
    theirs, ours = pair
    theirs.save_pretrained(tmp_path)
    loaded = from_pretrained(tmp_path)
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        assert relative_error(loaded.encode(video), theirs.encode(video).latent_dist.mean * 1.15258426) <= TOLERANCE


def test_chunks_follow_the_official_schedule():
    assert chunk_spans(49, 8) == [(0, 9), (9, 17), (17, 25), (25, 33), (33, 41), (41, 49)]
    assert chunk_spans(13, 2) == [(0, 3), (3, 5), (5, 7), (7, 9), (9, 11), (11, 13)]
    assert chunk_spans(1, 8) == [(0, 1)] and chunk_spans(5, 2) == [(0, 3), (3, 5)]


def test_groupnorm_makes_whole_clip_encoding_differ_from_the_chunks_and_leak_the_future(pair):
    """diffusers' chunked encoding is causal chunk by chunk (a chunk never sees later frames); the same
    encoder run on the whole clip (the official SAT encode) pools GroupNorm statistics over all frames: different latents, and the
    first latent frame moves when the last frames change. Wan's RMSNorm VAE gives 0 for both."""
    _, ours = pair
    video = torch.rand(1, 3, 17, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        chunked, whole = ours.encode_moments(video)[0], ours.encode_moments(video, chunked=False)[0]
        assert relative_error(whole, chunked) > 0.05
        later = video.clone()
        later[:, :, 9:] = torch.rand(1, 3, 8, 32, 32) * 2 - 1
        first_chunk = slice(0, 3)  # latent frames 0-2 come from frames 0-8
        assert torch.equal(ours.encode_moments(later)[0][:, :, first_chunk], chunked[:, :, first_chunk])
        assert future_leak(lambda v: ours.encode_moments(v, chunked=False)[0], video, 8) > 0.05
