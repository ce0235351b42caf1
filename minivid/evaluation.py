"""The strict text-to-video benchmark: one comparable row for every tiny text-to-video family.

Each family of the course (Wan first; CogVideoX, HunyuanVideo, the U-Net systems and the token models
add theirs with `register_family`) ships a tiny model trained on the same synthetic captions. The
benchmark generates every held-out combination (never in training, every word seen) and as many seen
ones, once per seed, and reads each clip back from its pixels with `minivid.data`:

- strict shape / colour: the word must hold on at least 90% of the frames (`data.STRICT_SHARE`), so an
  object that turns yellow half-way or melts into a blob is wrong; motion: from the centroid track;
  "all three": all of them at once;
- the whole-clip reading (one shape and one colour for the whole clip) as a second column;
- identity drift (share of frames whose shape/colour differs from the clip's majority) and flicker
  (frame-to-frame change of the object's mask once its motion is taken out);
- the cost: parameters, training minutes of the shipped run, sampling seconds per clip.

`scripts/eval_t2v.py --model NAME` is its command line; it prints the row and writes a frame grid.
"""
from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from minivid.data import ALL_COMBINATIONS, caption, describe, judge, make_clip
from minivid.sampling import generate as generate_tiny
from minivid.training import tasks
from minivid.training.checkpoint import read_shipped_info
from minivid.training.loop import read_log
from minivid.training import t2v_task
from minivid.training.t2v_task import HELD_OUT, METADATA_KEY, TRAIN_COMBINATIONS, load_t2v
from minivid.training.vae_task import load_vae
from minivid.viz import frame_grid, scrubber

SEEN_SAMPLE = TRAIN_COMBINATIONS[::4]  # 18 of the 72 seen combinations, as many as are held out
SEEDS = (0, 1, 2, 3)
WORDS = ("shape", "colour", "motion", "all")


@dataclass(frozen=True)
class Family:
    """A tiny text-to-video family: how to load its shipped model and how to sample it."""
    name: str
    task: str  # the training task; its shipped weights are what the benchmark samples
    load: Callable[[Path], nn.Module]  # shipped file -> the trained model, in eval mode
    generate: Callable[..., Tensor]  # generate(model, captions, seed=, **sampling) -> `B 3 T H W` in [-1, 1]
    metadata_key: str  # where the shipped file keeps its JSON (training minutes, step, ...)
    export: Callable[[Path], Path] | None = None  # a training run -> its shipped file
    description: str = ""

    @property
    def shipped(self) -> Path:
        return tasks.get_task(self.task).shipped


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> None:
    if family.name in _FAMILIES:
        raise ValueError(f"family {family.name!r} is already registered")
    tasks.get_task(family.task)  # the task must exist
    _FAMILIES[family.name] = family


def family_names() -> list[str]:
    return list(_FAMILIES)


def get_family(name: str) -> Family:
    if name not in _FAMILIES:
        raise ValueError(f"unknown family {name!r}; the benchmark knows: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


@dataclass
class Row:
    """One family's benchmark result: `scores[set]` = `data.score`-style means, per set of combinations."""
    family: str
    params: int
    train_minutes: float | None
    seconds_per_clip: float
    seeds: tuple[int, ...]
    scores: dict[str, dict[str, float]]
    clips: dict[str, list[tuple]] = field(repr=False, default_factory=dict)  # split -> run_family's clips


def run_family(model: nn.Module, generate: Callable[..., Tensor], combinations, seeds=SEEDS, batch: int = 36,
               **sampling) -> tuple[dict[str, float], list, float]:
    """Generate every combination once per seed and judge each clip: (mean scores with "clips",
    [(video C T H W, (shape, colour, motion), verdict, data.Description)], sampling seconds per clip)."""
    combinations = [tuple(c) for c in combinations]
    captions = [caption(*c) for c in combinations]
    clips, seconds = [], 0.0
    for seed in seeds:
        for start in range(0, len(captions), batch):
            began = time.perf_counter()
            videos = generate(model, captions[start:start + batch], seed=seed, **sampling)
            seconds += time.perf_counter() - began
            for video, combo in zip(videos, combinations[start:start + batch]):
                found = describe(video)
                clips.append((video, combo, judge(found, combo), found))
    means = {key: sum(c[2][key] for c in clips) / len(clips) for key in clips[0][2]}
    return {**means, "clips": len(clips)}, clips, seconds / len(clips)


def benchmark(name: str, seeds=SEEDS, combinations: int = len(HELD_OUT), weights: str | Path | None = None,
              **sampling) -> Row:
    """The row of family `name`: its shipped model (or `weights`) on the first `combinations` seen
    (`SEEN_SAMPLE`) and held-out combinations, once per seed."""
    family = get_family(name)
    path = Path(weights) if weights is not None else family.shipped
    model = family.load(path)
    try:
        seconds = read_shipped_info(path, family.metadata_key).get("train_seconds")
    except ValueError:  # a training run rather than a shipped file
        seconds = None
    scores, clips, per_clip = {}, {}, []
    for split, combos in (("seen", SEEN_SAMPLE[:combinations]), ("held-out", HELD_OUT[:combinations])):
        scores[split], clips[split], cost = run_family(model, family.generate, combos, seeds, **sampling)
        per_clip.append(cost)
    return Row(name, sum(p.numel() for p in model.parameters()), seconds / 60 if seconds else None,
               sum(per_clip) / len(per_clip), tuple(seeds), scores, clips)


def table(rows: list[Row]) -> str:
    """Markdown table, one line per family: strict accuracies (whole-clip "all" in brackets), drift, cost."""
    head = ["family", "params", "train min", "s/clip"]
    for split in ("seen", "held-out"):
        head += [f"{split} {w}" for w in WORDS] + [f"{split} drift"]
    head += ["flicker", "clips"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.family, f"{row.params / 1e6:.2f} M",
                 f"{row.train_minutes:.1f}" if row.train_minutes else "—", f"{row.seconds_per_clip:.2f}"]
        for split in ("seen", "held-out"):
            s = row.scores[split]
            cells += [f"{s[w]:.1%}" for w in WORDS[:3]] + [f"**{s['all']:.1%}** ({s['whole_all']:.1%})",
                                                           f"{s['drift']:.1%}"]
        flicker = sum(row.scores[s]["flicker"] for s in row.scores) / len(row.scores)
        cells += [f"{flicker:.3f}", str(sum(row.scores[s]["clips"] for s in row.scores))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid(row: Row, per_group: int = 4, every: int = 2) -> plt.Figure:
    """A frame grid a person can judge at a glance: seen clips, held-out clips, and failures (strict), each
    row titled with its prompt and the verdict (shape, colour, motion), each frame labelled with what the
    analyser read in it (red where it differs from the clip's most common reading)."""
    picked = [(f"{split}: ", c) for split in ("seen", "held-out") for c in row.clips[split][:per_group]]
    failures = [c for split in ("seen", "held-out") for c in row.clips[split] if not c[2]["all"]]
    picked += [("failure: ", c) for c in failures[:per_group]]
    titles = [f"{prefix}{caption(*combo)}  [{''.join('✓' if verdict[w] else '✗' for w in WORDS[:3])}]"
              for prefix, (_, combo, verdict, _) in picked]
    labels = [[f"{s} {c}" if s != "none" else "none" for s, c in zip(found.frame_shapes, found.frame_colours)]
              for _, (_, _, _, found) in picked]
    return frame_grid(*[video for _, (video, *_) in picked], titles=titles, every=every, frame_labels=labels)


def load_shipped(names: list[str]) -> dict[str, nn.Module]:
    """{family: its shipped model, in eval mode} for the families `names`."""
    return {name: get_family(name).load(get_family(name).shipped) for name in names}


def side_by_side(models: dict[str, nn.Module], prompts: list[str], seed: int = 0):
    """A scrubber with every prompt through every family's model, same noise seed: prompt by prompt, the
    families next to each other."""
    videos = [video for prompt in prompts for name, model in models.items()
              for video in get_family(name).generate(model, [prompt], seed=seed)]
    return scrubber(*videos, titles=[f"{name}: {prompt}" for prompt in prompts for name in models])


def training_table(models: dict[str, nn.Module]) -> list[dict[str, str]]:
    """One row per family (name -> its shipped model, `TinyT2V`): transformer class, parameters, the budget
    and the minutes it trained, from the shipped file's metadata (for `viz.table`)."""
    rows = []
    for name, model in models.items():
        info = read_shipped_info(get_family(name).shipped, METADATA_KEY)
        rows.append({"family": name, "transformer": type(model.transformer).__name__,
                     "parameters": f"{sum(p.numel() for p in model.parameters()):,}",
                     "of which the transformer": f"{sum(p.numel() for p in model.transformer.parameters()):,}",
                     "steps × clips": f"{info['train']['steps']:,} × {info['train']['batch_size']}",
                     "training minutes (2-core CPU)": f"{info['train_seconds'] / 60:.0f}"})
    return rows


def loss_curves(names: list[str], smooth: int = 25) -> plt.Figure:
    """The shipped runs' training losses (each family's `.log.jsonl`), each point the mean of `smooth`
    logged batches, on one log-scale axis."""
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    for name in names:
        log = read_log(get_family(name).shipped.with_suffix(".log.jsonl"))
        losses = torch.tensor([r["loss"] for r in log])
        means = torch.nn.functional.avg_pool1d(losses[None, None], smooth, 1)[0, 0]
        ax.plot([r["step"] for r in log][smooth // 2:smooth // 2 + len(means)], means, label=name)
    ax.set(xlabel="step", ylabel="flow-matching loss", yscale="log", title="training loss, same data and schedule")
    ax.legend()
    plt.close(fig)
    return fig


@torch.no_grad()
def calibration(vae, per_combination: int = 1, seed: int = 10**6) -> dict[str, dict]:
    """The analyser's own accuracy: clean clips of every combination, and the same clips encoded and
    decoded by `vae` (the best a model sampling in that latent space could score). Each entry holds the
    `score`-style means, "clips", and "frame_colours": {(asked, read): frames} for every frame whose
    colour was read wrong (e.g. a green object read as cyan)."""
    clips = [make_clip(*combo, seed=seed + per_combination * i + k)
             for i, combo in enumerate(ALL_COMBINATIONS) for k in range(per_combination)]
    videos = torch.stack([c.video for c in clips])
    decoded = torch.cat([vae.decode(vae.encode(chunk)) for chunk in videos.split(32)])
    results = {}
    for name, batch in (("clean", videos), ("VAE reconstructions", decoded)):
        found = [describe(video) for video in batch]
        verdicts = [judge(f, c) for f, c in zip(found, clips)]
        confusions = Counter((c.colour, read) for f, c in zip(found, clips) for read in f.frame_colours
                             if read != c.colour)
        results[name] = {**{k: sum(v[k] for v in verdicts) / len(verdicts) for k in verdicts[0]},
                         "clips": len(clips), "frame_colours": dict(confusions)}
    return results


# ---- the families ----------------------------------------------------------------------------------------

@functools.cache
def _course_vae():
    return load_vae()


def _generate_tiny(model, captions, *, seed: int = 0, **sampling) -> Tensor:
    return generate_tiny(model, _course_vae(), captions, seed=seed, **sampling)


register_family(Family("wan", "t2v-tiny", load_t2v, _generate_tiny, METADATA_KEY, t2v_task.export,
                       "Wan2.1 transformer (3D RoPE, shared time MLP, cross-attention) + word-level text "
                       "encoder, flow matching on the course VAE's latents"))
register_family(Family("cogvideox", "t2v-tiny-cogvideox", load_t2v, _generate_tiny, METADATA_KEY, t2v_task.export,
                       "CogVideoX transformer (text and video in one sequence, full 3D attention, expert adaLN, "
                       "3D RoPE) + the same text encoder, objective, sampler and latents as wan"))
register_family(Family("hunyuanvideo", "t2v-tiny-hunyuanvideo", load_t2v, _generate_tiny, METADATA_KEY, t2v_task.export,
                       "HunyuanVideo transformer (token refiner, 1 double-stream + 3 single-stream blocks, masked "
                       "text padding, 3D RoPE on video) + the same text encoder, objective, sampler and latents as wan"))
register_family(Family("hunyuanvideo-distilled", "t2v-tiny-hunyuanvideo-distilled", load_t2v, _generate_tiny, METADATA_KEY,
                       t2v_task.export, "the hunyuanvideo row's model distilled from its own CFG: the guidance scale "
                       "is an input (guidance_in), one forward pass per step instead of two"))
