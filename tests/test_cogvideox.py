"""minivid.models.cogvideox: the joint text-video sequence, expert adaLN, positions by release, presets."""
import pytest
import torch
from torch.testing import assert_close

import minivid.presets as presets
from minivid.models.cogvideox import CogVideoXBlock, CogVideoXModel, gate_experts, modulate_experts


def jittered(name: str, seed: int = 0) -> CogVideoXModel:
    torch.manual_seed(seed)
    model = presets.build(name, "cpu").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_every_block_is_the_identity_at_init():
    """Expert adaLN starts at zero: every gate is 0, whatever the tokens and the time."""
    cfg = presets.COGVIDEOX_CONFIGS["cogvideox-5b-tiny"]
    block = CogVideoXBlock(cfg)
    CogVideoXModel(cfg)  # (the model's init zeroes its blocks' modulation too)
    torch.nn.init.zeros_(block.modulation[-1].weight), torch.nn.init.zeros_(block.modulation[-1].bias)
    x = torch.randn(2, 7 + 12, cfg.dim)
    assert torch.equal(block(x, torch.randn(2, cfg.time_embed_dim), 7, None), x)
    model = CogVideoXModel(cfg)
    assert all(torch.equal(b.modulation[-1].weight, torch.zeros_like(b.modulation[-1].weight)) for b in model.blocks)


def test_expert_adaln_gives_text_tokens_the_text_modulation_and_video_tokens_the_video_one():
    h = torch.randn(2, 3 + 5, 8)
    text, video = torch.randn(2, 2, 1, 8), torch.randn(2, 2, 1, 8)  # (shift, scale) B 1 D each
    out = modulate_experts(h, 3, text, video)
    assert out.shape == h.shape
    assert torch.equal(out[:, 2], h[:, 2] * (1 + text[1, :, 0]) + text[0, :, 0])
    assert torch.equal(out[:, 3], h[:, 3] * (1 + video[1, :, 0]) + video[0, :, 0])
    gated = gate_experts(h, 3, text[0], video[0])
    assert torch.equal(gated[:, 2], h[:, 2] * text[0, :, 0]) and torch.equal(gated[:, 3], h[:, 3] * video[0, :, 0])


def test_text_comes_first_and_only_the_video_tokens_come_out():
    model = jittered("cogvideox-5b-tiny")
    x, context = torch.randn(1, 3, 16, 8, 8), torch.randn(1, 5, 32)
    seen = {}
    model.blocks[0].register_forward_pre_hook(lambda m, args: seen.update(tokens=args[0]))
    with torch.no_grad():
        out = model(x, 500, context)
    assert out.shape == x.shape and seen["tokens"].shape[1] == 5 + 3 * 4 * 4
    assert_close(seen["tokens"][:, :5], model.text_projection(context))  # RoPE models add nothing to the text


def test_rope_turns_video_tokens_only():
    """Moving the text tokens' content into another grid changes nothing about how the text is rotated: the
    angles of the first Lt tokens are all zero."""
    model = jittered("cogvideox-5b-tiny")
    tokens = torch.zeros(1, 4 + 2 * 3 * 3, model.config.dim)
    _, rope = model.positions(tokens, (2, 3, 3), text_len=4)
    assert torch.equal(rope[:4], torch.zeros_like(rope[:4])) and rope[4:].abs().sum() > 0


def test_every_text_token_sees_every_video_token_and_back():
    """Full joint attention: a change in one text token reaches every video token, and the other way."""
    model = jittered("cogvideox-2b-tiny")
    x, context = torch.randn(1, 2, 16, 8, 8), torch.randn(1, 16, 32)
    with torch.no_grad():
        before = model(x, 300, context)
        changed = context.clone()
        changed[:, 3] += 1
        after = model(x, 300, changed)
    assert ((after - before).abs().sum(dim=2) > 0).all()  # every frame, every pixel moved


def test_a_timestep_number_a_0d_tensor_and_float64_inputs_are_accepted():
    model = jittered("cogvideox-5b-tiny")
    x, context = torch.randn(2, 2, 16, 8, 8), torch.randn(2, 4, 32)
    with torch.no_grad():
        expected = model(x, torch.tensor([250, 250]), context)
        for t in (250, 250.0, torch.tensor(250)):
            assert_close(model(x, t, context), expected, rtol=0, atol=0)
        assert_close(model(x.double(), 250, context.double()), expected)


@pytest.mark.parametrize("name,frames,height,width,tokens", [
    ("cogvideox-2b", 49, 480, 720, 17_550), ("cogvideox-5b", 49, 480, 720, 17_550),
    ("cogvideox-5b-i2v", 49, 480, 720, 17_550), ("cogvideox1.5-5b", 85, 768, 1360, 11 * 48 * 85)])
def test_full_presets_run_on_the_meta_device_at_their_published_sizes(name, frames, height, width, tokens):
    model = presets.build(name)
    cfg = model.config
    c = presets.cost(name, frames, height, width)
    assert c.tokens == tokens
    latent = torch.empty(1, c.latent_shape[1], cfg.in_channels, *c.latent_shape[2:], device="meta")  # B F C H W
    out = model(latent, torch.empty(1, device="meta"), torch.empty(1, cfg.text_length, 4096, device="meta"),
                ofs=None)
    assert out.shape == (1, c.latent_shape[1], cfg.out_channels, *c.latent_shape[2:])
