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
    palette = torch.stack([rgb(value) for value in COLOURS.values()]) - background  # K 3
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
