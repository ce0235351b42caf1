"""minivid.models.wan and minivid.sampling: the three calling modes, the official init and precision
rules, input errors, presets, the state-dict mapping, and the text-to-video sampling loop."""
import math

import pytest
import torch
from torch.testing import assert_close

import minivid.presets as presets
from minivid.layers.embed import latent_size
from minivid.interop.wan import diffusers_to_minivid, key_map, minivid_to_diffusers
from minivid.models.wan import (WanConfig, WanModel, first_frame_timesteps, image_condition, pad_text)
from minivid.sampling import sample_t2v

TINY = {"t2v": "wan2.1-t2v-tiny", "i2v": "wan2.1-i2v-tiny", "ti2v": "wan2.2-ti2v-tiny"}



def tiny_model(mode: str, seed: int = 0) -> WanModel:
    """A tiny Wan with every parameter moved off its init (zero head, unit norms, zero biases...)."""
    torch.manual_seed(seed)
    model = presets.build(TINY[mode], device="cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(model: WanModel, batch=2, size=(3, 6, 10), text=7, seed=1):
    """(x, t, context, image) for a model; per-token t for TI2V-shaped models (48 channels)."""
    cfg, g = model.config, torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.in_channels, *size, generator=g)
    t = torch.rand(batch, generator=g) * 1000
    if cfg.in_channels == 48:
        t = first_frame_timesteps(t, (size[0], size[1] // 2, size[2] // 2))
    context = torch.randn(batch, text, cfg.text_dim, generator=g)
    image = torch.randn(batch, 257, cfg.image_dim, generator=g) if cfg.image_dim else None
    return x, t, context, image


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


# ---- the three modes ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(TINY))
@pytest.mark.parametrize("size", [(3, 6, 10), (1, 4, 4), (5, 2, 8)])
def test_output_has_the_latent_shape_and_float32(mode, size):
    model = tiny_model(mode)
    x, t, context, image = inputs(model, size=size)
    with torch.no_grad():
        out = model(x, t, context, image)
    assert out.shape == (2, model.config.out_channels, *size) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.std() > 0.01


@pytest.mark.parametrize("mode", list(TINY))
def test_samples_of_a_batch_do_not_interact(mode):
    model = tiny_model(mode)
    x, t, context, image = inputs(model, batch=2)
    with torch.no_grad():
        both = model(x, t, context, image)
        for i in range(2):
            alone = model(x[i:i + 1], t[i:i + 1], context[i:i + 1], None if image is None else image[i:i + 1])
            assert_close(both[i:i + 1], alone, rtol=1e-5, atol=1e-5)


def test_per_token_timesteps_that_are_all_equal_match_one_timestep_per_sample():
    model = tiny_model("ti2v")
    x, _, context, _ = inputs(model)
    t = torch.tensor([900.0, 250.0])
    with torch.no_grad():
        shared = model(x, t, context)
        per_token = model(x, t[:, None].expand(2, 3 * 3 * 5).contiguous(), context)
        first_frame_clean = model(x, first_frame_timesteps(t, (3, 3, 5)), context)
    assert_close(per_token, shared, rtol=1e-5, atol=1e-6)
    assert relative_error(first_frame_clean, shared) > 1e-3


def test_first_frame_timesteps_are_zero_exactly_on_the_first_latent_frame():
    t = first_frame_timesteps(torch.tensor([700.0, 30.0]), (3, 2, 4))
    assert t.shape == (2, 24)
    assert (t[:, :8] == 0).all() and (t[0, 8:] == 700).all() and (t[1, 8:] == 30).all()


def test_image_condition_marks_the_given_first_latent_frame_in_four_mask_channels():
    latent = torch.randn(2, 16, 3, 4, 6)
    y = image_condition(latent)
    assert y.shape == (2, 20, 3, 4, 6)
    assert (y[:, :4, 0] == 1).all() and (y[:, :4, 1:] == 0).all()
    assert torch.equal(y[:, 4:], latent)


def test_i2v_listens_to_the_image_tokens_and_takes_text_of_any_length():
    model = tiny_model("i2v")
    x, t, context, image = inputs(model, text=5)
    with torch.no_grad():
        out = model(x, t, context, image)
        other_image = model(x, t, context, torch.randn_like(image))
        longer_text = model(x, t, pad_text(context, 40), image)
    assert relative_error(other_image, out) > 1e-2
    assert longer_text.shape == out.shape


def test_text_padding_is_attended_like_the_official_model_does():
    """The official model pads to 512 tokens without a mask: pads change the output."""
    model = tiny_model("t2v")
    x, t, context, _ = inputs(model, text=5)
    padded = pad_text(context, 32)
    assert padded.shape == (2, 32, 32) and (padded[:, 5:] == 0).all() and torch.equal(padded[:, :5], context)
    with torch.no_grad():
        assert relative_error(model(x, t, padded), model(x, t, context)) > 1e-3


# ---- the official init and precision rules ----------------------------------------------------------

def test_fresh_model_follows_the_official_init_and_predicts_exactly_zero():
    torch.manual_seed(0)
    cfg = WanConfig(dim=256, ffn_dim=512, heads=4, layers=2, text_dim=64, in_channels=36, image_dim=32)
    model = WanModel(cfg)
    assert (model.head.proj.weight == 0).all() and (model.head.proj.bias == 0).all()
    for table in [model.head.modulation, *(b.modulation for b in model.blocks)]:  # randn / sqrt(dim), not zero
        assert abs(table.std().item() * math.sqrt(cfg.dim) - 1) < 0.1
    for mlp in (model.text_embedding, model.time_embedding):
        for linear in (mlp[0], mlp[2]):
            assert abs(linear.weight.std().item() - 0.02) < 0.002 and (linear.bias == 0).all()
    xavier = [model.time_projection[1], model.blocks[0].self_attn.to_q, model.blocks[1].ffn[0],
              model.blocks[0].cross_attn.to_k_img, model.image_embedding[1]]
    for linear in xavier:
        fan_out, fan_in = linear.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert linear.weight.abs().max() <= bound and linear.weight.std() > 0.9 * bound / math.sqrt(3)
        assert (linear.bias == 0).all()
    conv = model.patch_embedding.proj.weight.flatten(1)
    assert conv.abs().max() <= math.sqrt(6 / sum(conv.shape)) and conv.std() > 0.9 * math.sqrt(2 / sum(conv.shape))
    x = torch.randn(1, 36, 2, 4, 4)
    with torch.no_grad():
        out = model(x, torch.tensor([500.0]), torch.randn(1, 3, 64), torch.randn(1, 5, 32))
    assert (out == 0).all()


@pytest.mark.parametrize("mode", list(TINY))
def test_bf16_autocast_stays_close_to_float32(mode):
    """Official mixed precision: float32 weights, bf16 matmuls under autocast; time MLP, modulation,
    norms, residual and head in float32. Measured on these inputs: 3.7e-3 to 5.5e-3 relative (max error /
    max), about one bf16 ulp (2^-8 = 3.9e-3)."""
    model = tiny_model(mode)
    x, t, context, image = inputs(model)
    with torch.no_grad():
        reference = model(x, t, context, image)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            e, e0 = model.embed_time(t)
            mixed = model(x, t, context, image)
        bf16_weights = presets.build(TINY[mode], device="cpu").eval()
        bf16_weights.load_state_dict(model.state_dict())
        bf16_weights.to(torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed_weights = bf16_weights(x, t, context, image)
    error, error_weights = relative_error(mixed, reference), relative_error(mixed_weights, reference)
    print(f"\n{mode}: bf16 autocast relative error {error:.2e}, bf16 weights + autocast {error_weights:.2e}")
    assert e.dtype == e0.dtype == mixed.dtype == torch.float32
    assert 1e-5 < error < 2e-2  # bf16 rounding is visible (it did run in bf16), yet a few bf16 ulps (2^-8)
    assert 1e-5 < error_weights < 4e-2
    with pytest.raises(ValueError, match="autocast"):
        bf16_weights(x, t, context, image)


# ---- bad inputs -------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_value_errors():
    t2v, i2v, ti2v = tiny_model("t2v"), tiny_model("i2v"), tiny_model("ti2v")
    x, t, context, _ = inputs(t2v)
    xi, ti, ci, image = inputs(i2v)
    xt, tt, ct, _ = inputs(ti2v)
    cases = [
        (lambda: t2v(x[:, :15], t, context), "16"),  # wrong channels
        (lambda: i2v(xi[:, :16], ti, ci, image), "36"),  # I2V given only the noise
        (lambda: t2v(x[..., :5], t, context), "divisible"),  # W = 5 with patch 2
        (lambda: t2v(x, t, context[..., :16]), "text_dim"),  # text width mismatch
        (lambda: t2v(x, t, context[:1]), "context"),  # batch mismatch
        (lambda: i2v(xi, ti, ci), "CLIP image tokens"),  # I2V without image tokens
        (lambda: i2v(xi, ti, ci, image[..., :10]), "image_dim"),  # image width mismatch
        (lambda: t2v(x, t, context, torch.randn(2, 257, 48)), "no image branch"),  # T2V given image tokens
        (lambda: ti2v(xt, tt[:, :-1], ct), "per token"),  # TI2V timestep count mismatch
        (lambda: t2v(x, t[:1], context), r"\(B,\)"),  # one timestep for two samples
        (lambda: pad_text(context, 4), "truncate"),
        (lambda: WanModel(WanConfig(dim=62, heads=2)), "odd"),  # head_dim 31: odd RoPE width for t
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# ---- presets and the diffusers key mapping ---------------------------------------------------------

@pytest.mark.parametrize("name,frames,height,width", [("wan2.1-t2v-14b", 81, 720, 1280),
                                                      ("wan2.1-i2v-14b-480p", 81, 480, 832),
                                                      ("wan2.2-ti2v-5b", 121, 704, 1280)])
def test_full_presets_run_at_their_published_sizes_on_the_meta_device(name, frames, height, width):
    model = presets.build(name, device="meta")
    cfg, c = model.config, presets.cost(name, frames, height, width)
    x = torch.empty(1, cfg.in_channels, *c.latent_shape[1:], device="meta")
    t = torch.empty(1, c.tokens, device="meta") if name.startswith("wan2.2-ti2v") else torch.empty(1, device="meta")
    image = torch.empty(1, 257, 1280, device="meta") if cfg.image_dim else None
    out = model(x, t, torch.empty(1, 512, 4096, device="meta"), image)
    assert out.shape == (1, cfg.out_channels, *c.latent_shape[1:])


@pytest.mark.parametrize("name", ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.2-ti2v-5b",
                                  "wan2.2-i2v-a14b"])
def test_full_presets_have_the_official_parameter_counts(name):
    assert presets.count_params(name) == presets.get(name).expected_params


def test_published_counts_and_tiny_counts():
    expected = {"wan2.1-t2v-1.3b": 1_418_996_800, "wan2.1-t2v-14b": 14_288_491_584,
                "wan2.1-i2v-14b-480p": 16_394_878_784, "wan2.2-ti2v-5b": 4_999_787_712,
                # the tiny peer configs of test_wan_parity.py (T2V, I2V, TI2V)
                "wan2.1-t2v-tiny": 161_536, "wan2.1-i2v-tiny": 189_136, "wan2.2-ti2v-tiny": 178_048}
    assert {name: presets.count_params(name) for name in expected} == expected


@pytest.mark.parametrize("name", ["wan2.1-i2v-14b-480p", "wan2.2-ti2v-5b", "wan2.1-i2v-tiny"])
def test_state_dict_mapping_is_one_to_one_and_round_trips(name):
    cfg = presets.WAN_CONFIGS[name]
    names = key_map(cfg)
    assert len(set(names.values())) == len(names)
    state = presets.build(name, device="meta").state_dict()
    there = minivid_to_diffusers(state, cfg)
    assert "blocks.0.norm2.weight" in there and "scale_shift_table" in there  # official norm3 = diffusers norm2
    back = diffusers_to_minivid(there, cfg)
    assert list(back) == list(state) and all(back[k] is state[k] for k in state)
    with pytest.raises(ValueError, match="missing"):
        diffusers_to_minivid({k: v for k, v in there.items() if k != "proj_out.bias"}, cfg)


# ---- sampling ---------------------------------------------------------------------------------------

def sample(model, **kwargs):
    g = torch.Generator().manual_seed(5)
    context, null = torch.randn(2, 6, 32, generator=g), torch.randn(1, 3, 32, generator=g)
    args = dict(null_context=null, latent_size=(2, 4, 6), num_steps=3, shift=5.0, guidance_scale=4.0, seed=0,
                text_len=16)
    return sample_t2v(model, context, **{**args, **kwargs})


def test_sampling_is_deterministic_given_a_seed_and_has_the_latent_shape():
    model = tiny_model("t2v")
    a, b, other = sample(model), sample(model), sample(model, seed=1)
    assert a.shape == (2, 16, 2, 4, 6) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b) and relative_error(other, a) > 1e-2


def test_guidance_scale_one_equals_sampling_without_guidance():
    model = tiny_model("t2v")
    guided_once = sample(model, guidance_scale=1.0)
    unguided = sample(model, null_context=None)
    assert_close(guided_once, unguided, rtol=1e-5, atol=1e-5)
    assert relative_error(sample(model), unguided) > 1e-2  # scale 4 does change the sample


def test_sampling_under_bf16_autocast_stays_close():
    model = tiny_model("t2v")
    assert relative_error(sample(model, autocast_dtype=torch.bfloat16), sample(model)) < 5e-2


def test_sampling_runs_unchanged_at_full_size_on_the_meta_device():
    """The 1.3B model at 81x480x832 with guidance and bf16 autocast: shapes only, no memory, no compute."""
    model = presets.build("wan2.1-t2v-1.3b", device="meta")
    out = sample_t2v(model, torch.randn(1, 20, 4096), torch.randn(1, 5, 4096), latent_size=latent_size(81, 480, 832),
                     num_steps=1, autocast_dtype=torch.bfloat16)
    assert out.shape == (1, 16, 21, 60, 104) and out.device.type == "meta"


def test_sampling_refuses_image_conditioned_models():
    with pytest.raises(ValueError, match="text-to-video"):
        sample(tiny_model("i2v"))
