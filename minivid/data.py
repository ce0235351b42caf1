"""Captioned synthetic clips a CPU can learn from, and an analyser that reads them back from pixels.

A clip is one shape of one colour doing one motion on a plain dark background: "red circle moving
left". The vocabulary is tiny on purpose: a text encoder trained with the model can learn it, and
whether a generated video follows its prompt can be *measured* (`describe`, `accuracy`) instead of
judged by eye.

A clip is a pure function of (shape, colour, motion, frames, size, seed). Its random numbers come
from `random.Random(...).random()`, the one part of Python's `random` whose sequence is promised to
stay the same across Python versions, so a seed names the same clip on every machine.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import einsum
from safetensors.torch import load_file, save_file

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
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data_samples"
REGENERATE = "python scripts/make_data_samples.py"

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


def _rgb(values) -> torch.Tensor:
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
    bg, fg = _rgb(background), _rgb(COLOURS[colour])
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


# ---------------------------------------------------------------------------------------------
# Analyser: shape, colour and motion read back from pixels, to score prompt following.
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Description:
    shape: str  # a SHAPES entry, or "unknown" when no object is found
    colour: str  # a COLOURS name, or "unknown"
    motion: str  # a MOTIONS entry, or "none"
    background: tuple  # RGB in [-1, 1]: median of all pixels
    object_rgb: tuple  # RGB in [-1, 1]: mean of the object's most saturated half
    area: float  # object area in pixels, median over the frames where it was found
    shape_errors: dict  # shape -> squared error of its best-placed template / area; smallest wins
    centroids: torch.Tensor  # T 2, (x, y) in pixels, nan where no object was found
    displacement: tuple  # net (dx, dy) of a straight-line fit, fractions of width and height
    reversal: float  # min(largest rise, largest fall) of y, fraction of height; > 0.1 is a bounce


def describe(video: torch.Tensor) -> Description:
    """What a video shows, from pixels alone. video: C T H W, C = 3, floats in [-1, 1].

    Built to score noisy, blurry generated videos too: every decision uses sums over many pixels.
    Colour is the palette entry closest in *direction* from the background, because anti-aliasing,
    blur and fading all mix the object with the background, which only shortens that vector.
    """
    if video.ndim != 4 or video.shape[0] != 3:
        raise ValueError(f"expected one video C T H W with C = 3 (RGB in [-1, 1]), got shape "
                         f"{tuple(video.shape)}; describe a batch one video at a time")
    if not video.is_floating_point():
        raise ValueError(f"expected floats in [-1, 1], got dtype {video.dtype}; convert uint8 "
                         "frames with `x.float() / 127.5 - 1`")
    video = video.detach().float().cpu()
    _, frames, height, width = video.shape
    background = video.flatten(1).median(1).values  # (3,); the object covers far less than half
    offset = video - background.view(3, 1, 1, 1)  # C T H W
    # find the object on 3x3-averaged frames, where noise is 3x weaker and the object stays whole
    smooth = F.avg_pool2d(offset, 3, stride=1, padding=1, count_include_pad=False)  # C T H W
    noise = 1.4826 * smooth.flatten(1).abs().median(1).values.max()  # its std, robustly
    distance = smooth.square().sum(0).sqrt()  # T H W (3x faster than .norm(dim=0) on CPU)
    threshold = max(0.5 * _quantile(distance, 0.995), 5 * noise.item(), 0.25)
    core = distance > threshold  # T H W: surely object
    found = core.flatten(1).sum(1) >= max(3, 0.002 * height * width)  # T
    if not found.any():
        return Description("unknown", "unknown", "none", tuple(background.tolist()), (), 0.0, {},
                           torch.full((frames, 2), math.nan), (0.0, 0.0), 0.0)

    strong = offset[:, core][:, distance[core] >= distance[core].median()]  # 3 N
    direction = strong.mean(1)  # object colour minus background
    palette = torch.stack([_rgb(rgb) for rgb in COLOURS.values()]) - background  # K 3
    colour = list(COLOURS)[F.cosine_similarity(palette, direction[None], dim=1).argmax()]

    # object coverage: 1 on the object, 0 on the background, linear in the pixels so noise averages
    cover = einsum(offset, direction, "c t h w, c -> t h w") / direction.dot(direction)
    near = F.max_pool2d(core[:, None].float(), 7, stride=1, padding=3)[:, 0] > 0  # core + 3 px
    weight = (cover * near)[found]  # F H W
    area = weight.sum((1, 2)).clamp(min=1e-6)  # F
    ys, xs = torch.arange(height) + 0.5, torch.arange(width) + 0.5
    cx = einsum(weight, xs, "f h w, w -> f") / area
    cy = einsum(weight, ys, "f h w, h -> f") / area
    box = _box(near, pad=4)  # everywhere the object goes, with room for the blurred templates
    shape_errors = {shape: _template_error(shape, cover[found][:, box[0], box[1]],
                                           cx - box[1].start, cy - box[0].start, area)
                    for shape in SHAPES}
    shape = min(shape_errors, key=shape_errors.get)

    centroids = torch.full((frames, 2), math.nan)
    centroids[found] = torch.stack([cx, cy], 1)
    motion, displacement, reversal = _motion(torch.arange(frames)[found].float(),
                                             cx / width, cy / height, frames)
    return Description(shape, colour, motion, tuple(background.tolist()),
                       tuple((background + direction).tolist()), area.median().item(),
                       shape_errors, centroids, displacement, reversal)


BLURS = (0.0, 0.7, 1.4)  # Gaussian widths in pixels the shape templates are tried with


def _quantile(x: torch.Tensor, q: float) -> float:
    return x.flatten().kthvalue(max(1, round(q * x.numel()))).values.item()  # no size limit


def _box(mask: torch.Tensor, pad: int) -> tuple[slice, slice]:
    """Row and column slices of the box around every True pixel of a T H W mask, grown by pad."""
    rows, cols = mask.any(2).any(0).nonzero()[:, 0], mask.any(1).any(0).nonzero()[:, 0]
    return (slice(max(rows[0].item() - pad, 0), rows[-1].item() + 1 + pad),
            slice(max(cols[0].item() - pad, 0), cols[-1].item() + 1 + pad))


def _template_error(shape: str, cover, cx, cy, area) -> float:
    """Squared error between the object's coverage (F H W) and the shape drawn at the measured
    centroid with the measured area, blurred as much as fits best (a blurry circle is still no
    square), per unit area."""
    r = (area / AREA_PER_R2[shape]).sqrt()
    template = coverage(shape, cx, cy - CENTROID_DROP[shape] * r, r, *cover.shape[1:])
    best = min(((cover - _blur(template, sigma)) ** 2).sum().item() for sigma in BLURS)
    return best / area.sum().item()


def _blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of T H W frames as two small matrix products (much faster than conv2d on a
    CPU); rows are renormalised at the edges so a flat background stays flat."""
    if sigma == 0:
        return frames

    def gaussian(n):  # n n
        d = torch.arange(n, dtype=torch.float32)
        weights = torch.exp(-((d[:, None] - d[None]) ** 2) / (2 * sigma**2))
        return weights / weights.sum(1, keepdim=True)

    return gaussian(frames.shape[1]) @ frames @ gaussian(frames.shape[2]).T


def _motion(t, x, y, frames: int):
    """Motion from a centroid track (x, y: fractions of the frame, at times t): a y track that
    both rises and falls by > 10% of the height bounces; otherwise the larger net displacement of
    a straight-line fit names the direction, or "none" below 10% of the frame."""
    if len(t) < 2:
        return "none", (0.0, 0.0), 0.0
    centred = t - t.mean()
    dx, dy = ((centred * v).sum() / (centred**2).sum() * (frames - 1) for v in (x, y))
    fall = (y - y.cummin(0).values).max()  # y grows downwards
    rise = (y.cummax(0).values - y).max()
    reversal = min(fall, rise).item()
    if reversal > 0.1:
        motion = "bounce"
    elif max(abs(dx), abs(dy)) < 0.1:
        motion = "none"
    elif abs(dx) > abs(dy):
        motion = "right" if dx > 0 else "left"
    else:
        motion = "down" if dy > 0 else "up"
    return motion, (dx.item(), dy.item()), reversal


def _target_words(target) -> tuple[str, str, str]:
    if isinstance(target, str):
        return parse_caption(target)
    if isinstance(target, Clip):
        return target.shape, target.colour, target.motion
    return tuple(target)


def accuracy(videos, targets) -> dict[str, float]:
    """Fraction of videos whose described shape, colour, motion (and all three) match.
    videos: B C T H W or a list of C T H W; targets: captions, Clips or (shape, colour, motion)."""
    if len(videos) != len(targets) or len(targets) == 0:
        raise ValueError(f"need as many targets as videos (and at least one), got "
                         f"{len(videos)} videos and {len(targets)} targets")
    hits = dict.fromkeys(("shape", "colour", "motion", "all"), 0)
    for video, target in zip(videos, targets):
        found = describe(video)
        got, want = (found.shape, found.colour, found.motion), _target_words(target)
        for key, g, w in zip(("shape", "colour", "motion"), got, want):
            hits[key] += g == w
        hits["all"] += got == want
    return {key: count / len(targets) for key, count in hits.items()}


# ---------------------------------------------------------------------------------------------
# data_samples/: a small fixed set, regenerated byte for byte by scripts/make_data_samples.py
# ---------------------------------------------------------------------------------------------

def sample_specs() -> list[dict]:
    """Every (colour, motion) pair once at 32x32, shapes in rotation so that each shape meets every
    colour and every motion; then one 64x64 clip per motion for nicer display."""
    colours = list(COLOURS)
    specs = [dict(shape=SHAPES[(colours.index(c) + MOTIONS.index(m)) % len(SHAPES)], colour=c,
                  motion=m, seed=i, frames=17, size=[32, 32])
             for i, (c, m) in enumerate(product(colours, MOTIONS))]
    specs += [dict(shape=SHAPES[i % len(SHAPES)], colour=colours[i], motion=m, seed=100 + i,
                   frames=17, size=[64, 64]) for i, m in enumerate(MOTIONS)]
    return specs


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Any float video in [-1, 1] -> uint8 0..255, same shape (a third of the bytes of float32)."""
    return ((video + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def write_samples(directory=SAMPLE_DIR) -> None:
    """clips.safetensors (uint8 N C T H W, one tensor per frame size) + captions.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    groups, entries = {}, []
    for spec in sample_specs():
        clip = make_clip(spec["shape"], spec["colour"], spec["motion"], frames=spec["frames"],
                         size=tuple(spec["size"]), seed=spec["seed"])
        key = "video_{}x{}".format(*spec["size"])
        groups.setdefault(key, []).append(to_uint8(clip.video))
        entries.append(dict(caption=clip.caption, **spec, key=key, index=len(groups[key]) - 1))
    save_file({key: torch.stack(videos) for key, videos in groups.items()},  # N C T H W
              str(directory / "clips.safetensors"))
    lines = ",\n".join(" " + json.dumps(entry) for entry in entries)  # one clip per line
    (directory / "captions.json").write_text(f"[\n{lines}\n]\n")


def load_samples(directory=SAMPLE_DIR) -> list[Clip]:
    """The committed sample clips, videos back in float [-1, 1] (exact up to uint8 rounding)."""
    directory = Path(directory)
    if not (directory / "captions.json").exists():
        raise FileNotFoundError(f"no samples in {directory}; regenerate them with `{REGENERATE}`")
    videos = load_file(str(directory / "clips.safetensors"))
    return [Clip(videos[e["key"]][e["index"]].float() / 127.5 - 1, e["caption"], e["shape"],
                 e["colour"], e["motion"], e["seed"])
            for e in json.loads((directory / "captions.json").read_text())]
