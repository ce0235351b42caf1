"""A caption-conditioned video denoiser small enough to train on a CPU: word tokenizer + text encoder + a
video transformer of the course (Wan2.1's, CogVideoX's or HunyuanVideo's), both at tiny sizes.

    caption --WordTokenizer--> ids B 6 --TextEncoder--> text B 6 64 ------------------------------+
    latent B 16 T H W (noisy) ------------------------------------------- transformer(x, t, text) --> velocity

The transformer is a model of `minivid.models` unchanged, only small: `TINY_WAN` (3D RoPE, one shared time
MLP with per-block modulation, cross-attention to the text), `TINY_COGVIDEOX` (text and video in one
sequence, full attention over both, expert adaLN) or `TINY_HUNYUANVIDEO` (token refiner, double- then
single-stream blocks, masked padding). Everything around it — tokenizer, text encoder, data,
objective, sampler, budget — is the same, so the strict benchmark (`minivid.evaluation`) compares the
architectures and nothing else. The text encoder is trained with the transformer from scratch
(`minivid.models.text`) on the closed vocabulary of the course's captions. How it is trained is
`minivid.training.t2v_task`; how it is sampled, `minivid.sampling.generate`.
"""
from __future__ import annotations

import dataclasses

from einops import rearrange
from torch import Tensor, nn

from minivid.models.cogvideox import CogVideoXConfig, CogVideoXModel
from minivid.models.hunyuan import HunyuanVideoConfig, HunyuanVideoModel
from minivid.models.text import TextEncoder, WordTokenizer
from minivid.models.wan import WanConfig, WanModel

TEXT_LENGTH = 6  # captions have 3 or 4 words; the rest is padding, as Wan pads to 512
TEXT_LAYERS = 2
TINY_WAN = WanConfig(dim=128, ffn_dim=256, heads=2, layers=4, in_channels=16, out_channels=16,
                     text_dim=64, patch=(1, 2, 2))
# The same width, depth, heads and 2x2 patches. CogVideoX's MLP is 4x wide (its official ratio) and it
# has no cross-attention; its time embedding keeps the official time_embed_dim / dim ratio (512 / 1920),
# which also keeps the 12·D expert-adaLN tables from doubling the parameter count. RoPE as in the 5B.
TINY_COGVIDEOX = CogVideoXConfig(heads=2, head_dim=64, layers=4, in_channels=16, out_channels=16,
                                 time_embed_dim=32, text_dim=64, patch=2, positions="rope",
                                 text_length=TEXT_LENGTH)
# HunyuanVideo's official 1 : 2 ratio of double- to single-stream blocks in 4 blocks (each costs a video
# token the same 12·D² multiply-adds as a CogVideoX block), its 4x MLP, RoPE axes in its 1/8 : 7/16 : 7/16
# proportions of the head, and no guidance embedding: like the others it learns the null caption for CFG.
TINY_HUNYUANVIDEO = HunyuanVideoConfig(heads=2, head_dim=64, double_layers=1, single_layers=3, text_dim=64,
                                       pooled_dim=64, guidance_embed=False, rope_axes=(8, 28, 28))
# The same model with a guidance embedding (`guidance_in`), as HYVideo-T/2-cfgdistill: a student that takes the
# CFG scale as an input and matches the CFG teacher's guided velocity in one pass (`training/distill_task.py`).
TINY_HUNYUANVIDEO_DISTILLED = dataclasses.replace(TINY_HUNYUANVIDEO, guidance_embed=True)
TRANSFORMERS = {WanConfig: WanModel, CogVideoXConfig: CogVideoXModel, HunyuanVideoConfig: HunyuanVideoModel}
# sampling defaults (`minivid.sampling.generate`), chosen by measuring the seen combinations only
NUM_STEPS, SHIFT, GUIDANCE = 20, 3.0, 4.0


class TinyT2V(nn.Module):
    """Text encoder + video transformer: `forward(latent, t, ids)` predicts the flow velocity.

    `vocabulary`: the words captions may use (`minivid.data.VOCABULARY`); any other word is an error.
    `transformer`: the config of the denoiser, `TINY_WAN`, `TINY_COGVIDEOX` or `TINY_HUNYUANVIDEO` (its
    class follows the type).

    HunyuanVideo's text comes with its padding mask and a pooled vector: its text condition is the pair
    (states, mask), the mask `ids != pad` with the first slot always real (the official prompt template
    guarantees tokens; here the null caption is one pad token), and the pooled vector, CLIP-L's in the real
    model, is the masked mean of the same states.
    """

    def __init__(self, vocabulary, transformer: WanConfig | CogVideoXConfig | HunyuanVideoConfig = TINY_WAN,
                 text_layers: int = TEXT_LAYERS, text_length: int = TEXT_LENGTH):
        super().__init__()
        if type(transformer) not in TRANSFORMERS:
            raise ValueError(f"transformer must be one of {[c.__name__ for c in TRANSFORMERS]} configs; "
                             f"got {type(transformer).__name__}")
        self.tokenizer = WordTokenizer(vocabulary, text_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), text_length, transformer.text_dim, text_layers)
        self.transformer = TRANSFORMERS[type(transformer)](transformer)

    def encode_text(self, captions: list[str]) -> Tensor | tuple[Tensor, Tensor]:
        """captions (B,) -> text states `B text_length text_dim` (HunyuanVideo: and the mask `B text_length`);
        "" is the null caption."""
        device = self.text_encoder.words.weight.device
        return self.text_condition(self.tokenizer(captions).to(device))

    def text_condition(self, ids: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """ids `B L` -> what the transformer reads: the text states, and for HunyuanVideo their mask too."""
        states = self.text_encoder(ids)
        if not isinstance(self.transformer, HunyuanVideoModel):
            return states
        mask = ids != 0
        mask[:, 0] = True
        return states, mask

    def velocity(self, latent: Tensor, t: Tensor, text: Tensor | tuple[Tensor, Tensor],
                 guidance: Tensor | float | None = None) -> Tensor:
        """latent `B C T H W`, t `(B,)` = σ·1000, text from `encode_text` -> velocity `B C T H W`, whatever
        layout the transformer takes (CogVideoX's is frames before channels). `guidance`: the CFG scale × 1000,
        for a guidance-distilled HunyuanVideo only."""
        layout = self.transformer.video_layout
        x = rearrange(latent, f"b c f h w -> {layout}")
        if isinstance(self.transformer, HunyuanVideoModel):
            states, mask = text
            weight = mask.to(states.dtype)[..., None]
            out = self.transformer(x, t, states, mask, (states * weight).sum(1) / weight.sum(1), guidance)
        else:
            out = self.transformer(x, t, text)
        return rearrange(out, f"{layout} -> b c f h w")

    def forward(self, latent: Tensor, t: Tensor, ids: Tensor) -> Tensor:
        """latent `B 16 T H W`, t `(B,)` = σ·1000, ids `B text_length` -> velocity `B 16 T H W`."""
        return self.velocity(latent, t, self.text_condition(ids))
