"""One name for every configuration: tiny CPU configs and the full published models.

    >>> import minivid.presets as presets
    >>> presets.names()                          # every registered name
    >>> model = presets.build("wan2.1-vae")      # on the meta device: no memory is allocated
    >>> presets.count_params("wan2.1-vae")       # exact parameter count of the full model

Full presets carry the official parameter count (`expected_params`); a test builds each on the
meta device and checks the count to the last parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from minivid.layers.embed import token_grid
from minivid.models.cogvideox import CogVideoXConfig, CogVideoXModel
from minivid.models.cogvideox import forward_flops as cogvideox_flops
from minivid.models.cogvideox_vae import CogVideoXVAE, CogVideoXVAEConfig
from minivid.models.hunyuan_vae import HunyuanVideoVAE, HunyuanVideoVAEConfig
from minivid.models.hunyuan import HunyuanVideoConfig, HunyuanVideoModel
from minivid.models.hunyuan import forward_flops as hunyuanvideo_flops
from minivid.models.dit import DiT, DiTConfig
from minivid.models.vae import WanVAE, WanVAEConfig
from minivid.models.wan import CLIP_TOKENS, TEXT_LEN, WanConfig, WanModel, forward_flops


@dataclass(frozen=True)
class Preset:
    name: str
    make: Callable[[], nn.Module]  # builds the model on the current default device
    expected_params: int | None  # official count for a published model, None for tiny configs
    source: str  # where the configuration comes from
    family: str  # the system it belongs to, e.g. "Wan transformer": a row of the README's "what is built"


_REGISTRY: dict[str, Preset] = {}


def register(name: str, make: Callable[[], nn.Module], expected_params: int | None = None,
             source: str = "", *, family: str) -> None:
    if name in _REGISTRY:
        raise ValueError(f"preset {name!r} is already registered")
    _REGISTRY[name] = Preset(name, make, expected_params, source, family)


def names() -> list[str]:
    """All registered preset names, sorted."""
    return sorted(_REGISTRY)


def families() -> dict[str, list[str]]:
    """{family: its preset names}, in order of registration: the systems minivid builds."""
    out: dict[str, list[str]] = {}
    for preset in _REGISTRY.values():
        out.setdefault(preset.family, []).append(preset.name)
    return out


def get(name: str) -> Preset:
    if name not in _REGISTRY:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(names())}")
    return _REGISTRY[name]


def build(name: str, device: str | torch.device = "meta", dtype: torch.dtype | None = None) -> nn.Module:
    """Build a preset. The default `meta` device allocates nothing, so a 14B model is instant."""
    preset = get(name)
    with torch.device(device):
        model = preset.make()
    return model.to(dtype) if dtype is not None else model


def count_params(name: str) -> int:
    """Exact number of parameters of a preset (built on the meta device)."""
    return sum(p.numel() for p in build(name, device="meta").parameters())


def parameter_breakdown(name: str, groups: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """A preset's parameters per module group: a parameter belongs to the first group with a part of its
    name in it (`{"FFN": (".ffn.",), ...}`). Every parameter must land in a group, so the groups add up to
    `count_params(name)`; one that does not is a ValueError naming it."""
    counts = dict.fromkeys(groups, 0)
    for key, parameter in build(name).named_parameters():
        group = next((g for g, parts in groups.items() if any(part in key for part in parts)), None)
        if group is None:
            raise ValueError(f"{name}: parameter {key!r} is in none of the groups {list(groups)}; add a group "
                             "with a part of its name")
        counts[group] += parameter.numel()
    return counts


# ---------------------------------------------------------------------------------------------
# Registered presets. Each model family adds its names in its own section below.
# ---------------------------------------------------------------------------------------------

# ---- Wan VAEs (minivid.models.vae) ---------------------------------------------------------------

# Per-channel latent statistics: Wan2.1 from diffusers `AutoencoderKLWan` defaults (== Wan-Video/Wan2.1
# `wan/modules/vae.py : WanVAE`), Wan2.2 from diffusers `scripts/convert_wan_to_diffusers.py :
# vae22_diffusers_config` (== Wan-Video/Wan2.2 `wan/modules/vae2_2.py : Wan2_2_VAE`).
WAN21_VAE_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                          0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_VAE_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                         3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)
WAN22_VAE_LATENTS_MEAN = (-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
                          -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
                          -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
                          -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
                          -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
                          0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667)
WAN22_VAE_LATENTS_STD = (0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
                         0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
                         0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
                         0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
                         0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
                         0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744)

WAN_VAE_CONFIGS = {
    # 4x8x8, 16 channels: diffusers `AutoencoderKLWan()` class defaults == official `_video_vae` config
    "wan2.1-vae": WanVAEConfig(latents_mean=WAN21_VAE_LATENTS_MEAN, latents_std=WAN21_VAE_LATENTS_STD),
    # 4x16x16, 48 channels: 2x2 patchify, residual stages, wider decoder (`vae22_diffusers_config`)
    "wan2.2-vae": WanVAEConfig(base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, patch_size=2,
                               latents_mean=WAN22_VAE_LATENTS_MEAN, latents_std=WAN22_VAE_LATENTS_STD),
    # tiny peer configs at diffusers' test scale, the ones tests/test_vae_parity.py compares against
    "wan2.1-vae-tiny": WanVAEConfig(base_dim=8, z_dim=16, num_res_blocks=1,
                                    latents_mean=(0.0,) * 16, latents_std=(1.0,) * 16),
    "wan2.2-vae-tiny": WanVAEConfig(base_dim=8, decoder_base_dim=12, z_dim=8, num_res_blocks=1,
                                    is_residual=True, patch_size=2, latents_mean=(0.0,) * 8, latents_std=(1.0,) * 8),
}
_WAN_VAE = "Wan VAE"
register("wan2.1-vae", lambda: WanVAE(WAN_VAE_CONFIGS["wan2.1-vae"]), 126_892_531,
         "Wan-Video/Wan2.1 wan/modules/vae.py; diffusers AutoencoderKLWan() defaults", family=_WAN_VAE)
register("wan2.2-vae", lambda: WanVAE(WAN_VAE_CONFIGS["wan2.2-vae"]), 704_688_668,
         "Wan-Video/Wan2.2 wan/modules/vae2_2.py; diffusers convert_wan_to_diffusers.py vae22_diffusers_config",
         family=_WAN_VAE)
register("wan2.1-vae-tiny", lambda: WanVAE(WAN_VAE_CONFIGS["wan2.1-vae-tiny"]), None,
         "tiny peer config (tests/test_vae_parity.py)", family=_WAN_VAE)
register("wan2.2-vae-tiny", lambda: WanVAE(WAN_VAE_CONFIGS["wan2.2-vae-tiny"]), None,
         "tiny peer config (tests/test_vae_parity.py)", family=_WAN_VAE)

# ---- DiT (minivid.models.dit) -------------------------------------------------------------------

DIT_CONFIGS = {
    # facebookresearch/DiT models.py `DiT_XL_2` at 256 px (32x32x4 latents), learn_sigma, 1000 classes
    "dit-xl-2": DiTConfig(),
    # the tiny peer config of tests/test_dit_parity.py (2 heads x 32, 2 layers, 4 -> 8 channels)
    "dit-tiny": DiTConfig(input_size=16, hidden_size=64, depth=2, num_heads=2),
}
# 674,834,720: the official count without the frozen 256x1152 pos_embed (675,129,632 with it);
# diffusers' DiTTransformer2DModel has 749,826,464 (a timestep+label embedder in each of the 28 blocks)
register("dit-xl-2", lambda: DiT(DIT_CONFIGS["dit-xl-2"]), 674_834_720,
         "facebookresearch/DiT models.py DiT_XL_2", family="DiT")
register("dit-tiny", lambda: DiT(DIT_CONFIGS["dit-tiny"]), None, "tiny peer config (tests/test_dit_parity.py)",
         family="DiT")


# ---- compute accounting: presets.cost(name, frames, height, width) -------------------------------
# A model family plugs in with `register_cost(name, fn)`, fn(frames, height, width) -> Cost.

_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float8": 1}


@dataclass(frozen=True)
class Cost:
    """What one denoising step of one sample costs. FLOPs count 2 per multiply-add, matmuls and convs
    only (elementwise work — norms, RoPE, softmax, modulation — is left out).

    Memory estimates, batch 1, inference (no autograd), activations in `compute_dtype`:
    - `weight_bytes`: parameters alone, per storage dtype;
    - `activation_bytes`: the residual stream (float32) plus the widest intermediate of one block (the MLP
      hidden state before and after its activation), i.e. what stays live with a fused attention kernel;
    - `attention_matrix_bytes`: the `heads x L x L` self-attention score matrix of one block, which an
      unfused softmax(QKᵀ)V materialises and flash / memory-efficient SDPA never does.
    """
    name: str
    frames: int
    height: int
    width: int
    latent_shape: tuple[int, int, int, int]  # C T H W
    token_grid: tuple[int, int, int]
    tokens: int
    params: int
    flops_linear: int
    flops_attention: int
    activation_bytes: int
    attention_matrix_bytes: int
    compute_dtype: str = "bfloat16"

    @property
    def weight_bytes(self) -> dict[str, int]:
        return {dtype: self.params * size for dtype, size in _DTYPE_BYTES.items()}

    @property
    def flops(self) -> int:
        return self.flops_linear + self.flops_attention

    def summary(self) -> str:
        gib = 2.0**30
        return (f"{self.name} {self.frames}x{self.height}x{self.width}: latent {self.latent_shape}, grid "
                f"{self.token_grid} = {self.tokens:,} tokens, {self.params / 1e9:.2f}B params; "
                f"{self.flops / 1e12:.1f} TFLOPs/step (attention {self.flops_attention / self.flops:.0%}); "
                f"weights {self.weight_bytes['bfloat16'] / gib:.1f} GiB bf16, activations "
                f"{self.activation_bytes / gib:.2f} GiB, eager attention matrix "
                f"{self.attention_matrix_bytes / gib:.1f} GiB")


_COSTS: dict[str, Callable[[int, int, int], Cost]] = {}


def register_cost(name: str, fn: Callable[[int, int, int], Cost]) -> None:
    get(name)  # the preset must exist
    _COSTS[name] = fn


def register_configs(configs: dict, model: Callable, counts: dict[str, int],
                     cost_fn: Callable[[str, int, int, int], Cost], *,
                     family: str, source: str, tiny_source: str) -> None:
    """Register one family's transformers: a preset per config (full sizes with their official count,
    "-tiny" peer configs with none) and its cost model, `cost_fn(name, frames, height, width)`."""
    for name, config in configs.items():
        tiny = name.endswith("-tiny")
        register(name, lambda config=config: model(config), counts.get(name), tiny_source if tiny else source,
                 family=family)
        register_cost(name, lambda f, h, w, name=name: cost_fn(name, f, h, w))


def cost(name: str, frames: int, height: int, width: int) -> Cost:
    """Latent shape, tokens, parameters, FLOPs per denoising step and memory of a preset at a video size.
    Sizes the model cannot take (not 1+4n frames, not a multiple of VAE stride x patch, not positive) are a
    ValueError that suggests the nearest sizes it can."""
    get(name)
    if name not in _COSTS:
        raise ValueError(f"no cost model for preset {name!r}; presets with one: {', '.join(sorted(_COSTS))}")
    return _COSTS[name](frames, height, width)


# ---- Wan2.1 / Wan2.2 transformers (minivid.models.wan) ---------------------------------------------

# Full sizes: Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py, wan_t2v_14B.py, wan_i2v_14B.py; Wan-Video/Wan2.2
# wan/configs/wan_ti2v_5B.py, wan_t2v_A14B.py, wan_i2v_A14B.py (per expert); the diffusers configs in
# huggingface/diffusers scripts/convert_wan_to_diffusers.py agree. Tiny: the peer configs of tests/test_wan_parity.py.
_WAN_14B = dict(dim=5120, ffn_dim=13824, heads=40, layers=40)
_WAN_TINY = dict(dim=64, ffn_dim=128, heads=2, layers=2, text_dim=32)
WAN_CONFIGS = {
    "wan2.1-t2v-1.3b": WanConfig(dim=1536, ffn_dim=8960, heads=12, layers=30),
    "wan2.1-t2v-14b": WanConfig(**_WAN_14B),
    "wan2.1-i2v-14b-480p": WanConfig(**_WAN_14B, in_channels=36, image_dim=1280),
    "wan2.1-i2v-14b-720p": WanConfig(**_WAN_14B, in_channels=36, image_dim=1280),
    "wan2.2-t2v-a14b": WanConfig(**_WAN_14B),  # one of the two experts (high / low noise)
    "wan2.2-i2v-a14b": WanConfig(**_WAN_14B, in_channels=36),  # mask+latent channels, no CLIP branch
    "wan2.2-ti2v-5b": WanConfig(dim=3072, ffn_dim=14336, heads=24, layers=30, in_channels=48, out_channels=48),
    "wan2.1-t2v-tiny": WanConfig(**_WAN_TINY),
    "wan2.1-i2v-tiny": WanConfig(**_WAN_TINY, in_channels=36, image_dim=48),
    "wan2.2-ti2v-tiny": WanConfig(**_WAN_TINY, in_channels=48, out_channels=48),
}
WAN_VAE_STRIDE = {name: (4, 16, 16) if name.startswith("wan2.2-ti2v") else (4, 8, 8) for name in WAN_CONFIGS}
_WAN_COUNTS = {"wan2.1-t2v-1.3b": 1_418_996_800, "wan2.1-t2v-14b": 14_288_491_584,
               "wan2.1-i2v-14b-480p": 16_394_878_784, "wan2.1-i2v-14b-720p": 16_394_878_784,
               "wan2.2-t2v-a14b": 14_288_491_584, "wan2.2-i2v-a14b": 14_288_901_184,
               "wan2.2-ti2v-5b": 4_999_787_712}


def _wan_cost(name: str, frames: int, height: int, width: int) -> Cost:
    cfg, stride = WAN_CONFIGS[name], WAN_VAE_STRIDE[name]
    grid = token_grid(frames, height, width, stride, cfg.patch)  # ValueError with legal sizes if they do not fit
    latent = tuple(g * p for g, p in zip(grid, cfg.patch))  # T H W, 1 + (frames - 1) / 4 latent frames
    tokens = grid[0] * grid[1] * grid[2]
    flops = forward_flops(cfg, grid, TEXT_LEN, CLIP_TOKENS if cfg.image_dim else 0,
                          per_token_timesteps=name.startswith("wan2.2-ti2v"))
    params = count_params(name)
    act = 2  # bf16 activations
    return Cost(name, frames, height, width, (cfg.out_channels, *latent), grid, tokens, params,
                flops["linear"], flops["attention"],
                activation_bytes=tokens * cfg.dim * 4 + 2 * tokens * cfg.ffn_dim * act,
                attention_matrix_bytes=cfg.heads * tokens * tokens * act)


register_configs(WAN_CONFIGS, WanModel, _WAN_COUNTS, _wan_cost, family="Wan transformer",
                 source="Wan-Video/Wan2.1 + Wan2.2 wan/configs; diffusers convert_wan_to_diffusers.py",
                 tiny_source="tiny peer config (tests/test_wan_parity.py)")


# ---- CogVideoX transformers (minivid.models.cogvideox) --------------------------------------------------
# Full sizes: THUDM/CogVideo sat/configs/cogvideox_2b.yaml, cogvideox_5b.yaml, cogvideox_5b_i2v.yaml,
# cogvideox1.5_5b.yaml; the diffusers configs agree. 49 frames at 480x720 -> 13 x 60 x 90 latents (v1.0).
_COG_5B = dict(heads=48, layers=42, positions="rope")
_COG_TINY = dict(heads=2, head_dim=32, layers=2, time_embed_dim=64, text_dim=32, text_length=16,
                 sample_grid=(5, 16, 16))
COGVIDEOX_CONFIGS = {
    "cogvideox-2b": CogVideoXConfig(heads=30, layers=30, positions="sincos"),
    "cogvideox-5b": CogVideoXConfig(**_COG_5B),
    "cogvideox-5b-i2v": CogVideoXConfig(**{**_COG_5B, "positions": "rope+learned"}, in_channels=32),
    "cogvideox1.5-5b": CogVideoXConfig(**_COG_5B, patch_t=2, text_length=224, sample_grid=(21, 96, 170)),
    "cogvideox-2b-tiny": CogVideoXConfig(**_COG_TINY, positions="sincos"),
    "cogvideox-5b-tiny": CogVideoXConfig(**_COG_TINY, positions="rope"),
    "cogvideox-5b-i2v-tiny": CogVideoXConfig(**_COG_TINY, positions="rope+learned", in_channels=32),
    "cogvideox1.5-5b-i2v-tiny": CogVideoXConfig(**_COG_TINY, positions="rope", in_channels=32, patch_t=2,
                                                ofs_embed_dim=64, patch_bias=False),
}
COGVIDEOX_VAE_STRIDE = (4, 8, 8)
_COGVIDEOX_COUNTS = {"cogvideox-2b": 1_693_783_872, "cogvideox-5b": 5_570_283_072,
                     "cogvideox-5b-i2v": 5_570_479_680, "cogvideox1.5-5b": 5_570_676_352}


def _cogvideox_cost(name: str, frames: int, height: int, width: int) -> Cost:
    cfg = COGVIDEOX_CONFIGS[name]
    grid = token_grid(frames, height, width, COGVIDEOX_VAE_STRIDE, cfg.patch_size)
    latent = (cfg.out_channels, *(g * p for g, p in zip(grid, cfg.patch_size)))
    tokens, text = grid[0] * grid[1] * grid[2], cfg.text_length
    flops = cogvideox_flops(cfg, grid, text)
    params = count_params(name)
    return Cost(name, frames, height, width, latent, grid, tokens, params, flops["linear"], flops["attention"],
                activation_bytes=(tokens + text) * cfg.dim * 4 + 2 * (tokens + text) * 4 * cfg.dim * 2,
                attention_matrix_bytes=cfg.heads * (tokens + text) ** 2 * 2)


register_configs(COGVIDEOX_CONFIGS, CogVideoXModel, _COGVIDEOX_COUNTS, _cogvideox_cost, family="CogVideoX transformer",
                 source="THUDM/CogVideo sat/configs; diffusers CogVideoXTransformer3DModel configs",
                 tiny_source="tiny peer config (tests/test_cogvideox_parity.py)")


# ---- HunyuanVideo transformers (minivid.models.hunyuan) --------------------------------------------------
# Full sizes: Tencent-Hunyuan/HunyuanVideo hyvideo/modules/models.py HUNYUAN_VIDEO_CONFIG["HYVideo-T/2"] (the
# default CLI model is "HYVideo-T/2-cfgdistill": guidance embedding on); HunyuanVideo-I2V's 33-channel model
# concatenates the image latent and a mask and has no guidance embedding. 129 frames at 720x1280 ->
# 33 x 90 x 160 latents -> 33 x 45 x 80 = 118,800 video tokens, plus the 256-token text.
_HUNYUAN_TINY = dict(heads=2, head_dim=32, double_layers=2, single_layers=2, text_dim=32, pooled_dim=16,
                     rope_axes=(8, 12, 12))
HUNYUANVIDEO_CONFIGS = {
    "hunyuanvideo-t2v": HunyuanVideoConfig(),
    "hunyuanvideo-i2v": HunyuanVideoConfig(in_channels=33, guidance_embed=False, image_condition="latent_concat"),
    "hunyuanvideo-t2v-tiny": HunyuanVideoConfig(**_HUNYUAN_TINY),
    "hunyuanvideo-i2v-tiny": HunyuanVideoConfig(**_HUNYUAN_TINY, image_condition="token_replace"),
    "hunyuanvideo-i2v-33ch-tiny": HunyuanVideoConfig(**_HUNYUAN_TINY, in_channels=33, guidance_embed=False,
                                                     image_condition="latent_concat"),
}
HUNYUANVIDEO_TEXT_LEN = 256  # hyvideo/config.py --text-len: the MLLM prompt after the template is cut
_HUNYUANVIDEO_COUNTS = {"hunyuanvideo-t2v": 12_821_012_544, "hunyuanvideo-i2v": 12_810_991_680}


def _hunyuanvideo_cost(name: str, frames: int, height: int, width: int) -> Cost:
    cfg = HUNYUANVIDEO_CONFIGS[name]
    grid = token_grid(frames, height, width, (4, 8, 8), cfg.patch_size)
    latent = (cfg.out_channels, *(g * p for g, p in zip(grid, cfg.patch_size)))
    tokens, text = grid[0] * grid[1] * grid[2], HUNYUANVIDEO_TEXT_LEN
    flops = hunyuanvideo_flops(cfg, grid, text)
    return Cost(name, frames, height, width, latent, grid, tokens, count_params(name), flops["linear"],
                flops["attention"],
                activation_bytes=(tokens + text) * cfg.dim * 4 + 2 * (tokens + text) * cfg.mlp_dim * 2,
                attention_matrix_bytes=cfg.heads * (tokens + text) ** 2 * 2)


register_configs(HUNYUANVIDEO_CONFIGS, HunyuanVideoModel, _HUNYUANVIDEO_COUNTS, _hunyuanvideo_cost,
                 family="HunyuanVideo transformer",
                 source="Tencent-Hunyuan/HunyuanVideo hyvideo/modules/models.py; diffusers HunyuanVideoTransformer3DModel",
                 tiny_source="tiny peer config (tests/test_hunyuan_parity.py)")


# ---- the CogVideoX VAE (minivid.models.cogvideox_vae) -----------------------------------------------------
# THUDM/CogVideo sat/configs/*.yaml first_stage_config (ch 128, ch_mult 1 2 2 4, 3 res blocks, 16 channels);
# diffusers AutoencoderKLCogVideoX() defaults. The scaling factor is the 2B's; the 5B and 1.5 use 0.7.
COGVIDEOX_VAE_CONFIGS = {
    "cogvideox-vae": CogVideoXVAEConfig(),
    "cogvideox-vae-tiny": CogVideoXVAEConfig(block_out_channels=(16, 32, 32, 32), layers_per_block=1, norm_groups=4),
}
register("cogvideox-vae", lambda: CogVideoXVAE(COGVIDEOX_VAE_CONFIGS["cogvideox-vae"]), 215_583_907,
         "THUDM/CogVideo sat/configs first_stage_config; diffusers AutoencoderKLCogVideoX() defaults",
         family="CogVideoX VAE")
register("cogvideox-vae-tiny", lambda: CogVideoXVAE(COGVIDEOX_VAE_CONFIGS["cogvideox-vae-tiny"]), None,
         "tiny peer config (tests/test_cogvideox_vae_parity.py)", family="CogVideoX VAE")


# ---- the HunyuanVideo VAE (minivid.models.hunyuan_vae) ----------------------------------------------------
# Tencent-Hunyuan/HunyuanVideo hyvideo/vae/autoencoder_kl_causal_3d.py with the released vae/config.json
# (128 256 512 512, 2 res blocks, 16 channels, scaling 0.476986); diffusers AutoencoderKLHunyuanVideo() defaults.
# Tiny: the config of diffusers' own AutoencoderKLHunyuanVideo tests (956,739 parameters).
HUNYUANVIDEO_VAE_CONFIGS = {
    "hunyuanvideo-vae": HunyuanVideoVAEConfig(),
    "hunyuanvideo-vae-tiny": HunyuanVideoVAEConfig(block_out_channels=(16, 32, 32, 32), layers_per_block=1,
                                                   norm_groups=4),
}
register("hunyuanvideo-vae", lambda: HunyuanVideoVAE(HUNYUANVIDEO_VAE_CONFIGS["hunyuanvideo-vae"]), 246_478_803,
         "Tencent-Hunyuan/HunyuanVideo hyvideo/vae/autoencoder_kl_causal_3d.py; "
         "diffusers AutoencoderKLHunyuanVideo() defaults",
         family="HunyuanVideo VAE")
register("hunyuanvideo-vae-tiny", lambda: HunyuanVideoVAE(HUNYUANVIDEO_VAE_CONFIGS["hunyuanvideo-vae-tiny"]), None,
         "tiny peer config (tests/test_hunyuan_vae_parity.py)", family="HunyuanVideo VAE")
