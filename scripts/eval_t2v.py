"""Measure how well the tiny text-to-video model follows its prompts.

    python scripts/eval_t2v.py                                   # the shipped data_samples/t2v_tiny.safetensors
    python scripts/eval_t2v.py runs/t2v-tiny --export            # a training run; then ship its EMA weights

Every held-out combination (never seen in training) and as many seen ones are generated once per seed,
decoded by the tiny VAE and read back from the pixels by `minivid.data.describe`; the table gives the
fraction of clips whose shape, colour and motion (and all three) match the prompt.
"""
from __future__ import annotations

import argparse
import time

from minivid import evaluation
from minivid.models import tiny_t2v
from minivid.training import t2v_task
from minivid.training.vae_task import load_vae


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="?", default=str(t2v_task.SHIPPED),
                        help="shipped weights file, a training checkpoint, or a run directory (its latest "
                             "checkpoint's EMA weights)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="noise seeds per combination")
    parser.add_argument("--steps", type=int, default=tiny_t2v.NUM_STEPS, help="Euler sampling steps")
    parser.add_argument("--shift", type=float, default=tiny_t2v.SHIFT, help="timestep shift at sampling")
    parser.add_argument("--guidance", type=float, default=tiny_t2v.GUIDANCE, help="CFG scale (1: none)")
    parser.add_argument("--export", action="store_true",
                        help=f"then write the run's EMA weights and loss log to {t2v_task.SHIPPED}")
    args = parser.parse_args(argv)

    start = time.time()
    model, vae = t2v_task.load_t2v(args.weights), load_vae()
    results = evaluation.measure(model, vae, seeds=args.seeds, num_steps=args.steps, shift=args.shift,
                               guidance_scale=args.guidance)
    print(f"{args.weights}: {args.steps} Euler steps, shift {args.shift}, CFG {args.guidance}, "
          f"seeds {args.seeds} ({time.time() - start:.0f} s)")
    print(evaluation.accuracy_table(results))
    if args.export:
        print("wrote", t2v_task.export(args.weights))
    return results


if __name__ == "__main__":
    main()
