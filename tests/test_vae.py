"""minivid.models.vae: chunked (streamed) == whole sequence, causality, shapes, input errors, tiling, presets."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

import minivid.presets as presets
from minivid.layers.tiling import tiled_apply
from minivid.models.vae import AttentionBlock, WanVAE, channels_to_space, kl_divergence, space_to_channels

TINY = ["wan2.1-vae-tiny", "wan2.2-vae-tiny"]



def tiny_vae(name, dtype=torch.float64, seed=0) -> WanVAE:
    """A tiny VAE with every parameter moved off its init (zero attention proj, unit gains, ...)."""
    torch.manual_seed(seed)
    vae = presets.build(name, device="cpu").to(dtype).eval()
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return vae


def video(frames, height=32, width=32, batch=1, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 3, frames, height, width, generator=g, dtype=dtype) * 2 - 1)


# ---- the two execution paths agree ----------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY)
def test_chunked_encode_equals_whole_sequence_encode(name):
    vae = tiny_vae(name)
    for frames in (1, 5, 9, 13):
        x = video(frames, batch=2)
        with torch.no_grad():
            streamed, whole = vae.encode_moments(x, chunked=True), vae.encode_moments(x, chunked=False)
        for a, b in zip(streamed, whole):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", TINY)
def test_chunked_decode_equals_whole_sequence_decode(name):
    vae = tiny_vae(name)
    s = vae.config.spatial_stride
    for latent_frames in (1, 2, 3, 4):
        z = torch.randn(2, vae.config.z_dim, latent_frames, 32 // s, 48 // s, dtype=torch.float64)
        with torch.no_grad():
            streamed, whole = vae.decode(z, chunked=True), vae.decode(z, chunked=False)
        assert streamed.shape == (2, 3, 1 + 4 * (latent_frames - 1), 32, 48)
        torch.testing.assert_close(streamed, whole, rtol=0, atol=1e-12)


# ---- causality ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("chunked", [True, False])
def test_future_frames_never_change_earlier_latents(name, chunked):
    """Latent frame j summarises input frames <= 4j: changing frames after 4j leaves latents 0..j as they were."""
    vae, x = tiny_vae(name), video(13)
    with torch.no_grad():
        before = vae.encode(x, chunked=chunked)
        for j in range(3):
            changed = x.clone()
            changed[:, :, 4 * j + 1:] = video(12 - 4 * j, seed=j + 7)
            after = vae.encode(changed, chunked=chunked)
            torch.testing.assert_close(after[:, :, :j + 1], before[:, :, :j + 1], rtol=0, atol=1e-12)
            assert (after[:, :, j + 1] - before[:, :, j + 1]).abs().max() > 1e-3  # the next one does move


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("chunked", [True, False])
def test_later_latent_frames_never_change_earlier_output_frames(name, chunked):
    """Latent frames 0..j decode to output frames 0..4j; later latent frames cannot touch them."""
    vae = tiny_vae(name)
    s = vae.config.spatial_stride
    z = torch.randn(1, vae.config.z_dim, 4, 32 // s, 32 // s, dtype=torch.float64)
    with torch.no_grad():
        before = vae.decode(z, chunked=chunked)
        for j in range(3):
            changed = z.clone()
            changed[:, :, j + 1:] = torch.randn_like(changed[:, :, j + 1:])
            after = vae.decode(changed, chunked=chunked)
            torch.testing.assert_close(after[:, :, :4 * j + 1], before[:, :, :4 * j + 1], rtol=0, atol=1e-12)
            assert (after[:, :, 4 * j + 1:] - before[:, :, 4 * j + 1:]).abs().max() > 1e-3


# ---- shapes, normalisation, training pass ---------------------------------------------------------------

@pytest.mark.parametrize("name,z_dim,stride", [("wan2.1-vae-tiny", 16, 8), ("wan2.2-vae-tiny", 8, 16)])
def test_compression_is_4_in_time_and_8_or_16_in_space(name, z_dim, stride):
    vae = tiny_vae(name, dtype=torch.float32)
    x = video(9, 32, 48, batch=2, dtype=torch.float32)
    with torch.no_grad():
        latent = vae.encode(x)
        assert latent.shape == (2, z_dim, 3, 32 // stride, 48 // stride)
        assert vae.decode(latent).shape == x.shape


def test_encode_normalises_with_the_latent_statistics_and_decode_undoes_it():
    cfg = presets.build("wan2.1-vae-tiny").config
    mean, std = tuple(torch.linspace(-1, 1, 16).tolist()), tuple(torch.linspace(0.5, 2, 16).tolist())
    torch.manual_seed(0)
    vae = WanVAE(dataclasses.replace(cfg, latents_mean=mean, latents_std=std)).double().eval()
    x = video(5)
    with torch.no_grad():
        raw, _ = vae.encode_moments(x)
        latent = vae.encode(x)
        expected = (raw - torch.tensor(mean).view(1, -1, 1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1, 1)
        torch.testing.assert_close(latent, expected.double())
        torch.testing.assert_close(vae.decode(latent), vae._decode_raw(raw, chunked=True).clamp(-1, 1))
    assert vae.decode(latent * 50).abs().max() <= 1.0  # decode clamps to the pixel range


def test_forward_gives_reconstruction_and_kl_inputs_with_gradients():
    vae = tiny_vae("wan2.1-vae-tiny", dtype=torch.float32)
    vae.train()
    x = video(5, dtype=torch.float32)
    out = vae(x, generator=torch.Generator().manual_seed(0))
    assert out.reconstruction.shape == x.shape and out.mean.shape == out.logvar.shape == (1, 16, 2, 4, 4)
    loss = F.mse_loss(out.reconstruction, x) + 1e-6 * kl_divergence(out.mean, out.logvar).mean()
    loss.backward()
    assert vae.encoder.conv_in.weight.grad.abs().sum() > 0 and vae.decoder.conv_out.weight.grad.abs().sum() > 0
    deterministic = vae(x, sample=False)
    torch.testing.assert_close(deterministic.reconstruction, vae._decode_raw(deterministic.mean, chunked=False))


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = torch.zeros(2, 4, 1, 2, 2)
    assert kl_divergence(zeros, zeros).abs().max() == 0
    assert (kl_divergence(zeros + 0.5, zeros - 0.3) > 0).all()


def test_attention_block_starts_without_attending():
    """The official init zeroes the output projection's weight (not its bias): x + a constant at first."""
    block = AttentionBlock(8)
    x = torch.randn(2, 8, 3, 4, 5)
    torch.testing.assert_close(block(x), x + block.proj.bias.view(1, -1, 1, 1, 1))


def test_space_to_channels_puts_the_column_offset_before_the_row_offset():
    x = torch.randn(2, 3, 5, 8, 6)
    p = space_to_channels(x, 2)
    assert p.shape == (2, 12, 5, 4, 3)
    # channel (c, r, q) holds pixel (2h + q, 2w + r) of channel c
    c, r, q = 1, 1, 0
    torch.testing.assert_close(p[:, c * 4 + r * 2 + q], x[:, c, :, q::2, r::2])
    torch.testing.assert_close(channels_to_space(p, 2), x)


# ---- bad input is a clear error -------------------------------------------------------------------------

@pytest.mark.parametrize("name", TINY)
def test_bad_inputs_raise_clear_errors(name):
    vae = presets.build(name, device="cpu")
    s = vae.config.spatial_stride
    with pytest.raises(ValueError, match=r"got 18 frames; the Wan VAE needs 1\+4n frames such as 17 or 21"):
        vae.encode(torch.zeros(1, 3, 18, s, s))
    with pytest.raises(ValueError, match="such as 1 or 5"):
        vae.encode(torch.zeros(1, 3, 0, s, s))
    with pytest.raises(ValueError, match=f"multiples of {s}"):
        vae.encode(torch.zeros(1, 3, 5, s, s + s // 2))
    with pytest.raises(ValueError, match="3 channels"):
        vae.encode(torch.zeros(1, 4, 5, s, s))
    with pytest.raises(ValueError, match="B C T H W"):
        vae.encode(torch.zeros(1, 3, s, s))
    with pytest.raises(ValueError, match=f"B {vae.config.z_dim} T H W"):
        vae.decode(torch.zeros(1, vae.config.z_dim + 1, 2, 2, 2))
    with pytest.raises(ValueError, match=f"B {vae.config.z_dim} T H W"):
        vae.decode(torch.zeros(1, vae.config.z_dim, 2, 2))
    with pytest.raises(ValueError, match=f"multiples of {s}"):
        vae.tiled_encode(torch.zeros(1, 3, 1, 4 * s, 4 * s), tile_size=2 * s + 1, tile_stride=s)


# ---- spatial tiling ---------------------------------------------------------------------------------------

def test_tiled_apply_of_a_local_map_is_exact():
    """Tile geometry and blend weights: a map with no spatial context is reproduced exactly by any tiling."""
    pixels, latent = torch.randn(1, 2, 3, 48, 80, dtype=torch.float64), torch.randn(1, 2, 3, 6, 10, dtype=torch.float64)
    down = lambda t: F.avg_pool3d(t, (1, 8, 8))  # noqa: E731  like an encoder: 8 pixels -> 1
    up = lambda t: F.interpolate(t, scale_factor=(1, 8, 8))  # noqa: E731  like a decoder
    for tile, stride in [(16, 8), (24, 16), (32, 32), (40, 8), (64, 64)]:
        torch.testing.assert_close(tiled_apply(down, pixels, tile, stride, 1 / 8), down(pixels))
        torch.testing.assert_close(tiled_apply(up, latent, tile // 8, stride // 8, 8), up(latent))


@pytest.mark.parametrize("name", TINY)
def test_tiling_with_one_tile_is_identical(name):
    vae = tiny_vae(name, dtype=torch.float32)
    x = video(5, 64, 64, dtype=torch.float32)
    with torch.no_grad():
        latent = vae.encode(x)
        torch.testing.assert_close(vae.tiled_encode(x, 64, 48), latent, rtol=0, atol=0)
        torch.testing.assert_close(vae.tiled_decode(latent, 64, 48), vae.decode(latent), rtol=0, atol=0)


def smooth_video(frames=5, size=128):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    clip = [torch.stack([torch.sin(3 * xx + 0.3 * t), torch.cos(2 * yy - 0.2 * t), torch.sin(2 * (xx + yy))])
            for t in range(frames)]
    return 0.8 * torch.stack(clip, dim=1)[None]  # 1 3 T H W


@pytest.mark.parametrize("name", TINY)
def test_tiling_error_is_bounded_and_blending_beats_hard_seams(name):
    """Tiles see less context than the frame (zero padding at tile borders, attention within the tile), so
    tiling approximates. Measured on the tiny VAEs at their official init, 128x128, 96-pixel tiles every
    64 pixels: relative RMS error 0.09-0.11 (encode), 0.16-0.23 (decode); abutting 64-pixel tiles with
    hard seams: 0.31-0.50 and 0.72. Random weights have no locality, so a trained VAE does far better."""
    torch.manual_seed(0)
    vae = presets.build(name, device="cpu").eval()
    x = smooth_video()
    rel = lambda a, b: ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()  # noqa: E731
    with torch.no_grad():
        latent = vae.encode(x)
        pixels = vae.decode(latent)
        for tiled, full in [(lambda t, s: vae.tiled_encode(x, t, s), latent),
                            (lambda t, s: vae.tiled_decode(latent, t, s), pixels)]:
            blended, seams = rel(tiled(96, 64), full), rel(tiled(64, 64), full)
            print(f"{name}: relative RMS error, blended {blended:.3f}, hard seams {seams:.3f}")
            assert blended < 0.25, blended
            assert blended < seams / 2, (blended, seams)


# ---- presets ----------------------------------------------------------------------------------------------

def test_full_presets_have_the_official_parameter_counts():
    assert presets.count_params("wan2.1-vae") == 126_892_531
    assert presets.count_params("wan2.2-vae") == 704_688_668


def test_full_presets_carry_the_real_latent_statistics():
    for name, z in [("wan2.1-vae", 16), ("wan2.2-vae", 48)]:
        cfg = presets.build(name).config
        assert len(cfg.latents_mean) == len(cfg.latents_std) == z and min(cfg.latents_std) > 0
    assert presets.build("wan2.1-vae").config.latents_mean[0] == -0.7571
    assert presets.build("wan2.2-vae").config.latents_std[-1] == 0.7744
