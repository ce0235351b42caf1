"""A caption-conditioned video denoiser small enough to train on a CPU: word tokenizer + text encoder + Wan.

    caption --WordTokenizer--> ids B 6 --TextEncoder--> text B 6 64 --------------------------+
    latent B 16 T H W (noisy) ------------------------------------------- WanModel(x, t, text) --> velocity

The transformer is `minivid.models.wan.WanModel` unchanged (3D RoPE, one shared time MLP with per-block
modulation, cross-attention to the text); only its sizes are small (`TINY_WAN`). The text encoder is
trained with it from scratch (`minivid.models.text`) on the closed vocabulary of the course's captions.
How it is trained is `minivid.training.t2v_task`; how it is sampled, `minivid.sampling.generate`.
"""
from __future__ import annotations

from torch import Tensor, nn

from minivid.models.text import TextEncoder, WordTokenizer
from minivid.models.wan import WanConfig, WanModel

TEXT_LENGTH = 6  # captions have 3 or 4 words; the rest is padding, as Wan pads to 512
TEXT_LAYERS = 2
TINY_WAN = WanConfig(dim=128, ffn_dim=256, heads=2, layers=4, in_channels=16, out_channels=16,
                     text_dim=64, patch=(1, 2, 2))
# sampling defaults (`minivid.sampling.generate`), chosen by measuring the seen combinations only
NUM_STEPS, SHIFT, GUIDANCE = 20, 3.0, 4.0


class TinyT2V(nn.Module):
    """Text encoder + Wan transformer: `forward(latent, t, ids)` predicts the flow velocity.

    `vocabulary`: the words captions may use (`minivid.data.VOCABULARY`); any other word is an error.
    """

    def __init__(self, vocabulary, wan: WanConfig = TINY_WAN, text_layers: int = TEXT_LAYERS,
                 text_length: int = TEXT_LENGTH):
        super().__init__()
        self.tokenizer = WordTokenizer(vocabulary, text_length)
        self.text_encoder = TextEncoder(len(self.tokenizer), text_length, wan.text_dim, text_layers)
        self.transformer = WanModel(wan)

    def encode_text(self, captions: list[str]) -> Tensor:
        """captions (B,) -> text states `B text_length text_dim`; "" is the null caption."""
        return self.text_encoder(self.tokenizer(captions).to(self.transformer.patch_embedding.proj.weight.device))

    def forward(self, latent: Tensor, t: Tensor, ids: Tensor) -> Tensor:
        """latent `B 16 T H W`, t `(B,)` = σ·1000, ids `B text_length` -> velocity `B 16 T H W`."""
        return self.transformer(latent, t, self.text_encoder(ids))
