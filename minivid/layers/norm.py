"""Normalisation for video, adaLN's modulation, and a probe that shows which norms keep a model causal in time.

A causal video VAE must give frame t an output that does not depend on frames after t, otherwise a clip
encoded in chunks differs from the clip encoded whole. GroupNorm on `B C T H W` pools its statistics over
(C/G, T, H, W): every frame's output moves when a later frame changes (CogVideoX, HunyuanVideo VAEs).
Wan replaced every GroupNorm by `ChannelRMSNorm`, which normalises each position over channels only
(Wan report; Wan-Video/Wan2.1 issue #294). `future_leak` measures the difference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class ChannelRMSNorm(nn.Module):
    """RMSNorm over the channel axis only (Wan VAE's `RMS_norm`): `x / rms_C(x) * weight (+ bias)`.

    Written as `F.normalize(x) * sqrt(C)`, which is the same as dividing by the RMS over channels (with
    no eps inside the root). `channel_dim=1` for `B C ...` tensors (videos `B C T H W`, images `B C H W`),
    `-1` for channel-last tokens `... C`. Nothing is pooled across time or space, so it is causal.
    """

    def __init__(self, dim: int, channel_dim: int = 1, bias: bool = False):
        super().__init__()
        self.channel_dim = channel_dim
        self.scale = dim ** 0.5
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def _broadcast(self, p: torch.Tensor, ndim: int) -> torch.Tensor:  # C -> C 1 ... 1 for channel-first
        return p if self.channel_dim == -1 else p.view(-1, *([1] * (ndim - self.channel_dim - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # any shape with C at channel_dim
        # the sum of squares over many channels loses precision in fp16 / bf16: normalise in fp32
        low_precision = x.dtype in (torch.float16, torch.bfloat16)
        out = F.normalize(x.float() if low_precision else x, dim=self.channel_dim).to(x.dtype)
        out = out * self.scale * self._broadcast(self.weight, x.ndim)
        return out if self.bias is None else out + self._broadcast(self.bias, x.ndim)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm on `B C T H W` with statistics per frame (time folded into the batch).

    A plain `nn.GroupNorm` on a 5-D tensor pools over (C/G, T, H, W) of the whole clip; this one pools
    over (C/G, H, W) of each frame, like an image VAE run frame by frame. It is causal but, unlike
    `ChannelRMSNorm`, still mixes every pixel of a frame.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W
        b = x.shape[0]
        out = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(out, "(b t) c h w -> b c t h w", b=b)


def modulate(x: torch.Tensor, shift: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    """adaLN's affine on normalised tokens, `x · (1 + scale) + shift`: the `1 +` makes a zero modulation the
    identity (DiT, Wan, CogVideoX, HunyuanVideo). x `B L D`; shift and scale broadcast against it: `B 1 D`
    (one vector per sample) or `B L D` (per token, Wan2.2 TI2V). None leaves x as it is (a layer that
    is not adaLN-conditioned)."""
    if shift is None:
        return x
    return x * (1 + scale) + shift


def modulate_split(x: torch.Tensor, first_tokens: int, first: tuple[torch.Tensor, torch.Tensor],
                   rest: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """`modulate` with one (shift, scale) for the first `first_tokens` tokens of `x` `B L D` and another for
    the rest, each `B 1 D`: CogVideoX's expert adaLN (text first, then video) and HunyuanVideo I2V's token
    replace (the clean first frame's tokens get the modulation of t = 0). No `B L D` table is built."""
    return torch.cat([modulate(x[:, :first_tokens], *first), modulate(x[:, first_tokens:], *rest)], dim=1)


def gate_split(x: torch.Tensor, first_tokens: int, first_gate: torch.Tensor, rest_gate: torch.Tensor) -> torch.Tensor:
    """adaLN's gate with one `B 1 D` gate for the first `first_tokens` tokens of `x` `B L D`, another for the rest."""
    return torch.cat([first_gate * x[:, :first_tokens], rest_gate * x[:, first_tokens:]], dim=1)


@torch.no_grad()
def future_leak(layer: nn.Module, video: torch.Tensor, t: int, seed: int = 0) -> float:
    """How much the outputs at frames <= t move when frames > t are replaced: max |change|.

    `video` is `B C T H W`; frames after t get new random values with a different mean and scale, so a
    layer that pools statistics over time shows a clear change. 0.0 means causal on this input.
    """
    if not 0 <= t < video.shape[2] - 1:
        raise ValueError(f"t must leave at least one future frame: 0 <= t < {video.shape[2] - 1}, got {t}")
    generator = torch.Generator().manual_seed(seed)
    future = torch.randn(video[:, :, t + 1:].shape, generator=generator, dtype=video.dtype) * 3.0 + 1.0
    changed = torch.cat([video[:, :, :t + 1], future.to(video.device)], dim=2)
    before, after = layer(video)[:, :, :t + 1], layer(changed)[:, :, :t + 1]
    return (before - after).abs().max().item()
