"""The HunyuanVideo causal video VAE (Tencent-Hunyuan/HunyuanVideo `hyvideo/vae/autoencoder_kl_causal_3d.py`,
`hyvideo/vae/vae.py`, `hyvideo/vae/unet_causal_3d_blocks.py`; diffusers `AutoencoderKLHunyuanVideo`):
4x8x8 compression, 16 latent channels, GroupNorm, scaling factor 0.476986.

    pixels B 3 T H W --Encoder--> quant_conv --> mean, logvar B 16 T' H/8 W/8 --(x scaling_factor)--> latents
    latents --(/ scaling_factor)--> post_quant_conv --> Decoder --> pixels B 3 T H W     (T = 1 + 4(T' - 1))

Next to the CogVideoX VAE (`minivid.models.cogvideox_vae`, whose resnet block, stage and input checks it
shares) three things differ:

- every causal conv pads with **replicate** on every axis: frame 0 repeated in front (as CogVideoX), and
  edge pixels, not zeros, around each frame;
- time and space are resampled by the convs themselves: a stride-2 causal 3x3x3 conv down (frame 0 and
  each later pair of frames become one), nearest-neighbour enlargement and a causal conv up, frame 0
  enlarged but never repeated in time; the decoder's norms are plain GroupNorm (no spatial norm);
- the mid-blocks have an **attention** layer over every (t, h, w) position with a frame-causal mask
  (frame t attends to frames <= t).

The whole VAE is *not* causal all the same: its GroupNorms (and the attention's own GroupNorm) pool their
statistics over every frame they are given. `encode` / `decode` run the whole clip in one pass (the
official code without tiling); `tiled_encode` / `tiled_decode` are the official and diffusers'
`enable_tiling()`: windows in time and tiles in space, crossfaded as `minivid.layers.tiling` describes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from minivid.layers.attention import attention
from minivid.layers.conv import CausalConv3d
from minivid.layers.spacetime import spacetime_mask
from minivid.layers.tiling import crossfade_frames_apply, crossfade_tiled_apply
from minivid.models.cogvideox_vae import (ResnetBlock, Stage, VAEOutput, check_latent, check_video, sample_posterior,
                                          split_moments)

PAD = "replicate"  # every causal conv of this VAE


@dataclass(frozen=True)
class HunyuanVideoVAEConfig:
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    latent_channels: int = 16
    layers_per_block: int = 2  # encoder; the decoder has one more per block
    norm_groups: int = 32
    temporal_compression: int = 4
    spatial_compression: int = 8
    image_channels: int = 3
    scaling_factor: float = 0.476986  # the released VAE's config.json
    mid_attention: bool = True  # the mid-blocks' frame-causal attention (`mid_block_add_attention`)
    # tiled_encode / tiled_decode defaults, in pixels and pixel frames (diffusers' tile_sample_min_* and
    # tile_sample_stride_*): 256-pixel tiles every 192, windows of 16 (+1) frames every 12
    tile_size: int = 256
    tile_stride: int = 192
    tile_frames: int = 16
    tile_frame_stride: int = 12

    def __post_init__(self):
        if self.temporal_compression != 4:
            raise ValueError(f"temporal_compression must be 4 (the only ratio the HunyuanVideo decoder builds), "
                             f"got {self.temporal_compression}")
        levels = self.spatial_compression.bit_length() - 1
        if self.spatial_compression != 2 ** levels or not 1 <= levels <= len(self.block_out_channels):
            raise ValueError(f"spatial_compression must be a power of two from 2 to "
                             f"{2 ** len(self.block_out_channels)} ({len(self.block_out_channels)} stages), "
                             f"got {self.spatial_compression}")

    def resampling(self, stage: int) -> tuple[int, int]:
        """(time, space) factor of a stage's resample, counted from the pixels for the encoder and from the
        latent for the decoder (the official placement): space halves in the first log2(spatial) stages,
        time in the log2(temporal) stages before the last one (for 4 stages: 1x2x2, 2x2x2, 2x2x2, none)."""
        n = len(self.block_out_channels)
        space = 2 if stage < self.spatial_compression.bit_length() - 1 else 1
        time = 2 if n - 1 - (self.temporal_compression.bit_length() - 1) <= stage < n - 1 else 1
        return time, space


class Upsample(nn.Module):
    """Nearest-neighbour enlargement by `time` x `space` x `space`, frame 0 only in space (it stays one
    frame: 1 + n frames become 1 + 2n), then a causal 3x3x3 conv."""

    def __init__(self, dim: int, time: int, space: int):
        super().__init__()
        self.time, self.space = time, space
        self.conv = CausalConv3d(dim, dim, 3, pad_mode=PAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C (1 + time (T-1)) sH sW
        frames = F.interpolate(x[:, :, 0], scale_factor=self.space)[:, :, None]  # frame 0: B C 1 sH sW
        if x.shape[2] > 1:
            # contiguous: nearest 3D interpolation of a strided view is wrong in some torch versions (#81665)
            rest = F.interpolate(x[:, :, 1:].contiguous(), scale_factor=(self.time, self.space, self.space))
            frames = torch.cat([frames, rest], dim=2)
        return self.conv(frames)


class FrameCausalAttention(nn.Module):
    """The mid-blocks' attention: GroupNorm, then one head over every (t, h, w) position where frame t
    sees frames <= t, plus x.

    The mask is the official one, an L x L mask over all L = T H W positions, so the numbers match the
    official code and diffusers to the last bit; `minivid.layers.spacetime.frame_causal_attention` computes
    the same attention frame by frame without a mask (equal up to rounding, which the tiny random decoder
    amplifies to a relative 6e-6). Only `attend` is causal: the GroupNorm before it pools over all frames,
    so the block as a whole is not.
    """

    def __init__(self, dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(dim, dim) for _ in range(4))

    def attend(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W (normalised) -> B C T H W
        t, h, w = x.shape[2:]
        tokens = rearrange(x, "b c t h w -> b 1 (t h w) c")  # one head as wide as the channels
        mask = spacetime_mask("frame_causal", (t, h, w), device=x.device)  # L L: True where key frame <= query's
        out = attention(self.to_q(tokens), self.to_k(tokens), self.to_v(tokens), mask)
        return rearrange(self.to_out(out), "b 1 (t h w) c -> b c t h w", t=t, h=h, w=w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attend(self.norm(x))


class MidBlock(nn.Module):
    """resnet -> frame-causal attention (optional) -> resnet, at the lowest resolution."""

    def __init__(self, dim: int, groups: int, attention: bool):
        super().__init__()
        self.blocks = nn.ModuleList(ResnetBlock(dim, dim, groups, pad_mode=PAD) for _ in range(2))
        self.attn = FrameCausalAttention(dim, groups) if attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W
        x = self.blocks[0](x)
        if self.attn is not None:
            x = self.attn(x)
        return self.blocks[1](x)


def _resnets(in_dim: int, out_dim: int, count: int, groups: int) -> list[ResnetBlock]:
    return [ResnetBlock(in_dim if j == 0 else out_dim, out_dim, groups, pad_mode=PAD) for j in range(count)]


class Encoder(nn.Module):
    def __init__(self, cfg: HunyuanVideoVAEConfig):
        super().__init__()
        dims, groups = cfg.block_out_channels, cfg.norm_groups
        self.conv_in = CausalConv3d(cfg.image_channels, dims[0], 3, pad_mode=PAD)
        stages, in_dim = [], dims[0]
        for i, out_dim in enumerate(dims):
            time, space = cfg.resampling(i)
            down = (CausalConv3d(out_dim, out_dim, 3, stride=(time, space, space), pad_mode=PAD)
                    if time * space > 1 else None)  # a strided causal conv: 1 + 2n frames -> 1 + n
            stages.append(Stage(_resnets(in_dim, out_dim, cfg.layers_per_block, groups), down))
            in_dim = out_dim
        self.stages = nn.ModuleList(stages)
        self.mid = MidBlock(dims[-1], groups, cfg.mid_attention)
        self.norm_out = nn.GroupNorm(groups, dims[-1], eps=1e-6)
        self.conv_out = CausalConv3d(dims[-1], 2 * cfg.latent_channels, 3, pad_mode=PAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B 3 T H W -> B 2z T' H' W'
        x = self.conv_in(x)
        for stage in self.stages:
            x = stage(x)
        return self.conv_out(F.silu(self.norm_out(self.mid(x))))


class Decoder(nn.Module):
    def __init__(self, cfg: HunyuanVideoVAEConfig):
        super().__init__()
        dims, groups = tuple(reversed(cfg.block_out_channels)), cfg.norm_groups
        self.conv_in = CausalConv3d(cfg.latent_channels, dims[0], 3, pad_mode=PAD)
        self.mid = MidBlock(dims[0], groups, cfg.mid_attention)
        stages, in_dim = [], dims[0]
        for i, out_dim in enumerate(dims):
            time, space = cfg.resampling(i)
            up = Upsample(out_dim, time, space) if time * space > 1 else None
            stages.append(Stage(_resnets(in_dim, out_dim, cfg.layers_per_block + 1, groups), up))
            in_dim = out_dim
        self.stages = nn.ModuleList(stages)
        self.norm_out = nn.GroupNorm(groups, dims[-1], eps=1e-6)
        self.conv_out = CausalConv3d(dims[-1], cfg.image_channels, 3, pad_mode=PAD)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # B z T' H' W' -> B 3 T H W
        x = self.mid(self.conv_in(z))
        for stage in self.stages:
            x = stage(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class HunyuanVideoVAE(nn.Module):
    """HunyuanVideo's VAE. `encode` / `decode` work on scaled latents (what the transformer sees: the
    posterior's mean x scaling_factor, no sampling); `encode_moments` gives the raw posterior. All four
    run the whole clip at once, like the official code without tiling; `tiled_encode` / `tiled_decode`
    tile in time and space like its (and diffusers') `enable_tiling()`.

    diffusers' `AutoencoderKLHunyuanVideo` tiles in *time* even without `enable_tiling()` (its
    `use_framewise_encoding` / `use_framewise_decoding` default to True): its plain `encode` of more than
    16 frames and `decode` of more than 4 latent frames are `tiled_encode` / `tiled_decode` here with the
    default sizes (tiling in space only starts above 256 pixels).
    """

    def __init__(self, config: HunyuanVideoVAEConfig = HunyuanVideoVAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        z = config.latent_channels
        self.quant_conv = nn.Conv3d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv3d(z, z, 1)

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        check_video(video, cfg.image_channels, cfg.temporal_compression, cfg.spatial_compression, "HunyuanVideo VAE",
                    " (HunyuanVideo makes 129)")
        return video.to(self.quant_conv.weight.dtype)

    def _check_latent(self, latent: torch.Tensor) -> torch.Tensor:
        check_latent(latent, self.config.latent_channels)
        if latent.shape[2] < 1:
            raise ValueError(f"got a latent with no frames, shape {tuple(latent.shape)}; T' >= 1 "
                             f"(T' latent frames decode to 1 + 4(T' - 1) frames)")
        return latent.to(self.quant_conv.weight.dtype)

    def _moments(self, x: torch.Tensor) -> torch.Tensor:  # B 3 T H W -> B 2z T' H' W'
        return self.quant_conv(self.encoder(x))

    def _pixels(self, z: torch.Tensor) -> torch.Tensor:  # unscaled B z T' H' W' -> B 3 T H W, not clamped
        return self.decoder(self.post_quant_conv(z))

    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`B 3 T H W` in [-1, 1] (T = 1 + 4n) -> raw (mean, logvar), each `B z T' H' W'` (diffusers'
        `latent_dist`)."""
        return split_moments(self._moments(self._check_video(video)))

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """`B 3 T H W` -> scaled latent mean `B z T' H' W'`: the posterior's mode x scaling_factor, what
        HunyuanVideo's transformer sees (diffusers' I2V pipeline encodes its image this way: "argmax")."""
        return self.encode_moments(video)[0] * self.config.scaling_factor

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latent `B z T' H' W'` -> video `B 3 (1 + 4(T'-1)) H W`, clamped to [-1, 1]. diffusers'
        `decode` does not clamp; its pipeline's `postprocess_video` (and the official pipeline) clamps
        `video / 2 + 0.5` to [0, 1], which is the same video."""
        latent = self._check_latent(latent)
        return self._pixels(latent / self.config.scaling_factor).clamp(-1, 1)

    def forward(self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        mean, logvar = self.encode_moments(video)
        z = sample_posterior(mean, logvar, generator) if sample else mean
        return VAEOutput(self._pixels(z), mean, logvar)

    def _tiles(self, tile_size, tile_stride, tile_frames, tile_frame_stride) -> tuple[int, int, int, int]:
        cfg, S, s = self.config, self.config.spatial_compression, self.config.temporal_compression
        sizes = (tile_size or cfg.tile_size, tile_stride or cfg.tile_stride,
                 tile_frames or cfg.tile_frames, tile_frame_stride or cfg.tile_frame_stride)
        if sizes[0] % S or sizes[1] % S or not 0 < sizes[1] <= sizes[0]:
            raise ValueError(f"tile_size and tile_stride must be multiples of {S} with 0 < stride <= size, got "
                             f"{sizes[0]}, {sizes[1]}; e.g. tile_size=256, tile_stride=192")
        if sizes[2] % s or sizes[3] % s or not 0 < sizes[3] <= sizes[2]:
            raise ValueError(f"tile_frames and tile_frame_stride must be multiples of {s} with 0 < stride <= frames, "
                             f"got {sizes[2]}, {sizes[3]}; e.g. tile_frames=16, tile_frame_stride=12")
        return sizes

    def tiled_encode(self, video: torch.Tensor, tile_size: int | None = None, tile_stride: int | None = None,
                     tile_frames: int | None = None, tile_frame_stride: int | None = None) -> torch.Tensor:
        """`encode` in windows of 1 + `tile_frames` frames every `tile_frame_stride`, each in `tile_size`
        pixel tiles every `tile_stride` (defaults: the config's), crossfaded (`minivid.layers.tiling`)."""
        video = self._check_video(video)
        size, stride, frames, frame_stride = self._tiles(tile_size, tile_stride, tile_frames, tile_frame_stride)
        S, s = self.config.spatial_compression, self.config.temporal_compression

        def window(clip: torch.Tensor) -> torch.Tensor:  # B 3 t H W -> B 2z t' H' W'
            return crossfade_tiled_apply(self._moments, clip, size, stride, 1 / S)

        mean, _ = split_moments(crossfade_frames_apply(window, video, frames, frame_stride, 1 / s))
        return mean * self.config.scaling_factor

    def tiled_decode(self, latent: torch.Tensor, tile_size: int | None = None, tile_stride: int | None = None,
                     tile_frames: int | None = None, tile_frame_stride: int | None = None) -> torch.Tensor:
        """`decode` in windows and tiles, sizes in output pixels and pixel frames as `tiled_encode`."""
        latent = self._check_latent(latent)
        size, stride, frames, frame_stride = self._tiles(tile_size, tile_stride, tile_frames, tile_frame_stride)
        S, s = self.config.spatial_compression, self.config.temporal_compression

        def window(z: torch.Tensor) -> torch.Tensor:  # B z t' h w -> B 3 t H W
            return crossfade_tiled_apply(self._pixels, z, size // S, stride // S, S)

        video = crossfade_frames_apply(window, latent / self.config.scaling_factor, frames // s, frame_stride // s, s)
        return video.clamp(-1, 1)
