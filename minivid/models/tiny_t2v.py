"""A caption-conditioned video denoiser small enough to train on a CPU: word tokenizer + text encoder + a
video transformer of the course (Wan2.1's, or CogVideoX's), both at tiny sizes.

    caption --WordTokenizer--> ids B 6 --TextEncoder--> text B 6 64 ------------------------------+
    latent B 16 T H W (noisy) ------------------------------------------- transformer(x, t, text) --> velocity

The transformer is a model of `minivid.models` unchanged, only small: `TINY_WAN` (3D RoPE, one shared time
MLP with per-block modulation, cross-attention to the text) or `TINY_COGVIDEOX` (text and video in one
sequence, full attention over both, expert adaLN). Everything around it — tokenizer, text encoder, data,
objective, sampler, budget — is the same, so the strict benchmark (`minivid.evaluation`) compares the
architectures and nothing else. The text encoder is trained with the transformer from scratch
(`minivid.models.text`) on the closed vocabulary of the course's captions. How it is trained is
`minivid.training.t2v_task`; how it is sampled, `minivid.sampling.generate`.
"""
from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from minivid.models.cogvideox import CogVideoXConfig, CogVideoXModel
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
TRANSFORMERS = {WanConfig: WanModel, CogVideoXConfig: CogVideoXModel}
# sampling defaults (`minivid.sampling.generate`), chosen by measuring the seen combinations only
NUM_STEPS, SHIFT, GUIDANCE = 20, 3.0, 4.0


class TinyT2V(nn.Module):
    """Text encoder + video transformer: `forward(latent, t, ids)` predicts the flow velocity.

    `vocabulary`: the words captions may use (`minivid.data.VOCABULARY`); any other word is an error.
    `transformer`: the config of the denoiser, `TINY_WAN` or `TINY_COGVIDEOX` (its class follows the type).
    """

    def __init__(self, vocabulary, transformer: WanConfig | CogVideoXConfig = TINY_WAN,
                 text_layers: int = TEXT_LAYERS, text_length: int = TEXT_LENGTH):
        super().__init__()
        if type(transformer) not in TRANSFORMERS:
            raise ValueError(f"transformer must be one of {[c.__name__ for c in TRANSFORMERS]} configs; "
                             f"got {type(transformer).__name__}")
        self.tokenizer = WordTokenizer(vocabulary, text_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), text_length, transformer.text_dim, text_layers)
        self.transformer = TRANSFORMERS[type(transformer)](transformer)

    def encode_text(self, captions: list[str]) -> Tensor:
        """captions (B,) -> text states `B text_length text_dim`; "" is the null caption."""
        device = self.text_encoder.words.weight.device
        return self.text_encoder(self.tokenizer(captions).to(device))

    def velocity(self, latent: Tensor, t: Tensor, text: Tensor) -> Tensor:
        """latent `B C T H W`, t `(B,)` = σ·1000, text states `B L D` -> velocity `B C T H W`, whatever
        layout the transformer takes (CogVideoX's is frames before channels)."""
        layout = self.transformer.video_layout
        out = self.transformer(rearrange(latent, f"b c f h w -> {layout}"), t, text)
        return rearrange(out, f"{layout} -> b c f h w")

    def forward(self, latent: Tensor, t: Tensor, ids: Tensor) -> Tensor:
        """latent `B 16 T H W`, t `(B,)` = σ·1000, ids `B text_length` -> velocity `B 16 T H W`."""
        return self.velocity(latent, t, self.text_encoder(ids))
