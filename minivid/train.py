"""Train a registered task from the command line, on one CPU or many GPUs:

    python -m minivid.train --task tiny-autoencoder --steps 200
    python -m minivid.train --task tiny-autoencoder --steps 400 --resume runs/tiny-autoencoder
    torchrun --nproc_per_node=2 -m minivid.train --task tiny-autoencoder   # DDP, same results

The same arguments give the same weights however the global batch is split: over grad_accum
micro-batches or over torchrun processes (up to float rounding in the gradient average), as long
as the loss draws no random numbers. FSDP is not wired in: every model the course trains fits one
device, where DDP is simpler and as fast.

The trainer itself lives in `minivid.training` (loop, optimiser, data order, checkpoints, DDP,
tasks); this module is its command line and re-exports its public names.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from minivid.config import runs_dir
from minivid.data import check_frames, frame_size

from minivid.training import (Task, TrainConfig, Trainer, build_trainer, get_task, latest_checkpoint,
                              load_weights, read_checkpoint, read_log, register_task, task_names)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the module docstring's layout and shows each option's default where it has one."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return action.help + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m minivid.train", description="\n\n".join(__doc__.split("\n\n")[:2]),
        epilog="Checkpoints are safetensors files OUT/step_NNNNNNN.safetensors holding the model, "
               "its EMA, AdamW, the lr schedule and every RNG state; OUT/log.jsonl holds one JSON "
               "line per logged step. Launched with torchrun, rank 0 alone writes both.",
        formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--task", required=True, choices=task_names(), help="what to train: "
        + "; ".join(f"{name}: {get_task(name).description}" for name in task_names()))
    run = parser.add_argument_group("optimisation")
    for option, kind, text in [  # each default is TrainConfig's field of the same name
        ("--steps", int, "optimizer steps in the run"),
        ("--batch-size", int, "GLOBAL batch per optimizer step, summed over processes and accumulation "
                              "micro-batches; must be divisible by grad-accum x processes"),
        ("--grad-accum", int, "split each step's batch into this many micro-batches (less memory, same result)"),
        ("--lr", float, "peak AdamW learning rate"),
        ("--warmup", int, "steps of linear lr warm-up, followed by cosine decay to the end"),
        ("--min-lr-ratio", float, "the cosine ends at lr x this"),
        ("--weight-decay", float, "AdamW weight decay on matrices and kernels (not on biases and norms)"),
        ("--grad-clip", float, "clip the global gradient norm to this (0: never clip)"),
        ("--ema-decay", float, "EMA of the weights: ema = decay x ema + (1 - decay) x weights, each step"),
        ("--seed", int, "seeds the model init, the data order and the loss's random draws"),
    ]:
        run.add_argument(option, type=kind, default=getattr(defaults, option[2:].replace("-", "_")), help=text)
    data = parser.add_argument_group("data (the task's dataset)")
    data.add_argument("--data-length", type=int, default=256, help="number of clips in the dataset")
    data.add_argument("--frames", type=int, default=17, help="frames per clip (1+4n)")
    data.add_argument("--size", type=int, default=32, help="frame height and width in pixels")
    data.add_argument("--data-seed", type=int, default=0, help="which clips the dataset holds")
    system = parser.add_argument_group("device, precision and files")
    system.add_argument("--device", default=defaults.device,
                        help="'auto' (cuda:LOCAL_RANK if there is a GPU, else cpu), 'cpu', 'cuda', 'mps'")
    system.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=defaults.precision,
                        help="bf16 runs the forward pass under torch.autocast (no GradScaler needed); "
                             "'auto' is bf16 on GPUs that support it and fp32 on CPUs, where bf16 "
                             "is often slower")
    system.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels (torch.use_deterministic_algorithms): needed on "
                             "CUDA for bit-exact resume; the CPU is deterministic already")
    system.add_argument("--compile", action="store_true",
                        help="torch.compile the model (inductor: fuses the many small element-wise "
                             "ops; on a CPU it needs g++ or clang++). t2v-tiny steps are ~15%% "
                             "faster on a 2-core CPU after ~15 s of compiling")
    system.add_argument("--workers", type=int, default=defaults.workers,
                        help="DataLoader worker processes (0: load in the training process)")
    system.add_argument("--threads", type=int, default=0,
                        help="CPU threads per process (torch.set_num_threads; 0: torch's default). Tiny "
                             "models run fastest with 1 on a machine busy with other work")
    files = parser.add_argument_group("checkpoints and log")
    files.add_argument("--out", default=None,
                       help="directory for checkpoints and log.jsonl (default: runs/TASK at the top of the repository)")
    files.add_argument("--resume", default=None, metavar="PATH",
                       help="continue exactly from a checkpoint file, or the latest one in a directory")
    files.add_argument("--save-every", type=int, default=defaults.save_every,
                       help="also checkpoint every n steps (0: only at the end)")
    files.add_argument("--log-every", type=int, default=defaults.log_every,
                       help="log the loss (and update the progress bar's) every n steps")
    files.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainConfig:
    """Every option checked before anything is built or loaded: a bad value is an argparse error (usage +
    one line, exit 2) that names the option, never a traceback or a run that silently trains nothing."""
    if args.threads < 0:
        parser.error(f"--threads must be 0 (torch's default) or a positive count, got {args.threads}")
    if args.grad_clip < 0:
        parser.error(f"--grad-clip must be >= 0 (0: never clip), got {args.grad_clip}")
    if args.data_length < 1:
        parser.error(f"--data-length must be at least 1 clip, got {args.data_length}")
    for option, check, value in (("--frames", check_frames, args.frames), ("--size", frame_size, args.size)):
        try:
            check(value)
        except ValueError as error:
            parser.error(f"{option}: {error}")
    if args.resume is not None and not Path(args.resume).exists():
        parser.error(f"--resume {args.resume}: no such file or directory")
    try:
        return TrainConfig(
            steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
            warmup=args.warmup, min_lr_ratio=args.min_lr_ratio, weight_decay=args.weight_decay,
            grad_clip=args.grad_clip or None, ema_decay=args.ema_decay, seed=args.seed,
            precision=args.precision, deterministic=args.deterministic, compile=args.compile,
            device=args.device, out_dir=args.out, save_every=args.save_every, log_every=args.log_every,
            workers=args.workers, progress=not args.no_progress)
    except ValueError as error:  # "batch_size must be ..." -> "--batch-size must be ..."
        name, _, rest = str(error).partition(" ")
        parser.error(f"--{name.replace('_', '-')} {rest}")


def main(argv: list[str] | None = None) -> Trainer:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.out = args.out or str(runs_dir() / args.task)
    config = check_args(parser, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out
    if args.resume is None and latest_checkpoint(out) is not None:
        parser.error(f"{out} already holds checkpoints: pass --resume {out} to continue that run, "
                     "or choose another --out")
    trainer = build_trainer(args.task, config, length=args.data_length, frames=args.frames,
                            size=args.size, data_seed=args.data_seed)
    process, micro = trainer.process, trainer.data_order.micro_batch
    if process.is_main:
        print(f"{args.task} on {trainer.device} ({trainer.precision}): global batch {args.batch_size} = "
              f"{process.world_size} process(es) x {args.grad_accum} micro-batch(es) x {micro} clips")
    if args.resume:
        try:
            path = trainer.load(args.resume)
        except (ValueError, FileNotFoundError) as error:  # not a checkpoint, or one of another run
            parser.error(f"--resume {args.resume}: {error}")
        if process.is_main:
            print(f"resuming from {path} at step {trainer.step}")
    trainer.train()
    if trainer.process.is_main:
        print(f"checkpoint: {latest_checkpoint(out)}\nlog: {trainer.log_path}")
    trainer.close()
    return trainer


__all__ = ["Task", "TrainConfig", "Trainer", "build_trainer", "get_task", "latest_checkpoint",
           "load_weights", "read_checkpoint", "read_log", "register_task", "task_names", "main"]

if __name__ == "__main__":
    main()
