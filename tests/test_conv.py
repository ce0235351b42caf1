"""minivid.layers.conv: causal padding, streaming == whole clip, pseudo-3D identity init, 2D->3D inflation."""
import random

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from minivid.layers.conv import (PAD_MODES, CausalConv3d, PseudoConv3d, inflate_conv2d, inflate_conv_weight,
                                 streaming)
from minivid.layers.norm import future_leak
from minivid.models.vae import Downsample



def per_frame(conv2d, video):  # apply a 2D layer to every frame of B C T H W
    b = video.shape[0]
    return rearrange(conv2d(rearrange(video, "b c t h w -> (b t) c h w")), "(b t) c h w -> b c t h w", b=b)


def random_chunks(total, rng):
    """Cut `total` frames into random chunk sizes, 1-frame chunks included."""
    sizes = []
    while total:
        sizes.append(min(total, rng.choice([1, 1, 2, 3, 4, 5, 7])))
        total -= sizes[-1]
    return sizes


CASES = [  # (temporal kernel, stride, temporal padding p_t: 2*p_t frames in front)
    (3, 1, 1), (3, 1, 0), (2, 1, 1), (1, 1, 0), (4, 1, 2), (3, 2, 0), (3, 2, 1), (4, 2, 1), (5, 3, 2),
    (1, 2, 0), (2, 3, 0), (1, 3, 1)]  # stride > kernel: some frames belong to no window


# ---- CausalConv3d ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pad_mode", PAD_MODES)
def test_chunked_equals_whole(pad_mode):
    """Property: any chunking of any clip, streamed through the cache, equals the whole clip (float64)."""
    rng = random.Random(0)
    for k_t, stride, p_t in CASES:
        torch.manual_seed(k_t * 10 + stride)
        conv = CausalConv3d(3, 4, (k_t, 3, 3), stride=(stride, 1, 1), padding=(p_t, 1, 1),
                            pad_mode=pad_mode).double()
        for _ in range(6):
            video = torch.randn(2, 3, rng.randint(1, 14), 5, 6, dtype=torch.float64)
            whole = conv(video)
            sizes = random_chunks(video.shape[2], rng)
            with streaming(conv):
                chunked = torch.cat([conv(chunk) for chunk in video.split(sizes, dim=2)], dim=2)
            assert chunked.shape == whole.shape, (k_t, stride, p_t, sizes)
            torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12, msg=f"{k_t, stride, p_t, sizes}")


def test_chunked_equals_whole_with_one_frame_chunks_float32():
    """Wan's subtle case: 1-frame chunks after a 1-frame first chunk; fp32 within rounding."""
    conv = CausalConv3d(4, 4, 3)
    video = torch.randn(1, 4, 9, 6, 6)
    with streaming(conv):
        chunked = torch.cat([conv(frame) for frame in video.split(1, dim=2)], dim=2)
    torch.testing.assert_close(chunked, conv(video), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pad_mode", PAD_MODES)
def test_future_frames_never_change_past_outputs(pad_mode):
    """Output frame i reads input frames <= i whenever at least k_t - 1 frames are padded in front."""
    for k_t, stride, p_t in CASES:
        if stride > 1 or 2 * p_t < k_t - 1:
            continue  # strided: output i covers inputs up to i*s (the VAE tests check Wan's); short padding shifts
        conv = CausalConv3d(3, 3, (k_t, 3, 3), padding=(p_t, 1, 1), pad_mode=pad_mode).double()
        video = torch.randn(1, 3, 8, 5, 5, dtype=torch.float64)
        for t in range(7):
            assert future_leak(conv, video, t) == 0.0


def test_output_length_and_front_padding():
    for k_t, stride, p_t in CASES:
        conv = CausalConv3d(2, 2, (k_t, 1, 1), stride=(stride, 1, 1), padding=(p_t, 0, 0))
        for frames in range(1, 10):
            out = conv(torch.randn(1, 2, frames, 3, 3))
            assert out.shape[2] == max(0, (frames + 2 * p_t - k_t) // stride + 1)
    # stride 1 with the default padding keeps the frame count: k - 1 frames go in front
    assert CausalConv3d(2, 2, 3)(torch.randn(1, 2, 5, 4, 4)).shape == (1, 2, 5, 4, 4)


def test_zero_padding_equals_a_conv_on_a_front_zero_padded_clip():
    conv = CausalConv3d(2, 3, 3)
    video = torch.randn(1, 2, 4, 5, 5)
    expected = F.conv3d(F.pad(video, (1, 1, 1, 1, 2, 0)), conv.weight, conv.bias)
    torch.testing.assert_close(conv(video), expected)


def test_first_frame_and_replicate_padding_make_a_still_image_look_like_a_static_video():
    """Reference §10: with frame-0 padding, frame 0 alone gives the output of a static clip; with zeros it does not."""
    image = torch.randn(1, 3, 1, 6, 6)
    static = image.expand(-1, -1, 5, -1, -1)
    for mode, same in [("first_frame", True), ("replicate", True), ("zeros", False)]:
        torch.manual_seed(0)
        conv = CausalConv3d(3, 4, 3, pad_mode=mode)
        out_image, out_static = conv(image)[:, :, 0], conv(static)[:, :, -1]
        assert torch.allclose(out_image, out_static, atol=1e-6) is same, mode


def test_replicate_pads_space_by_edge_copies_and_first_frame_by_zeros():
    video = torch.randn(1, 1, 1, 4, 4)
    for mode, spatial in [("first_frame", "constant"), ("replicate", "replicate")]:
        conv = CausalConv3d(1, 1, 3, pad_mode=mode)
        padded = F.pad(video.expand(-1, -1, 3, -1, -1), (1, 1, 1, 1, 0, 0), mode=spatial)
        torch.testing.assert_close(conv(video), F.conv3d(padded, conv.weight, conv.bias))


def test_streaming_context_clears_the_cache_on_enter_and_exit():
    conv = CausalConv3d(2, 2, 3)
    video = torch.randn(1, 2, 5, 4, 4)
    whole = conv(video)
    with streaming(conv):
        conv(video)
        assert conv.cache is not None and conv.in_stream
    assert conv.cache is None and not conv.in_stream
    torch.testing.assert_close(conv(video), whole, rtol=0, atol=0)  # stateless outside streaming
    conv.cache = torch.ones(1, 2, 2, 4, 4)  # e.g. left over from a stream that raised
    with streaming(conv):  # a new clip starts from padding, not from an old tail
        torch.testing.assert_close(conv(video), whole, rtol=0, atol=0)


def test_is_first_chunk_is_a_query_and_streaming_counts_the_chunks():
    """Asking twice gives the same answer; only a forward call inside `streaming` moves a layer on."""
    down = Downsample(2, temporal=True)
    assert down.is_first_chunk() and down.is_first_chunk()  # outside a stream: always a whole clip
    with streaming(down):
        assert down.is_first_chunk() and down.is_first_chunk() and down.chunks_done == 0
        down(torch.randn(1, 2, 1, 4, 4))
        assert not down.is_first_chunk() and not down.is_first_chunk() and down.chunks_done == 1
        down(torch.randn(1, 2, 2, 4, 4))
        assert down.chunks_done == 2
    assert down.is_first_chunk() and down.chunks_done == 0 and not down._forward_hooks


def test_bad_pad_mode_is_an_error():
    with pytest.raises(ValueError, match="pad_mode"):
        CausalConv3d(2, 2, 3, pad_mode="reflect")


# ---- PseudoConv3d ---------------------------------------------------------------------------------------

def test_pseudo_conv3d_is_the_image_conv_at_init():
    """Identity-initialised temporal conv: an inflated image model equals the image model frame by frame."""
    conv = PseudoConv3d(3, 5)
    video = torch.randn(2, 3, 4, 6, 7)
    torch.testing.assert_close(conv(video), per_frame(conv.spatial, video))
    image = torch.randn(2, 3, 6, 7)
    torch.testing.assert_close(conv(image), conv.spatial(image))


def test_pseudo_conv3d_mixes_frames_once_the_temporal_conv_is_trained():
    conv = PseudoConv3d(3, 4, kernel_size=3, temporal_kernel_size=3)
    with torch.no_grad():
        conv.temporal.weight.normal_()
    video = torch.randn(1, 3, 5, 6, 6)
    assert not torch.allclose(conv(video), per_frame(conv.spatial, video))
    assert future_leak(conv, video, 2) > 0  # symmetric temporal padding: not causal, unlike CausalConv3d
    assert conv(video).shape == (1, 4, 5, 6, 6)


def test_pseudo_conv3d_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        PseudoConv3d(3, 3, temporal_kernel_size=2)


# ---- inflation ------------------------------------------------------------------------------------------

def test_centre_inflation_equals_the_2d_conv_on_any_video():
    conv2d = torch.nn.Conv2d(3, 4, 3, padding=1)
    video = torch.randn(2, 3, 6, 8, 8)
    for t in (1, 3, 5):
        torch.testing.assert_close(inflate_conv2d(conv2d, t, "centre")(video), per_frame(conv2d, video))


def test_mean_inflation_equals_the_2d_conv_on_a_static_video_away_from_the_padding():
    """Zero padding: frames whose window reaches n < t real frames get n/t of the 2D response (plus bias)."""
    conv2d = torch.nn.Conv2d(3, 4, 3, padding=1)
    static = torch.randn(1, 3, 1, 8, 8).expand(-1, -1, 7, -1, -1)
    frame = per_frame(conv2d, static)
    bias = conv2d.bias.view(1, -1, 1, 1, 1)
    for t in (3, 5):
        out = inflate_conv2d(conv2d, t, "mean")(static)
        inside = slice(t // 2, static.shape[2] - t // 2)
        torch.testing.assert_close(out[:, :, inside], frame[:, :, inside])
        for i in range(static.shape[2]):
            real = min(i + t // 2, static.shape[2] - 1) - max(i - t // 2, 0) + 1
            expected = bias + (frame[:, :, i:i + 1] - bias) * real / t
            torch.testing.assert_close(out[:, :, i:i + 1], expected)


def test_mean_inflation_in_a_first_frame_padded_causal_conv_equals_the_2d_conv_everywhere():
    conv2d = torch.nn.Conv2d(3, 4, 3, padding=1)
    causal = CausalConv3d(3, 4, 3, pad_mode="first_frame")
    with torch.no_grad():
        causal.weight.copy_(inflate_conv_weight(conv2d.weight, 3, "mean"))
        causal.bias.copy_(conv2d.bias)
    static = torch.randn(1, 3, 1, 8, 8).expand(-1, -1, 5, -1, -1)
    torch.testing.assert_close(causal(static), per_frame(conv2d, static))


def test_inflation_keeps_the_padding_mode_of_the_2d_conv():
    conv2d = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate")
    video = torch.randn(1, 3, 5, 8, 8)
    torch.testing.assert_close(inflate_conv2d(conv2d, 3, "centre")(video), per_frame(conv2d, video))
    static = torch.randn(1, 3, 1, 8, 8).expand(-1, -1, 5, -1, -1)  # replicate in time: exact at the ends too
    torch.testing.assert_close(inflate_conv2d(conv2d, 3, "mean")(static), per_frame(conv2d, static))


def test_inflation_modes_are_checked():
    w = torch.randn(4, 3, 3, 3)
    centre_even = inflate_conv_weight(w, 4, "centre")  # ViViT's checkpoint path: tap t // 2, even t too
    torch.testing.assert_close(centre_even[:, :, 2], w)
    assert centre_even[:, :, [0, 1, 3]].abs().sum() == 0
    with pytest.raises(ValueError, match="odd"):
        inflate_conv2d(torch.nn.Conv2d(3, 4, 3, padding=1), 4, "centre")  # symmetric padding needs odd t
    with pytest.raises(ValueError, match=">= 1"):
        inflate_conv_weight(w, 0, "mean")
    with pytest.raises(ValueError, match="mode"):
        inflate_conv_weight(w, 3, "last")
    assert inflate_conv_weight(w, 4, "mean").shape == (4, 3, 4, 3, 3)
