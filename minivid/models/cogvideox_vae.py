"""The CogVideoX causal video VAE (THUDM/CogVideo `sat/vae_modules/cp_enc_dec.py`; diffusers
`AutoencoderKLCogVideoX`): 4x8x8 compression, 16 latent channels, GroupNorm.

    pixels B 3 T H W --Encoder--> mean, logvar B 16 T' H/8 W/8 --(x scaling_factor)--> latents --Decoder--> pixels

Like Wan's VAE every 3D conv is causal, but CogVideoX pads time with copies of frame 0 (`"first_frame"`,
so a still image in frame 0 is encoded like a static clip) and zeros in space. Unlike Wan it normalises
with **GroupNorm**, whose statistics pool over (C/G, T, H, W) of whatever it is given. diffusers runs the
encoder on chunks of frames (9, 8, 8, ...: `num_sample_frames_batch_size = 8`); the official SAT code
encodes the whole clip in one pass (`sat/diffusion_video.py : encode_first_stage`). Both decode in chunks
of latent frames (3, 2, 2, ... for 13 latents: `decode_first_stage`'s `fake_cp_size`), carrying the causal
convs' last frames from chunk to chunk; the GroupNorms then see one chunk at a time. So, unlike Wan,
chunked is *not* the same as whole-clip: `chunked=True` (the default) is diffusers' schedule,
`encode_moments(chunked=False)` the official encode, and the two differ measurably.

Time is compressed by averaging pairs of frames (frame 0 alone when a chunk has an odd count) and
expanded by nearest-neighbour doubling (frame 0 once); the decoder conditions every norm on the latent
itself (`SpatialNorm3D`, from MoVQ): `GroupNorm(f) * conv_y(z) + conv_b(z)`, z resized to f.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from minivid.layers.conv import CausalConv3d, run_in_chunks
from minivid.layers.tiling import tiled_apply


@dataclass(frozen=True)
class CogVideoXVAEConfig:
    block_out_channels: tuple[int, ...] = (128, 256, 256, 512)
    latent_channels: int = 16
    layers_per_block: int = 3  # encoder; the decoder has one more per block
    norm_groups: int = 32
    temporal_compression: int = 4
    image_channels: int = 3
    scaling_factor: float = 1.15258426  # 2B; 0.7 for 5B and 1.5 (sat/configs: model.scale_factor)
    frames_per_chunk: int = 8  # the encoder's chunk of pixel frames (the first chunk takes the remainder too)
    latents_per_chunk: int = 2  # the decoder's chunk of latent frames

    @property
    def spatial_stride(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def temporal_levels(self) -> int:  # how many stages halve time
        return self.temporal_compression.bit_length() - 1


def _frames_first(x: torch.Tensor) -> torch.Tensor:  # B C T H W -> (B T) C H W
    return rearrange(x, "b c t h w -> (b t) c h w")


class ResnetBlock(nn.Module):
    """(norm -> SiLU -> causal 3x3x3 conv) twice + shortcut; the decoder's norms are `SpatialNorm3D`.
    HunyuanVideo's VAE uses the same block with GroupNorm only and `pad_mode="replicate"`."""

    def __init__(self, in_dim: int, out_dim: int, groups: int, latent_channels: int | None = None,
                 pad_mode: str = "first_frame"):
        super().__init__()
        self.norm1 = SpatialNorm3D(in_dim, latent_channels, groups) if latent_channels else nn.GroupNorm(groups, in_dim, 1e-6)
        self.conv1 = CausalConv3d(in_dim, out_dim, 3, pad_mode=pad_mode)
        self.norm2 = SpatialNorm3D(out_dim, latent_channels, groups) if latent_channels else nn.GroupNorm(groups, out_dim, 1e-6)
        self.conv2 = CausalConv3d(out_dim, out_dim, 3, pad_mode=pad_mode)
        self.shortcut = nn.Conv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def norm(self, layer: nn.Module, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        return layer(x, z) if isinstance(layer, SpatialNorm3D) else layer(x)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:  # B C T H W
        h = self.conv1(F.silu(self.norm(self.norm1, x, z)))
        h = self.conv2(F.silu(self.norm(self.norm2, h, z)))
        return h + self.shortcut(x)


class SpatialNorm3D(nn.Module):
    """`GroupNorm(f) * conv_y(z) + conv_b(z)`: the decoder's norms are told what the latent says there.
    z is resized (nearest) to f's frames and pixels; with an odd frame count, frame 0 of each alone."""

    def __init__(self, channels: int, latent_channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.conv_y = CausalConv3d(latent_channels, channels, 1)
        self.conv_b = CausalConv3d(latent_channels, channels, 1)

    def forward(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # f B C T H W, z B z T' h w
        if f.shape[2] > 1 and f.shape[2] % 2 == 1:
            z = torch.cat([F.interpolate(z[:, :, :1], size=(1, *f.shape[-2:])),
                           F.interpolate(z[:, :, 1:], size=(f.shape[2] - 1, *f.shape[-2:]))], dim=2)
        else:
            z = F.interpolate(z, size=f.shape[-3:])
        return self.norm(f) * self.conv_y(z) + self.conv_b(z)


class Downsample(nn.Module):
    """Halve H, W with a stride-2 3x3 conv per frame (padded right/bottom); with `compress_time`, first average
    pairs of frames (frame 0 alone when the count is odd), so 1 + 2n frames become 1 + n."""

    def __init__(self, dim: int, compress_time: bool):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, stride=2)
        self.compress_time = compress_time

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C T' H/2 W/2
        b = x.shape[0]
        if self.compress_time and x.shape[2] > 1:
            first, rest = (x[:, :, :1], x[:, :, 1:]) if x.shape[2] % 2 else (x[:, :, :0], x)
            pairs = rearrange(rest, "b c (t two) h w -> b c t two h w", two=2).mean(dim=3)
            x = torch.cat([first, pairs], dim=2)
        x = self.conv(F.pad(_frames_first(x), (0, 1, 0, 1)))
        return rearrange(x, "(b t) c h w -> b c t h w", b=b)


class Upsample(nn.Module):
    """Double H, W (nearest) and, with `compress_time`, T (each frame twice; frame 0 once when the count is
    odd); then a 3x3 conv per frame."""

    def __init__(self, dim: int, compress_time: bool):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.compress_time = compress_time

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C T' 2H 2W
        b = x.shape[0]
        if self.compress_time and x.shape[2] > 1:
            odd = x.shape[2] % 2
            doubled = F.interpolate(x[:, :, odd:], scale_factor=2.0)  # nearest in (t, h, w): every frame twice
            if odd:  # frame 0 once, only enlarged
                doubled = torch.cat([F.interpolate(x[:, :, 0], scale_factor=2.0)[:, :, None], doubled], dim=2)
            x = doubled
        else:
            x = rearrange(F.interpolate(_frames_first(x), scale_factor=2.0), "(b t) c h w -> b c t h w", b=b)
        return rearrange(self.conv(_frames_first(x)), "(b t) c h w -> b c t h w", b=b)


class Stage(nn.Module):
    """Resnet blocks and an optional resample (one entry of the encoder's `down_blocks` / decoder's `up_blocks`)."""

    def __init__(self, blocks: list[ResnetBlock], resample: nn.Module | None):
        super().__init__()
        self.blocks, self.resample = nn.ModuleList(blocks), resample

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, z)
        return x if self.resample is None else self.resample(x)


class Encoder(nn.Module):
    def __init__(self, cfg: CogVideoXVAEConfig):
        super().__init__()
        dims, groups = cfg.block_out_channels, cfg.norm_groups
        self.conv_in = CausalConv3d(cfg.image_channels, dims[0], 3, pad_mode="first_frame")
        stages, in_dim = [], dims[0]
        for i, out_dim in enumerate(dims):
            blocks = [ResnetBlock(in_dim if j == 0 else out_dim, out_dim, groups) for j in range(cfg.layers_per_block)]
            last = i == len(dims) - 1
            stages.append(Stage(blocks, None if last else Downsample(out_dim, i < cfg.temporal_levels)))
            in_dim = out_dim
        self.stages = nn.ModuleList(stages)
        self.mid = Stage([ResnetBlock(dims[-1], dims[-1], groups) for _ in range(2)], None)
        self.norm_out = nn.GroupNorm(groups, dims[-1], eps=1e-6)
        self.conv_out = CausalConv3d(dims[-1], 2 * cfg.latent_channels, 3, pad_mode="first_frame")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B 3 T H W -> B 2z T' H' W'
        x = self.conv_in(x)
        for stage in self.stages:
            x = stage(x)
        return self.conv_out(F.silu(self.norm_out(self.mid(x))))


class Decoder(nn.Module):
    def __init__(self, cfg: CogVideoXVAEConfig):
        super().__init__()
        dims, groups, z = tuple(reversed(cfg.block_out_channels)), cfg.norm_groups, cfg.latent_channels
        self.conv_in = CausalConv3d(z, dims[0], 3, pad_mode="first_frame")
        self.mid = Stage([ResnetBlock(dims[0], dims[0], groups, z) for _ in range(2)], None)
        stages, in_dim = [], dims[0]
        for i, out_dim in enumerate(dims):
            blocks = [ResnetBlock(in_dim if j == 0 else out_dim, out_dim, groups, z)
                      for j in range(cfg.layers_per_block + 1)]
            last = i == len(dims) - 1
            stages.append(Stage(blocks, None if last else Upsample(out_dim, i < cfg.temporal_levels)))
            in_dim = out_dim
        self.stages = nn.ModuleList(stages)
        self.norm_out = SpatialNorm3D(dims[-1], z, groups)
        self.conv_out = CausalConv3d(dims[-1], cfg.image_channels, 3, pad_mode="first_frame")

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # B z T' H' W' -> B 3 T H W
        x = self.mid(self.conv_in(z), z)
        for stage in self.stages:
            x = stage(x, z)
        return self.conv_out(F.silu(self.norm_out(x, z)))


class VAEOutput(NamedTuple):
    reconstruction: torch.Tensor  # B 3 T H W
    mean: torch.Tensor  # B z T' H' W', raw (not scaled)
    logvar: torch.Tensor


def check_video(video: torch.Tensor, channels: int, temporal: int, spatial: int, vae: str,
                frames_hint: str = "") -> None:
    """What every 4x8x8 causal VAE of this family refuses, with the value and a legal fix in the message:
    not `B channels T H W`, not float, not 1 + `temporal` n frames, H or W not a multiple of `spatial`."""
    if video.ndim != 5 or video.shape[1] != channels:
        raise ValueError(f"expected a video B {channels} T H W in [-1, 1], got shape {tuple(video.shape)}; "
                         f"the VAE takes channels before frames (rearrange 'b t c h w -> b c t h w')")
    if not video.is_floating_point():
        raise ValueError(f"expected float pixels in [-1, 1], got {video.dtype}; use `video.float() / 127.5 - 1`")
    t, h, w = video.shape[2:]
    s, S = temporal, spatial
    if (t - 1) % s:
        lower = 1 + s * max(0, (t - 1) // s)
        raise ValueError(f"got {t} frames; the {vae} needs 1+{s}n frames such as {lower} or {lower + s}{frames_hint}")
    if h % S or w % S:
        raise ValueError(f"height and width must be multiples of {S}, got {h}x{w}; crop to "
                         f"{h - h % S or S}x{w - w % S or S} or pad to {h + (-h) % S}x{w + (-w) % S}")


def check_latent(latent: torch.Tensor, channels: int, layout_hint: str = "") -> None:
    """A latent must be `B channels T' H' W'`; `layout_hint` says what the family's transformer gives."""
    if latent.ndim != 5 or latent.shape[1] != channels:
        raise ValueError(f"expected a latent B {channels} T' H' W', got shape {tuple(latent.shape)}; the VAE takes "
                         f"channels before frames{layout_hint}")


def split_moments(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's `B 2z T' H' W'` output -> (mean, logvar), logvar clamped to [-30, 20] as diffusers'
    `DiagonalGaussianDistribution` (and the official code) does."""
    mean, logvar = h.chunk(2, dim=1)
    return mean, logvar.clamp(-30.0, 20.0)


def sample_posterior(mean: torch.Tensor, logvar: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + std * noise (the reparameterisation trick)."""
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + (0.5 * logvar).exp() * noise


def chunk_spans(frames: int, per_chunk: int) -> list[tuple[int, int]]:
    """diffusers' chunking: max(frames // per_chunk, 1) chunks, the first one also taking the remainder
    (49 frames -> 9, 8, 8, 8, 8, 8; 13 latent frames -> 3, 2, 2, 2, 2, 2, as the official decode too)."""
    count, rest = max(frames // per_chunk, 1), frames % per_chunk
    return [(0 if i == 0 else per_chunk * i + rest, min(per_chunk * (i + 1) + rest, frames)) for i in range(count)]


class CogVideoXVAE(nn.Module):
    """CogVideoX's VAE. `encode` / `decode` work on scaled latents (what the transformer sees: mean x
    scaling_factor, no sampling); `encode_moments` gives the raw posterior; `chunked=True` runs diffusers'
    chunk schedules (encode 9/8/8 frames, decode 3/2/2 latents, as the official decode), `chunked=False` the
    whole clip at once (the official encode; different numbers: GroupNorm is not causal)."""

    def __init__(self, config: CogVideoXVAEConfig = CogVideoXVAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        check_video(video, cfg.image_channels, cfg.temporal_compression, cfg.spatial_stride, "CogVideoX VAE",
                    " (1+8m, e.g. 49, to decode back to as many frames)")
        return video.to(self.encoder.conv_in.weight.dtype)

    def _check_latent(self, latent: torch.Tensor) -> torch.Tensor:
        check_latent(latent, self.config.latent_channels,
                     " (the CogVideoX transformer's output is B F C H W: rearrange it)")
        frames = latent.shape[2]
        if frames > 1 and frames % 2 == 0:
            raise ValueError(f"got {frames} latent frames; the CogVideoX decoder expands 1 + 2m latent frames (frame 0 "
                             f"alone) to 1 + 8m frames: use {frames - 1} or {frames + 1} (videos of 1+8m frames, e.g. 49)")
        return latent.to(self.encoder.conv_in.weight.dtype)

    def encode_moments(self, video: torch.Tensor, chunked: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """`B 3 T H W` in [-1, 1] -> raw (mean, logvar), each `B z T' H' W'` (diffusers' `latent_dist`)."""
        x = self._check_video(video)
        if chunked:
            h = run_in_chunks(self.encoder, [x[:, :, a:b] for a, b in chunk_spans(x.shape[2], self.config.frames_per_chunk)])
        else:
            h = self.encoder(x)
        return split_moments(h)

    def encode(self, video: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """`B 3 T H W` -> scaled latent mean `B z T' H' W'` (the posterior's mode, as the I2V pipeline uses it)."""
        return self.encode_moments(video, chunked)[0] * self.config.scaling_factor

    def _decode_raw(self, z: torch.Tensor, chunked: bool) -> torch.Tensor:
        if chunked:
            return run_in_chunks(self.decoder, [z[:, :, a:b] for a, b in chunk_spans(z.shape[2], self.config.latents_per_chunk)])
        return self.decoder(z)

    def decode(self, latent: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """Scaled latent `B z T' H' W'` (T' = 1 + 2m) -> video `B 3 (1 + 4(T'-1)) H W`, clamped to [-1, 1]."""
        latent = self._check_latent(latent)
        return self._decode_raw(latent / self.config.scaling_factor, chunked).clamp(-1, 1)

    def forward(self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        mean, logvar = self.encode_moments(video)
        z = sample_posterior(mean, logvar, generator) if sample else mean
        return VAEOutput(self._decode_raw(z, chunked=True), mean, logvar)

    def tiled_encode(self, video: torch.Tensor, tile_size: int = 240, tile_stride: int = 192) -> torch.Tensor:
        """`encode` over overlapping pixel tiles, overlaps blended (`minivid.layers.tiling`)."""
        video, S = self._check_video(video), self.config.spatial_stride
        if tile_size % S or tile_stride % S:
            raise ValueError(f"tile_size and tile_stride must be multiples of {S}, got {tile_size}, {tile_stride}")
        return tiled_apply(self.encode, video, tile_size, tile_stride, 1 / S)

    def tiled_decode(self, latent: torch.Tensor, tile_size: int = 240, tile_stride: int = 192) -> torch.Tensor:
        """`decode` over overlapping tiles; sizes in output pixels."""
        latent, S = self._check_latent(latent), self.config.spatial_stride
        if tile_size % S or tile_stride % S:
            raise ValueError(f"tile_size and tile_stride must be multiples of {S}, got {tile_size}, {tile_stride}")
        return tiled_apply(self.decode, latent, tile_size // S, tile_stride // S, S)
