"""minivid.presets.cost: latent shapes and token counts at real sizes, and FLOP formulas that equal a
direct count (torch.utils.flop_counter) on the tiny models."""
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import minivid.presets as presets
from minivid.models.wan import first_frame_timesteps


@pytest.mark.parametrize("name", ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b"])
def test_81_frames_at_480x832_are_32760_tokens(name):
    c = presets.cost(name, 81, 480, 832)
    assert c.latent_shape == (16, 21, 60, 104) and c.token_grid == (21, 30, 52) and c.tokens == 32_760
    assert c.params == presets.get(name).expected_params
    assert c.weight_bytes == {"float32": 4 * c.params, "bfloat16": 2 * c.params, "float8": c.params}


def test_ti2v_5b_compresses_16x_in_space_and_a_single_frame_is_one_latent_frame():
    video = presets.cost("wan2.2-ti2v-5b", 121, 704, 1280)
    assert video.latent_shape == (48, 31, 44, 80) and video.tokens == 31 * 22 * 40
    image = presets.cost("wan2.1-t2v-14b", 1, 480, 832)
    assert image.latent_shape == (16, 1, 60, 104) and image.tokens == 30 * 52


def test_attention_grows_quadratically_and_linear_layers_linearly_with_tokens():
    small, large = presets.cost("wan2.1-t2v-1.3b", 81, 480, 832), presets.cost("wan2.1-t2v-1.3b", 81, 720, 1280)
    ratio = large.tokens / small.tokens  # 75,600 / 32,760
    assert ratio ** 2 * 0.95 < large.flops_attention / small.flops_attention < ratio ** 2
    assert ratio * 0.95 < large.flops_linear / small.flops_linear < ratio
    assert large.flops_attention / large.flops > small.flops_attention / small.flops > 0.5
    assert small.attention_matrix_bytes == 12 * 32_760**2 * 2  # heads x L x L in bf16


@pytest.mark.parametrize("name,height,width", [("wan2.1-t2v-tiny", 32, 48), ("wan2.1-i2v-tiny", 48, 32),
                                               ("wan2.2-ti2v-tiny", 64, 96)])
def test_flop_formula_equals_a_direct_count_on_the_tiny_model(name, height, width):
    """2 FLOPs per multiply-add: Linear (addmm) + patch Conv3d vs `flops_linear`; QKᵀ and AV (bmm, with the
    math SDPA backend so that the counter sees them) vs `flops_attention`. 512 text tokens, 257 CLIP tokens."""
    c = presets.cost(name, 9, height, width)
    model = presets.build(name, device="cpu").eval()
    cfg = model.config
    x = torch.randn(1, cfg.in_channels, *c.latent_shape[1:])
    t = torch.tensor([500.0])
    if name.startswith("wan2.2-ti2v"):
        t = first_frame_timesteps(t, c.token_grid)
    image = torch.randn(1, 257, cfg.image_dim) if cfg.image_dim else None
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, t, torch.randn(1, 512, cfg.text_dim), image)
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert set(counts) == {"aten.convolution", "aten.addmm", "aten.bmm"}
    assert counts["aten.convolution"] + counts["aten.addmm"] == c.flops_linear
    assert counts["aten.bmm"] == c.flops_attention


def test_cost_rejects_sizes_the_vae_or_the_patch_cannot_take():
    for frames, height, width, message in [(80, 480, 832, "1 \\+ 4n frames; use 77 or 81"),
                                           (81, 484, 832, "multiple of 16; use 480 or 496"),
                                           (81, 488, 832, "multiple of 16; use 480 or 496")]:
        with pytest.raises(ValueError, match=message):
            presets.cost("wan2.1-t2v-1.3b", frames, height, width)
    with pytest.raises(ValueError, match="no cost model"):
        presets.cost("wan2.1-vae", 81, 480, 832)


def test_parameter_breakdown_adds_up_to_the_exact_count_and_names_a_parameter_no_group_takes():
    groups = {"blocks": ("blocks.",), "everything else": ("",)}  # "" is in every name: the catch-all
    counts = presets.parameter_breakdown("wan2.1-t2v-1.3b", groups)
    assert sum(counts.values()) == presets.count_params("wan2.1-t2v-1.3b") == 1_418_996_800
    assert counts["blocks"] > 0.9 * sum(counts.values())
    with pytest.raises(ValueError, match=r"wan2.1-t2v-1.3b: parameter 'patch_embedding.proj.weight' is in none of the groups"):
        presets.parameter_breakdown("wan2.1-t2v-1.3b", {"blocks": ("blocks.",)})
