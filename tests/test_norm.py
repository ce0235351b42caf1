"""minivid.layers.norm: ChannelRMSNorm is Wan's RMS_norm and causal; clip-level GroupNorm is not."""
import copy

import pytest
import torch
import torch.nn.functional as F

from minivid.layers.norm import ChannelRMSNorm, FrameGroupNorm, future_leak


def randomised(norm):
    """Norm parameters away from their 1 / 0 init, so a dropped affine would show."""
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.3)
        if norm.bias is not None:
            norm.bias.normal_(0.0, 0.3)
    return norm


# ---- the property: which norms let the future leak into the past ----------------------------------------

def test_groupnorm_over_the_clip_lets_future_frames_change_past_outputs():
    video = torch.randn(2, 8, 6, 5, 5)
    leak = future_leak(torch.nn.GroupNorm(4, 8), video, t=2)
    assert leak > 0.05, leak  # statistics pooled over (C/G, T, H, W): every frame moves


def test_channel_rmsnorm_never_leaks():
    video = torch.randn(2, 8, 6, 5, 5)
    norm = randomised(ChannelRMSNorm(8, bias=True))
    for t in range(5):
        assert future_leak(norm, video, t) == 0.0


def test_per_frame_groupnorm_is_causal_too():
    video = torch.randn(2, 8, 6, 5, 5)
    for t in range(5):
        assert future_leak(FrameGroupNorm(4, 8), video, t) == 0.0


def test_per_frame_groupnorm_equals_groupnorm_on_each_frame():
    video = torch.randn(2, 8, 3, 4, 4)
    norm = FrameGroupNorm(4, 8)
    for i in range(3):
        torch.testing.assert_close(norm(video)[:, :, i], torch.nn.GroupNorm.forward(norm, video[:, :, i]))


# ---- ChannelRMSNorm -------------------------------------------------------------------------------------

def test_channel_rmsnorm_is_x_over_rms_over_channels():
    x = torch.randn(2, 6, 3, 4, 5, dtype=torch.float64)
    norm = randomised(ChannelRMSNorm(6, bias=True)).double()
    rms = x.pow(2).mean(dim=1, keepdim=True).sqrt()
    expected = x / rms * norm.weight.view(-1, 1, 1, 1) + norm.bias.view(-1, 1, 1, 1)
    torch.testing.assert_close(norm(x), expected)


def test_channel_rmsnorm_matches_wans_formula():
    """Wan's RMS_norm: F.normalize(x, dim=1) * sqrt(C) * gamma, gamma shaped (C, 1, 1, 1)."""
    x = torch.randn(2, 6, 3, 4, 5)
    norm = randomised(ChannelRMSNorm(6))
    torch.testing.assert_close(norm(x), F.normalize(x, dim=1) * 6 ** 0.5 * norm.weight.view(6, 1, 1, 1))


@pytest.mark.parametrize("shape,channel_dim", [((2, 6, 4, 5), 1), ((2, 6, 3, 4, 5), 1), ((2, 10, 6), -1)])
def test_channel_rmsnorm_handles_images_videos_and_tokens(shape, channel_dim):
    x = torch.randn(shape)
    norm = randomised(ChannelRMSNorm(6, channel_dim=channel_dim, bias=True))
    moved = x.movedim(channel_dim, -1)
    expected = moved / moved.pow(2).mean(-1, keepdim=True).sqrt() * norm.weight + norm.bias
    torch.testing.assert_close(norm(x), expected.movedim(-1, channel_dim))


def test_channel_rmsnorm_in_bfloat16_stays_close_to_float32():
    x = torch.randn(2, 64, 2, 4, 4) * 30
    norm = randomised(ChannelRMSNorm(64))
    out = copy.deepcopy(norm).bfloat16()(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), norm(x), rtol=2e-2, atol=2e-2)


def test_future_leak_needs_a_future_frame():
    with pytest.raises(ValueError, match="future frame"):
        future_leak(ChannelRMSNorm(3), torch.randn(1, 3, 4, 2, 2), t=3)
