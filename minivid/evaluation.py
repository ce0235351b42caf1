"""How well a tiny text-to-video model follows its prompts, read back from the pixels of its clips.

Every combination is generated once per seed, decoded by the tiny VAE and read by `minivid.data.describe`;
the table gives the fraction of clips whose shape, colour and motion (and all three) match the prompt, on
combinations seen in training and on held-out ones (every word seen, the combination never).
`scripts/eval_t2v.py` is its command line.
"""
from __future__ import annotations

from minivid.data import accuracy, caption
from minivid.models.tiny_t2v import TinyT2V
from minivid.models.vae import WanVAE
from minivid.sampling import generate
from minivid.training.t2v_task import HELD_OUT, TRAIN_COMBINATIONS

SEEN_SAMPLE = TRAIN_COMBINATIONS[::4]  # 18 of the 72 seen combinations, as many as are held out


def prompt_following(model: TinyT2V, vae: WanVAE, combinations, seeds=(0, 1), batch: int = 36,
                     **sampling) -> tuple[dict[str, float], list]:
    """Generate every combination once per seed, read the clips back with `data.describe`:
    (accuracy dict as `data.accuracy`, the videos `C T H W` in order seed-major)."""
    combinations = [tuple(c) for c in combinations]
    captions = [caption(*c) for c in combinations]
    videos = []
    for seed in seeds:
        for start in range(0, len(captions), batch):
            videos.extend(generate(model, vae, captions[start:start + batch], seed=seed, **sampling))
    return accuracy(videos, combinations * len(seeds)), videos


def measure(model: TinyT2V, vae: WanVAE, seeds=(0, 1), combinations: int = len(HELD_OUT),
            **sampling) -> dict[str, dict[str, float]]:
    """Prompt following on the first `combinations` seen (SEEN_SAMPLE) and held-out combinations, once
    per seed: {"seen": accuracies + "clips", "held-out": ...}. What `scripts/eval_t2v.py` reports."""
    results = {}
    for name, combos in (("seen", SEEN_SAMPLE[:combinations]), ("held-out", HELD_OUT[:combinations])):
        results[name], _ = prompt_following(model, vae, combos, seeds=seeds, **sampling)
        results[name]["clips"] = len(combos) * len(seeds)
    return results


def accuracy_table(results: dict[str, dict[str, float]]) -> str:
    """`measure`'s results as a text table: one row per set of combinations, accuracies in %."""
    words = ("shape", "colour", "motion", "all")
    rows = [f"{'combinations':14}{'clips':>6}" + "".join(f"{w:>8}" for w in words)]
    for name, acc in results.items():
        rows.append(f"{name:14}{acc['clips']:>6}" + "".join(f"{acc[w]:8.1%}" for w in words))
    return "\n".join(rows)
