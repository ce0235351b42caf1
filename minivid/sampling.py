"""Text-to-video sampling: flow matching with timestep shift and classifier-free (or, for HunyuanVideo's
distilled model, embedded) guidance, on top of the generic samplers in `minivid.diffusion`. `sample_t2v`
returns latents for any `WanModel`, `sample_hunyuanvideo` for any `HunyuanVideoModel`; `generate` goes from
captions to pixels with the course's tiny text-to-video models (a tiny Wan, CogVideoX or HunyuanVideo
transformer, `minivid.models.tiny_t2v`) and VAE. All three run one loop, `sample_text_flow`.

What this loop shares with the official `WanT2V.generate` (Wan-Video/Wan2.1 `wan/text2video.py`):
noise of shape `(B, 16, 1 + (F-1)/4, H/8, W/8)` drawn from one seeded generator; the prompt and the
negative prompt zero-padded to 512 tokens; `noise_pred = uncond + scale * (cond - uncond)`; shift 5.0 and
guidance 5.0 by default; low precision as `torch.autocast(bf16)` around float32 weights.
What differs: the official default solver is UniPC (`sample_solver='unipc'`) and runs the conditional and
unconditional passes one after the other; this loop takes Euler steps over
`minivid.diffusion.flow_sigmas(num_steps, shift)` and runs both passes as one doubled batch (the same
numbers, one call). Text encoding and VAE decoding stay outside: pass the umT5 states, get latents back.
"""
from __future__ import annotations

import contextlib
import functools

import torch
from torch import Tensor

from minivid.diffusion import cfg_model, sample_flow_euler
from minivid.diffusion.guidance import Context, context_map
from minivid.layers.embed import latent_size as vae_latent_size
from minivid.models.hunyuan import HunyuanVideoModel
from minivid.models.tiny_t2v import GUIDANCE, NUM_STEPS, SHIFT, TinyT2V
from minivid.models.vae import WanVAE
from minivid.models.wan import TEXT_LEN, WanModel, pad_text


@torch.no_grad()
def sample_t2v(model: WanModel, context: Tensor, null_context: Tensor | None = None, *,
               latent_size: tuple[int, int, int], num_steps: int = 50, shift: float = 5.0,
               guidance_scale: float = 5.0, seed: int = 0, text_len: int | None = TEXT_LEN,
               autocast_dtype: torch.dtype | None = None, progress: bool = False) -> Tensor:
    """Sample latents `B C T H W` (float32) from noise, conditioned on text states `context` `B Lt text_dim`.

    null_context: the negative / empty prompt's states `(B or 1) Lt' text_dim`; None = no guidance (one
        model call per step). Guidance runs whenever it is given, also at scale 1 (= the conditional model).
    latent_size: (T, H, W) latents, e.g. `minivid.layers.embed.latent_size(81, 480, 832)` = (21, 60, 104).
    text_len: pad both prompts to this many tokens as the official model does (None: leave them as given).
    seed: the noise comes from a CPU generator, so a seed gives the same noise on every device.
    autocast_dtype: e.g. torch.bfloat16 to run the matmuls in bf16 (the official setting on GPU).
    """
    cfg = model.config
    if cfg.image_dim is not None or cfg.in_channels != cfg.out_channels:
        raise ValueError("sample_t2v needs a text-to-video model (in_channels == out_channels, no image branch); "
                         f"got in_channels={cfg.in_channels}, out_channels={cfg.out_channels}, "
                         f"image_dim={cfg.image_dim}")
    if text_len is not None:
        context = pad_text(context, text_len)
        null_context = None if null_context is None else pad_text(null_context, text_len)
    return sample_text_flow(model, context, null_context, latent_shape=(cfg.out_channels, *latent_size),
                            num_steps=num_steps, shift=shift, guidance_scale=guidance_scale, seed=seed,
                            autocast_dtype=autocast_dtype, progress=progress)


@torch.no_grad()
def sample_hunyuanvideo(model: HunyuanVideoModel, context: Tensor, context_mask: Tensor, pooled: Tensor,
                        null: tuple[Tensor, Tensor, Tensor] | None = None, *, latent_size: tuple[int, int, int],
                        num_steps: int = 50, shift: float = 7.0, embedded_guidance: float | None = 6.0,
                        guidance_scale: float = 1.0, first_frame: Tensor | None = None, seed: int = 0,
                        autocast_dtype: torch.dtype | None = None, progress: bool = False) -> Tensor:
    """Sample latents `B 16 T H W` with a HunyuanVideo transformer, through the same loop as Wan and CogVideoX.

    The official defaults (Tencent-Hunyuan/HunyuanVideo `hyvideo/config.py`): 50 Euler steps over uniformly
    spaced sigmas shifted by `--flow-shift` 7.0, and, for the CFG-distilled model, **one** forward pass per
    step with the guidance strength as an input (`--embedded-cfg-scale` 6.0, given to the model × 1000);
    `--cfg-scale` 1.0, i.e. no classifier-free guidance. A model without a guidance embedder (the I2V ones)
    takes `embedded_guidance=None` and, for CFG, `null` = (states, mask, pooled) of the negative prompt.
    first_frame: token-replace I2V, the clean image latent `B 16 1 H W`: latent frame 0 starts as it and
    stays (its velocity is zeroed), as diffusers' I2V pipeline re-inserts it every step.
    """
    cfg = model.config
    if (embedded_guidance is None) == cfg.guidance_embed:
        raise ValueError("embedded_guidance is for guidance-distilled models only: "
                         + ("pass a scale (official default 6.0)" if cfg.guidance_embed else
                            "this model has no guidance embedder; pass embedded_guidance=None"))
    if (first_frame is not None) != (cfg.image_condition == "token_replace"):
        raise ValueError("first_frame (the clean image latent) is what a token-replace I2V model needs, and only it; "
                         f"this model's image_condition is {cfg.image_condition!r}")
    guidance = None if embedded_guidance is None else embedded_guidance * 1000.0

    def velocity(x: Tensor, t: Tensor, text: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        if first_frame is not None:
            x = torch.cat([first_frame.to(x).expand(x.shape[0], -1, -1, -1, -1), x[:, :, 1:]], dim=2)
        v = model(x, t, *text, guidance=guidance)
        return v if first_frame is None else torch.cat([torch.zeros_like(v[:, :, :1]), v[:, :, 1:]], dim=2)

    latents = sample_text_flow(velocity, (context, context_mask, pooled), null,
                               latent_shape=(cfg.out_channels, *latent_size), num_steps=num_steps, shift=shift,
                               guidance_scale=guidance_scale, seed=seed, autocast_dtype=autocast_dtype,
                               progress=progress)
    if first_frame is not None:
        latents[:, :, :1] = first_frame.to(latents)
    return latents


def sample_text_flow(velocity, context: Context, null_context: Context | None, *, latent_shape: tuple[int, ...],
                     num_steps: int, shift: float, guidance_scale: float, seed: int = 0,
                     autocast_dtype: torch.dtype | None = None, progress: bool = False) -> Tensor:
    """The loop under every text-to-video sampler of the course: seeded noise `B *latent_shape`, Euler steps
    over shifted sigmas, classifier-free guidance as one doubled batch whenever `null_context` is given.
    `velocity(x, t, text)` is any module or function whose parameters (if a module) set the device."""
    first = context[0] if isinstance(context, tuple) else context  # B ...: the part that sets batch and device
    device = next(velocity.parameters()).device if isinstance(velocity, torch.nn.Module) else first.device
    batch = first.shape[0]
    context = context_map(lambda c: c.to(device), context)
    if null_context is not None:
        null_context = context_map(lambda c: c.to(device).expand(batch, *c.shape[1:]), null_context)

    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((batch, *latent_shape), generator=generator).to(device)  # B C T H W
    use_autocast = autocast_dtype is not None and torch.amp.is_autocast_available(device.type)  # not on meta
    precision = torch.autocast(device.type, dtype=autocast_dtype) if use_autocast else contextlib.nullcontext()

    def guided(x: Tensor, t: Tensor, text: Context) -> Tensor:
        with precision:
            return velocity(x, t, text).float()

    if null_context is None:
        model_fn = lambda x, t: guided(x, t, context)  # noqa: E731
    else:
        model_fn = cfg_model(guided, context, null_context, guidance_scale)
    return sample_flow_euler(model_fn, noise, num_steps, shift=shift, progress=progress)


@torch.no_grad()
def generate(model: TinyT2V, vae: WanVAE, captions: list[str], *, seed: int = 0, num_steps: int = NUM_STEPS,
             shift: float = SHIFT, guidance_scale: float = GUIDANCE, frames: int = 17, size: int = 32) -> Tensor:
    """Videos `B 3 frames size size` in [-1, 1] for `captions`. The noise of the whole batch comes from
    `seed`, so a clip depends on (seed, its place in the batch). guidance_scale 1: no guidance (one pass); a
    guidance-distilled model takes the scale as an input and always runs one pass."""
    cfg = vae.config
    latent = vae_latent_size(frames, size, size, (cfg.temporal_stride, cfg.spatial_stride, cfg.spatial_stride))
    context = model.encode_text(captions)  # B L D
    velocity, null = model.velocity, None
    if getattr(model.transformer.config, "guidance_embed", False):  # distilled: the scale is an input, one pass
        velocity = functools.partial(model.velocity, guidance=guidance_scale * 1000.0)
    elif guidance_scale != 1:
        null = model.encode_text([""])  # 1 L D
    latents = sample_text_flow(velocity, context, null, latent_shape=(cfg.z_dim, *latent), num_steps=num_steps,
                               shift=shift, guidance_scale=guidance_scale, seed=seed)  # B z T' H' W'
    return vae.decode(latents)
