"""The Wan2.1 and Wan2.2 causal video VAEs (Wan-Video/Wan2.1 `wan/modules/vae.py`, Wan2.2 `vae2_2.py`).

Pixels in [-1, 1], `B 3 T H W` with T = 1 + 4n frames, become latents `B z (1+n) H/s W/s`:
Wan2.1 is 4x8x8 with 16 channels, Wan2.2 is 4x16x16 with 48 channels (2x2 pixel blocks folded into channels first).
Every temporal layer is causal (front-padded convs, channel-only RMSNorm, per-frame attention), so frame 0
is encoded alone and each later latent frame summarises the next 4 frames. That is why frame 0 is special:
an image is a 1-frame video and gets the same latent as the first frame of a clip, so one VAE (and one
diffusion model) serves images and videos, and image-to-video can condition on the first latent frame.

Two execution paths give the same numbers (tests prove it): *chunked* -- the official one -- streams the
encoder chunks of 1, 4, 4, ... frames and the decoder one latent frame at a time through the causal
caches, so memory stays flat however long the clip; *whole-sequence* runs the clip in one call (training).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from torch import nn

from minivid.layers.conv import CausalConv3d, Streamable, run_in_chunks
from minivid.layers.norm import ChannelRMSNorm
from minivid.layers.tiling import tiled_apply


@dataclass(frozen=True)
class WanVAEConfig:
    base_dim: int = 96  # encoder width; stage widths are base_dim * dim_mult
    decoder_base_dim: int | None = None  # None: same as base_dim (Wan2.1); Wan2.2 uses 256
    z_dim: int = 16  # latent channels
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2  # per encoder stage; decoder stages have one more
    temporal_downsample: tuple[bool, ...] = (False, True, True)  # per downsampling stage
    dropout: float = 0.0
    is_residual: bool = False  # Wan2.2: parameter-free AvgDown3D / DupUp3D shortcuts around each stage
    patch_size: int = 1  # Wan2.2: 2x2 pixel blocks folded into channels before the encoder
    image_channels: int = 3
    latents_mean: tuple[float, ...] | None = None  # per-channel latent statistics; None: 0 and 1
    latents_std: tuple[float, ...] | None = None

    @property
    def decoder_dim(self) -> int:
        return self.decoder_base_dim or self.base_dim

    @property
    def in_channels(self) -> int:  # channels the encoder sees after `space_to_channels`
        return self.image_channels * self.patch_size ** 2

    @property
    def spatial_stride(self) -> int:
        return self.patch_size * 2 ** (len(self.dim_mult) - 1)

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.temporal_downsample)


def space_to_channels(x: torch.Tensor, p: int) -> torch.Tensor:  # B C T (H q) (W r) -> B (C r q) T H W
    """Wan2.2's pixel "patchify" (each p x p pixel block folded into channels, before the encoder); not the
    token patchify of a transformer (`minivid.layers.embed.patchify`). The channel order puts the column
    offset r before the row offset q, as the official code does."""
    return rearrange(x, "b c t (h q) (w r) -> b (c r q) t h w", q=p, r=p)


def channels_to_space(x: torch.Tensor, p: int) -> torch.Tensor:  # B (C r q) T H W -> B C T (H q) (W r)
    """The inverse of `space_to_channels` (after the decoder)."""
    return rearrange(x, "b (c r q) t h w -> b c t (h q) (w r)", q=p, r=p)


class ResidualBlock(nn.Module):
    """(RMSNorm -> SiLU -> causal 3x3x3 conv) twice, plus a 1x1x1 shortcut when the width changes.

    RMSNorm over channels, not GroupNorm: GroupNorm statistics pool over all frames, so a chunk's output
    would depend on frames not yet seen and chunked encoding would not equal whole-clip encoding.
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.conv1 = ChannelRMSNorm(in_dim), CausalConv3d(in_dim, out_dim, 3)
        self.norm2, self.conv2 = ChannelRMSNorm(out_dim), CausalConv3d(out_dim, out_dim, 3)
        self.dropout = nn.Dropout(dropout)
        self.shortcut = nn.Conv3d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C' T H W
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention among the pixels of each frame (no mixing in time, so still causal).

    The official init zeroes `proj.weight` (not its bias): at first the block only adds a constant.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.norm = ChannelRMSNorm(dim, channel_dim=-1)
        self.to_qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W
        b, _, _, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b t) 1 (h w) c")  # one head
        q, k, v = self.to_qkv(self.norm(tokens)).chunk(3, dim=-1)
        out = self.proj(F.scaled_dot_product_attention(q, k, v))
        return x + rearrange(out, "(b t) 1 (h w) c -> b c t h w", b=b, h=h, w=w)


class MidBlock(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        self.block1, self.attn = ResidualBlock(dim, dim, dropout), AttentionBlock(dim)
        self.block2 = ResidualBlock(dim, dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W
        return self.block2(self.attn(self.block1(x)))


class Downsample(Streamable, nn.Module):
    """Halve H, W with a stride-2 conv per frame; with `temporal`, then halve T with a causal conv in time.

    Frame 0 -- the image -- passes through untouched; the time conv (kernel 3, stride 2, no padding) reads
    windows (0,1,2), (2,3,4), ... so 1 + 2n frames become 1 + n. The official chunked code gets the same
    by caching frame 0 on the first chunk and prepending the last frame of each chunk to the next.
    """

    def __init__(self, dim: int, temporal: bool):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, stride=2)
        self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=0) if temporal else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C T' H/2 W/2
        b = x.shape[0]
        # official ZeroPad2d((0, 1, 0, 1)): right/bottom only, so the stride-2 3x3 conv maps 2H to exactly H
        x = self.conv(F.pad(rearrange(x, "b c t h w -> (b t) c h w"), (0, 1, 0, 1)))
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b)
        if self.time_conv is None:
            return x
        first = self.is_first_chunk()
        y = self.time_conv(x)
        return torch.cat([x[:, :, :1], y], dim=2) if first else y


class Upsample(Streamable, nn.Module):
    """With `temporal`, double T with a causal conv emitting 2 frames per frame; then double H, W per frame.

    Latent frame 0 becomes one frame and is never context for the time conv: the official decoder marks
    the first chunk 'Rep' and skips it, so the conv runs on frames 1.. with zero front padding.
    Wan2.1 halves the width here (`out_dim = dim // 2`); Wan2.2 keeps it.
    """

    def __init__(self, dim: int, out_dim: int, temporal: bool):
        super().__init__()
        self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1)) if temporal else None
        self.conv = nn.Conv2d(dim, out_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C' T' 2H 2W
        if self.time_conv is not None:
            first = self.is_first_chunk()
            y = self.time_conv(x[:, :, 1:] if first else x)
            y = rearrange(y, "b (two c) t h w -> b c (t two) h w", two=2)
            x = torch.cat([x[:, :, :1], y], dim=2) if first else y
        b = x.shape[0]
        x = F.interpolate(rearrange(x, "b c t h w -> (b t) c h w"), scale_factor=2.0, mode="nearest-exact")
        return rearrange(self.conv(x), "(b t) c h w -> b c t h w", b=b)


class AvgDown3D(nn.Module):
    """Wan2.2's parameter-free shortcut: fold each (ft, fs, fs) block into channels, average channel groups.

    T is zero-padded at the front to a multiple of ft, so frame 0 of a 1 + 2n clip is paired with a zero
    frame -- the same as the official chunked code padding its 1-frame first chunk.
    """

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int):
        super().__init__()
        self.out_dim, self.factor_t, self.factor_s = out_dim, factor_t, factor_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C' T/ft H/fs W/fs
        x = F.pad(x, (0, 0, 0, 0, (-x.shape[2]) % self.factor_t, 0))
        x = rearrange(x, "b c (t ft) (h fh) (w fw) -> b (c ft fh fw) t h w",
                      ft=self.factor_t, fh=self.factor_s, fw=self.factor_s)
        return reduce(x, "b (o g) t h w -> b o t h w", "mean", o=self.out_dim)


class DupUp3D(Streamable, nn.Module):
    """Wan2.2's parameter-free decoder shortcut: repeat channels, unfold them into (ft, fs, fs) blocks.

    The first ft - 1 frames are dropped once per clip, so latent frame 0 gives one frame, like `Upsample`.
    """

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int):
        super().__init__()
        self.out_dim, self.factor_t, self.factor_s = out_dim, factor_t, factor_s
        self.repeats = out_dim * factor_t * factor_s ** 2 // in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W -> B C' T*ft H*fs W*fs
        x = repeat(x, "b c t h w -> b (c r) t h w", r=self.repeats)
        x = rearrange(x, "b (o ft fh fw) t h w -> b o (t ft) (h fh) (w fw)",
                      ft=self.factor_t, fh=self.factor_s, fw=self.factor_s)
        return x[:, :, self.factor_t - 1:] if self.is_first_chunk() else x


class Stage(nn.Module):
    """One resolution level: residual blocks, an optional resample, an optional shortcut (Wan2.2)."""

    def __init__(self, blocks: list[nn.Module], resample: nn.Module | None, shortcut: nn.Module | None):
        super().__init__()
        self.blocks, self.resample, self.shortcut = nn.ModuleList(blocks), resample, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B C T H W
        h = x
        for block in self.blocks:
            h = block(h)
        if self.resample is not None:
            h = self.resample(h)
        return h if self.shortcut is None else h + self.shortcut(x)


class Encoder(nn.Module):
    """Patchified pixels `B C T H W` -> `B 2z T' H' W'` (mean and log-variance before `to_moments`)."""

    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        dims, n = [cfg.base_dim * m for m in (1, *cfg.dim_mult)], len(cfg.dim_mult)
        self.conv_in = CausalConv3d(cfg.in_channels, dims[0], 3)
        stages = []
        for i, (in_dim, out_dim) in enumerate(zip(dims[:-1], dims[1:])):
            down = i < n - 1
            temporal = down and cfg.temporal_downsample[i]
            widths = [in_dim] + [out_dim] * (cfg.num_res_blocks - 1)
            blocks = [ResidualBlock(width, out_dim, cfg.dropout) for width in widths]
            shortcut = AvgDown3D(in_dim, out_dim, 1 + temporal, 1 + down) if cfg.is_residual else None
            stages.append(Stage(blocks, Downsample(out_dim, temporal) if down else None, shortcut))
        self.stages = nn.ModuleList(stages)
        self.mid = MidBlock(dims[-1], cfg.dropout)
        self.norm_out, self.conv_out = ChannelRMSNorm(dims[-1]), CausalConv3d(dims[-1], 2 * cfg.z_dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for stage in self.stages:
            x = stage(x)
        return self.conv_out(F.silu(self.norm_out(self.mid(x))))


class Decoder(nn.Module):
    """Latents `B z T' H' W'` -> patchified pixels `B C T H W`, the encoder's stages in reverse."""

    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        dims, n = [cfg.decoder_dim * m for m in (cfg.dim_mult[-1], *reversed(cfg.dim_mult))], len(cfg.dim_mult)
        temporal_upsample = tuple(reversed(cfg.temporal_downsample))
        self.conv_in, self.mid = CausalConv3d(cfg.z_dim, dims[0], 3), MidBlock(dims[0], cfg.dropout)
        stages, in_dim = [], dims[0]
        for i, out_dim in enumerate(dims[1:]):
            up = i < n - 1
            temporal = up and temporal_upsample[i]
            up_dim = out_dim if cfg.is_residual else out_dim // 2
            widths = [in_dim] + [out_dim] * cfg.num_res_blocks  # one block more than the encoder
            blocks = [ResidualBlock(width, out_dim, cfg.dropout) for width in widths]
            shortcut = DupUp3D(in_dim, out_dim, 1 + temporal, 2) if cfg.is_residual and up else None
            stages.append(Stage(blocks, Upsample(out_dim, up_dim, temporal) if up else None, shortcut))
            in_dim = up_dim
        self.stages = nn.ModuleList(stages)
        self.norm_out, self.conv_out = ChannelRMSNorm(dims[-1]), CausalConv3d(dims[-1], cfg.in_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mid(self.conv_in(x))
        for stage in self.stages:
            x = stage(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class VAEOutput(NamedTuple):
    reconstruction: torch.Tensor  # B 3 T H W, not clamped (training)
    mean: torch.Tensor  # B z T' H' W', raw (not normalised)
    logvar: torch.Tensor


class WanVAE(nn.Module):
    """Wan2.1 / Wan2.2 video VAE. `encode` / `decode` work on normalised latents (what the diffusion model
    sees); `encode_moments` gives the raw posterior; `forward` is the training pass; `tiled_*` bound memory
    in H, W as chunked streaming bounds it in T. Weights load from diffusers with `minivid.interop.wan_vae`.
    """

    def __init__(self, config: WanVAEConfig = WanVAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.to_moments = nn.Conv3d(2 * config.z_dim, 2 * config.z_dim, 1)  # official `conv1`
        self.from_latent = nn.Conv3d(config.z_dim, config.z_dim, 1)  # official `conv2`
        self.decoder = Decoder(config)
        z = config.z_dim
        mean = torch.tensor(config.latents_mean) if config.latents_mean else torch.zeros(z)
        std = torch.tensor(config.latents_std) if config.latents_std else torch.ones(z)
        self.register_buffer("latents_mean", mean.view(1, z, 1, 1, 1), persistent=False)
        self.register_buffer("latents_std", std.view(1, z, 1, 1, 1), persistent=False)

    # ---- checks: the official code silently drops frames and crops; here bad input is an error ----
    def _weight_dtype(self) -> torch.dtype:
        return self.to_moments.weight.dtype

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        """The video, checked, in the weights' dtype (float64 pixels into a float32 VAE are converted)."""
        cfg, s, S = self.config, self.config.temporal_stride, self.config.spatial_stride
        if video.ndim != 5:
            raise ValueError(f"expected a video B C T H W, got shape {tuple(video.shape)}; "
                             "for images B C H W use video.unsqueeze(2) (one frame)")
        if not video.is_floating_point():
            raise ValueError(f"expected float pixels in [-1, 1], got dtype {video.dtype}; convert uint8 frames "
                             "with `video.float() / 127.5 - 1`")
        _, c, t, h, w = video.shape
        if c != cfg.image_channels:
            raise ValueError(f"expected {cfg.image_channels} channels (RGB in [-1, 1]), got {c}; a video is "
                             f"B C T H W (channels before frames: rearrange 'b t c h w -> b c t h w')")
        if t < 1 or (t - 1) % s:
            lower = 1 + s * max(0, (t - 1) // s)
            raise ValueError(f"got {t} frames; the Wan VAE needs 1+{s}n frames such as {lower} or {lower + s}")
        if h % S or w % S:
            raise ValueError(f"height and width must be multiples of {S} (the spatial stride), got {h}x{w}; "
                             f"crop to {h - h % S or S}x{w - w % S or S} or pad to "
                             f"{h + (-h) % S}x{w + (-w) % S}")
        return video.to(self._weight_dtype())

    def _check_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """The latent, checked, in the weights' dtype."""
        z = self.config.z_dim
        if latent.ndim != 5 or latent.shape[1] != z or latent.shape[2] < 1:
            raise ValueError(f"expected a latent B {z} T H W (T >= 1), got shape {tuple(latent.shape)}")
        if not latent.is_floating_point():
            raise ValueError(f"expected a float latent, got dtype {latent.dtype}")
        return latent.to(self._weight_dtype())

    def _check_tiles(self, tile_size: int, tile_stride: int) -> int:
        S = self.config.spatial_stride
        if tile_size % S or tile_stride % S:
            raise ValueError(f"tile_size and tile_stride must be multiples of {S} (the spatial stride), got "
                             f"{tile_size}, {tile_stride}; e.g. tile_size={max(S, tile_size // S * S)}, "
                             f"tile_stride={max(S, tile_stride // S * S)}")
        return S

    # ---- latent normalisation: the diffusion model sees roughly zero-mean, unit-variance latents ----
    def normalize_latent(self, mean: torch.Tensor) -> torch.Tensor:
        return (mean - self.latents_mean) / self.latents_std

    def denormalize_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return latent * self.latents_std + self.latents_mean

    # ---- encode / decode. chunked=True streams the clip through the causal caches (the official path,
    # flat memory in T); chunked=False runs it in one call (training). Both give the same numbers. ----
    def encode_moments(self, video: torch.Tensor, chunked: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """`B 3 T H W` in [-1, 1] -> raw (mean, logvar), each `B z T' H' W'` (diffusers' `latent_dist`)."""
        x = space_to_channels(self._check_video(video), self.config.patch_size)
        if chunked:  # chunks of 1, 4, 4, ... frames: frame 0 alone, then one latent frame per chunk
            s = self.config.temporal_stride
            h = run_in_chunks(self.encoder, [x[:, :, :1], *(x[:, :, i:i + s] for i in range(1, x.shape[2], s))])
        else:
            h = self.encoder(x)
        mean, logvar = self.to_moments(h).chunk(2, dim=1)
        return mean, logvar

    def encode(self, video: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """`B 3 T H W` -> normalised latent mean `B z T' H' W'`, as Wan's pipeline uses it (no sampling)."""
        return self.normalize_latent(self.encode_moments(video, chunked)[0])

    def _decode_raw(self, z: torch.Tensor, chunked: bool) -> torch.Tensor:  # B z T' H' W' -> B 3 T H W
        x = self.from_latent(z)
        x = run_in_chunks(self.decoder, x.split(1, dim=2)) if chunked else self.decoder(x)  # 1 latent frame a step
        return channels_to_space(x, self.config.patch_size)

    def decode(self, latent: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """Normalised latent `B z T' H' W'` -> video `B 3 (1+4(T'-1)) H W`, clamped to [-1, 1]."""
        latent = self._check_latent(latent)
        return self._decode_raw(self.denormalize_latent(latent), chunked).clamp(-1, 1)

    def forward(self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        """Training pass (whole sequence): reconstruction (unclamped, so gradients flow) and KL inputs."""
        mean, logvar = self.encode_moments(video, chunked=False)
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            z = mean + (0.5 * logvar).exp() * noise
        return VAEOutput(self._decode_raw(z, chunked=False), mean, logvar)

    # ---- spatial tiling with linearly blended overlaps (HunyuanVideo / diffusers) ----
    def tiled_encode(self, video: torch.Tensor, tile_size: int = 256, tile_stride: int = 192) -> torch.Tensor:
        """`encode` over overlapping `tile_size` pixel tiles every `tile_stride` pixels, overlaps blended."""
        video, S = self._check_video(video), self._check_tiles(tile_size, tile_stride)
        return tiled_apply(self.encode, video, tile_size, tile_stride, 1 / S)

    def tiled_decode(self, latent: torch.Tensor, tile_size: int = 256, tile_stride: int = 192) -> torch.Tensor:
        """`decode` over overlapping tiles; sizes in output pixels, like `tiled_encode`."""
        latent, S = self._check_latent(latent), self._check_tiles(tile_size, tile_stride)
        return tiled_apply(self.decode, latent, tile_size // S, tile_stride // S, S)


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per sample, summed over the latent: `B z T H W` -> `B`."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)
