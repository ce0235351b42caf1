"""Convolutions for video: pseudo-3D (2D then 1D), causal 3D with a streaming cache, 2D -> 3D inflation.

Video tensors are `B C T H W`. Three ideas live here:

- `PseudoConv3d` (Make-A-Video, LVDM): a pretrained image conv per frame, then a new temporal conv per
  pixel that starts as the identity, so the inflated model *is* the image model on day one.
- `CausalConv3d` (Wan, CogVideoX, HunyuanVideo VAEs): time is padded at the front only, so frame t never
  sees frames after t and frame 0 is encoded like an image. With `streaming(...)` it carries the tail of
  its input between calls, so a clip cut into chunks gives exactly the output of the whole clip.
- `inflate_conv_weight` / `inflate_conv2d` (I3D, ViViT): turn a trained 2D kernel into a 3D one.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

PAD_MODES = ("zeros", "first_frame", "replicate")


def _triple(value) -> tuple[int, int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3


class PseudoConv3d(nn.Module):
    """A 2D conv on every frame, then a 1D conv over time on every pixel (Make-A-Video's Conv_P3D).

    The temporal conv is initialised to the identity (dirac weight, zero bias): at init a video goes
    through exactly as the image model would process its frames one by one. Images skip it.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, temporal_kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 == 0 or temporal_kernel_size % 2 == 0:
            raise ValueError(f"PseudoConv3d keeps sizes with k//2 padding, so kernels must be odd; "
                             f"got kernel_size={kernel_size}, temporal_kernel_size={temporal_kernel_size}")
        self.spatial = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.temporal = nn.Conv1d(out_ch, out_ch, temporal_kernel_size, padding=temporal_kernel_size // 2)
        nn.init.dirac_(self.temporal.weight)
        nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C H W -> B C' H W, or B C T H W -> B C' T H W
        if x.ndim == 4:
            return self.spatial(x)
        b, _, _, h, w = x.shape
        x = self.spatial(rearrange(x, "b c t h w -> (b t) c h w"))
        x = self.temporal(rearrange(x, "(b t) c h w -> (b h w) c t", b=b))
        return rearrange(x, "(b h w) c t -> b c t h w", b=b, h=h, w=w)


class Streamable:
    """Mixin for layers whose output on a chunk of frames depends on the chunks before it.

    Outside `streaming(...)` such a layer is stateless and treats every call as a whole clip. Inside,
    it remembers what it needs from earlier chunks. Its state changes only through the context
    manager (which counts each forward call as one chunk) and `reset_stream`; `is_first_chunk` is a
    pure query, so it may be asked any number of times in one forward.
    """

    in_stream: bool = False  # set by `streaming(...)`
    chunks_done: int = 0  # forward calls completed in the current stream

    def reset_stream(self) -> None:
        """Forget the stream: the next chunk is the first of a new clip."""
        self.chunks_done = 0

    def is_first_chunk(self) -> bool:
        """True for a whole clip and for the first chunk of a stream."""
        return not self.in_stream or self.chunks_done == 0


def _count_chunk(layer: Streamable, inputs, output) -> None:  # a forward hook: one call = one chunk
    layer.chunks_done += 1


@contextmanager
def streaming(*modules: nn.Module):
    """Stream chunks of one clip through `modules`: caches are cleared on enter and on exit.

        with streaming(encoder):
            latent = torch.cat([encoder(chunk) for chunk in chunks], dim=2)
    """
    layers = [m for module in modules for m in module.modules() if isinstance(m, Streamable)]
    hooks = [layer.register_forward_hook(_count_chunk) for layer in layers]
    for layer in layers:
        layer.reset_stream()
        layer.in_stream = True
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for layer in layers:
            layer.reset_stream()
            layer.in_stream = False


def run_in_chunks(module: nn.Module, chunks) -> torch.Tensor:
    """One clip through `module`, chunk by chunk inside `streaming(module)`; the outputs concatenated in time.
    `chunks` are `B C t H W` pieces of the clip in order (e.g. the 1, 4, 4, ... frames of Wan's VAE)."""
    with streaming(module):
        return torch.cat([module(chunk) for chunk in chunks], dim=2)


class CausalConv3d(Streamable, nn.Conv3d):
    """3D conv padded in time at the front only, so output frame t sees input frames <= t.

    `padding=(p_t, p_h, p_w)` follows Wan: 2*p_t frames go in front and p_h / p_w on both sides in space.
    The default p = k // 2 puts k_t - 1 frames in front: causal, and the frame count is kept at stride 1.
    `pad_mode` names what the real VAEs pad with:

    - `"zeros"`: zero frames in front, zeros in space (Wan2.1 / Wan2.2 VAE, lucidrains' MAGVIT-v2).
    - `"first_frame"`: frame 0 repeated in front, zeros in space (CogVideoX VAE, official and diffusers).
    - `"replicate"`: edge replication on every axis, so frame 0 repeated in front (HunyuanVideo VAE).

    With frame-0 padding a still image in frame 0 gives the same output as a static video; with zeros it
    does not. Streaming: the padded input is cut into windows starting at 0, s, 2s, ...; after a chunk,
    every frame from the next unfinished window on is kept and prepended to the next chunk in place of the
    padding. For stride 1 that is the last k - 1 frames (even after a 1-frame chunk, the case Wan's code
    patches by hand); for stride 2 it is what keeps windows aligned across chunks.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=None, pad_mode: str = "zeros"):
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        kernel = _triple(kernel_size)
        p_t, p_h, p_w = tuple(k // 2 for k in kernel) if padding is None else _triple(padding)
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0)
        self.front_pad = 2 * p_t
        self.space_pad = (p_w, p_w, p_h, p_h, 0, 0)
        self.pad_mode = pad_mode
        self.cache: torch.Tensor | None = None
        self.skip = 0  # frames of the next chunk that no window uses (only when stride > kernel in time)

    def reset_stream(self) -> None:
        super().reset_stream()
        self.cache = None
        self.skip = 0

    def _front_padding(self, x: torch.Tensor) -> torch.Tensor:  # B C P H W
        if self.pad_mode == "zeros":
            return x.new_zeros(x.shape[0], x.shape[1], self.front_pad, *x.shape[3:])
        return x[:, :, :1].expand(-1, -1, self.front_pad, -1, -1)

    def _empty_output(self, x: torch.Tensor) -> torch.Tensor:  # B C' 0 H' W'
        (_, k_h, k_w), (_, s_h, s_w) = self.kernel_size, self.stride
        h = (x.shape[3] + 2 * self.space_pad[2] - k_h) // s_h + 1
        w = (x.shape[4] + 2 * self.space_pad[0] - k_w) // s_w + 1
        return x.new_zeros(x.shape[0], self.out_channels, 0, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C' T' H' W'
        if x.shape[2] == 0:
            return self._empty_output(x)
        history = self.cache if self.in_stream and self.cache is not None else self._front_padding(x)
        if self.in_stream and self.skip:  # the next window starts beyond the frames seen so far
            dropped = min(self.skip, x.shape[2])
            x, self.skip = x[:, :, dropped:], self.skip - dropped
        x = torch.cat([history, x], dim=2)  # B C (P+T) H W
        if self.in_stream:
            k, s = self.kernel_size[0], self.stride[0]
            next_window = max(0, (x.shape[2] - k) // s + 1) * s
            self.cache = x[:, :, next_window:].clone()
            self.skip += max(0, next_window - x.shape[2])  # (only ever > 0 here when skip was used up)
        if x.shape[2] < self.kernel_size[0]:
            return self._empty_output(x)
        x = F.pad(x, self.space_pad, mode="replicate" if self.pad_mode == "replicate" else "constant")
        return super().forward(x)


def inflate_conv_weight(w2d: torch.Tensor, t: int, mode: str = "centre") -> torch.Tensor:
    """2D kernel `O I kh kw` -> 3D kernel `O I t kh kw` (I3D / ViViT "filter inflation").

    - `"centre"`: W at tap t // 2, zeros elsewhere (ViViT's checkpoint initialiser, also for even t,
      e.g. ViViT-B's 2-frame tubelets). With odd t and symmetric zero padding in time the 3D conv
      equals the 2D conv on every frame of any video.
    - `"mean"`: W / t on every tap. On a static video every full window sums t copies of the same frame, so
      the 3D conv equals the 2D conv wherever the window does not reach into zero padding.
    """
    if t < 1:
        raise ValueError(f"the temporal kernel size must be >= 1, got t={t}")
    if mode == "centre":
        w3d = w2d.new_zeros(w2d.shape[0], w2d.shape[1], t, *w2d.shape[2:])
        w3d[:, :, t // 2] = w2d
        return w3d
    if mode == "mean":
        return repeat(w2d, "o i h w -> o i t h w", t=t) / t
    raise ValueError(f"mode must be 'centre' or 'mean', got {mode!r}")


def inflate_conv2d(conv: nn.Conv2d, t: int, mode: str = "centre") -> nn.Conv3d:
    """A `Conv3d` with temporal kernel `t` built from a trained `Conv2d`: time is padded by t // 2 on both
    sides with the Conv2d's own `padding_mode` (zeros, or e.g. replicate, which repeats the end frames)."""
    if isinstance(conv.padding, str):
        raise ValueError("inflate_conv2d needs numeric padding on the Conv2d, not a string like 'same'")
    if t % 2 == 0:
        raise ValueError(f"inflate_conv2d pads time symmetrically by t // 2, which needs an odd t; got t={t}")
    conv3d = nn.Conv3d(conv.in_channels, conv.out_channels, (t, *conv.kernel_size), stride=(1, *conv.stride),
                       padding=(t // 2, *conv.padding), dilation=(1, *conv.dilation), groups=conv.groups,
                       bias=conv.bias is not None, padding_mode=conv.padding_mode,  # time is padded alike
                       device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        conv3d.weight.copy_(inflate_conv_weight(conv.weight, t, mode))
        if conv.bias is not None:
            conv3d.bias.copy_(conv.bias)
    return conv3d
