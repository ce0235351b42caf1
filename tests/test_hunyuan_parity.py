"""minivid `HunyuanVideoModel` == diffusers `HunyuanVideoTransformer3DModel` on random weights (fp32), for
T2V (guidance-distilled), I2V token replace and I2V latent concat; odd token grids, 1 and 7 latent frames,
batch 3 with 0, some and all-but-one padded text tokens; the converter; `from_pretrained`; exact counts."""
import math

import pytest
import torch

import minivid.presets as presets
from minivid.interop.hunyuan import (config_from_diffusers, config_to_diffusers, diffusers_to_minivid, from_diffusers,
                                     from_pretrained, minivid_to_diffusers, to_diffusers)

diffusers = pytest.importorskip("diffusers")

TOLERANCE = 1e-5
VARIANTS = {"t2v": "hunyuanvideo-t2v-tiny", "token_replace": "hunyuanvideo-i2v-tiny",
            "latent_concat": "hunyuanvideo-i2v-33ch-tiny"}


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def peer(variant: str, seed: int = 0):
    """The diffusers model of a tiny preset, every constant-initialised tensor (norm weights) jittered."""
    torch.manual_seed(seed)
    theirs = diffusers.HunyuanVideoTransformer3DModel(**config_to_diffusers(presets.HUNYUANVIDEO_CONFIGS[VARIANTS[variant]]))
    with torch.no_grad():
        for p in theirs.parameters():
            if p.unique().numel() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return theirs.eval()


@pytest.fixture(scope="module")
def pairs():
    out = {}
    for variant in VARIANTS:
        theirs = peer(variant)
        out[variant] = theirs, from_diffusers(theirs).eval()
    return out


def inputs(cfg, batch: int, frames: int, height: int, width: int, text_len: int, valid: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, frames, height, width, generator=g)
    t = torch.rand(batch, generator=g) * 1000
    context = torch.randn(batch, text_len, cfg.text_dim, generator=g)
    mask = (torch.arange(text_len) < torch.tensor(valid)[:, None]).long()  # real tokens first, then padding
    pooled = torch.randn(batch, cfg.pooled_dim, generator=g)
    guidance = torch.tensor([6000.0, 1000.0, 3500.0][:batch]) if cfg.guidance_embed else None
    return x, t, context, mask, pooled, guidance


SHAPES = [  # batch, latent frames, height, width, text tokens, real tokens per sample
    (1, 1, 16, 16, 16, [11]),  # one latent frame (an image), 5 padded tokens
    (3, 7, 10, 14, 9, [9, 4, 1]),  # odd 5x7 token grid; none, some, all but one padded
    (2, 3, 6, 18, 5, [5, 2]),
]


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"b{s[0]}f{s[1]}_{s[2]}x{s[3]}_text{s[5]}")
def test_forward_matches_diffusers(pairs, variant, shape):
    theirs, ours = pairs[variant]
    x, t, context, mask, pooled, guidance = inputs(ours.config, *shape)
    with torch.no_grad():
        expected = theirs(x, t, context, mask, pooled, guidance).sample
        out = ours(x, t, context, mask, pooled, guidance)
    assert out.shape == expected.shape == (shape[0], 16, *shape[1:4])
    error = relative_error(out, expected)
    print(f"{variant} {shape}: relative error {error:.1e}")
    assert error <= TOLERANCE


def test_converter_round_trips_and_moves_each_fused_projection_to_the_right_rows(pairs):
    theirs, ours = pairs["t2v"]
    config, state = config_from_diffusers(theirs.config), theirs.state_dict()
    back = minivid_to_diffusers(diffusers_to_minivid(state, config), config)
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    mine, d = ours.state_dict(), config.dim
    assert torch.equal(mine["single_blocks.1.linear1.weight"][3 * d:], state["single_transformer_blocks.1.proj_mlp.weight"])
    assert torch.equal(mine["double_blocks.0.text.attn_qkv.bias"][d:2 * d], state["transformer_blocks.0.attn.add_k_proj.bias"])
    # the final adaLN: official (shift, scale), diffusers' AdaLayerNormContinuous (scale, shift)
    assert torch.equal(mine["final_layer.adaLN_modulation.1.weight"][:d], state["norm_out.linear.weight"][d:])
    rebuilt = to_diffusers(ours)
    assert config_from_diffusers(rebuilt.config) == config
    assert all(torch.equal(v, state[k]) for k, v in rebuilt.state_dict().items())


@pytest.mark.parametrize("sharded", [False, True])
def test_from_pretrained_reads_a_diffusers_folder(tmp_path, sharded):
    theirs = peer("token_replace", seed=3)
    theirs.save_pretrained(tmp_path, max_shard_size="100KB" if sharded else "10GB")
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").exists() == sharded
    ours = from_pretrained(tmp_path)
    assert ours.config == config_from_diffusers(theirs.config) and not ours.training
    x, t, context, mask, pooled, guidance = inputs(ours.config, 2, 2, 8, 8, 6, [6, 3], seed=1)
    with torch.no_grad():
        expected = theirs(x, t, context, mask, pooled, guidance).sample
        assert relative_error(ours(x, t, context, mask, pooled, guidance), expected) <= TOLERANCE


def test_full_size_counts_match_diffusers_on_the_meta_device():
    for name in ("hunyuanvideo-t2v", "hunyuanvideo-i2v"):
        with torch.device("meta"):
            theirs = diffusers.HunyuanVideoTransformer3DModel(**config_to_diffusers(presets.HUNYUANVIDEO_CONFIGS[name]))
        assert presets.count_params(name) == sum(p.numel() for p in theirs.parameters()) == presets.get(name).expected_params
    assert presets.get("hunyuanvideo-t2v").expected_params == 12_821_012_544
    assert presets.get("hunyuanvideo-i2v").expected_params == 12_810_991_680
    assert math.prod(presets.cost("hunyuanvideo-t2v", 129, 720, 1280).token_grid) == 118_800


def test_sampling_equals_the_diffusers_pipeline_maths():
    """`sample_hunyuanvideo` (the shared flow loop, shift 7, embedded guidance 6 x 1000, one pass a step) lands
    where diffusers' `FlowMatchEulerDiscreteScheduler(shift=7.0)` with the pipeline's sigmas
    (`linspace(1, 0, n + 1)[:-1]`) does, from the same noise and weights."""
    import numpy as np

    from minivid.sampling import sample_hunyuanvideo

    theirs = peer("t2v", seed=5)
    ours = from_diffusers(theirs).eval()
    _, _, context, mask, pooled, _ = inputs(ours.config, 2, 2, 8, 8, 6, [6, 3], seed=2)
    out = sample_hunyuanvideo(ours, context, mask, pooled, latent_size=(2, 8, 8), num_steps=4, seed=3)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 0.0, 5)[:-1])
    x = torch.randn((2, 16, 2, 8, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(theirs(x, t.expand(2), context, mask, pooled, torch.full((2,), 6000.0)).sample, t, x).prev_sample
    assert relative_error(out, x) <= TOLERANCE


def test_token_replace_sampling_keeps_the_clean_first_frame():
    from minivid.sampling import sample_hunyuanvideo

    ours = from_diffusers(peer("token_replace", seed=6)).eval()
    _, _, context, mask, pooled, _ = inputs(ours.config, 1, 3, 8, 8, 6, [4], seed=3)
    image = torch.randn(1, 16, 1, 8, 8)
    out = sample_hunyuanvideo(ours, context, mask, pooled, latent_size=(3, 8, 8), num_steps=3, first_frame=image)
    assert torch.equal(out[:, :, :1], image) and out[:, :, 1:].abs().max() > 0
    with pytest.raises(ValueError, match="first_frame .* token-replace I2V"):
        sample_hunyuanvideo(ours, context, mask, pooled, latent_size=(3, 8, 8), num_steps=3)
