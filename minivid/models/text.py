"""A tiny text encoder for a closed vocabulary: whole words -> ids -> embeddings -> a few transformer layers.

Real text-to-video models borrow a frozen language model (Wan: umT5-XXL, 4096 wide, prompts padded to 512
tokens; HunyuanVideo: a decoder-only MLLM; CogVideoX: T5-XXL). The course's captions use a dozen words
("red circle moving left"), so a small encoder trained *with* the video model can learn them from
scratch. What carries over to the real thing:

- every prompt is padded to a fixed length with a pad token, and the video model attends to the pads
  too (Wan does not mask its 512 text slots, see `minivid.models.wan.pad_text`);
- the empty caption (all pads) is the "null" prompt of classifier-free guidance: training replaces ~10%
  of the captions with it, so one network learns both p(video | text) and p(video);
- the encoder is a stack of pre-LayerNorm self-attention blocks over word + learned position embeddings,
  the shape of T5's encoder without its relative position buckets.

Unknown words are an error, not an <unk> token: with a closed vocabulary a typo is a bug.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from minivid.layers.attention import SelfAttention

PAD = "<pad>"


class WordTokenizer:
    """Lower-cased whitespace-split words -> ids `B length` (int64), padded with PAD = id 0.

    `words`: the vocabulary (any order; ids follow it). "" tokenizes to all pads: the null prompt.
    """

    def __init__(self, words, length: int):
        words = list(dict.fromkeys(w.lower() for w in words))
        if PAD in words or any(not w or any(c.isspace() for c in w) for w in words):
            raise ValueError(f"vocabulary words must be single non-empty words other than {PAD!r}")
        self.vocab = [PAD, *words]
        self.ids = {word: i for i, word in enumerate(self.vocab)}
        self.length = length

    def __len__(self) -> int:
        return len(self.vocab)

    def __call__(self, captions: list[str] | str) -> Tensor:
        captions = [captions] if isinstance(captions, str) else list(captions)
        rows = []
        for text in captions:
            words = text.lower().split()
            unknown = [w for w in words if w not in self.ids]
            if unknown:
                raise ValueError(f"unknown word(s) {unknown} in {text!r}; the vocabulary is "
                                 f"{', '.join(self.vocab[1:])}")
            if len(words) > self.length:
                raise ValueError(f"{text!r} has {len(words)} words, more than the {self.length} this "
                                 "tokenizer pads to; shorten it or build the tokenizer with a larger length")
            rows.append([self.ids[w] for w in words] + [0] * (self.length - len(words)))
        return torch.tensor(rows, dtype=torch.long)  # B length

    def decode(self, ids: Tensor) -> list[str]:
        """ids `B length` -> captions (pads dropped)."""
        return [" ".join(self.vocab[i] for i in row if i != 0) for row in ids.tolist()]


class TextBlock(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.attn_norm, self.attn = nn.LayerNorm(dim), SelfAttention(dim, heads=heads)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: Tensor) -> Tensor:  # B L D -> B L D
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class TextEncoder(nn.Module):
    """ids `B L` -> text states `B L dim`: word + position embeddings, `layers` blocks, a final LayerNorm.

    With layers=0 it is a bag of positioned word vectors; the blocks let each word's state depend on
    the whole caption (e.g. "moving" next to "left" vs alone).
    """

    def __init__(self, vocab_size: int, length: int, dim: int = 64, layers: int = 2, heads: int = 2):
        super().__init__()
        self.length = length
        self.words = nn.Embedding(vocab_size, dim)
        self.positions = nn.Parameter(torch.randn(length, dim) * 0.02)  # L D, learned
        self.blocks = nn.ModuleList(TextBlock(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.words.weight, std=0.02)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.ndim != 2 or ids.shape[1] != self.length or ids.dtype != torch.long:
            raise ValueError(f"expected token ids (B, {self.length}) int64 from the tokenizer, got "
                             f"{tuple(ids.shape)} {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.words.num_embeddings:
            raise ValueError(f"token ids must be in [0, {self.words.num_embeddings}), got "
                             f"[{ids.min().item()}, {ids.max().item()}]")
        x = self.words(ids) + self.positions  # B L D
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
