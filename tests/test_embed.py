"""Embeddings: timestep sinusoids, sin-cos tables, patchify / unpatchify, tubelets, token counts.

Properties first (Conv3d patch embedding == Linear on rearranged patches, inflation identities),
then parity with diffusers' functions and models on non-square grids, then the published numbers.
"""
import math

import pytest
import torch
from einops import rearrange
from torch import nn
from torch.testing import assert_close

from minivid.layers.embed import (PatchEmbed3d, latent_size, patch_grid, patchify, sincos_1d, sincos_2d, sincos_3d,
                                  timestep_embedding, token_count, token_grid, tubelet_from_2d, unpatchify)

TIMESTEPS = torch.tensor([0.0, 1.0, 17.5, 250.0, 999.0, 1000.0])


def randomise_(module: nn.Module, std: float = 0.1) -> nn.Module:
    """Give every parameter random values, so that a zero bias or a unit scale cannot hide a mistake."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)
    return module


# --- timestep sinusoids --------------------------------------------------------------------------

@pytest.mark.parametrize("cos_first,freq_shift", [(True, 0), (False, 1), (True, 1), (False, 0)])
@pytest.mark.parametrize("dim", [256, 255, 64])
def test_timestep_embedding_matches_diffusers_in_each_convention(cos_first, freq_shift, dim):
    from diffusers.models.embeddings import get_timestep_embedding

    expected = get_timestep_embedding(TIMESTEPS, dim, flip_sin_to_cos=cos_first, downscale_freq_shift=freq_shift)
    assert_close(timestep_embedding(TIMESTEPS, dim, cos_first, freq_shift), expected, rtol=1e-6, atol=1e-6)


def test_cos_first_is_wan_and_dit_formula():
    """Wan `sinusoidal_embedding_1d` (float64) and DiT `timestep_embedding` (float32), written out."""
    half = 128
    frequencies = 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
    angles = TIMESTEPS.double()[:, None] * frequencies
    formula = torch.cat([angles.cos(), angles.sin()], dim=-1)
    assert_close(timestep_embedding(TIMESTEPS, 256, dtype=torch.float64), formula, rtol=1e-12, atol=1e-12)
    # float32 (DiT, HunyuanVideo, diffusers) drifts from Wan's float64 by ~4e-5 at t ~ 1000
    assert_close(timestep_embedding(TIMESTEPS, 256), formula.float(), rtol=0, atol=1e-4)


def test_sin_first_is_the_cos_first_halves_swapped():
    cos_first, sin_first = timestep_embedding(TIMESTEPS, 64), timestep_embedding(TIMESTEPS, 64, cos_first=False)
    assert_close(sin_first, torch.cat([cos_first[:, 32:], cos_first[:, :32]], dim=-1))
    assert_close(cos_first[0], torch.cat([torch.ones(32), torch.zeros(32)]))  # t = 0: cos 1, sin 0


def test_per_token_timesteps_embed_each_token():
    """Wan2.2 TI2V feeds one timestep per token, shape (B, L)."""
    t = torch.tensor([[0.0, 500.0, 999.0], [10.0, 10.0, 0.0]])
    per_token = timestep_embedding(t, 32)
    assert per_token.shape == (2, 3, 32)
    assert_close(per_token[1], timestep_embedding(t[1], 32))


# --- sin-cos position tables -----------------------------------------------------------------------

def test_sincos_2d_is_w_first_sin_first_formula():
    h, w, dim = 3, 5, 16
    omega = 10000.0 ** (-torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    rows = []
    for i in range(h):
        for j in range(w):
            rows.append(torch.cat([(j * omega).sin(), (j * omega).cos(), (i * omega).sin(), (i * omega).cos()]))
    assert_close(sincos_2d(h, w, dim), torch.stack(rows).float())


@pytest.mark.parametrize("grid", [(4, 6), (5, 3), (16, 16)])
@pytest.mark.parametrize("base_size,interpolation_scale", [(16, 1.0), (8, 2.0)])
def test_sincos_2d_matches_diffusers(grid, base_size, interpolation_scale):
    from diffusers.models.embeddings import get_2d_sincos_pos_embed

    expected = get_2d_sincos_pos_embed(32, grid, base_size=base_size, interpolation_scale=interpolation_scale)
    assert_close(sincos_2d(*grid, 32, base_size, interpolation_scale), expected.float(), rtol=1e-6, atol=1e-6)


def test_sincos_2d_without_base_size_is_official_dit():
    """The official DiT grid is square with integer positions == diffusers with base_size = grid."""
    from diffusers.models.embeddings import get_2d_sincos_pos_embed

    assert_close(sincos_2d(16, 16, 64), get_2d_sincos_pos_embed(64, 16, base_size=16).float(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("grid", [(3, 4, 6), (13, 5, 3)])
def test_sincos_3d_matches_diffusers(grid):
    from diffusers.models.embeddings import get_3d_sincos_pos_embed

    t, h, w = grid
    expected = get_3d_sincos_pos_embed(64, (w, h), t, spatial_interpolation_scale=1.875)  # T, H*W, D
    assert_close(sincos_3d(t, h, w, 64, spatial_interpolation=1.875), rearrange(expected, "t n d -> (t n) d").float(),
                 rtol=1e-6, atol=1e-6)


def test_sincos_3d_is_cogvideox_2b_position_buffer():
    """CogVideoX-2B adds [zeros for the text | 3D table for the video] to the joint sequence."""
    from diffusers.models.embeddings import CogVideoXPatchEmbed

    embed = CogVideoXPatchEmbed(patch_size=2, in_channels=4, embed_dim=32, text_embed_dim=8, sample_width=12,
                                sample_height=8, sample_frames=9, max_text_seq_length=5,
                                use_learned_positional_embeddings=False)
    buffer = embed.pos_embedding[0]  # 5 + 3*4*6 tokens: frames (9-1)//4+1 = 3, grid 8/2 x 12/2
    assert torch.equal(buffer[:5], torch.zeros(5, 32))
    assert_close(buffer[5:].float(), sincos_3d(3, 4, 6, 32, spatial_interpolation=1.875), rtol=1e-6, atol=1e-6)


def test_sincos_bad_widths_raise():
    with pytest.raises(ValueError, match="even"):
        sincos_1d(torch.arange(3), 7)
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(2, 2, 18)
    with pytest.raises(ValueError, match="divisible by 16"):
        sincos_3d(2, 2, 2, 40)


# --- patchify / unpatchify ----------------------------------------------------------------------------

@pytest.mark.parametrize("patch", [(1, 2, 2), (2, 2, 2), (2, 3, 1)])
def test_conv3d_patch_embed_equals_linear_on_rearranged_patches(patch):
    torch.manual_seed(0)
    embed = randomise_(PatchEmbed3d(in_channels=3, dim=8, patch=patch))
    x = torch.randn(2, 3, 4, 6, 6)  # B C T H W
    linear = nn.Linear(3 * math.prod(patch), 8)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.flatten(1))  # D C pt ph pw -> D (c pt ph pw)
        linear.bias.copy_(embed.proj.bias)
    assert_close(embed(x), linear(patchify(x, patch)), rtol=1e-5, atol=1e-5)
    # the channel-last flattening does not line up with the Conv3d weight
    assert not torch.allclose(embed(x), linear(patchify(x, patch, "pt ph pw c")), atol=1e-3)


@pytest.mark.parametrize("patch_order", ["c pt ph pw", "pt ph pw c"])
def test_unpatchify_inverts_patchify(patch_order):
    x = torch.randn(2, 5, 4, 6, 9)
    patch = (2, 3, 3)
    tokens = patchify(x, patch, patch_order)
    assert tokens.shape == (2, 2 * 2 * 3, 5 * 18)
    assert torch.equal(unpatchify(tokens, (2, 2, 3), patch, 5, patch_order), x)


def test_cogvideox_patch_embeddings_are_patch_embed_3d():
    """1.0: per-frame Conv2d == pt=1; 1.5: Linear on '(c pt ph pw)' tubes == Conv3d with that weight."""
    from diffusers.models.embeddings import CogVideoXPatchEmbed

    torch.manual_seed(0)
    video = torch.randn(1, 4, 4, 6, 8)  # B C T H W
    for patch_t, patch in ((None, (1, 2, 2)), (2, (2, 2, 2))):
        theirs = randomise_(CogVideoXPatchEmbed(patch_size=2, patch_size_t=patch_t, in_channels=4, embed_dim=16,
                                                text_embed_dim=8, use_positional_embeddings=False,
                                                use_learned_positional_embeddings=False))
        ours = PatchEmbed3d(4, 16, patch)
        with torch.no_grad():
            ours.proj.weight.copy_(theirs.proj.weight.reshape(16, 4, *patch))
            ours.proj.bias.copy_(theirs.proj.bias)
        expected = theirs(torch.zeros(1, 0, 8), rearrange(video, "b c t h w -> b t c h w"))  # no text tokens
        assert_close(ours(video), expected, rtol=1e-5, atol=1e-5)


def capture_output(module: nn.Module) -> dict:
    seen = {}
    module.register_forward_hook(lambda mod, args, out: seen.__setitem__("out", out))
    return seen


@pytest.mark.parametrize("patch", [(1, 2, 2), (2, 2, 2)])
def test_unpatchify_matches_diffusers_wan(patch):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    model = randomise_(WanTransformer3DModel(patch_size=patch, num_attention_heads=2, attention_head_dim=12,
                                             in_channels=4, out_channels=3, text_dim=8, freq_dim=16, ffn_dim=16,
                                             num_layers=1, cross_attn_norm=True))
    seen = capture_output(model.proj_out)
    latents = torch.randn(1, 4, 4, 6, 10)  # grid (4/pt, 3, 5)
    with torch.no_grad():
        out = model(latents, torch.tensor([500.0]), torch.randn(1, 3, 8)).sample
    grid = patch_grid((4, 6, 10), patch)
    assert_close(unpatchify(seen["out"], grid, patch, 3, "pt ph pw c"), out, rtol=0, atol=0)


def test_unpatchify_matches_diffusers_hunyuanvideo_channels_first():
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    model = randomise_(HunyuanVideoTransformer3DModel(in_channels=4, out_channels=3, num_attention_heads=2,
                                                      attention_head_dim=16, num_layers=1, num_single_layers=1,
                                                      num_refiner_layers=1, patch_size=2, patch_size_t=1,
                                                      text_embed_dim=8, pooled_projection_dim=8,
                                                      rope_axes_dim=(4, 6, 6)))
    seen = capture_output(model.proj_out)
    latents = torch.randn(1, 4, 3, 6, 10)
    with torch.no_grad():
        out = model(latents, torch.tensor([500]), torch.randn(1, 4, 8), torch.ones(1, 4), torch.randn(1, 8),
                    guidance=torch.tensor([6000.0])).sample
    assert_close(unpatchify(seen["out"], (3, 3, 5), (1, 2, 2), 3, "c pt ph pw"), out, rtol=0, atol=0)
    assert not torch.equal(unpatchify(seen["out"], (3, 3, 5), (1, 2, 2), 3, "pt ph pw c"), out)


def test_patch_errors_name_sizes_and_patch():
    embed = PatchEmbed3d(4, 8, (2, 2, 2))
    with pytest.raises(ValueError, match=r"\(5, 6, 6\) is not divisible by the patch \(2, 2, 2\)"):
        embed(torch.randn(1, 4, 5, 6, 6))
    with pytest.raises(ValueError, match="expected a video"):
        embed(torch.randn(1, 3, 4, 6, 6))
    with pytest.raises(ValueError, match="not divisible"):
        patchify(torch.randn(1, 4, 4, 7, 6), (1, 2, 2))
    with pytest.raises(ValueError, match="do not fit"):
        unpatchify(torch.randn(1, 12, 16), (1, 3, 3), (1, 2, 2), 4)
    with pytest.raises(ValueError, match="patch_order"):
        patchify(torch.randn(1, 4, 4, 6, 6), (1, 2, 2), "c h w")


# --- tubelets inflated from a 2D patch embedding (ViViT) -----------------------------------------------

@pytest.mark.parametrize("frames", [2, 4])
def test_mean_inflated_tubelet_on_static_video_equals_2d_patch_embedding(frames):
    torch.manual_seed(0)
    patch_2d = randomise_(nn.Conv2d(3, 8, kernel_size=4, stride=4))
    tubelet = tubelet_from_2d(patch_2d, frames, mode="mean")
    frame = torch.randn(2, 3, 8, 12)
    static = torch.stack([frame] * 3 * frames, dim=2)  # B C T H W, 3 tubelets long
    per_frame = rearrange(patch_2d(frame), "b d h w -> b (h w) d")
    expected = torch.cat([per_frame] * 3, dim=1)  # the same tokens for each tubelet, (t h w) order
    assert_close(tubelet(static), expected, rtol=1e-5, atol=1e-5)


def test_centre_inflated_tubelet_reads_only_the_centre_frame():
    torch.manual_seed(0)
    patch_2d = randomise_(nn.Conv2d(3, 8, kernel_size=(2, 4), stride=(2, 4)))
    tubelet = tubelet_from_2d(patch_2d, 3, mode="centre")
    video = torch.randn(1, 3, 6, 4, 8)  # two tubelets of 3 frames
    centres = rearrange(patch_2d(rearrange(video[:, :, 1::3], "b c t h w -> (b t) c h w")),
                        "(b t) d h w -> b (t h w) d", b=1)
    assert_close(tubelet(video), centres, rtol=1e-5, atol=1e-5)
    other_frames_changed = video.clone()
    other_frames_changed[:, :, 0::3] += 1.0
    assert_close(tubelet(other_frames_changed), tubelet(video))


def test_centre_inflated_two_frame_tubelet_reads_the_second_frame_like_vivit():
    """ViViT-B uses 2-frame tubelets; its checkpoint initialiser puts W at kernel[t // 2] = frame 1."""
    torch.manual_seed(0)
    patch_2d = randomise_(nn.Conv2d(3, 8, kernel_size=4, stride=4))
    tubelet = tubelet_from_2d(patch_2d, 2, mode="centre")
    video = torch.randn(1, 3, 4, 8, 8)  # two tubelets of 2 frames
    expected = rearrange(patch_2d(rearrange(video[:, :, 1::2], "b c t h w -> (b t) c h w")),
                         "(b t) d h w -> b (t h w) d", b=1)
    assert_close(tubelet(video), expected, rtol=1e-5, atol=1e-5)


def test_tubelet_needs_a_patch_embedding():
    with pytest.raises(ValueError, match="kernel == stride"):
        tubelet_from_2d(nn.Conv2d(3, 8, kernel_size=3, padding=1), 2)


# --- sequence-length accounting --------------------------------------------------------------------

def test_published_sequence_lengths():
    # Wan2.1 (configs: vae_stride (4, 8, 8), patch (1, 2, 2)): 81 frames at 480x832
    assert token_grid(81, 480, 832) == (21, 30, 52)
    assert token_count(81, 480, 832) == 32_760
    # CogVideoX (sat/configs: num_frames 49, time_compressed_rate 4, latent 60x90, patch 2, no temporal patch)
    assert token_grid(49, 480, 720) == (13, 30, 45)
    assert token_count(49, 480, 720) == 17_550
    # HunyuanVideo (--video-length 129, --video-size 720 1280, 884 VAE, patch [1, 2, 2])
    assert token_grid(129, 720, 1280) == (33, 45, 80)
    assert token_count(129, 720, 1280) == 118_800


def test_single_frame_is_one_latent_frame():
    assert latent_size(1, 480, 832) == (1, 60, 104)


def test_bad_video_sizes_raise():
    with pytest.raises(ValueError, match="need 1 \\+ 4n frames; use 77 or 81"):
        token_count(80, 480, 832)
    with pytest.raises(ValueError, match="1 \\+ 4n frames, got 80; use 77 or 81"):
        latent_size(80, 480, 832)
    with pytest.raises(ValueError, match="height 470 is not divisible by the VAE stride 8; use 464 or 472"):
        latent_size(81, 470, 832)
    with pytest.raises(ValueError, match="height 488 does not fit.*multiple of 16; use 480 or 496"):
        token_count(81, 488, 832)  # latent height 61 would be odd: the hint accounts for the patch
    with pytest.raises(ValueError, match="81 frames do not fit.*temporal patch 2; use 77 or 85"):
        token_count(81, 480, 720, patch=(2, 2, 2))  # CogVideoX 1.5: its pipeline pads 21 latent frames to 22
