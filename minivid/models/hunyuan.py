"""The HunyuanVideo diffusion transformer (Tencent-Hunyuan/HunyuanVideo `hyvideo/modules/models.py`,
`token_refiner.py`, `posemb_layers.py`; diffusers `HunyuanVideoTransformer3DModel`).

    text B Lt 4096 --TokenRefiner (2 blocks, masked)--> B Lt D ------------+
    latents B C F H W --patch 1x2x2--> B Lv D --+                           |
                                                +--> 20 x DoubleStreamBlock: video and text keep their own
                                                |       weights, attend jointly over [video ; text]
                                                +--> 40 x SingleStreamBlock: one sequence [video ; text],
                                                        shared weights, attention and MLP in parallel
                                     video tokens --> FinalLayer --> velocity B C F H W
    vec B D = time_in(t) + vector_in(CLIP pooled) (+ guidance_in(guidance)): the adaLN condition everywhere

What sets it apart from Wan (cross-attention) and CogVideoX (one sequence from the first block):
- **MM-DiT in two phases.** The double-stream blocks give text and video separate modulation, QKV, qk-norm,
  output projection and MLP (the two modalities start far apart), joined only inside attention; the
  single-stream blocks then treat [video ; text] as one sequence with one set of weights (cheaper per
  parameter once the streams are aligned). The joint order is **video first, then text** (CogVideoX: text
  first).
- The single-stream block is the "parallel" layout: `linear1` makes q, k, v and the MLP input in one
  matmul, `linear2` maps [attention ; GELU(MLP)] back, and one gate scales their sum.
- RoPE on video tokens only, axes (t, h, w) = 16/56/56 of the 128-wide head, θ = 256, adjacent pairs.
- The text goes through a **token refiner** first (`SingleTokenRefiner`): a Linear to D and two masked
  self-attention blocks whose only adaLN is a zero-initialised gate pair, conditioned on time + the masked
  mean of the text (the refiner starts as the identity after its input Linear).
- **Padding.** The official code runs varlen flash-attention with two segments per sample, [video + valid
  text] and [text padding] (`attenion.py : get_cu_seqlens`): padding never reaches a real token, and pads
  attend only to pads. `joint_attention` does the same with SDPA masks. Both read the mask as a *length*
  (valid tokens first, as the tokenizer pads on the right).
- **CFG distillation.** The released T2V model (`HYVideo-T/2-cfgdistill`) embeds the guidance scale
  (`guidance_in`, passed as scale × 1000) and runs one forward pass per step instead of two.
- I2V: `"latent_concat"` (33 channels = noise 16 | image latent 16 | mask 1, no guidance embedding) or
  `"token_replace"` (16 channels: the first latent frame is the clean image, and its tokens are modulated
  with the embedding of t = 0 — the same weights, a second set of modulation vectors).

Layout `B C F H W`, like Wan. Timesteps are σ·1000 (flow matching), as in Wan.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from einops import rearrange
from torch import Tensor, nn

from minivid.layers.attention import attention, make_qk_norm, merge_heads, split_heads
from minivid.layers.embed import PatchEmbed3d, patch_grid, per_sample, timestep_embedding, unpatchify
from minivid.layers.norm import gate_split, modulate, modulate_split
from minivid.layers.rope import ROPE_THETA, apply_rope, check_rope_dims, rope_3d

IMAGE_CONDITIONS = (None, "latent_concat", "token_replace")
FREQUENCY_DIM = 256  # width of the sinusoid every timestep / guidance embedder starts from


@dataclass(frozen=True)
class HunyuanVideoConfig:
    heads: int = 24
    head_dim: int = 128
    double_layers: int = 20  # MMDoubleStreamBlock
    single_layers: int = 40  # MMSingleStreamBlock
    refiner_layers: int = 2  # IndividualTokenRefinerBlock
    mlp_ratio: float = 4.0
    in_channels: int = 16  # 33 for latent_concat I2V
    out_channels: int = 16
    patch: int = 2
    patch_t: int = 1
    text_dim: int = 4096  # the MLLM's hidden states
    pooled_dim: int = 768  # CLIP-L's pooled vector
    guidance_embed: bool = True  # HYVideo-T/2-cfgdistill
    rope_axes: tuple[int, int, int] = (16, 56, 56)
    rope_theta: float = ROPE_THETA["hunyuanvideo"]
    image_condition: str | None = None

    def __post_init__(self):
        if self.image_condition not in IMAGE_CONDITIONS:
            raise ValueError(f"image_condition must be one of {IMAGE_CONDITIONS}; got {self.image_condition!r}")
        check_rope_dims(self.rope_axes, self.head_dim)

    @property
    def dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def mlp_dim(self) -> int:
        return int(self.dim * self.mlp_ratio)

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return (self.patch_t, self.patch, self.patch)


def mlp(dim_in: int, dim: int, hidden: int | None = None, act: nn.Module | None = None) -> nn.Sequential:
    """Linear -> activation -> Linear (`MLPEmbedder`, `TimestepEmbedder.mlp`, the blocks' MLPs)."""
    hidden = hidden or dim
    return nn.Sequential(nn.Linear(dim_in, hidden), act or nn.SiLU(), nn.Linear(hidden, dim))


def adaln(dim: int, factor: int) -> nn.Sequential:
    """`ModulateDiT`: SiLU -> Linear(dim, factor·dim); `HunyuanVideoModel.initialize_weights` zeroes the Linear,
    so every gate starts at 0."""
    return nn.Sequential(nn.SiLU(), nn.Linear(dim, factor * dim))


class TimestepEmbedder(nn.Module):
    """t `(B,)` -> `B D`: a 256-wide cos|sin sinusoid, then Linear-SiLU-Linear (`TimestepEmbedder`); the same
    module embeds the distilled guidance scale (`guidance_in`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = mlp(FREQUENCY_DIM, dim)

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, FREQUENCY_DIM).to(self.mlp[0].weight.dtype))


class Modulation(NamedTuple):
    """An adaLN's vectors `k B 1 D` (shift, scale, gate, ...) for every token; with token replace a second set,
    `first`, for the first `first_tokens` tokens (the clean first frame)."""
    params: Tensor
    first: Tensor | None = None
    first_tokens: int = 0

    def affine(self, x: Tensor, i: int) -> Tensor:
        """x·(1 + scale) + shift with shift = vector i, scale = vector i + 1."""
        if self.first is None:
            return modulate(x, self.params[i], self.params[i + 1])
        return modulate_split(x, self.first_tokens, tuple(self.first[i:i + 2]), tuple(self.params[i:i + 2]))

    def gate(self, x: Tensor, i: int) -> Tensor:
        """x · gate with gate = vector i."""
        if self.first is None:
            return self.params[i] * x
        return gate_split(x, self.first_tokens, self.first[i], self.params[i])


class Conditioning(NamedTuple):
    """What every block's adaLN reads: `vec` `B D`, and for token replace `first_frame` `B D` (t = 0) with the
    number of first-frame video tokens."""
    vec: Tensor
    first_frame: Tensor | None = None
    first_frame_tokens: int = 0

    def modulation(self, linear: nn.Module, count: int, token_replace: bool = True) -> Modulation:
        """Run an `adaln` on the condition(s), split into `count` vectors `B 1 D`."""
        split = lambda v: rearrange(linear(v), "b (k d) -> k b 1 d", k=count)  # noqa: E731
        if self.first_frame is None or not token_replace:
            return Modulation(split(self.vec))
        return Modulation(split(self.vec), split(self.first_frame), self.first_frame_tokens)


def joint_attention(q: Tensor, k: Tensor, v: Tensor, text_valid: Tensor) -> Tensor:
    """Attention over [video ; text] as the official varlen call sees it: two segments per sample, [video +
    valid text] and [text padding]. q, k, v `B h (Lv+Lt) d`, text_valid `B Lt` bool (valid tokens first).

    Real tokens attend to real tokens (one key mask, `B 1 1 L`); the padding queries are then recomputed
    over the text keys only, attending to padding alone, so no `L x L` mask is ever built.
    """
    video = q.shape[2] - text_valid.shape[1]
    valid = torch.cat([text_valid.new_ones(text_valid.shape[0], video), text_valid], dim=1)  # B L
    out = attention(q, k, v, valid[:, None, None, :])
    if text_valid.all():
        return out
    padding = ~text_valid  # B Lt
    # rows of real text tokens are thrown away below; letting them see every text key keeps them finite
    pad_mask = padding[:, None, None, :] | text_valid[:, None, :, None]  # B 1 Lt Lt
    pad_out = attention(q[:, :, video:], k[:, :, video:], v[:, :, video:], pad_mask)
    text_out = torch.where(padding[:, None, :, None], pad_out, out[:, :, video:])
    return torch.cat([out[:, :, :video], text_out], dim=2)


class QKVHeads(nn.Module):
    """A fused `B L (3 h d)` projection -> q, k, v heads, with the per-head RMS norms of q and k
    (`img_attn_q_norm` / `k_norm`; eps 1e-6, weight only) and RoPE on q and k when angles are given."""

    def __init__(self, heads: int, head_dim: int):
        super().__init__()
        self.heads = heads
        self.q_norm = make_qk_norm("rms_per_head", heads, head_dim)
        self.k_norm = make_qk_norm("rms_per_head", heads, head_dim)

    def forward(self, qkv: Tensor, rope: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """qkv `B L (3 h d)` -> q, k, v `B h L d`, q and k normalised and, if given, rotated (angles `L d/2`)."""
        q, k, v = (split_heads(part, self.heads) for part in qkv.chunk(3, dim=-1))
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        return q, k, v


class StreamWeights(nn.Module):
    """One modality's weights in a double-stream block: adaLN (6 vectors), norms, QKV, qk-norm, output
    projection and MLP (official `img_*` / `txt_*`)."""

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        dim = cfg.dim
        self.mod = adaln(dim, 6)
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn_qkv = nn.Linear(dim, 3 * dim)
        self.attn_norm = QKVHeads(cfg.heads, cfg.head_dim)
        self.attn_proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = mlp(dim, dim, cfg.mlp_dim, nn.GELU(approximate="tanh"))


class DoubleStreamBlock(nn.Module):
    """Video and text each with their own weights; one attention over [video ; text]:

        v_in, t_in = modulate(LN(video), shift, scale), modulate(LN(text), shift', scale')
        a_video, a_text = joint_attention([qkv_video(v_in) ; qkv_text(t_in)])      # RoPE on video q/k only
        video += gate · proj_video(a_video);  video += gate · mlp_video(modulate(LN(video)))   (text alike)
    """

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        self.video = StreamWeights(cfg)
        self.text = StreamWeights(cfg)

    def forward(self, video: Tensor, text: Tensor, cond: Conditioning, text_valid: Tensor,
                rope: Tensor) -> tuple[Tensor, Tensor]:
        """video `B Lv D`, text `B Lt D`, rope `Lv d/2` -> both updated."""
        mod_v = cond.modulation(self.video.mod, 6)
        mod_t = cond.modulation(self.text.mod, 6, token_replace=False)
        q_v, k_v, v_v = self.video.attn_norm(self.video.attn_qkv(mod_v.affine(self.video.norm1(video), 0)), rope)
        q_t, k_t, v_t = self.text.attn_norm(self.text.attn_qkv(mod_t.affine(self.text.norm1(text), 0)), None)
        out = joint_attention(torch.cat([q_v, q_t], 2), torch.cat([k_v, k_t], 2), torch.cat([v_v, v_t], 2),
                              text_valid)  # B h (Lv+Lt) d: video first
        out_v, out_t = merge_heads(out).split([video.shape[1], text.shape[1]], dim=1)
        video = video + mod_v.gate(self.video.attn_proj(out_v), 2)
        text = text + mod_t.gate(self.text.attn_proj(out_t), 2)
        video = video + mod_v.gate(self.video.mlp(mod_v.affine(self.video.norm2(video), 3)), 5)
        text = text + mod_t.gate(self.text.mlp(mod_t.affine(self.text.norm2(text), 3)), 5)
        return video, text


class SingleStreamBlock(nn.Module):
    """[video ; text] as one sequence with one set of weights, attention and MLP side by side:

        h = modulate(LN(x), shift, scale)
        q, k, v, m = linear1(h)                               # one matmul: D -> 3D + mlp_dim
        x = x + gate · linear2([joint_attention(q, k, v) ; GELU(m)])
    """

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        dim = cfg.dim
        self.qkv_width = 3 * dim  # linear1's output: q, k, v, then the MLP input
        self.modulation = adaln(dim, 3)
        self.pre_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear1 = nn.Linear(dim, 3 * dim + cfg.mlp_dim)
        self.attn_norm = QKVHeads(cfg.heads, cfg.head_dim)
        self.mlp_act = nn.GELU(approximate="tanh")
        self.linear2 = nn.Linear(dim + cfg.mlp_dim, dim)

    def forward(self, x: Tensor, cond: Conditioning, text_valid: Tensor, rope: Tensor) -> Tensor:
        """x `B (Lv+Lt) D` video first, rope `Lv d/2` (the text tokens are not rotated)."""
        mod = cond.modulation(self.modulation, 3)
        h = self.linear1(mod.affine(self.pre_norm(x), 0))  # B L (3D + mlp): q, k, v | MLP input
        rope = torch.cat([rope, rope.new_zeros(text_valid.shape[1], rope.shape[1])])  # angle 0: unrotated text
        out = merge_heads(joint_attention(*self.attn_norm(h[..., :self.qkv_width], rope), text_valid))
        mlp = self.mlp_act(h[..., self.qkv_width:])
        del h  # 7·D wide: freed before the concatenation (peak memory of the medium bench config 20.7 -> 18.3 MiB)
        return x + mod.gate(self.linear2(torch.cat([out, mlp], dim=-1)), 2)


class TokenRefinerBlock(nn.Module):
    """`IndividualTokenRefinerBlock`: masked self-attention and a SiLU MLP over the text, each gated by a
    zero-initialised adaLN gate (no shift or scale): the identity at initialisation."""

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        dim = cfg.dim
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn_qkv = nn.Linear(dim, 3 * dim)
        self.attn_proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = mlp(dim, dim, cfg.mlp_dim)
        self.gates = adaln(dim, 2)

    def forward(self, x: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        """x `B Lt D`, cond `B D`, mask `B 1 Lt Lt` -> `B Lt D`."""
        gate_attn, gate_mlp = rearrange(self.gates(cond), "b (two d) -> two b 1 d", two=2)
        q, k, v = (split_heads(part, self.heads) for part in self.attn_qkv(self.norm1(x)).chunk(3, dim=-1))
        x = x + gate_attn * self.attn_proj(merge_heads(attention(q, k, v, mask)))
        return x + gate_mlp * self.mlp(self.norm2(x))


class TokenRefiner(nn.Module):
    """`SingleTokenRefiner`: text states `B Lt text_dim` -> `B Lt D`, refined by masked self-attention that is
    conditioned on the timestep and on the masked mean of the text itself."""

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        self.input_embedder = nn.Linear(cfg.text_dim, cfg.dim)
        self.t_embedder = TimestepEmbedder(cfg.dim)
        self.c_embedder = mlp(cfg.text_dim, cfg.dim)
        self.blocks = nn.ModuleList(TokenRefinerBlock(cfg) for _ in range(cfg.refiner_layers))

    def forward(self, text: Tensor, t: Tensor, text_valid: Tensor) -> Tensor:
        weight = text_valid.to(text.dtype)[..., None]  # B Lt 1
        pooled = (text * weight).sum(1) / weight.sum(1)  # masked mean, B text_dim
        cond = self.t_embedder(t) + self.c_embedder(pooled)
        # a pair (i, j) attends when both are real tokens; every query also sees token 0, so that a padding
        # row is never empty (official `token_refiner.py`, kept by diffusers)
        mask = (text_valid[:, :, None] & text_valid[:, None, :])[:, None]  # B 1 Lt Lt
        mask[..., 0] = True
        x = self.input_embedder(text)
        for block in self.blocks:
            x = block(x, cond, mask)
        return x


class FinalLayer(nn.Module):
    """Non-affine LayerNorm -> (shift, scale) from vec -> Linear to the patch's values; both zero-init."""

    def __init__(self, cfg: HunyuanVideoConfig):
        super().__init__()
        self.norm_final = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = adaln(cfg.dim, 2)  # (shift, scale): diffusers stores them as (scale, shift)
        self.linear = nn.Linear(cfg.dim, math.prod(cfg.patch_size) * cfg.out_channels)

    def forward(self, x: Tensor, vec: Tensor) -> Tensor:
        shift, scale = rearrange(self.adaLN_modulation(vec), "b (two d) -> two b 1 d", two=2)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class HunyuanVideoModel(nn.Module):
    """The HunyuanVideo transformer: latents `B C F H W`, t `(B,)` = σ·1000, text `B Lt text_dim` with its
    mask, the pooled CLIP vector and (distilled model) the guidance -> velocity `B C' F H W`."""
    video_layout = "b c f h w"

    def __init__(self, config: HunyuanVideoConfig = HunyuanVideoConfig()):
        super().__init__()
        cfg = self.config = config
        dim = cfg.dim
        self.img_in = PatchEmbed3d(cfg.in_channels, dim, cfg.patch_size)
        self.txt_in = TokenRefiner(cfg)
        self.time_in = TimestepEmbedder(dim)
        self.vector_in = mlp(cfg.pooled_dim, dim)
        self.guidance_in = TimestepEmbedder(dim) if cfg.guidance_embed else None
        self.double_blocks = nn.ModuleList(DoubleStreamBlock(cfg) for _ in range(cfg.double_layers))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(cfg) for _ in range(cfg.single_layers))
        self.final_layer = FinalLayer(cfg)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier-uniform Linears and patch embedding with zero biases (the official code leaves PyTorch's
        defaults for most Linears; a Xavier start trains the same); every adaLN and the output Linear at zero
        (`ModulateDiT`, `FinalLayer`), so each block is the identity at init and the first output is 0."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.img_in.proj.weight.flatten(1))
        zero = [m[-1] for m in self.modules() if isinstance(m, nn.Sequential) and isinstance(m[0], nn.SiLU)]  # adaln()s
        for linear in zero + [self.final_layer.linear]:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def conditioning(self, t: Tensor, pooled: Tensor, guidance: Tensor | None, first_frame_tokens: int) -> Conditioning:
        """vec = time_in(t) + vector_in(pooled) (+ guidance_in(guidance)); token replace adds the vec of t = 0
        (without the guidance term, as diffusers and the official I2V code build it)."""
        text_vec = self.vector_in(pooled)
        vec = self.time_in(t) + text_vec
        if self.guidance_in is not None:
            vec = vec + self.guidance_in(guidance)
        if self.config.image_condition != "token_replace":
            return Conditioning(vec)
        return Conditioning(vec, self.time_in(torch.zeros_like(t)) + text_vec, first_frame_tokens)

    def forward(self, x: Tensor, t: Tensor | float, context: Tensor, context_mask: Tensor, pooled: Tensor,
                guidance: Tensor | float | None = None) -> Tensor:
        """Predict the flow velocity.

        x: `B C F H W` latents (token replace: latent frame 0 is the clean image latent; latent concat:
           noise 16 | image latent 16 | mask 1 on channels).
        t: `(B,)` σ·1000, or one number for the batch.
        context: `B Lt text_dim` text states; context_mask `B Lt` (1 = real token, real tokens first).
        pooled: `B pooled_dim` (CLIP-L's pooled text vector).
        guidance: distilled models only, `(B,)` or a number = guidance scale × 1000 (the official unit).
        Returns `B out_channels F H W`.
        """
        cfg = self.config
        x, t, context, text_valid, pooled, guidance, grid = self.check_inputs(x, t, context, context_mask, pooled,
                                                                             guidance)
        cond = self.conditioning(t, pooled, guidance, grid[1] * grid[2])
        rope = rope_3d(grid, cfg.rope_axes, cfg.rope_theta, device=x.device)  # Lv d/2
        video = self.img_in(x)  # B Lv D, (t h w) order
        text = self.txt_in(context, t, text_valid)  # B Lt D
        for block in self.double_blocks:
            video, text = block(video, text, cond, text_valid, rope)
        tokens = torch.cat([video, text], dim=1)  # video first
        for block in self.single_blocks:
            tokens = block(tokens, cond, text_valid, rope)
        out = self.final_layer(tokens[:, :video.shape[1]], cond.vec)  # the text tokens are dropped here
        return unpatchify(out, grid, cfg.patch_size, cfg.out_channels, patch_order="c pt ph pw")

    def check_inputs(self, x: Tensor, t, context: Tensor, context_mask: Tensor | None, pooled: Tensor | None,
                     guidance):
        """ValueError for inputs the official model would mishandle or crash on; returns them with scalars
        spread over the batch, floats in the weights' dtype, the mask as bool and the token grid."""
        cfg = self.config
        dtype = self.img_in.proj.weight.dtype
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            hint = {"latent_concat": " (latent concat I2V: noise 16 | image latent 16 | mask 1)"}.get(cfg.image_condition, "")
            raise ValueError(f"x must be latents (B, {cfg.in_channels}, F, H, W){hint}; got {tuple(x.shape)}")
        batch = x.shape[0]
        grid = patch_grid(tuple(x.shape[2:]), cfg.patch_size)
        if context.ndim != 3 or context.shape[0] != batch or context.shape[2] != cfg.text_dim:
            raise ValueError(f"context must be text states (B, Lt, text_dim) = ({batch}, Lt, {cfg.text_dim}); "
                             f"got {tuple(context.shape)}")
        if context_mask is None:
            raise ValueError("HunyuanVideo needs context_mask (B, Lt): 1 for real text tokens, 0 for padding; "
                             "pass torch.ones(B, Lt) if nothing is padded")
        if tuple(context_mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"context_mask must be (B, Lt) = {tuple(context.shape[:2])} like the text; "
                             f"got {tuple(context_mask.shape)}")
        valid = context_mask.bool()
        lengths = valid.sum(1)
        if (lengths == 0).any():
            raise ValueError("every sample needs at least one real text token (context_mask all 0 in sample "
                             f"{(lengths == 0).nonzero()[0].item()}): the refiner's masked mean over none is NaN")
        if (valid != (torch.arange(valid.shape[1], device=valid.device) < lengths[:, None])).any():
            raise ValueError("context_mask must have the real tokens first, then the padding (the official "
                             "attention reads it as a length); right-pad the prompt")
        if pooled is None or tuple(pooled.shape) != (batch, cfg.pooled_dim):
            raise ValueError(f"HunyuanVideo needs pooled (B, pooled_dim) = ({batch}, {cfg.pooled_dim}), CLIP-L's "
                             f"pooled text vector; got {None if pooled is None else tuple(pooled.shape)}")
        if cfg.guidance_embed and guidance is None:
            raise ValueError("this model is guidance-distilled: pass guidance = guidance scale x 1000 "
                             "(the official default scale is 6.0, so 6000.0)")
        if not cfg.guidance_embed and guidance is not None:
            raise ValueError("this model has no guidance embedder (only the CFG-distilled T2V model has one); "
                             "drop `guidance` and run classifier-free guidance instead")
        t = per_sample(t, batch, "t", x.device)
        guidance = None if guidance is None else per_sample(guidance, batch, "guidance", x.device)
        return x.to(dtype), t, context.to(dtype), valid, pooled.to(dtype), guidance, grid


# --- compute accounting ---------------------------------------------------------------------------

def forward_flops(cfg: HunyuanVideoConfig, grid: tuple[int, int, int], text_tokens: int) -> dict[str, int]:
    """FLOPs of one forward pass of ONE sample (2 per multiply-add, matmuls only): "attention" is QKᵀ and AV
    over [video ; text] (and the refiner's over the text), "linear" every Linear and the patch embedding."""
    d, m = cfg.dim, cfg.mlp_dim
    video = math.prod(grid)
    joint = video + text_tokens
    stream = 4 * d * d + 2 * d * m  # qkv + proj + MLP, per token of one stream
    double = joint * stream + 2 * 6 * d * d  # each token through its own stream's weights; two adaLNs
    single = joint * (d * (3 * d + m) + (d + m) * d) + 3 * d * d
    refiner = cfg.refiner_layers * (text_tokens * stream + 2 * d * d)
    embedders = (2 + cfg.guidance_embed) * (FREQUENCY_DIM * d + d * d)  # time_in, refiner t, guidance_in
    embed = (video * cfg.in_channels * math.prod(cfg.patch_size) * d + text_tokens * cfg.text_dim * d
             + cfg.text_dim * d + d * d + cfg.pooled_dim * d + d * d + embedders  # c_embedder, vector_in
             + 2 * d * d + video * d * math.prod(cfg.patch_size) * cfg.out_channels)  # final adaLN + Linear
    linear = cfg.double_layers * double + cfg.single_layers * single + refiner + embed
    attention_flops = (cfg.double_layers + cfg.single_layers) * 2 * joint * joint * d \
        + cfg.refiner_layers * 2 * text_tokens * text_tokens * d
    return {"linear": 2 * linear, "attention": 2 * attention_flops}
