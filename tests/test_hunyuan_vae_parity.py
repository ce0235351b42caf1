"""minivid `HunyuanVideoVAE` == diffusers `AutoencoderKLHunyuanVideo` on random weights (fp32): whole-clip
encode and decode, the tiled encode and decode of `enable_tiling()` (windows in time, tiles in space,
crossfaded), the converter and the presets; then what the frame-causal attention does and does not make
causal, and what tiling costs in accuracy."""
import pytest
import torch
import torch.nn.functional as F

import minivid.presets as presets
from minivid.interop.hunyuan_vae import (config_from_diffusers, config_to_diffusers, diffusers_to_minivid,
                                         from_diffusers, from_pretrained, minivid_to_diffusers, to_diffusers)
from minivid.layers.norm import future_leak
from minivid.layers.tiling import crossfade_frames_apply, crossfade_tiled_apply

diffusers = pytest.importorskip("diffusers")

TOLERANCE = 1e-5
SCALE = 0.476986
TINY = dict(block_out_channels=(16, 32, 32, 32), latent_channels=16, layers_per_block=1, norm_num_groups=4,  # as
            spatial_compression_ratio=8, temporal_compression_ratio=4, mid_block_add_attention=True)  # diffusers' tests
TILES = dict(tile_size=16, tile_stride=8, tile_frames=12, tile_frame_stride=4)  # small: both axes really tile


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    theirs = diffusers.AutoencoderKLHunyuanVideo(**TINY).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            if p.unique().numel() == 1:  # GroupNorm weights and biases
                p.add_(0.1 * torch.randn_like(p))
    return theirs, from_diffusers(theirs).eval()


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def clip(frames, height, width, batch=1, seed=0):
    return torch.rand(batch, 3, frames, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_encode_and_decode_match_diffusers(pair, frames):
    theirs, ours = pair
    theirs.use_framewise_encoding = theirs.use_framewise_decoding = False  # whole clip, as the official code
    video = clip(frames, 32, 48, batch=2, seed=frames)  # non-square
    with torch.no_grad():
        dist = theirs.encode(video).latent_dist
        mean, logvar = ours.encode_moments(video)
        latent = dist.mean * SCALE
        decoded = theirs.decode(latent / SCALE).sample
        out = ours.decode(latent)
    theirs.use_framewise_encoding = theirs.use_framewise_decoding = True
    assert mean.shape == dist.mean.shape == (2, 16, 1 + (frames - 1) // 4, 4, 6) and out.shape == video.shape
    errors = [relative_error(mean, dist.mean), relative_error(logvar, dist.logvar),
              relative_error(out, decoded.clamp(-1, 1))]
    print(f"{frames} frames: mean {errors[0]:.1e}, logvar {errors[1]:.1e}, decoded {errors[2]:.1e}")
    assert max(errors) <= TOLERANCE
    assert torch.equal(ours.encode(video), mean * SCALE)


@pytest.fixture
def tiling(pair):
    theirs, _ = pair
    theirs.enable_tiling(tile_sample_min_height=16, tile_sample_min_width=16, tile_sample_min_num_frames=12,
                         tile_sample_stride_height=8, tile_sample_stride_width=8, tile_sample_stride_num_frames=4)
    yield
    theirs.disable_tiling()
    theirs.enable_tiling(256, 256, 16, 192, 192, 12)  # back to diffusers' defaults ...
    theirs.disable_tiling()  # ... and off


def test_tiled_encode_matches_diffusers_enable_tiling(pair, tiling):
    """17 frames -> windows of 13 frames at 0, 4, 8, 12, 16; 24x32 pixels -> 16-pixel tiles every 8: 3 x 4."""
    theirs, ours = pair
    video = clip(17, 24, 32, seed=1)
    with torch.no_grad():
        expected = theirs.encode(video).latent_dist.mean * SCALE
        tiled = ours.tiled_encode(video, **TILES)
        whole = ours.encode(video)
    error = relative_error(tiled, expected)
    print(f"tiled encode: {error:.1e} (tiled vs whole: {relative_error(tiled, whole):.2f})")
    assert tiled.shape == whole.shape == (1, 16, 5, 3, 4) and error <= TOLERANCE
    assert relative_error(tiled, whole) > 0.01  # really tiled


def test_tiled_decode_matches_diffusers_enable_tiling(pair, tiling):
    """5 latent frames -> windows of 4 at 0..4 (blended over 8 frames); 3x4 latents -> 2-latent tiles every 1."""
    theirs, ours = pair
    latent = torch.randn(1, 16, 5, 3, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = theirs.decode(latent / SCALE).sample.clamp(-1, 1)
        tiled = ours.tiled_decode(latent, **TILES)
        whole = ours.decode(latent)
    error = relative_error(tiled, expected)
    print(f"tiled decode: {error:.1e} (tiled vs whole: {relative_error(tiled, whole):.2f})")
    assert tiled.shape == whole.shape == (1, 3, 17, 24, 32) and error <= TOLERANCE
    assert relative_error(tiled, whole) > 0.01


def test_diffusers_plain_decode_tiles_in_time_like_tiled_decode(pair):
    """diffusers' `use_framewise_decoding` is on by default: beyond 4 latent frames its plain `decode` is
    our `tiled_decode` with the default sizes (16-frame windows every 12; no spatial tiles below 256 px)."""
    theirs, ours = pair
    latent = torch.randn(1, 16, 9, 2, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = theirs.decode(latent / SCALE).sample.clamp(-1, 1)
        assert relative_error(ours.tiled_decode(latent), expected) <= TOLERANCE
        assert relative_error(ours.decode(latent), expected) > 0.01


def test_converter_round_trips_and_the_tiny_preset_is_the_peer_config(pair):
    theirs, ours = pair
    config = config_from_diffusers(theirs.config)
    state = theirs.state_dict()
    back = minivid_to_diffusers(diffusers_to_minivid(state, config), config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    assert config == presets.HUNYUANVIDEO_VAE_CONFIGS["hunyuanvideo-vae-tiny"]
    assert presets.count_params("hunyuanvideo-vae-tiny") == sum(p.numel() for p in theirs.parameters()) == 956_739
    assert all(torch.equal(v, state[k]) for k, v in to_diffusers(ours).state_dict().items())
    assert config_from_diffusers(config_to_diffusers(config)) == config


def test_full_size_count_and_keys_equal_diffusers():
    with torch.device("meta"):
        theirs = diffusers.AutoencoderKLHunyuanVideo()
    assert presets.count_params("hunyuanvideo-vae") == sum(p.numel() for p in theirs.parameters()) == 246_478_803
    ours = presets.build("hunyuanvideo-vae")
    assert config_from_diffusers(theirs.config) == ours.config
    assert set(minivid_to_diffusers(ours.state_dict(), ours.config)) == set(theirs.state_dict())


def test_from_pretrained_reads_a_diffusers_folder(pair, tmp_path):
    theirs, _ = pair
    theirs.save_pretrained(tmp_path)
    loaded = from_pretrained(tmp_path)
    video = clip(5, 16, 16, seed=4)
    with torch.no_grad():
        assert relative_error(loaded.encode(video), theirs.encode(video).latent_dist.mean * SCALE) <= TOLERANCE


# ---- the crossfade tiling itself -------------------------------------------------------------------------

def test_crossfade_tiling_of_a_local_map_is_exact():
    """Tile geometry, crops and crossfades: a map with no context is reproduced by any tiling, including
    short last tiles; in time, a causal 'VAE' that keeps frames 0, 4, 8, ... and repeats them back."""
    pixels = torch.randn(1, 2, 3, 40, 56, dtype=torch.float64)
    latent = torch.randn(1, 2, 3, 5, 7, dtype=torch.float64)
    down = lambda t: F.avg_pool3d(t, (1, 8, 8))  # noqa: E731
    up = lambda t: F.interpolate(t, scale_factor=(1, 8, 8))  # noqa: E731
    for tile, stride in [(16, 8), (24, 16), (32, 32), (32, 8)]:
        torch.testing.assert_close(crossfade_tiled_apply(down, pixels, tile, stride, 1 / 8), down(pixels))
        torch.testing.assert_close(crossfade_tiled_apply(up, latent, tile // 8, stride // 8, 8), up(latent))
    video = torch.randn(1, 2, 33, 4, 4, dtype=torch.float64)
    encode = lambda t: t[:, :, ::4]  # noqa: E731  1 + 4k frames -> 1 + k
    decode = lambda z: torch.cat([z[:, :, :1], z[:, :, 1:].repeat_interleave(4, dim=2)], dim=2)  # noqa: E731
    for tile, stride in [(16, 12), (8, 4), (12, 4), (8, 8)]:
        torch.testing.assert_close(crossfade_frames_apply(encode, video, tile, stride, 1 / 4), encode(video))
        z = encode(video)
        torch.testing.assert_close(crossfade_frames_apply(decode, z, tile // 4, stride // 4, 4), decode(z))


# ---- causality and tiling error --------------------------------------------------------------------------

def test_the_masked_attention_ignores_the_future_but_its_groupnorm_and_the_vae_do_not(pair):
    """The mid-block attention's frame-causal mask keeps frame t from seeing frames > t, but the GroupNorm
    in front of it, and every GroupNorm of the VAE, pools over all frames: neither is causal."""
    _, ours = pair
    attn = ours.encoder.mid.attn
    features = torch.randn(1, 32, 5, 3, 4, generator=torch.Generator().manual_seed(5))
    assert future_leak(attn.attend, features, 2) == 0.0
    assert future_leak(attn, features, 2) > 1e-3
    video = clip(9, 16, 16, seed=6)
    assert future_leak(lambda v: ours.encode_moments(v)[0], video, 4) > 1e-3


def smooth_video(frames, size):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    frames = [torch.stack([torch.sin(3 * xx + 0.3 * t), torch.cos(2 * yy - 0.2 * t), torch.sin(2 * (xx + yy))])
              for t in range(frames)]
    return 0.8 * torch.stack(frames, dim=1)[None]  # 1 3 T H W


def test_tiled_decode_error_is_groupnorms_context_not_the_seams():
    """One tile covering the clip is the whole decode, bit for bit. With real tiles the tiny VAE at its
    official init moves by about as much *inside* a tile as at the seams: GroupNorm normalises each tile
    with its own statistics (random weights have no locality). Measured, 5 frames at 64x64, 48-pixel tiles
    every 32: tiled vs whole mean |error| 0.24, max 1.13; the top-left tile decoded alone: 0.21."""
    torch.manual_seed(0)
    vae = presets.build("hunyuanvideo-vae-tiny", device="cpu").eval()
    with torch.no_grad():
        latent = vae.encode(smooth_video(5, 64))
        whole = vae.decode(latent)
        assert torch.equal(vae.tiled_decode(latent, 64, 48, 8, 4), whole)
        tiled = vae.tiled_decode(latent, 48, 32)
        alone = vae.decode(latent[..., :6, :6])  # the first tile, by itself
    seam = (tiled - whole).abs()
    inside = (alone - whole[..., :48, :48]).abs().mean().item()
    print(f"tiled vs whole decode: max |error| {seam.max():.3f}, mean {seam.mean():.4f}; one tile alone: {inside:.4f}")
    assert seam.mean() > 0.01 and inside > 0.5 * seam.mean()
