"""The training loop: one `Trainer` that any model of the course plugs into with a loss function.

    trainer = Trainer(model, dataset, loss_fn, TrainConfig(steps=500, batch_size=8, out_dir="runs/x"))
    trainer.train()            # tqdm bar, loss log in trainer.history and runs/x/log.jsonl
    trainer.load("runs/x")     # (in a fresh process) continue exactly where a checkpoint left off

`loss_fn(model, batch) -> (loss, metrics)` is all the trainer knows of a model: the VAE brings
reconstruction + KL, the diffusion transformer flow matching. `batch` is the DataLoader's
collated dict (tensors moved to the device), `loss` a scalar mean over the batch, `metrics` a
dict of extra numbers to log (floats or scalar tensors). `model` is the bare model, never the DDP
wrapper, so the loss may call any of its methods.

One optimizer step: grad_accum micro-batches forward+backward (under bf16 autocast if asked),
gradients averaged over processes by DDP, clipped, AdamW step, lr schedule step, EMA update.
"""
from __future__ import annotations

import gc
import json
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from minivid.training.checkpoint import (LOG_NAME, checkpoint_path, latest_checkpoint, optimizer_state, part,
                                         read_checkpoint, rng_state, save_checkpoint, set_rng_state)
from minivid.training.data_order import DataOrder
from minivid.training.distributed import (gather_to_all, mean_over_processes, pick_device,
                                          setup_distributed, teardown_distributed)
from minivid.training.optim import make_ema, make_optimizer, make_scheduler

LossFn = Callable[[nn.Module, dict], tuple[torch.Tensor, dict]]


@dataclass
class TrainConfig:
    steps: int = 1000  # optimizer steps in the whole run
    batch_size: int = 8  # GLOBAL batch per optimizer step, over all processes and micro-batches
    grad_accum: int = 1  # micro-batches per step: each process reads batch_size/(grad_accum*world)
    lr: float = 1e-3  # peak learning rate, reached at the end of warm-up
    warmup: int = 100  # linear warm-up steps
    min_lr_ratio: float = 0.1  # the cosine decays the lr to lr * min_lr_ratio at `steps`
    weight_decay: float = 0.0  # AdamW decoupled weight decay on matrices/kernels (DiT uses 0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0  # max global gradient norm; None: measure but never clip
    ema_decay: float = 0.999
    seed: int = 0  # model init, data order, and every random draw of loss_fn
    precision: str = "auto"  # "fp32", "bf16" (autocast), or "auto": bf16 on CUDA, fp32 on CPU
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-exact resume on CUDA
    compile: bool = False  # torch.compile the model's forward (inductor; on a CPU it needs a C++ compiler)
    device: str = "auto"  # "auto": cuda:LOCAL_RANK if there is a GPU, else "cpu"; or "mps", ...
    out_dir: str | None = None  # checkpoints and log.jsonl go here; None: keep nothing on disk
    save_every: int = 0  # also save every n steps (0: only at the end)
    log_every: int = 10  # log (and show in the bar) every n steps, and at the last step
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    progress: bool = True  # tqdm bar (rank 0 only)

    def __post_init__(self):
        """A ValueError for every setting that would train nothing, crash later or train silently wrong."""
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        for name in ("steps", "batch_size", "grad_accum", "log_every"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "a whole number >= 1")
        for name in ("warmup", "save_every", "workers"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name, "a whole number >= 0")
        need(self.batch_size % self.grad_accum == 0, "batch_size",
             f"divisible by grad_accum ({self.grad_accum}): each micro-batch holds batch_size / grad_accum clips")
        need(math.isfinite(self.lr) and self.lr > 0, "lr", "a positive learning rate such as 1e-3")
        need(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "in [0, 1] (the cosine ends at lr x min_lr_ratio)")
        need(self.weight_decay >= 0, "weight_decay", ">= 0")
        need(self.grad_clip is None or self.grad_clip > 0, "grad_clip", "None (never clip) or > 0")
        need(0 <= self.ema_decay < 1, "ema_decay", "in [0, 1), e.g. 0.999 (1 would never update the EMA)")
        need(self.precision in ("auto", "fp32", "bf16"), "precision", "'auto', 'fp32' or 'bf16'")


# What a resumed run may change: how it is watched and how long it goes on, not what it computes.
CHANGEABLE_ON_RESUME = {"steps", "out_dir", "save_every", "log_every", "workers", "progress", "device",
                        "compile"}


def has_cxx_compiler() -> bool:
    """torch.compile's inductor writes C++ for the CPU and builds it with the system compiler."""
    return any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "clang++"))


def check_compiler(device: torch.device) -> None:
    if device.type == "cpu" and not has_cxx_compiler():
        raise ValueError("compile=True on a CPU needs a C++ compiler (g++ or clang++, or $CXX) for "
                         "torch.compile's inductor backend: install one, or train without compiling")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # CPU and every CUDA device


def resolve_precision(precision: str, device: torch.device) -> str:
    """bf16 keeps fp32's exponent range, so unlike fp16 it needs no GradScaler; it is the default
    on GPUs that have it. On CPUs it is off unless asked: many lack fast bf16 and the course's
    reference numbers are fp32."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    return precision


def to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device, non_blocking=True) if torch.is_tensor(value) else value
            for key, value in batch.items()}


def read_log(path) -> list[dict]:
    """The loss log as a list of dicts ({"step", "lr", "loss", metrics..., "grad_norm"}), ready to
    plot: `plt.plot([r["step"] for r in log], [r["loss"] for r in log])`."""
    path = Path(path)
    path = path / LOG_NAME if path.is_dir() else path
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_loss(loss, metrics) -> None:
    if not (torch.is_tensor(loss) and loss.ndim == 0):
        raise ValueError("loss_fn must return (scalar loss tensor, metrics dict); got a loss of "
                         f"shape {tuple(getattr(loss, 'shape', ()))}: take the mean over the batch")
    reserved = {"step", "lr", "loss", "grad_norm"} & set(metrics)
    if reserved:
        raise ValueError(f"metric names {sorted(reserved)} are used by the trainer's log; rename them")


class LossModule(nn.Module):
    """The model and its loss as one module. DDP synchronises gradients only for what runs inside
    its forward call, so wrapping the *loss* (not just the model) lets a loss_fn call
    model.encode(...), model.decode(...) or any other method and still train correctly. As DDP
    expects by default, every trainable parameter must get a gradient at every step: freeze
    (requires_grad_(False)) what a task does not train."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict):
        return self.loss_fn(self.model, batch)


class Trainer:
    """Owns the model, its EMA, AdamW, the lr schedule, the data order and the loss log.
    `run` is a JSON-able description saved with each checkpoint (e.g. the task and its data)."""

    def __init__(self, model: nn.Module, dataset: Dataset, loss_fn: LossFn, config: TrainConfig,
                 run: dict | None = None):
        self.config, self.run, self.dataset = config, run or {}, dataset
        self.device = pick_device(config.device)
        self.process = setup_distributed(self.device)  # rank 0 of 1 unless launched by torchrun
        self.precision = resolve_precision(config.precision, self.device)
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)

        self.model = model.to(self.device)
        if config.compile:  # in place: state_dict keys, the EMA and checkpoints stay as without it
            check_compiler(self.device)
            self.model.compile()
        self.objective = LossModule(self.model, loss_fn)
        if self.process.distributed:  # broadcasts rank 0's weights, then averages gradients
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.objective = DistributedDataParallel(self.objective, device_ids=device_ids)
        self.ema = make_ema(self.model, config.ema_decay)
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay, config.betas)
        self.scheduler = make_scheduler(self.optimizer, config.warmup, config.steps, config.min_lr_ratio)
        self.data_order = DataOrder(dataset, config.batch_size, config.grad_accum, config.seed,
                                    self.process.rank, self.process.world_size)
        self.out_dir = Path(config.out_dir) if config.out_dir else None
        self.step, self.history = 0, []
        self.train_seconds = 0.0  # wall time spent in train(), summed over resumes (saved in checkpoints)
        seed_everything(config.seed + self.process.rank)  # each rank draws different noise

    @property
    def log_path(self) -> Path | None:
        return self.out_dir / LOG_NAME if self.out_dir else None

    # ---- the loop ----------------------------------------------------------------------------

    def train(self, until: int | None = None) -> list[dict]:
        """Train until step `until` (default: config.steps); returns the loss log."""
        until = self.config.steps if until is None else until
        if self.step == 0:
            self._write_log([])  # a fresh run starts a fresh log
        loader = DataLoader(self.dataset, batch_sampler=self.data_order.micro_batches(self.step),
                            num_workers=self.config.workers, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator())  # own generator: the global RNG stays untouched
        micro_batches = iter(loader)
        show = self.process.is_main and self.config.progress
        progress = tqdm(total=self.config.steps, initial=self.step, disable=not show, unit="step")
        self.objective.train()
        began = time.perf_counter()
        while self.step < until:
            totals = self.train_step(micro_batches)
            progress.update()
            if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                record = self._log(totals)
                progress.set_postfix(loss=f"{record['loss']:.4g}", lr=f"{record['lr']:.2g}")
            if self.out_dir and (self.step == until or (self.config.save_every
                                                        and self.step % self.config.save_every == 0)):
                self.train_seconds += time.perf_counter() - began
                began = time.perf_counter()
                self.save()
        self.train_seconds += time.perf_counter() - began
        progress.close()
        return self.history

    def train_step(self, micro_batches) -> dict:
        """One optimizer step; returns this process's mean loss and metrics, the gradient norm
        (tensors) and the lr used (a float)."""
        accum, lr = self.config.grad_accum, self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        totals = {}
        for i in range(accum):
            batch = to_device(next(micro_batches), self.device)
            # DDP all-reduces gradients inside backward; do it once per step, on the last micro-batch
            last = i == accum - 1
            sync = self.objective.no_sync() if self.process.distributed and not last else nullcontext()
            with sync:
                with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
                    loss, metrics = self.objective(batch)
                check_loss(loss, metrics)
                (loss / accum).backward()  # mean over micro-batches == mean over the whole batch
            for name, value in {"loss": loss, **metrics}.items():
                value = torch.as_tensor(value, dtype=torch.float32, device=self.device).detach()
                totals[name] = totals.get(name, 0) + value / accum
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else math.inf
        totals["grad_norm"] = nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        totals["lr"] = lr  # a float: the lr this step used
        return totals

    def _log(self, totals: dict) -> dict:
        names = [name for name in totals if name != "lr"]
        values = mean_over_processes(torch.stack([totals[n].float() for n in names]), self.process)
        record = {"step": self.step, "lr": totals["lr"], **dict(zip(names, values.tolist()))}
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"the loss is {record['loss']} at step {self.step}; lower --lr, "
                                     "or try --precision fp32 if bf16 is on")
        self.history.append(record)
        if self.process.is_main and self.log_path:
            with open(self.log_path, "a") as file:
                file.write(json.dumps(record) + "\n")
        return record

    def _write_log(self, records: list[dict]) -> None:
        if self.process.is_main and self.log_path:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("".join(json.dumps(r) + "\n" for r in records))

    # ---- checkpoints -------------------------------------------------------------------------

    def save(self, path=None) -> Path | None:
        """Write a checkpoint (default: out_dir/step_NNNNNNN.safetensors). Every process must call
        it, since each one's RNG state goes in; only rank 0 writes, and gets the path back."""
        rng_states = gather_to_all(rng_state(self.device), self.process)
        if not self.process.is_main:
            return None
        if path is None:
            if self.out_dir is None:
                raise ValueError("no path given and config.out_dir is None: where should it go?")
            path = checkpoint_path(self.out_dir, self.step)
        info = {"world_size": self.process.world_size, "config": asdict(self.config), "run": self.run,
                "train_seconds": round(self.train_seconds, 3)}  # ms: a short run can take < 0.05 s
        return save_checkpoint(path, step=self.step, model=self.model, ema=self.ema,
                               optimizer=self.optimizer, scheduler=self.scheduler,
                               rng_states=rng_states, info=info)

    def close(self) -> None:
        """End a torchrun process cleanly: drop the DDP wrapper now (its reducer keeps the process
        group alive, so otherwise the group would be freed during interpreter shutdown), then leave
        the group together. A no-op for a single process; the model stays usable."""
        if isinstance(self.objective, DistributedDataParallel):
            self.objective = self.objective.module
            gc.collect()
        teardown_distributed()

    def load(self, path) -> Path:
        """Continue the run saved in `path` (a checkpoint, or a directory: its latest checkpoint).
        The trainer must be built as the saved one was (same model, data, config but for
        CHANGEABLE_ON_RESUME); then training on gives bit-identical weights and log."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}")
        if path.is_dir():
            found = latest_checkpoint(path)
            if found is None:
                raise FileNotFoundError(f"no step_*.safetensors checkpoint in {path}")
            path = found
        tensors, meta = read_checkpoint(path)
        self._check_resumable(meta, path)
        self.model.load_state_dict(part(tensors, "model."))
        self.ema.load_state_dict(part(tensors, "ema."))
        self.optimizer.load_state_dict(optimizer_state(tensors, meta))
        self.scheduler.load_state_dict(meta["scheduler"])
        rank = self.process.rank
        set_rng_state(meta["rng"][rank] | part(tensors, f"rng.{rank}."), self.device)
        self.step = meta["step"]
        self.train_seconds = meta.get("train_seconds", 0.0)
        # the log may run past the checkpoint (a crash after it): keep what the checkpoint saw
        logged = read_log(self.log_path) if self.log_path and self.log_path.exists() else []
        self.history = [r for r in logged if r["step"] <= self.step]
        self._write_log(self.history)
        return path

    def _check_resumable(self, meta: dict, path: Path) -> None:
        if meta["world_size"] != self.process.world_size:
            raise ValueError(f"{path} was trained by {meta['world_size']} processes and this run has "
                             f"{self.process.world_size}; resume with the same number of processes")
        now = json.loads(json.dumps({"config": asdict(self.config), "run": self.run}))
        saved, keys = meta["config"], sorted(now["config"].keys() | meta["config"].keys())
        differences = [f"{k}: saved {saved.get(k)!r}, now {now['config'].get(k)!r}" for k in keys
                       if saved.get(k) != now["config"].get(k) and k not in CHANGEABLE_ON_RESUME]
        if now["run"] != meta["run"]:
            differences.append(f"run: saved {meta['run']}, now {now['run']}")
        if differences:
            raise ValueError(f"cannot resume {path} exactly, the run differs: {'; '.join(differences)}. "
                             f"Only {sorted(CHANGEABLE_ON_RESUME)} may change.")
