"""Every bad input to the public API gets a clear error: its type, and a message that names the value (or
file) and says what would be legal. One table of cases, one parametrised test; a new entry point adds its
rows here. Inputs that users reasonably expect to work (a float timestep, float64 latents) are converted,
and the test at the end proves they give the same result as the canonical input.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import save_file

from minivid import data, presets, viz
from minivid.data import VOCABULARY
from minivid.diffusion import flow_sigmas, make_betas, shift_sigmas, spaced_timesteps, training_sigmas
from minivid.files import load_safetensors, read_json
from minivid.interop import wan as wan_interop
from minivid.interop import wan_vae as vae_interop
from minivid.layers.attention import CrossAttention, DecoupledCrossAttention, SelfAttention, attention
from minivid.layers.conv import CausalConv3d, PseudoConv3d, inflate_conv_weight
from minivid.layers.embed import PatchEmbed3d, patchify, sincos_1d, token_count, unpatchify
from minivid.layers.rope import rope_dims
from minivid.layers.tiling import tiled_apply
from minivid.models.dit import DiT
from minivid.models.text import TextEncoder, WordTokenizer
from minivid.models.tiny_t2v import TinyT2V
from minivid.sampling import sample_hunyuanvideo, sample_t2v
from minivid.train import main as train_cli
from minivid.training import load_weights, read_checkpoint
from minivid.training.t2v_task import load_t2v
from minivid.training import vae_task
from minivid.training.vae_task import load_vae

BAD = Path("unset")  # the folder of broken files, written once per module by the `bad_files` fixture


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[], object]
    error: type[BaseException]
    match: str  # regex the message must contain (the value, and a legal fix where there is one)


# ---- small objects the cases call, built once -----------------------------------------------------------

@functools.cache
def wan(name: str = "wan2.1-t2v-tiny"):
    return presets.build(name, "cpu").eval()


@functools.cache
def vae():
    return presets.build("wan2.1-vae-tiny", "cpu").eval()


@functools.cache
def cog(name: str):
    return presets.build(name, "cpu").eval()


@functools.cache
def dit():
    return presets.build("dit-tiny", "cpu").eval()


def latent(channels: int = 16, frames: int = 2, size: int = 4, dtype=torch.float32):
    return torch.randn(1, channels, frames, size, size, dtype=dtype)


def text(width: int = 32, batch: int = 1):
    return torch.randn(batch, 5, width)


def clip(frames: int = 5, size: int = 32, channels: int = 3):
    return torch.rand(1, channels, frames, size, size) * 2 - 1


def cli(*args: str) -> Callable[[], object]:
    """`python -m minivid.train` with `args`; "{bad}" in an argument is the folder of broken files."""
    def call():
        filled = [arg.format(bad=BAD) for arg in args]
        return train_cli(["--task", "tiny-autoencoder", "--out", str(BAD / "run"), "--no-progress", *filled])
    return call


def folder(name: str) -> Path:
    return BAD / name


def hunyuan(name: str = "hunyuanvideo-t2v-tiny", text: int = 6, **overrides) -> Callable[[], object]:
    """A call of a tiny HunyuanVideo transformer with legal inputs except `overrides`."""
    def call():
        model = cog(name)
        cfg = model.config
        args = dict(x=latent(cfg.in_channels), t=500.0, context=torch.randn(1, text, cfg.text_dim),
                    context_mask=torch.ones(1, text), pooled=torch.randn(1, cfg.pooled_dim),
                    guidance=6000.0 if cfg.guidance_embed else None)
        return model(**{**args, **overrides})
    return call


# ---- the table ------------------------------------------------------------------------------------------

CASES = [
    # Wan transformer
    Case("wan: wrong channels", lambda: wan()(latent(channels=4), torch.tensor([500.0]), text()),
         ValueError, r"x must be latents \(B, 16, T, H, W\); got \(1, 4, 2, 4, 4\)"),
    Case("wan: image instead of video", lambda: wan()(torch.randn(1, 16, 4, 4), 500.0, text()),
         ValueError, r"x must be latents \(B, 16, T, H, W\); got \(1, 16, 4, 4\)"),
    Case("wan: odd latent grid", lambda: wan()(latent(size=5), 500.0, text()),
         ValueError, r"\(2, 5, 5\) is not divisible by the patch \(1, 2, 2\); crop or pad"),
    Case("wan: timesteps for another batch", lambda: wan()(latent(), torch.tensor([1.0, 2.0]), text()),
         ValueError, r"t must be a number, \(B,\) = \(1,\) or per token \(B, L\) = \(1, 8\).*got \(2,\)"),
    Case("wan: text of the wrong width", lambda: wan()(latent(), 500.0, text(width=4096)),
         ValueError, r"context must be text states \(B, Lt, text_dim\) = \(1, Lt, 32\); got \(1, 5, 4096\)"),
    Case("wan: text for another batch", lambda: wan()(latent(), 500.0, text(batch=2)),
         ValueError, r"context must be text states .* got \(2, 5, 32\)"),
    Case("wan: image tokens into a T2V model", lambda: wan()(latent(), 500.0, text(), torch.randn(1, 257, 48)),
         ValueError, r"no image branch .* drop `image`"),
    Case("wan: I2V without image tokens", lambda: wan("wan2.1-i2v-tiny")(latent(36), 500.0, text()),
         ValueError, r"an I2V model needs the CLIP image tokens: image \(B, 257, 48\)"),
    Case("wan: I2V image tokens of the wrong width",
         lambda: wan("wan2.1-i2v-tiny")(latent(36), 500.0, text(), torch.randn(1, 257, 1280)),
         ValueError, r"image must be \(B, Li, image_dim\) = \(1, Li, 48\); got \(1, 257, 1280\)"),
    Case("wan: I2V given 16 channels", lambda: wan("wan2.1-i2v-tiny")(latent(16), 500.0, text()),
         ValueError, r"\(B, 36, T, H, W\) \(I2V: noise 16 \| mask 4 \| image latent 16"),
    Case("wan: integer latents", lambda: wan()(latent().to(torch.int64), 500.0, text()),
         ValueError, r"x must hold floats, got torch.int64"),
    Case("wan: bf16 weights without autocast",
         lambda: presets.build("wan2.1-t2v-tiny", "cpu", torch.bfloat16)(latent(), 500.0, text()),
         ValueError, r"weights in torch.bfloat16: run low precision under torch.autocast"),
    Case("wan: odd head_dim that 3D RoPE cannot split", lambda: wan_interop.WanModel(
        wan_interop.WanConfig(dim=62, heads=2, layers=1, ffn_dim=8)), ValueError,
         r"RoPE axis widths \(11, 10, 10\) contain odd widths \[11\]"),
    # CogVideoX
    Case("cogvideox: B C F H W instead of B F C H W", lambda: cog("cogvideox-2b-tiny")(
        torch.randn(1, 16, 5, 16, 16), 500, torch.randn(1, 16, 32)),
         ValueError, r"x must be latents \(B, F, 16, H, W\); this looks like B C F H W: .*'b c f h w -> b f c h w'"),
    Case("cogvideox: text longer than the sin-cos model's", lambda: cog("cogvideox-2b-tiny")(
        torch.randn(1, 5, 16, 16, 16), 500, torch.randn(1, 20, 32)),
         ValueError, r"text has 20 tokens, more than the 16 this model was trained with.*truncate it to 16"),
    Case("cogvideox: 5B-I2V at another resolution", lambda: cog("cogvideox-5b-i2v-tiny")(
        torch.randn(1, 5, 32, 8, 16), 500, torch.randn(1, 16, 32)),
         ValueError, r"learned positions cover 16 text tokens and a \(5, 8, 8\) token grid .* keep the latent size 16x16"),
    Case("cogvideox: 5B-I2V with a short prompt", lambda: cog("cogvideox-5b-i2v-tiny")(
        torch.randn(1, 5, 32, 16, 16), 500, torch.randn(1, 7, 32)),
         ValueError, r"got 7 text tokens .* Pad the prompt to 16 tokens"),
    Case("cogvideox: odd latent frames for 2x2x2 tubes", lambda: cog("cogvideox1.5-5b-i2v-tiny")(
        torch.randn(1, 3, 32, 16, 16), 500, torch.randn(1, 16, 32), ofs=2.0),
         ValueError, r"\(3, 16, 16\) is not divisible by the patch \(2, 2, 2\)"),
    Case("cogvideox: 1.5 I2V without ofs", lambda: cog("cogvideox1.5-5b-i2v-tiny")(
        torch.randn(1, 2, 32, 16, 16), 500, torch.randn(1, 16, 32)),
         ValueError, r"a v1.5 I2V model needs `ofs` \(the pipeline passes 2.0\)"),
    # HunyuanVideo
    Case("hunyuanvideo: no attention mask", hunyuan(context_mask=None),
         ValueError, r"needs context_mask \(B, Lt\).*pass torch.ones\(B, Lt\) if nothing is padded"),
    Case("hunyuanvideo: mask shorter than the text", hunyuan(context_mask=torch.ones(1, 4)),
         ValueError, r"context_mask must be \(B, Lt\) = \(1, 6\) like the text; got \(1, 4\)"),
    Case("hunyuanvideo: left-padded mask", hunyuan(context_mask=torch.tensor([[0, 0, 1, 1, 1, 1]])),
         ValueError, r"real tokens first, then the padding .*right-pad the prompt"),
    Case("hunyuanvideo: no real text token", hunyuan(context_mask=torch.zeros(1, 6)),
         ValueError, r"at least one real text token \(context_mask all 0 in sample 0\)"),
    Case("hunyuanvideo: no pooled vector", hunyuan(pooled=None),
         ValueError, r"needs pooled \(B, pooled_dim\) = \(1, 16\), CLIP-L's pooled text vector; got None"),
    Case("hunyuanvideo: distilled model without guidance", hunyuan(guidance=None),
         ValueError, r"guidance-distilled: pass guidance = guidance scale x 1000 .*6000.0"),
    Case("hunyuanvideo: guidance to a model without a guidance embedder",
         hunyuan("hunyuanvideo-i2v-33ch-tiny", guidance=6000.0),
         ValueError, r"no guidance embedder .*drop `guidance` and run classifier-free guidance"),
    Case("hunyuanvideo: 16 channels to the 33-channel I2V model", hunyuan("hunyuanvideo-i2v-33ch-tiny", x=latent(16)),
         ValueError, r"x must be latents \(B, 33, F, H, W\) \(latent concat I2V: noise 16 \| image latent 16 \| mask 1\)"),
    Case("hunyuanvideo: text of the wrong width", hunyuan(context=torch.randn(1, 6, 48)),
         ValueError, r"context must be text states \(B, Lt, text_dim\) = \(1, Lt, 32\); got \(1, 6, 48\)"),
    Case("hunyuanvideo: odd latent width for 2x2 patches", hunyuan(x=torch.randn(1, 16, 2, 4, 5)),
         ValueError, r"not divisible by the patch \(1, 2, 2\)"),
    Case("hunyuanvideo: embedded guidance for a model without a guidance embedder", lambda: sample_hunyuanvideo(
        cog("hunyuanvideo-i2v-33ch-tiny"), torch.randn(1, 6, 32), torch.ones(1, 6), torch.randn(1, 16),
        latent_size=(1, 4, 4), num_steps=1), ValueError, r"no guidance embedder; pass embedded_guidance=None"),
    Case("hunyuanvideo: 129 frames at 721 pixels", lambda: presets.cost("hunyuanvideo-t2v", 129, 721, 1280),
         ValueError, r"height 721 does not fit: .*multiple of 16; use 720 or 736"),
    Case("hunyuanvideo: RoPE axes that do not add up to the head", lambda: presets.HunyuanVideoConfig(
        heads=2, head_dim=32, rope_axes=(8, 8, 8)), ValueError, r"add up to 24, but head_dim is 32"),
    Case("cogvideox: 49 frames at 481 pixels", lambda: presets.cost("cogvideox-2b", 49, 481, 720),
         ValueError, r"height 481 does not fit: .*multiple of 16; use 480 or 496"),
    Case("cogvideox: 81 frames for v1.5's tubes", lambda: presets.cost("cogvideox1.5-5b", 81, 768, 1360),
         ValueError, r"81 frames do not fit: .*temporal patch 2; use 77 or 85"),
    Case("cogvideox vae: 18 frames", lambda: cog("cogvideox-vae-tiny").encode(clip(frames=18)),
         ValueError, r"got 18 frames; the CogVideoX VAE needs 1\+4n frames such as 17 or 21"),
    Case("cogvideox vae: 2 latent frames", lambda: cog("cogvideox-vae-tiny").decode(latent(frames=2)),
         ValueError, r"got 2 latent frames; .* use 1 or 3"),
    Case("cogvideox vae: frames before channels", lambda: cog("cogvideox-vae-tiny").encode(torch.zeros(1, 9, 3, 32, 32)),
         ValueError, "channels before frames"),
    # HunyuanVideo VAE
    Case("hunyuanvideo vae: 18 frames", lambda: cog("hunyuanvideo-vae-tiny").encode(clip(frames=18)),
         ValueError, r"got 18 frames; the HunyuanVideo VAE needs 1\+4n frames such as 17 or 21"),
    Case("hunyuanvideo vae: height not a multiple of 8",
         lambda: cog("hunyuanvideo-vae-tiny").encode(torch.rand(1, 3, 5, 30, 32) * 2 - 1),
         ValueError, r"multiples of 8, got 30x32; crop to 24x32 or pad to 32x32"),
    Case("hunyuanvideo vae: 4 channels", lambda: cog("hunyuanvideo-vae-tiny").encode(clip(channels=4)),
         ValueError, r"expected a video B 3 T H W in \[-1, 1\], got shape \(1, 4, 5, 32, 32\); .*channels before frames"),
    Case("hunyuanvideo vae: latent with the wrong channels", lambda: cog("hunyuanvideo-vae-tiny").decode(latent(channels=8)),
         ValueError, r"expected a latent B 16 T' H' W', got shape \(1, 8, 2, 4, 4\)"),
    Case("hunyuanvideo vae: tile not a multiple of 8",
         lambda: cog("hunyuanvideo-vae-tiny").tiled_decode(latent(), tile_size=60),
         ValueError, r"tile_size and tile_stride must be multiples of 8 .* got 60, 192"),
    Case("tiny t2v: a transformer config it cannot build", lambda: TinyT2V(VOCABULARY, presets.DIT_CONFIGS["dit-tiny"]),
         ValueError, r"transformer must be one of \['WanConfig', 'CogVideoXConfig', 'HunyuanVideoConfig'\] configs; got DiTConfig"),
    # DiT
    Case("dit: wrong channels", lambda: dit()(torch.randn(1, 3, 16, 16), torch.tensor([1]), torch.tensor([1])),
         ValueError, r"x must be a latent \(B, 4, H, W\); got \(1, 3, 16, 16\)"),
    Case("dit: odd latent", lambda: dit()(torch.randn(1, 4, 15, 16), torch.tensor([1]), torch.tensor([1])),
         ValueError, r"latent H, W = \(15, 16\) must be multiples of the patch size 2"),
    Case("dit: float labels", lambda: dit()(torch.randn(1, 4, 16, 16), torch.tensor([1]), torch.tensor([1.0])),
         ValueError, r"y must hold integer class labels; got torch.float32"),
    Case("dit: label out of range", lambda: dit()(torch.randn(1, 4, 16, 16), torch.tensor([1]), torch.tensor([1001])),
         ValueError, r"labels must be in \[0, 1000\] \(1000 = the null label\); got min 1001"),
    Case("dit: timesteps for another batch", lambda: dit()(torch.randn(1, 4, 16, 16), torch.tensor([1, 2]),
                                                           torch.tensor([1])),
         ValueError, r"t must have shape \(B,\) = \(1,\); got \(2,\)"),
    Case("dit: unknown conditioning", lambda: presets.DiTConfig(conditioning="film"),
         ValueError, r"conditioning must be one of .*adaln_zero.*got 'film'"),
    # Wan VAE
    Case("vae: 18 frames", lambda: vae().encode(clip(frames=18)),
         ValueError, r"got 18 frames; the Wan VAE needs 1\+4n frames such as 17 or 21"),
    Case("vae: 0 frames", lambda: vae().encode(clip(frames=0)),
         ValueError, r"got 0 frames; the Wan VAE needs 1\+4n frames such as 1 or 5"),
    Case("vae: size not a multiple of 8", lambda: vae().encode(clip(size=30)),
         ValueError, r"multiples of 8 .* got 30x30; crop to 24x24 or pad to 32x32"),
    Case("vae: 4 channels", lambda: vae().encode(clip(channels=4)),
         ValueError, r"expected 3 channels \(RGB in \[-1, 1\]\), got 4; .*b t c h w -> b c t h w"),
    Case("vae: B T C H W layout", lambda: vae().encode(clip(frames=5).transpose(1, 2)),
         ValueError, r"expected 3 channels .* got 5"),
    Case("vae: an image B C H W", lambda: vae().encode(torch.rand(1, 3, 32, 32)),
         ValueError, r"expected a video B C T H W, got shape \(1, 3, 32, 32\); .*unsqueeze\(2\)"),
    Case("vae: uint8 frames", lambda: vae().encode((clip() * 100).to(torch.uint8)),
         ValueError, r"expected float pixels in \[-1, 1\], got dtype torch.uint8; .*video.float\(\) / 127.5 - 1"),
    Case("vae: latent with the wrong channels", lambda: vae().decode(latent(channels=8)),
         ValueError, r"expected a latent B 16 T H W \(T >= 1\), got shape \(1, 8, 2, 4, 4\)"),
    Case("vae: tile not a multiple of the stride", lambda: vae().tiled_decode(latent(), tile_size=60),
         ValueError, r"tile_size and tile_stride must be multiples of 8 .* got 60, 192; e.g. tile_size=56"),
    Case("tiling: stride larger than the tile", lambda: tiled_apply(lambda x: x, torch.zeros(1, 1, 8, 8), 4, 6, 1.0),
         ValueError, r"need 0 < tile_stride <= tile_size, got tile 4, stride 6"),
    # layers
    Case("attention: q without heads", lambda: attention(torch.randn(1, 4, 8), torch.randn(1, 4, 8),
                                                         torch.randn(1, 4, 8)),
         ValueError, r"attention expects q, k, v as \(B, heads, L, head_dim\)"),
    Case("attention: integer mask", lambda: attention(*(torch.randn(1, 2, 4, 8),) * 3,
                                                      mask=torch.ones(4, 4, dtype=torch.long)),
         ValueError, r"mask must be bool \(True = attend\) or float \(additive\); got torch.int64"),
    Case("attention: mask of the wrong length", lambda: attention(*(torch.randn(1, 2, 4, 8),) * 3,
                                                                  mask=torch.ones(4, 5, dtype=torch.bool)),
         ValueError, r"mask must end in \(Lq, Lk\) = \(4, 4\).*got \(4, 5\)"),
    Case("attention: positional ints", lambda: CrossAttention(64, 32, 2),
         TypeError, r"positional argument"),
    Case("attention: heads that do not divide dim", lambda: SelfAttention(10, heads=3),
         ValueError, r"dim \(10\) must be divisible by heads \(3\)"),
    Case("attention: unknown qk-norm", lambda: SelfAttention(16, heads=2, qk_norm="rms"),
         ValueError, r"qk_norm must be one of .*'rms_across_heads'.*got 'rms'"),
    Case("cross-attention: context of the wrong width",
         lambda: CrossAttention(16, context_dim=12, heads=2)(torch.randn(1, 4, 16), torch.randn(1, 3, 10)),
         ValueError, r"context must be \(B, L, 12\); got \(1, 3, 10\). Project it to width 12"),
    Case("decoupled attention: image tokens of the wrong width",
         lambda: DecoupledCrossAttention(16, context_dim=12, image_dim=20, heads=2)(
             torch.randn(1, 4, 16), torch.randn(1, 3, 12), torch.randn(1, 2, 16)),
         ValueError, r"image tokens must be \(B, L, 20\); got \(1, 2, 16\)"),
    Case("conv: unknown pad mode", lambda: CausalConv3d(3, 3, 3, pad_mode="reflect"),
         ValueError, r"pad_mode must be one of \('zeros', 'first_frame', 'replicate'\), got 'reflect'"),
    Case("conv: even pseudo-3D kernel", lambda: PseudoConv3d(3, 3, kernel_size=2),
         ValueError, r"kernels must be odd; got kernel_size=2"),
    Case("conv: inflate to 0 frames", lambda: inflate_conv_weight(torch.randn(4, 3, 3, 3), 0),
         ValueError, r"temporal kernel size must be >= 1, got t=0"),
    Case("embed: patchify an odd grid", lambda: patchify(torch.randn(1, 4, 3, 5, 6), (1, 2, 2)),
         ValueError, r"\(3, 5, 6\) is not divisible by the patch \(1, 2, 2\); crop or pad"),
    Case("embed: unpatchify the wrong token count",
         lambda: unpatchify(torch.randn(1, 10, 16), (1, 2, 2), (1, 2, 2), 4),
         ValueError, r"expected \(B, 4, 16\)"),
    Case("embed: unknown patch order", lambda: patchify(torch.randn(1, 4, 2, 4, 4), (1, 2, 2), "c h w"),
         ValueError, r"patch_order must be one of"),
    Case("embed: odd sin-cos width", lambda: sincos_1d(torch.arange(4), 7),
         ValueError, r"a sin-cos table needs an even width, got 7"),
    Case("embed: patch embedding of the wrong channels", lambda: PatchEmbed3d(16, 32)(torch.randn(1, 4, 1, 4, 4)),
         ValueError, r"expected a video \(B, 16, T, H, W\), got \(1, 4, 1, 4, 4\)"),
    Case("embed: 80 frames", lambda: token_count(80, 480, 832),
         ValueError, r"80 frames do not fit: .*1 \+ 4n frames; use 77 or 81"),
    Case("rope: unknown model", lambda: rope_dims("sora", 128),
         ValueError, r"unknown model 'sora'; expected one of"),
    # presets and cost
    Case("cost: negative height", lambda: presets.cost("wan2.1-t2v-1.3b", 81, -480, 832),
         ValueError, r"height must be a positive whole number, got -480"),
    Case("cost: negative frames", lambda: presets.cost("wan2.1-t2v-1.3b", -3, 480, 832),
         ValueError, r"frames must be a positive whole number, got -3"),
    Case("cost: zero size", lambda: presets.cost("wan2.1-t2v-1.3b", 81, 0, 0),
         ValueError, r"height must be a positive whole number, got 0"),
    Case("cost: all negative", lambda: presets.cost("wan2.1-t2v-1.3b", -7, -16, 832),
         ValueError, r"frames must be a positive whole number, got -7"),
    Case("cost: fractional frames", lambda: presets.cost("wan2.1-t2v-1.3b", 81.0, 480, 832),
         ValueError, r"frames must be a positive whole number, got 81.0"),
    Case("cost: height the patch cannot take", lambda: presets.cost("wan2.1-t2v-1.3b", 81, 481, 832),
         ValueError, r"height 481 does not fit: .*multiple of 16; use 480 or 496"),
    Case("cost: width for Wan2.2's 32 pixels", lambda: presets.cost("wan2.2-ti2v-5b", 121, 704, 1270),
         ValueError, r"width 1270 does not fit: the VAE \(16x\) and the patch \(2\) need a multiple of 32; use 1248 or 1280"),
    Case("cost: 82 frames", lambda: presets.cost("wan2.1-t2v-1.3b", 82, 480, 832),
         ValueError, r"82 frames do not fit: .*use 81 or 85"),
    Case("cost: a model without a cost model", lambda: presets.cost("wan2.1-vae", 81, 480, 832),
         ValueError, r"no cost model for preset 'wan2.1-vae'; presets with one: .*wan2.1-t2v-1.3b"),
    Case("presets: unknown name", lambda: presets.build("wan2.1-t2v-13b"),
         ValueError, r"unknown preset 'wan2.1-t2v-13b'; known presets: .*wan2.1-t2v-14b"),
    # interop: folders and state dicts
    Case("from_pretrained: no such folder", lambda: wan_interop.from_pretrained(folder("missing")),
         ValueError, r"missing is not a folder; pass the diffusers model folder"),
    Case("from_pretrained: pipeline root", lambda: wan_interop.from_pretrained(folder("pipeline")),
         ValueError, r"pipeline has no config.json; it looks like a pipeline folder: pass one of its subfolders "
                     r"\['transformer', 'vae'\]"),
    Case("from_pretrained: invalid config.json", lambda: wan_interop.from_pretrained(folder("bad_json")),
         ValueError, r"bad_json/config.json is not valid JSON \(Expecting"),
    Case("from_pretrained: a VAE folder", lambda: wan_interop.from_pretrained(folder("pipeline/vae")),
         ValueError, r"vae/config.json describes a AutoencoderKLWan, not a WanTransformer3DModel; load it with "
                     r"minivid.interop.wan_vae.from_pretrained"),
    Case("from_pretrained: a transformer folder given to the VAE loader",
         lambda: vae_interop.from_pretrained(folder("pipeline/transformer")),
         ValueError, r"describes a WanTransformer3DModel, not a AutoencoderKLWan; load it with "
                     r"minivid.interop.wan.from_pretrained"),
    Case("from_pretrained: truncated weights", lambda: wan_interop.from_pretrained(folder("truncated")),
         ValueError, r"truncated/diffusion_pytorch_model.safetensors is not a readable safetensors file .*truncated"),
    Case("from_pretrained: a pickle renamed .safetensors", lambda: wan_interop.from_pretrained(folder("pickle")),
         ValueError, r"pickle/diffusion_pytorch_model.safetensors is not a readable safetensors file"),
    Case("from_pretrained: .bin weights only", lambda: wan_interop.from_pretrained(folder("bin_only")),
         ValueError, r"holds neither diffusion_pytorch_model.safetensors nor .*found \['diffusion_pytorch_model.bin'\]"),
    Case("from_pretrained: a shard missing", lambda: wan_interop.from_pretrained(folder("missing_shard")),
         ValueError, r"shard-2.safetensors does not exist"),
    Case("from_pretrained: a config that does not match the weights",
         lambda: wan_interop.from_pretrained(folder("wrong_config")),
         ValueError, r"diffusers state dict does not match the config: missing \[.*blocks.2"),
    Case("converter: VAE z_dim 8 with Wan2.1's 16 default statistics",
         lambda: vae_interop.config_from_diffusers({"z_dim": 8, "latents_mean": [0.0] * 16,
                                                    "latents_std": [1.0] * 16}),
         ValueError, r"latents_mean has 16 values but z_dim is 8: one per latent channel.*pass latents_mean"),
    Case("converter: FLF2V config", lambda: wan_interop.config_from_diffusers({"pos_embed_seq_len": 514}),
         ValueError, r"pos_embed_seq_len is set: that is Wan2.1 FLF2V"),
    Case("converter: wrong qk-norm", lambda: wan_interop.config_from_diffusers({"qk_norm": "rms_norm"}),
         ValueError, r"qk_norm must be 'rms_norm_across_heads'"),
    # files and checkpoints
    Case("read_checkpoint: a text file", lambda: read_checkpoint(BAD / "notes.safetensors"),
         ValueError, r"notes.safetensors is not a readable safetensors file"),
    Case("read_checkpoint: truncated", lambda: read_checkpoint(folder("truncated") / "diffusion_pytorch_model.safetensors"),
         ValueError, r"is not a readable safetensors file .*truncated"),
    Case("read_checkpoint: plain weights, not a checkpoint", lambda: read_checkpoint(BAD / "weights.safetensors"),
         ValueError, r"weights.safetensors is not a minivid training checkpoint \(no 'minivid.train' metadata\)"),
    Case("load_weights: missing file", lambda: load_weights(BAD / "nope.safetensors", torch.nn.Linear(1, 1)),
         ValueError, r"nope.safetensors does not exist"),
    Case("load_t2v: the VAE file", lambda: load_t2v(vae_task.SHIPPED),
         ValueError, r"wan_vae_tiny.safetensors has no 'minivid.t2v' metadata"),
    Case("load_vae: a text file", lambda: load_vae(BAD / "notes.safetensors"),
         ValueError, r"notes.safetensors is not a readable safetensors file"),
    Case("load_safetensors: missing", lambda: load_safetensors(BAD / "nope.safetensors"),
         ValueError, r"nope.safetensors does not exist; .*bad_inputs\d* holds: .*notes.safetensors"),
    Case("read_json: not JSON", lambda: read_json(folder("bad_json") / "config.json"),
         ValueError, r"config.json is not valid JSON"),
    # trainer command line: argparse errors (exit 2) naming the option
    Case("train: --steps -3", cli("--steps", "-3"), SystemExit, r"--steps must be a whole number >= 1, got -3"),
    Case("train: --steps 0", cli("--steps", "0"), SystemExit, r"--steps must be a whole number >= 1, got 0"),
    Case("train: --warmup -5", cli("--warmup", "-5"), SystemExit, r"--warmup must be a whole number >= 0, got -5"),
    Case("train: --batch-size 0", cli("--batch-size", "0"), SystemExit,
         r"--batch-size must be a whole number >= 1, got 0"),
    Case("train: --batch-size 8 --grad-accum 3", cli("--batch-size", "8", "--grad-accum", "3"), SystemExit,
         r"--batch-size must be divisible by grad_accum \(3\)"),
    Case("train: --lr -1", cli("--lr", "-1"), SystemExit, r"--lr must be a positive learning rate such as 1e-3"),
    Case("train: --lr nan", cli("--lr", "nan"), SystemExit, r"--lr must be a positive learning rate"),
    Case("train: --frames 6", cli("--frames", "6"), SystemExit, r"--frames: frames must be 1\+4n .* use 5 or 9"),
    Case("train: --size 8", cli("--size", "8"), SystemExit, r"--size: size must be at least 16 pixels"),
    Case("train: --ema-decay 1.5", cli("--ema-decay", "1.5"), SystemExit, r"--ema-decay must be in \[0, 1\)"),
    Case("train: --min-lr-ratio 2", cli("--min-lr-ratio", "2"), SystemExit, r"--min-lr-ratio must be in \[0, 1\]"),
    Case("train: --log-every 0", cli("--log-every", "0"), SystemExit, r"--log-every must be a whole number >= 1"),
    Case("train: --grad-clip -1", cli("--grad-clip", "-1"), SystemExit, r"--grad-clip must be >= 0 \(0: never clip\)"),
    Case("train: --data-length 0", cli("--data-length", "0"), SystemExit, r"--data-length must be at least 1 clip"),
    Case("train: --threads -1", cli("--threads", "-1"), SystemExit, r"--threads must be 0 .* or a positive count"),
    Case("train: --task unknown", lambda: train_cli(["--task", "sora"]), SystemExit,
         r"argument --task: invalid choice: 'sora'"),
    Case("train: --resume a missing path", cli("--resume", "{bad}/none"), SystemExit,
         r"--resume .*none: no such file or directory"),
    Case("train: --resume a text file", cli("--resume", "{bad}/notes.safetensors"), SystemExit,
         r"--resume .*notes.safetensors: .*is not a readable safetensors file"),
    # data and the tokenizer
    Case("data: unknown colour", lambda: data.make_clip("circle", "purple", "left"),
         ValueError, r"unknown word 'purple'; expected one of \('red', 'green'"),
    Case("data: 6 frames", lambda: data.make_clip("circle", "red", "left", frames=6),
         ValueError, r"frames must be 1\+4n .* got 6, use 5 or 9"),
    Case("data: 8-pixel frames", lambda: data.make_clip("circle", "red", "left", size=8),
         ValueError, r"size must be at least 16 pixels per side .* got \(8, 8\)"),
    Case("data: caption out of grammar", lambda: data.parse_caption("circle red left"),
         ValueError, r"expected '<colour> <shape> moving <left\|right\|up\|down>' .* got 'circle red left'"),
    Case("data: describe a batch", lambda: data.describe(torch.rand(2, 3, 5, 32, 32)),
         ValueError, r"expected one video C T H W with C = 3 .* describe a batch one video at a time"),
    Case("data: describe uint8", lambda: data.describe(torch.zeros(3, 5, 32, 32, dtype=torch.uint8)),
         ValueError, r"expected floats in \[-1, 1\], got dtype torch.uint8; convert uint8"),
    Case("data: accuracy with fewer targets", lambda: data.accuracy([clip()[0]], []),
         ValueError, r"need as many targets as videos .* got 1 videos and 0 targets"),
    Case("data: held-out fraction 1.5", lambda: data.split_combinations(1.5),
         ValueError, r"held_out fraction must be in \[0, 1\), got 1.5"),
    Case("data: a held-out set that removes a word", lambda: data.split_combinations(
        [c for c in data.ALL_COMBINATIONS if c[1] == "red"]),
         ValueError, r"leaves \['red'\] out of training entirely"),
    Case("data: index past the end", lambda: data.SyntheticClips(4)[4], IndexError, r"index 4 out of range for 4"),
    Case("tokenizer: unknown word", lambda: WordTokenizer(data.VOCABULARY, 6)(["red circle moving sideways"]),
         ValueError, r"unknown word\(s\) \['sideways'\] .* the vocabulary is"),
    Case("tokenizer: too many words", lambda: WordTokenizer(data.VOCABULARY, 3)(["red circle moving left"]),
         ValueError, r"has 4 words, more than the 3 this tokenizer pads to"),
    Case("text encoder: float ids", lambda: TextEncoder(16, 6)(torch.zeros(1, 6)),
         ValueError, r"expected token ids \(B, 6\) int64 from the tokenizer, got \(1, 6\) torch.float32"),
    # diffusion and sampling
    Case("flow: shift 0", lambda: shift_sigmas(torch.tensor([0.5]), 0.0), ValueError, r"shift must be positive"),
    Case("flow: unknown sigma sampling", lambda: training_sigmas(4, "cosine"),
         ValueError, r"unknown sigma sampling 'cosine'; expected 'logit_normal' or 'uniform'"),
    Case("flow: 0 sampling steps", lambda: flow_sigmas(0), ValueError, r"num_steps must be in \[1, 1000\]; got 0"),
    Case("ddpm: unknown beta schedule", lambda: make_betas("quadratic"), ValueError,
         r"unknown beta schedule 'quadratic'"),
    Case("ddpm: more steps than training", lambda: spaced_timesteps(2000, 1000), ValueError,
         r"num_steps must be in \[1, 1000\]"),
    Case("sample_t2v: an I2V model", lambda: sample_t2v(wan("wan2.1-i2v-tiny"), text(), latent_size=(2, 4, 4)),
         ValueError, r"sample_t2v needs a text-to-video model .* in_channels=36"),
    # viz
    Case("viz: uint8 video", lambda: viz.show_video(torch.zeros(3, 5, 8, 8, dtype=torch.uint8)),
         ValueError, r"expected a float video with values in \(-1.0, 1.0\), got dtype torch.uint8"),
]


@pytest.fixture(scope="module", autouse=True)
def bad_files(tmp_path_factory):
    """The broken files and folders the cases read, written once in a temporary folder."""
    global BAD
    BAD = tmp_path_factory.mktemp("bad_inputs")
    (BAD / "notes.safetensors").write_text("not a safetensors file\n")
    save_file({"w": torch.zeros(2)}, str(BAD / "weights.safetensors"))
    tiny = presets.WAN_CONFIGS["wan2.1-t2v-tiny"]
    model = wan_interop.WanModel(tiny)
    theirs = wan_interop.minivid_to_diffusers(model.state_dict(), tiny)
    config = {"_class_name": "WanTransformer3DModel", **json.loads(json.dumps(wan_interop.config_to_diffusers(tiny)))}
    good = BAD / "pipeline" / "transformer"
    good.mkdir(parents=True)
    (good / "config.json").write_text(json.dumps(config))
    save_file(theirs, str(good / "diffusion_pytorch_model.safetensors"))
    (BAD / "pipeline" / "vae").mkdir()
    (BAD / "pipeline" / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKLWan"}))
    for name in ("bad_json", "truncated", "pickle", "bin_only", "missing_shard", "wrong_config"):
        (BAD / name).mkdir()
        (BAD / name / "config.json").write_text(json.dumps(config))
    (BAD / "bad_json" / "config.json").write_text('{"num_layers": 2,}')
    whole = (good / "diffusion_pytorch_model.safetensors").read_bytes()
    (BAD / "truncated" / "diffusion_pytorch_model.safetensors").write_bytes(whole[: len(whole) // 2])
    torch.save(theirs, BAD / "pickle" / "diffusion_pytorch_model.safetensors")
    torch.save(theirs, BAD / "bin_only" / "diffusion_pytorch_model.bin")
    keys = sorted(theirs)
    save_file({k: theirs[k] for k in keys[:10]}, str(BAD / "missing_shard" / "shard-1.safetensors"))
    (BAD / "missing_shard" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: "shard-1.safetensors" if i < 10 else "shard-2.safetensors" for i, k in enumerate(keys)}}))
    shutil.copy(good / "diffusion_pytorch_model.safetensors", BAD / "wrong_config")
    (BAD / "wrong_config" / "config.json").write_text(json.dumps({**config, "num_layers": 3}))


def test_the_table_covers_the_public_api_broadly():
    assert len(CASES) >= 60 and len({case.name for case in CASES}) == len(CASES)
    areas = {case.name.split(":")[0].split(" ")[0] for case in CASES}
    for area in ("wan", "dit", "vae", "attention", "cost", "from_pretrained", "converter", "read_checkpoint",
                 "train", "data", "tokenizer", "flow"):
        assert area in areas, f"no bad-input case for {area}"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_a_clear_error(case, capsys):
    with pytest.raises(case.error) as raised:
        case.call()
    if case.error is SystemExit:  # argparse: usage and one error line on stderr, exit status 2
        assert raised.value.code == 2
        message = capsys.readouterr().err
    else:
        message = str(raised.value)
    assert re.search(case.match, message, re.S), f"the message does not say {case.match!r}:\n{message}"


# ---- inputs users expect to work are converted, not refused ---------------------------------------------

def test_a_number_or_0d_timestep_means_the_same_for_the_whole_batch():
    model, x, context = wan(), latent().expand(2, -1, -1, -1, -1), text(batch=2)
    with torch.no_grad():
        expected = model(x, torch.tensor([500.0, 500.0]), context)
        for t in (500.0, 500, torch.tensor(500.0)):
            torch.testing.assert_close(model(x, t, context), expected, rtol=0, atol=0)


def test_float64_inputs_follow_the_weights_dtype():
    model, x, context = wan(), latent(), text()
    with torch.no_grad():
        torch.testing.assert_close(model(x.double(), 500.0, context.double()), model(x, 500.0, context))
        video = clip()
        torch.testing.assert_close(vae().encode(video.double()), vae().encode(video))
        z = vae().encode(video)
        torch.testing.assert_close(vae().decode(z.double()), vae().decode(z))
