"""An analyser that reads a clip back from its pixels: shape, colour and motion.

It scores prompt following of generated videos (noisy, blurry, decoded by a VAE), so every decision uses
sums over many pixels: the colour is the palette entry closest in *direction* from the background, the
shape the best-fitting blurred template drawn by the generator's own `coverage`, the motion the
straight-line fit (or the bounce) of the centroid track.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import einsum

from minivid.data.synthetic import (AREA_PER_R2, CENTROID_DROP, COLOURS, SHAPES, Clip, coverage, parse_caption,
                                    rgb)


STRICT_SHARE = 0.9  # a word is right on a clip only when it holds on at least this share of its frames


@dataclass(eq=False)
class Description:
    """What `describe` read from a clip. Shape and colour are read twice: over the whole clip at once
    (`shape`, `colour`: one template fit and one mean colour for all frames, the analyser's first
    reading) and on every frame (`frame_shapes`, `frame_colours`), which catches an object that turns
    yellow half-way or melts from a square into a blob. Motion comes from the centroid track."""
    shape: str  # whole clip: a SHAPES entry, or "unknown" when no object is found
    colour: str  # whole clip: a COLOURS name, or "unknown"
    motion: str  # a MOTIONS entry, or "none"
    background: tuple  # RGB in [-1, 1]: median of all pixels
    object_rgb: tuple  # RGB in [-1, 1]: mean of the object's most saturated half
    area: float  # object area in pixels, median over the frames where it was found
    shape_errors: dict  # shape -> squared error of its best-placed template / area; smallest wins
    centroids: torch.Tensor  # T 2, (x, y) in pixels, nan where no object was found
    displacement: tuple  # net (dx, dy) of a straight-line fit, fractions of width and height
    reversal: float  # min(largest rise, largest fall) of y, fraction of height; > 0.1 is a bounce
    frame_shapes: tuple = ()  # per frame: a SHAPES entry, or "none" where no object was found
    frame_colours: tuple = ()  # per frame: a COLOURS name, or "none"
    flicker: float = 0.0  # mean change of the object's mask between frames after following its motion

    def share(self, shape: str | None = None, colour: str | None = None) -> float:
        """Share of the frames whose reading is `shape` (or `colour`)."""
        readings = self.frame_shapes if shape is not None else self.frame_colours
        word = shape if shape is not None else colour
        return sum(r == word for r in readings) / max(len(readings), 1)

    @property
    def drift(self) -> float:
        """Identity drift: the share of frames whose (shape, colour) differs from the clip's most common
        pair; frames where no object was found count as different."""
        pairs = list(zip(self.frame_shapes, self.frame_colours))
        found = [p for p in pairs if p[0] != "none"]
        if not found:
            return 1.0
        majority = max(set(found), key=found.count)
        return sum(p != majority for p in pairs) / len(pairs)


def _palette_name(direction: torch.Tensor, palette: torch.Tensor) -> str:
    """The palette colour closest in direction (from the background) to `direction` (3,)."""
    return list(COLOURS)[F.cosine_similarity(palette, direction[None], dim=1).argmax()]


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
                           torch.full((frames, 2), math.nan), (0.0, 0.0), 0.0,
                           ("none",) * frames, ("none",) * frames, 0.0)

    palette = torch.stack([rgb(value) for value in COLOURS.values()]) - background  # K 3
    near = F.max_pool2d(core[:, None].float(), 7, stride=1, padding=3)[:, 0] > 0  # core + 3 px
    box = _box(near, pad=4)  # everywhere the object goes, with room for the blurred templates

    # the whole clip at once: one colour direction, one template fit over all frames
    strong = offset[:, core][:, distance[core] >= distance[core].median()]  # 3 N
    direction = strong.mean(1)  # object colour minus background
    cover = einsum(offset, direction, "c t h w, c -> t h w") / direction.dot(direction)  # 1 on the object
    whole = _object(cover, near, found)
    shape_errors = {shape: errors.sum().item() / whole.area.sum().item()
                    for shape, errors in _template_errors(whole, box).items()}

    # frame by frame: each frame's own colour direction, coverage and template fit
    frame_colours, frame_cover = ["none"] * frames, torch.zeros(frames, height, width)
    for t in found.nonzero()[:, 0].tolist():
        pixels = distance[t][core[t]]
        own = offset[:, t][:, core[t] & (distance[t] >= pixels.median())].mean(1)  # 3
        frame_colours[t] = _palette_name(own, palette)
        frame_cover[t] = einsum(offset[:, t], own, "c h w, c -> h w") / own.dot(own)
    per_frame = _object(frame_cover, near, found)
    errors = _template_errors(per_frame, box, per_frame=True)  # shape -> F
    best = torch.stack([errors[shape] for shape in SHAPES]).argmin(0)  # F
    frame_shapes = ["none"] * frames
    for t, index in zip(found.nonzero()[:, 0].tolist(), best.tolist()):
        frame_shapes[t] = SHAPES[index]

    centroids = torch.full((frames, 2), math.nan)
    centroids[found] = torch.stack([per_frame.cx, per_frame.cy], 1)
    motion, displacement, reversal = _motion(torch.arange(frames)[found].float(),
                                             per_frame.cx / width, per_frame.cy / height, frames)
    return Description(min(shape_errors, key=shape_errors.get), _palette_name(direction, palette), motion,
                       tuple(background.tolist()), tuple((background + direction).tolist()),
                       whole.area.median().item(), shape_errors, centroids, displacement, reversal,
                       tuple(frame_shapes), tuple(frame_colours), _flicker(per_frame))


@dataclass
class _Object:
    weight: torch.Tensor  # F H W: coverage near the object, on the frames where it was found
    area: torch.Tensor  # F
    cx: torch.Tensor  # F, pixels
    cy: torch.Tensor  # F


def _object(cover: torch.Tensor, near: torch.Tensor, found: torch.Tensor) -> _Object:
    """Coverage (T H W), restricted to the object's neighbourhood and the frames where it was found,
    with its area and centroid per frame."""
    weight = (cover * near)[found]  # F H W
    area = weight.sum((1, 2)).clamp(min=1e-6)  # F
    ys, xs = torch.arange(weight.shape[1]) + 0.5, torch.arange(weight.shape[2]) + 0.5
    return _Object(weight, area, einsum(weight, xs, "f h w, w -> f") / area, einsum(weight, ys, "f h w, h -> f") / area)


BLURS = (0.0, 0.7, 1.4)  # Gaussian widths in pixels the shape templates are tried with


def _quantile(x: torch.Tensor, q: float) -> float:
    return x.flatten().kthvalue(max(1, round(q * x.numel()))).values.item()  # no size limit


def _box(mask: torch.Tensor, pad: int) -> tuple[slice, slice]:
    """Row and column slices of the box around every True pixel of a T H W mask, grown by pad."""
    rows, cols = mask.any(2).any(0).nonzero()[:, 0], mask.any(1).any(0).nonzero()[:, 0]
    return (slice(max(rows[0].item() - pad, 0), rows[-1].item() + 1 + pad),
            slice(max(cols[0].item() - pad, 0), cols[-1].item() + 1 + pad))


def _template_errors(obj: _Object, box: tuple[slice, slice], per_frame: bool = False) -> dict[str, torch.Tensor]:
    """shape -> squared error between the object's coverage (in `box`) and the shape drawn at the measured
    centroid with the measured area, blurred as much as fits best (a blurry circle is still no square).
    Whole clip (default): the total error of the blur that fits all frames best, a 0-d tensor. Per frame:
    each frame's best error divided by its area, `(F,)`."""
    cover = obj.weight[:, box[0], box[1]]
    cx, cy = obj.cx - box[1].start, obj.cy - box[0].start
    out = {}
    for shape in SHAPES:
        r = (obj.area / AREA_PER_R2[shape]).sqrt()
        template = coverage(shape, cx, cy - CENTROID_DROP[shape] * r, r, *cover.shape[1:])
        errors = torch.stack([((cover - _blur(template, sigma)) ** 2).sum((1, 2)) for sigma in BLURS])  # blur F
        out[shape] = errors.min(0).values / obj.area if per_frame else errors.sum(1).min()
    return out


def _flicker(obj: _Object) -> float:
    """Mean change of the object's mask from one frame to the next, with the motion taken out: frame t's
    mask (coverage clamped to [0, 1]) is shifted so its centroid lands on frame t-1's, and the absolute
    difference is summed and divided by the mean area. A rigid object moving smoothly scores ~0; a shape
    that melts, pulses or blinks scores high."""
    if len(obj.area) < 2:
        return 0.0
    mask = obj.weight.clamp(0, 1)  # F H W
    f, h, w = mask.shape
    shift = torch.stack([obj.cx[:-1] - obj.cx[1:], obj.cy[:-1] - obj.cy[1:]], 1)  # F-1 2, pixels
    theta = torch.zeros(f - 1, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = -2 * shift[:, 0] / w, -2 * shift[:, 1] / h
    grid = F.affine_grid(theta, (f - 1, 1, h, w), align_corners=False)
    moved = F.grid_sample(mask[1:, None], grid, align_corners=False)[:, 0]  # frame t moved onto t-1
    change = (moved - mask[:-1]).abs().sum((1, 2)) / ((obj.area[1:] + obj.area[:-1]) / 2)
    return change.mean().item()


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


def judge(found: Description, target) -> dict[str, float]:
    """One clip against its prompt: the strict reading (`shape`, `colour`: right on at least STRICT_SHARE
    of the frames; `motion`; `all`), the whole-clip reading (`whole_*`), `drift` and `flicker`."""
    shape, colour, motion = _target_words(target)
    strict = {"shape": found.share(shape=shape) >= STRICT_SHARE, "colour": found.share(colour=colour) >= STRICT_SHARE,
              "motion": found.motion == motion}
    whole = {"shape": found.shape == shape, "colour": found.colour == colour, "motion": found.motion == motion}
    return {**{k: float(v) for k, v in strict.items()}, "all": float(all(strict.values())),
            **{f"whole_{k}": float(v) for k, v in whole.items()}, "whole_all": float(all(whole.values())),
            "drift": found.drift, "flicker": found.flicker}


def score(videos, targets) -> dict[str, float]:
    """Means of `judge` over clips: strict and whole-clip accuracies (fractions), mean drift and flicker.
    videos: B C T H W or a list of C T H W; targets: captions, Clips or (shape, colour, motion)."""
    if len(videos) != len(targets) or len(targets) == 0:
        raise ValueError(f"need as many targets as videos (and at least one), got "
                         f"{len(videos)} videos and {len(targets)} targets")
    verdicts = [judge(describe(video), target) for video, target in zip(videos, targets)]
    return {key: sum(v[key] for v in verdicts) / len(verdicts) for key in verdicts[0]}


def accuracy(videos, targets) -> dict[str, float]:
    """The whole-clip reading of `score`: fraction of videos whose shape, colour, motion (and all three),
    each read once for the whole clip, match. Lenient: see `score` for the frame-level reading."""
    scores = score(videos, targets)
    return {key: scores[f"whole_{key}"] for key in ("shape", "colour", "motion", "all")}
