"""The strict text-to-video benchmark: one comparable row per tiny text-to-video family.

    python scripts/eval_t2v.py --model wan                      # the shipped tiny Wan, 4 seeds
    python scripts/eval_t2v.py --model wan --weights runs/t2v-tiny --export   # a run; then ship it
    python scripts/eval_t2v.py --calibrate                      # the analyser on clean and VAE-decoded clips

Every held-out combination (never seen in training) and as many seen ones are generated once per seed,
decoded, and read back from the pixels frame by frame (`minivid.evaluation`). The row: strict shape /
colour / motion / all three (whole-clip "all" in brackets), identity drift, flicker, parameters,
training minutes, sampling seconds per clip. A frame grid of seen, held-out and failed clips is written
to OUT/NAME.png.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from minivid import evaluation
from minivid.models import tiny_t2v
from minivid.training.vae_task import load_vae


def calibration_table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| clips read | n | shape | colour | motion | all three (whole clip) | drift | flicker | wrong frame colours |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        lines.append(f"| {name} | {s['clips']} | {s['shape']:.1%} | {s['colour']:.1%} | {s['motion']:.1%} | "
                     f"**{s['all']:.1%}** ({s['whole_all']:.1%}) | {s['drift']:.1%} | {s['flicker']:.3f} | "
                     + (", ".join(f"{a}→{b}: {n}" for (a, b), n in sorted(s['frame_colours'].items())) or "none")
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=evaluation.family_names(), default="wan", help="the family to measure")
    parser.add_argument("--weights", default=None,
                        help="a shipped weights file, a training checkpoint or a run directory (its latest "
                             "checkpoint's EMA weights); default: the family's shipped file")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(evaluation.SEEDS), help="noise seeds")
    parser.add_argument("--combinations", type=int, default=len(evaluation.HELD_OUT),
                        help="seen and held-out combinations each (at most 18)")
    parser.add_argument("--steps", type=int, default=tiny_t2v.NUM_STEPS, help="sampling steps")
    parser.add_argument("--shift", type=float, default=tiny_t2v.SHIFT, help="timestep shift at sampling")
    parser.add_argument("--guidance", type=float, default=tiny_t2v.GUIDANCE, help="CFG scale (1: none)")
    parser.add_argument("--out", default="runs/benchmark", help="folder for the frame grid PNG")
    parser.add_argument("--calibrate", action="store_true",
                        help="only measure the analyser on clean clips and their VAE reconstructions")
    parser.add_argument("--export", action="store_true",
                        help="then write the run's EMA weights and log to the family's shipped file")
    args = parser.parse_args(argv)
    if not 1 <= args.combinations <= len(evaluation.HELD_OUT):
        parser.error(f"--combinations must be in [1, {len(evaluation.HELD_OUT)}], got {args.combinations}")
    if args.export and args.weights is None:
        parser.error("--export needs --weights: the training run to ship")

    if args.calibrate:
        start = time.time()
        results = evaluation.calibration(load_vae(), per_combination=3)
        print(f"analyser calibration ({time.time() - start:.0f} s)\n{calibration_table(results)}")
        return results
    start = time.time()
    row = evaluation.benchmark(args.model, seeds=args.seeds, combinations=args.combinations, weights=args.weights,
                               num_steps=args.steps, shift=args.shift, guidance_scale=args.guidance)
    print(f"{args.model} ({args.weights or evaluation.get_family(args.model).shipped}): {args.steps} steps, "
          f"shift {args.shift}, CFG {args.guidance}, seeds {args.seeds}, {time.time() - start:.0f} s, "
          f"{torch.get_num_threads()} threads")
    print(evaluation.table([row]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluation.grid(row).savefig(out / f"{args.model}.png", dpi=100)
    print("frame grid:", out / f"{args.model}.png")
    if args.export:
        print("wrote", evaluation.get_family(args.model).export(Path(args.weights)))
    return {"row": row}


if __name__ == "__main__":
    main()
