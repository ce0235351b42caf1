"""minivid.models.dit: identity at init, the official forward written out, the four conditionings,
label dropout, classifier-free guidance (both forms), input errors, presets.

Parity with diffusers and the converter are in test_dit_parity.py.
"""
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minivid.presets as presets
from minivid.diffusion.guidance import cfg_model
from minivid.models.dit import CONDITIONINGS, DiT, DiTConfig

TINY = DiTConfig(input_size=16, hidden_size=64, depth=2, num_heads=2)



def tiny_dit(conditioning="adaln_zero", seed=0, perturb=True, dtype=torch.float64, **changes) -> DiT:
    """The tiny DiT; with `perturb`, every parameter moves off its init (zero modulation, zero head, unit LNs)."""
    torch.manual_seed(seed)
    model = DiT(dataclasses.replace(TINY, conditioning=conditioning, **changes)).to(dtype).eval()
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(batch=2, height=16, width=16, channels=4, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height, width, generator=g, dtype=dtype)
    t = torch.tensor([999, 3, 500, 0][:batch])
    y = torch.tensor([207, 1000, 5, 999][:batch])  # 1000 = the null label
    return x, t, y


# ---- adaLN-Zero at init --------------------------------------------------------------------------------

def test_adaln_zero_blocks_are_the_identity_and_the_model_outputs_zero_at_init():
    model = tiny_dit(perturb=False)
    x, t, y = inputs()
    tokens = torch.randn(2, 64, 64, dtype=torch.float64)
    c, cond_tokens = torch.randn(2, 64, dtype=torch.float64), torch.randn(2, 2, 64, dtype=torch.float64)
    with torch.no_grad():
        for block in model.blocks:
            assert torch.equal(block(tokens, c, cond_tokens), tokens)
        out = model(x, t, y)
    assert out.shape == (2, 8, 16, 16)
    assert torch.equal(out, torch.zeros_like(out))


def test_at_init_only_the_head_linear_gets_a_gradient():
    """Zero head weight → no gradient reaches anything before it on the first step (adaLN-Zero's price)."""
    model = tiny_dit(perturb=False).train()
    x, t, y = inputs()
    model(x, t, y).sum().backward()
    for name, p in model.named_parameters():
        moved = p.grad is not None and p.grad.abs().max() > 0
        assert moved == name.startswith("final_layer.linear."), name


@pytest.mark.parametrize("conditioning", ["adaln", "cross_attention", "in_context"])
def test_the_other_conditionings_do_not_start_at_zero(conditioning):
    model = tiny_dit(conditioning, perturb=False)
    with torch.no_grad():
        out = model(*inputs())
    assert out.abs().max() > 1e-3
    if conditioning == "adaln":
        assert model.blocks[0].adaLN_modulation[-1].weight.abs().max() > 0


# ---- the official forward, written out ------------------------------------------------------------------

def official_pos_embed(dim: int, grid: int) -> np.ndarray:
    """MAE / DiT `get_2d_sincos_pos_embed` in numpy: meshgrid(w, h), so the first half of channels is w."""
    def table_1d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        angles = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    coords = np.arange(grid, dtype=np.float32)
    mesh = np.stack(np.meshgrid(coords, coords), axis=0)  # mesh[0] varies along w
    return np.concatenate([table_1d(dim // 2, mesh[0]), table_1d(dim // 2, mesh[1])], axis=1)


def official_forward(model: DiT, x, t, y):
    """facebookresearch/DiT `DiT.forward` re-derived with plain tensor ops on minivid's weights."""
    cfg, w = model.config, dict(model.named_parameters())
    p, d, heads = cfg.patch_size, cfg.hidden_size, cfg.num_heads

    def linear(v, name):
        return v @ w[name + ".weight"].T + w[name + ".bias"]

    def layer_norm(v, eps=1e-6):
        return (v - v.mean(-1, keepdim=True)) / torch.sqrt(v.var(-1, unbiased=False, keepdim=True) + eps)

    def modulate(v, shift, scale):
        return v * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)

    n, _, height, width = x.shape
    tokens = F.conv2d(x, w["x_embedder.weight"], w["x_embedder.bias"], stride=p).flatten(2).transpose(1, 2)
    tokens = tokens + torch.from_numpy(official_pos_embed(d, height // p)).float().to(x)  # stored as fp32
    freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32) / 128)
    args = t[:, None].float() * freqs[None]
    t_freq = torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(x)
    t_emb = linear(F.silu(linear(t_freq, "t_embedder.mlp.0")), "t_embedder.mlp.2")
    c = t_emb + w["y_embedder.embedding_table.weight"][y]
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        mods = linear(F.silu(c), b + "adaLN_modulation.1").chunk(6, dim=1)
        h = modulate(layer_norm(tokens), mods[0], mods[1])
        q, k, v = (linear(h, b + f"attn.to_{name}").reshape(n, -1, heads, d // heads).transpose(1, 2)
                   for name in "qkv")
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // heads), dim=-1) @ v
        tokens = tokens + mods[2].unsqueeze(1) * linear(attn.transpose(1, 2).reshape(n, -1, d), b + "attn.to_out")
        h = modulate(layer_norm(tokens), mods[3], mods[4])
        mlp = linear(F.gelu(linear(h, b + "mlp.0"), approximate="tanh"), b + "mlp.2")
        tokens = tokens + mods[5].unsqueeze(1) * mlp
    shift, scale = linear(F.silu(c), "final_layer.adaLN_modulation.1").chunk(2, dim=1)
    out = linear(modulate(layer_norm(tokens), shift, scale), "final_layer.linear")
    g, ch = height // p, cfg.out_channels
    out = torch.einsum("nhwpqc->nchpwq", out.reshape(n, g, g, p, p, ch))
    return out.reshape(n, ch, g * p, g * p)


def test_forward_equals_the_official_formulas():
    """Official conventions: cos|sin over 128 frequencies, eps 1e-6 everywhere, integer positions, w first."""
    model = tiny_dit()
    x, t, y = inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, y), official_forward(model, x, t, y), rtol=1e-10, atol=1e-10)


def test_pos_embed_is_the_official_table_and_no_parameter():
    model = tiny_dit()
    torch.testing.assert_close(model.pos_embed(8, 8), torch.from_numpy(official_pos_embed(64, 8)).float(),
                               rtol=0, atol=1e-6)
    assert not any("pos" in name for name in model.state_dict())


# ---- conditioning strategies ---------------------------------------------------------------------------

@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_every_conditioning_reads_both_the_timestep_and_the_label(conditioning):
    model = tiny_dit(conditioning)
    x, t, y = inputs()
    with torch.no_grad():
        out = model(x, t, y)
        assert out.shape == (2, 8, 16, 16)
        assert (model(x, t + 10, y) - out).abs().amax(dim=(1, 2, 3)).min() > 1e-4
        assert (model(x, t, torch.tensor([1, 2])) - out).abs().amax(dim=(1, 2, 3)).min() > 1e-4


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_samples_in_a_batch_do_not_interact(conditioning):
    model = tiny_dit(conditioning)
    x, t, y = inputs(batch=3)
    with torch.no_grad():
        whole = model(x, t, y)
        for i in range(3):
            torch.testing.assert_close(model(x[i:i + 1], t[i:i + 1], y[i:i + 1]), whole[i:i + 1])


def test_each_conditioning_has_only_its_own_modules():
    blocks = {c: tiny_dit(c).blocks[0] for c in CONDITIONINGS}
    assert blocks["adaln_zero"].adaLN_modulation[-1].out_features == 6 * 64  # shift, scale, gate x2
    assert blocks["adaln"].adaLN_modulation[-1].out_features == 4 * 64  # no gates
    for c in ("cross_attention", "in_context"):
        assert not hasattr(blocks[c], "adaLN_modulation")
        assert blocks[c].norm1.weight is not None  # affine LN: nothing else scales the tokens
    assert hasattr(blocks["cross_attention"], "cross_attn") and not hasattr(blocks["in_context"], "cross_attn")


def test_in_context_tokens_are_attended_and_then_dropped():
    """The two condition tokens sit in front of the patch tokens during the blocks only."""
    model = tiny_dit("in_context")
    seen = []
    model.blocks[0].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    with torch.no_grad():
        out = model(*inputs())
    assert seen == [(2, 2 + 64, 64)] and out.shape == (2, 8, 16, 16)


# ---- labels, learn_sigma, sizes ------------------------------------------------------------------------

def test_label_table_has_a_null_row_and_training_drops_labels_to_it():
    model = tiny_dit(class_dropout_prob=1.0)
    assert model.y_embedder.embedding_table.num_embeddings == 1001
    x, t, y = inputs()
    null = torch.full_like(y, 1000)
    with torch.no_grad():
        unconditional, conditional = model(x, t, null), model(x, t, y)
        model.train()
        torch.testing.assert_close(model(x, t, y), unconditional)  # p = 1: every label dropped
        model.eval()
        torch.testing.assert_close(model(x, t, y), conditional)  # never at inference
        forced = model(x, t, y, force_drop=torch.tensor([True, False]))
    torch.testing.assert_close(forced, torch.cat([unconditional[:1], conditional[1:]]))


def test_label_dropout_rate_is_the_configured_probability():
    model = tiny_dit(perturb=False).train()
    torch.manual_seed(0)
    labels = torch.zeros(20000, dtype=torch.long)
    with torch.no_grad():
        kept = model.y_embedder(labels, train=True)
    dropped = (kept == model.y_embedder.embedding_table.weight[1000]).all(dim=1).float().mean().item()
    assert abs(dropped - 0.1) < 0.01


@pytest.mark.parametrize("learn_sigma,channels", [(True, 8), (False, 4)])
def test_learn_sigma_doubles_the_output_channels(learn_sigma, channels):
    with torch.no_grad():
        assert tiny_dit(learn_sigma=learn_sigma)(*inputs()).shape == (2, channels, 16, 16)


@pytest.mark.parametrize("height,width", [(16, 24), (8, 32), (2, 2)])
def test_any_latent_size_divisible_by_the_patch_works(height, width):
    """Non-square too (the official model knows one size; diffusers' unpatchify assumes a square)."""
    model = tiny_dit()
    x, t, y = inputs(height=height, width=width)
    with torch.no_grad():
        assert model(x, t, y).shape == (2, 8, height, width)
    assert model.pos_embed(height // 2, width // 2).shape == (height * width // 4, 64)


# ---- classifier-free guidance ---------------------------------------------------------------------------

def official_forward_with_cfg(model, x, t, y, scale):
    """facebookresearch/DiT `forward_with_cfg`: a doubled batch in and out, guidance on channels :3."""
    half = x[: len(x) // 2]
    out = model(torch.cat([half, half]), t, y)
    eps, rest = out[:, :3], out[:, 3:]
    cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
    half_eps = uncond_eps + scale * (cond_eps - uncond_eps)
    return torch.cat([torch.cat([half_eps, half_eps]), rest], dim=1)


def guided(model, y, scale, guided_channels=None):
    """Guidance for DiT through the one CFG implementation, `minivid.diffusion.cfg_model`."""
    null = torch.full_like(y, model.config.num_classes)
    return cfg_model(model, y, null, scale, guided_channels=guided_channels)


def test_cfg_guides_every_noise_channel_by_default():
    model = tiny_dit()
    x, t, y = inputs()
    null = torch.full_like(y, 1000)
    with torch.no_grad():
        out = guided(model, y, 4.0, guided_channels=4)(x, t)
        cond, uncond = model(x, t, y), model(x, t, null)
        torch.testing.assert_close(out[:, :4], uncond[:, :4] + 4.0 * (cond[:, :4] - uncond[:, :4]))
        torch.testing.assert_close(out[:, 4:], cond[:, 4:])  # learned sigma: from the conditional branch
        torch.testing.assert_close(guided(model, y, 1.0)(x, t), cond)


def test_cfg_reproduces_the_official_three_channel_quirk():
    model = tiny_dit()
    x, t, y = inputs()
    null = torch.full_like(y, 1000)
    with torch.no_grad():
        ours = guided(model, y, 4.0, guided_channels=3)(x, t)
        official = official_forward_with_cfg(model, torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]), 4.0)
        torch.testing.assert_close(ours, official[:2])
        torch.testing.assert_close(ours[:, 3], model(x, t, y)[:, 3])  # the 4th latent channel goes unguided
        assert (ours[:, 3] - guided(model, y, 4.0, guided_channels=4)(x, t)[:, 3]).abs().max() > 1e-3


# ---- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,t,y,match", [
    ((2, 3, 16, 16), [1, 2], [1, 2], "latent"),  # wrong channels
    ((2, 4, 16), [1, 2], [1, 2], "latent"),  # not B C H W
    ((2, 4, 15, 16), [1, 2], [1, 2], "multiples of the patch"),
    ((2, 4, 16, 16), [1, 2], [1, 1001], r"labels must be in \[0, 1000\]"),
    ((2, 4, 16, 16), [1, 2], [-1, 3], r"labels must be in \[0, 1000\]"),
    ((2, 4, 16, 16), [1, 2], [1.0, 2.0], "integer class labels"),
    ((2, 4, 16, 16), [1], [1, 2], r"t must have shape \(B,\)"),
    ((2, 4, 16, 16), [1, 2], [1, 2, 3], r"y must have shape \(B,\)"),
])
def test_bad_inputs_raise_clear_errors(x_shape, t, y, match):
    model = tiny_dit(perturb=False)
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(x_shape, dtype=torch.float64), torch.tensor(t), torch.tensor(y))


def test_bad_configs_and_guidance_arguments_raise():
    with pytest.raises(ValueError, match="conditioning must be one of"):
        DiTConfig(conditioning="adaln_single")
    with pytest.raises(ValueError, match="num_heads"):
        DiTConfig(hidden_size=66, num_heads=4)
    with pytest.raises(ValueError, match="guided_channels"):
        x, t, y = inputs()
        guided(tiny_dit(perturb=False), y, 2.0, guided_channels=9)(x, t)


# ---- presets ---------------------------------------------------------------------------------------------

def test_dit_xl_2_has_the_official_parameter_count():
    """674,834,720 trainable; the official frozen pos_embed parameter adds 256 x 1152 = 294,912 (675.13M)."""
    assert presets.get("dit-xl-2").expected_params == 674_834_720
    assert presets.count_params("dit-xl-2") == 674_834_720
    model = presets.build("dit-xl-2")
    assert model.pos_embed(16, 16).numel() == 294_912
    assert presets.count_params("dit-xl-2") + 294_912 == 675_129_632


def test_dit_tiny_preset_runs():
    model = presets.build("dit-tiny", device="cpu").eval()
    assert model.config == TINY
    with torch.no_grad():
        assert model(*inputs(dtype=torch.float32)).shape == (2, 8, 16, 16)


def test_forward_runs_on_the_meta_device_for_shape_and_flop_accounting():
    model = DiT(DiTConfig(depth=2, hidden_size=64, num_heads=2, input_size=16, num_classes=10)).to("meta")
    x, t, y = torch.empty(2, 4, 16, 16, device="meta"), torch.empty(2, device="meta"), torch.empty(
        2, dtype=torch.long, device="meta")
    assert model(x, t, y).shape == (2, 8, 16, 16)
