"""minivid `WanModel` == diffusers `WanTransformer3DModel` on random weights (fp32), for T2V, Wan2.1 I2V
and Wan2.2 TI2V; the converter and `from_pretrained` on folders written by diffusers' `save_pretrained`.

Tiny configs (2 heads x 32, 2 layers, the scale of diffusers' own tests); every constant-initialised parameter (norm weights = 1,
LayerNorm biases = 0) is jittered first so that a dropped or swapped affine is caught. The sinusoid
differs slightly: minivid takes it in float64 as the official code does, diffusers in float32.
"""
import pytest
import torch

from minivid.interop.wan import (config_from_diffusers, config_to_diffusers, from_diffusers, from_pretrained,
                                 to_diffusers)
from minivid.models.wan import first_frame_timesteps, image_condition, pad_text

diffusers = pytest.importorskip("diffusers")

TOLERANCE = 1e-5  # max |minivid - diffusers| / max |diffusers|
TINY = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=128, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
MODES = {"t2v": {}, "i2v": dict(in_channels=36, image_dim=48, added_kv_proj_dim=64),
         "ti2v": dict(in_channels=48, out_channels=48)}
# (batch, latent T, H, W): odd grids (3x6x10 latents -> 3x3x5 tokens), one latent frame, 5+ frames, batch 2
SHAPES = [(1, 3, 6, 10), (2, 5, 4, 8), (1, 1, 8, 8), (2, 7, 2, 6)]



def diffusers_model(mode: str, seed: int = 0):
    torch.manual_seed(seed)
    model = diffusers.WanTransformer3DModel(**{**TINY, **MODES[mode]}).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.unique().numel() == 1:  # constant init: norm weights, LayerNorm biases
                p.add_(0.1 * torch.randn_like(p))
    return model


def case_inputs(mode, batch, frames, h, w, seed=2):
    """Inputs built the way each pipeline builds them (I2V: mask + image latent channels; TI2V: t=0 on frame 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 16 if mode != "ti2v" else 48, frames, h, w, generator=g)
    t = torch.tensor([937.5, 81.25][:batch])
    image = None
    if mode == "i2v":
        x = torch.cat([x, image_condition(torch.randn(batch, 16, frames, h, w, generator=g))], dim=1)
        image = torch.randn(batch, 257, 48, generator=g)
    if mode == "ti2v" and frames > 1:
        t = first_frame_timesteps(t, (frames, h // 2, w // 2))
    elif mode == "ti2v":  # a single frame would be all clean tokens: use random per-token timesteps instead
        t = torch.rand(batch, h * w // 4, generator=g) * 1000
    context = torch.randn(batch, 11, 32, generator=g)
    return x, t, context, image


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("mode", list(MODES))
def test_minivid_matches_diffusers(mode):
    theirs = diffusers_model(mode)
    ours = from_diffusers(theirs).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    for shape in SHAPES:
        x, t, context, image = case_inputs(mode, *shape)
        if mode == "i2v":  # diffusers finds the text as "the last 512 tokens": give it exactly 512
            context = pad_text(context, 512)
        with torch.no_grad():
            expected = theirs(x, t, context, encoder_hidden_states_image=image).sample
            got = ours(x, t, context, image)
        error = relative_error(got, expected)
        print(f"\nparity {mode} x{tuple(x.shape)} t{tuple(t.shape)}: max abs {(got - expected).abs().max():.2e}, "
              f"relative {error:.2e}")
        assert got.shape == expected.shape
        assert error <= TOLERANCE


def test_diffusers_missplits_i2v_text_shorter_than_512_tokens_and_minivid_does_not():
    """diffusers glues `[image 257; text 11]` and cuts at `268 - 512 = -244`: the image branch gets the
    first 24 image tokens, the text branch the other 233 image tokens plus the text, all without an error.
    minivid keeps the two apart, so an unpadded prompt is simply a shorter prompt."""
    theirs = diffusers_model("i2v")
    ours = from_diffusers(theirs).eval()
    x, t, context, image = case_inputs("i2v", 1, 3, 6, 10)
    with torch.no_grad():
        theirs_short = theirs(x, t, context, encoder_hidden_states_image=image).sample
        ours_short = ours(x, t, context, image)
        theirs_padded = theirs(x, t, pad_text(context, 512), encoder_hidden_states_image=image).sample
        ours_padded = ours(x, t, pad_text(context, 512), image)
    short, padded = relative_error(ours_short, theirs_short), relative_error(ours_padded, theirs_padded)
    print(f"\ni2v diffusers vs minivid: text of 11 tokens relative {short:.2e}; padded to 512: {padded:.2e}")
    assert padded <= TOLERANCE
    assert short > 1e-2


@pytest.mark.parametrize("mode", list(MODES))
def test_converter_round_trips_through_diffusers(mode):
    theirs = diffusers_model(mode)
    assert config_to_diffusers(config_from_diffusers(theirs.config)) == {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in theirs.config.items()
        if k in config_to_diffusers(config_from_diffusers(theirs.config))}
    back = to_diffusers(from_diffusers(theirs)).state_dict()
    original = theirs.state_dict()
    assert list(back) == list(original)
    assert all(torch.equal(back[k], original[k]) for k in original)


@pytest.mark.parametrize("sharded", [False, True])
def test_from_pretrained_reads_a_diffusers_folder(tmp_path, sharded):
    theirs = diffusers_model("i2v")
    theirs.save_pretrained(tmp_path, max_shard_size="100KB" if sharded else "10GB")
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").exists() == sharded
    ours = from_pretrained(tmp_path).eval()
    x, t, context, image = case_inputs("i2v", 1, 3, 6, 10)
    context = pad_text(context, 512)
    with torch.no_grad():
        expected = theirs(x, t, context, encoder_hidden_states_image=image).sample
        error = relative_error(ours(x, t, context, image), expected)
    assert ours.config == config_from_diffusers(theirs.config) and error <= TOLERANCE


def test_from_pretrained_explains_a_wrong_folder(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="safetensors"):
        from_pretrained(tmp_path)
