"""Captioned synthetic clips a CPU can learn from: one shape of one colour doing one motion.

A clip is one shape of one colour doing one motion on a plain dark background: "red circle moving
left". The vocabulary is tiny on purpose: a text encoder trained with the model can learn it, and
whether a generated video follows its prompt can be *measured* (`minivid.data.analyser`) instead of
judged by eye.

A clip is a pure function of (shape, colour, motion, frames, size, seed). Its random numbers come
from `random.Random(...).random()`, the one part of Python's `random` whose sequence is promised to
stay the same across Python versions, so a seed names the same clip on every machine.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import product

import torch
import torch.nn.functional as F

SHAPES = ("circle", "square", "triangle")
COLOURS = {  # RGB 0..255; saturated and far apart in *direction* from the background (see describe)
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240),
    "yellow": (240, 210, 40), "magenta": (220, 50, 220), "cyan": (40, 210, 220),
}
# bounce: a ball under gravity bouncing elastically on the floor, height a parabola between bounces.
MOTIONS = ("left", "right", "up", "down", "bounce")
ALL_COMBINATIONS = tuple(product(SHAPES, COLOURS, MOTIONS))  # (shape, colour, motion)
_KNOWN_COMBINATIONS = frozenset(ALL_COMBINATIONS)
BACKGROUND = (16, 16, 24)
MIN_SIZE = 16
SUPERSAMPLE = 4  # samples per pixel side: edges get 17 coverage levels instead of a staircase

# Facts about the shapes `coverage` draws inside a box of half-side r around (cx, cy): area / r²,
# and how far below the box centre the centroid sits, in units of r (the triangle points up).
AREA_PER_R2 = {"circle": math.pi, "square": 4.0, "triangle": 2.0}
CENTROID_DROP = {"circle": 0.0, "square": 0.0, "triangle": 1 / 3}


def _check_words(shape: str, colour: str, motion: str) -> None:
    for word, known in ((shape, SHAPES), (colour, tuple(COLOURS)), (motion, MOTIONS)):
        if word not in known:
            raise ValueError(f"unknown word {word!r}; expected one of {known}")


def caption(shape: str, colour: str, motion: str) -> str:
    """'red circle moving left', or 'red circle bouncing' for the bounce."""
    _check_words(shape, colour, motion)
    return f"{colour} {shape} " + ("bouncing" if motion == "bounce" else f"moving {motion}")


def parse_caption(text: str) -> tuple[str, str, str]:
    """Inverse of `caption`: 'red circle moving left' -> ('circle', 'red', 'left')."""
    words = text.lower().split()
    if len(words) == 3 and words[2] == "bouncing":
        (colour, shape, _), motion = words, "bounce"
    elif len(words) == 4 and words[2] == "moving":
        colour, shape, _, motion = words
    else:
        raise ValueError(f"expected '<colour> <shape> moving <left|right|up|down>' or "
                         f"'<colour> <shape> bouncing', got {text!r}")
    _check_words(shape, colour, motion)
    return shape, colour, motion


def check_frames(frames: int) -> None:
    """The Wan VAE keeps the first frame and compresses the rest 4x in time: T must be 1+4n."""
    if frames >= 5 and (frames - 1) % 4 == 0:
        return
    below = 1 + 4 * ((frames - 1) // 4)
    nearest = [n for n in (below, below + 4) if n >= 5] or [5]
    raise ValueError(f"frames must be 1+4n with n >= 1 (5, 9, 13, 17, ...) because the Wan VAE "
                     f"compresses time 4x after the first frame; got {frames}, use "
                     + " or ".join(map(str, nearest)))


def frame_size(size) -> tuple[int, int]:
    """`32` or `(height, width)` -> (height, width), at least MIN_SIZE each."""
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels per side so shapes stay "
                         f"recognisable, got {(height, width)}")
    return height, width


def _rng(purpose: str, seed: int) -> random.Random:
    # One stream per purpose, so the combination a seed picks is independent of the clip geometry.
    return random.Random(f"minivid.{purpose}:{seed}")


@dataclass(eq=False)
class Clip:
    video: torch.Tensor  # C T H W, float32 in [-1, 1]
    caption: str
    shape: str
    colour: str
    motion: str
    seed: int


def rgb(values) -> torch.Tensor:
    """An RGB triple in 0..255 -> a (3,) float tensor in [-1, 1], the clips' pixel range."""
    return torch.tensor(values, dtype=torch.float32) / 127.5 - 1  # (3,) in [-1, 1]


def _trajectory(motion: str, frames: int, height: int, width: int, rng: random.Random):
    """Box centre per frame (cx, cy: T, pixels) and half-side r; the box stays `margin` inside."""
    def uniform(low, high):
        return low + (high - low) * rng.random()

    r = uniform(0.13, 0.2) * min(height, width)
    margin = max(1.0, 0.03 * min(height, width))
    x_range, y_range = (r + margin, width - r - margin), (r + margin, height - r - margin)
    t = torch.linspace(0, 1, frames, dtype=torch.float64)  # T, clip time 0 -> 1
    if motion == "bounce":
        x = torch.full_like(t, uniform(*x_range))
        drop = uniform(0.3 * height, y_range[1] - y_range[0])
        bounces, phase = uniform(1.0, 1.5), rng.random()  # >= 1 period: a full fall and a full rise
        u = torch.frac(phase + bounces * t)  # 0 at the floor, 0.5 at the top of the arc
        return x, y_range[1] - drop * 4 * u * (1 - u), r
    horizontal = motion in ("left", "right")
    (low, high), length = (x_range, width) if horizontal else (y_range, height)
    distance = uniform(0.3 * length, high - low)  # at least 30% of the frame
    start = uniform(low, high - distance)
    along = start + distance * t
    if motion in ("left", "up"):
        along = along.flip(0)
    across = torch.full_like(t, uniform(*(y_range if horizontal else x_range)))
    return (along, across, r) if horizontal else (across, along, r)


def coverage(shape: str, cx, cy, r, height: int, width: int) -> torch.Tensor:
    """Fraction of each pixel the shape covers: T H W in [0, 1]; cx, cy, r: T (pixel units,
    pixel i spans [i, i+1)). Shared by the generator and the analyser's templates."""
    cx, cy, r = (torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1) for v in (cx, cy, r))
    xs = (torch.arange(width * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    ys = (torch.arange(height * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    dx, dy = xs.view(1, 1, -1) - cx, ys.view(1, -1, 1) - cy  # T 1 Ws, T Hs 1
    if shape == "circle":
        inside = dx**2 + dy**2 <= r**2
    elif shape == "square":
        inside = (dx.abs() <= r) & (dy.abs() <= r)
    elif shape == "triangle":  # apex (0, -r), base from (-r, r) to (r, r)
        inside = (dy <= r) & (2 * dx.abs() <= dy + r)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return F.avg_pool2d(inside.float(), SUPERSAMPLE)  # mean of each pixel's samples: T H W


def make_clip(shape: str, colour: str, motion: str, *, frames: int = 17, size=32, seed: int = 0,
              background=BACKGROUND) -> Clip:
    """One clip: video C T H W float32 in [-1, 1]. Size, start, speed and bounce come from `seed`
    (the same seed gives the same geometry whatever the shape, colour or motion words)."""
    _check_words(shape, colour, motion)
    check_frames(frames)
    height, width = frame_size(size)
    cx, cy, r = _trajectory(motion, frames, height, width, _rng("clip", seed))
    alpha = coverage(shape, cx, cy, torch.full_like(cx, r), height, width)  # T H W
    bg, fg = rgb(background), rgb(COLOURS[colour])
    video = bg.view(3, 1, 1, 1) + (fg - bg).view(3, 1, 1, 1) * alpha  # C T H W
    return Clip(video, caption(shape, colour, motion), shape, colour, motion, seed)


def _check_combinations(combinations) -> list[tuple[str, str, str]]:
    combos = [tuple(c) for c in combinations]
    unknown = [c for c in combos if c not in _KNOWN_COMBINATIONS]
    if not combos or unknown:
        raise ValueError(f"combinations must be a non-empty list of (shape, colour, motion) from "
                         f"ALL_COMBINATIONS; not known: {unknown[:3]}")
    return combos


def random_clip(seed: int, frames: int = 17, size=32, combinations=None) -> Clip:
    """A clip whose (shape, colour, motion) is also drawn from `seed`, among `combinations`."""
    pool = ALL_COMBINATIONS if combinations is None else _check_combinations(combinations)
    shape, colour, motion = pool[int(_rng("combination", seed).random() * len(pool))]
    return make_clip(shape, colour, motion, frames=frames, size=size, seed=seed)


def _unused_words(combinations) -> list[str]:
    return [word for i, vocab in enumerate((SHAPES, COLOURS, MOTIONS)) for word in vocab
            if all(c[i] != word for c in combinations)]


def split_combinations(held_out=0.2, seed: int = 0):
    """(train, held_out) lists of combinations with every word still in train: a model that draws
    a held-out 'blue triangle bouncing' composes words it only ever saw apart. `held_out` is a
    fraction (which combinations is drawn from `seed`) or an explicit list."""
    if isinstance(held_out, (int, float)):
        if not 0 <= held_out < 1:
            raise ValueError(f"held_out fraction must be in [0, 1), got {held_out}")
        wanted, held, rng = round(held_out * len(ALL_COMBINATIONS)), [], _rng("split", seed)
        for combo in sorted(ALL_COMBINATIONS, key=lambda _: rng.random()):  # a seeded shuffle
            rest = [c for c in ALL_COMBINATIONS if c not in held and c != combo]
            if len(held) < wanted and not _unused_words(rest):
                held.append(combo)
        if len(held) < wanted:
            raise ValueError(f"could hold out only {len(held)} of {len(ALL_COMBINATIONS)} "
                             f"combinations and keep every word in training; ask for fewer")
    else:
        held = _check_combinations(held_out)
    train = [c for c in ALL_COMBINATIONS if c not in held]
    if _unused_words(train):
        raise ValueError(f"holding these combinations out leaves {_unused_words(train)} out of "
                         "training entirely; hold out fewer")
    return train, [c for c in ALL_COMBINATIONS if c in held]


class SyntheticClips(torch.utils.data.Dataset):
    """Item i is `random_clip(seed + i)`, whatever the worker or epoch. Datasets with seeds closer
    than their length share clips: give validation sets a far-away seed (e.g. 10**6)."""

    def __init__(self, length: int, frames: int = 17, size=32, seed: int = 0, combinations=None):
        check_frames(frames)
        frame_size(size)
        self.length, self.frames, self.size, self.seed = length, frames, size, seed
        self.combinations = None if combinations is None else _check_combinations(combinations)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} clips")
        clip = random_clip(self.seed + index % self.length, self.frames, self.size, self.combinations)
        return {"video": clip.video, "caption": clip.caption, "shape": clip.shape,
                "colour": clip.colour, "motion": clip.motion, "seed": clip.seed}


# every word a caption can use: 6 colours, 3 shapes, "moving" + 4 directions, "bouncing" (15 words)
VOCABULARY = tuple(sorted({word for combo in ALL_COMBINATIONS for word in caption(*combo).split()}))


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Any float video in [-1, 1] -> uint8 0..255, same shape (a third of the bytes of float32)."""
    return ((video + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
