"""Checkpoints that resume a run exactly, in one safetensors file.

safetensors stores named tensors plus a `str -> str` metadata header and nothing executable (a
pickle can run code when loaded). So tensors go in as tensors and everything else as one JSON
string under the metadata key "minivid.train". A file `step_0001000.safetensors` holds:

    tensors
      model.<name>              the model's state_dict (DDP unwrapped)
      ema.module.<name>         the EMA model's state_dict (`ema.n_averaged`: updates so far)
      optimizer.<i>.<name>      AdamW state of parameter i (step, exp_avg, exp_avg_sq)
      rng.<rank>.torch          torch CPU generator state of process <rank> (uint8)
      rng.<rank>.cuda           its CUDA generator state, when it trained on a GPU
    metadata["minivid.train"] = JSON
      format, step, world_size  "minivid.train/1", optimizer steps done, processes that trained
      config, run               the TrainConfig, and what the run was (task, dataset arguments)
      optimizer_param_groups    AdamW hyperparameters per group (lr, betas, ...; no tensors)
      scheduler                 LambdaLR state (last_epoch = step)
      rng                       per rank: python `random` and numpy global states

The data order needs nothing more: it is a function of (seed, step), see `data_order.py`.
Read a file's header with `safetensors.safe_open(path, "pt").metadata()`.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from minivid.files import load_safetensors, safetensors_metadata

FORMAT = "minivid.train/1"
METADATA_KEY = "minivid.train"
LOG_NAME = "log.jsonl"  # the loss log the trainer writes next to its checkpoints


def checkpoint_path(directory, step: int) -> Path:
    return Path(directory) / f"step_{step:07d}.safetensors"


def latest_checkpoint(directory) -> Path | None:
    """The checkpoint with the most steps in `directory`, or None."""
    paths = sorted(Path(directory).glob("step_*.safetensors"))
    return paths[-1] if paths else None


# ---- random number generators ---------------------------------------------------------------

def rng_state(device: torch.device) -> dict:
    """Every generator this process draws from: torch CPU, CUDA (this process's GPU), python, numpy."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "python": random.getstate(),
            "numpy": [kind, keys.tolist(), position, has_gauss, gauss]}


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    version, internal, gauss = state["python"]  # JSON turned the tuples into lists
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))


# ---- save / read ----------------------------------------------------------------------------

def prefixed(prefix: str, tensors: dict) -> dict:
    return {prefix + name: value for name, value in tensors.items()}


def part(tensors: dict, prefix: str) -> dict:
    """The entries under `prefix`, with the prefix removed."""
    return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}


def save_checkpoint(path, *, step: int, model: nn.Module, ema: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler, rng_states: list[dict],
                    info: dict) -> Path:
    """Write the whole training state; `rng_states` holds one `rng_state()` per rank, `info` any
    JSON-able description (world_size, config, run). Written to a temporary file, then renamed,
    so a crash mid-write never leaves a truncated checkpoint behind."""
    optim = optimizer.state_dict()
    tensors = prefixed("model.", model.state_dict()) | prefixed("ema.", ema.state_dict())
    for index, state in optim["state"].items():
        tensors |= prefixed(f"optimizer.{index}.", state)
    rng_json = []
    for rank, state in enumerate(rng_states):
        tensors[f"rng.{rank}.torch"] = state["torch"]
        if state["cuda"] is not None:
            tensors[f"rng.{rank}.cuda"] = state["cuda"]
        rng_json.append({"python": state["python"], "numpy": state["numpy"]})
    meta = {"format": FORMAT, "step": step, **info, "optimizer_param_groups": optim["param_groups"],
            "scheduler": scheduler.state_dict(), "rng": rng_json}
    # copies on the CPU: safetensors refuses tensors that share memory (tied weights)
    tensors = {name: value.detach().to("cpu", copy=True).contiguous() for name, value in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={METADATA_KEY: json.dumps(meta)})
    os.replace(partial, path)
    return path


def read_checkpoint(path, prefix: str = "") -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors whose name starts with `prefix`, the JSON metadata), tensors on the CPU."""
    header = safetensors_metadata(path)
    if METADATA_KEY not in header:
        raise ValueError(f"{path} is not a minivid training checkpoint (no {METADATA_KEY!r} metadata); "
                         "a plain weights file loads with minivid.files.load_safetensors")
    tensors = load_safetensors(path, prefix=prefix)
    meta = json.loads(header[METADATA_KEY])
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    return tensors, meta


def optimizer_state(tensors: dict, meta: dict) -> dict:
    """Rebuild `optimizer.state_dict()`: parameter indices back to ints (the optimizer would
    silently skip string keys), and the lists JSON made of tuples (betas) back to tuples."""
    state = defaultdict(dict)
    for name, value in part(tensors, "optimizer.").items():
        index, key = name.split(".", 1)
        state[int(index)][key] = value
    groups = [{key: tuple(value) if isinstance(value, list) and key != "params" else value
               for key, value in group.items()} for group in meta["optimizer_param_groups"]]
    return {"state": dict(state), "param_groups": groups}


def load_weights(path, model: nn.Module, ema: bool = True) -> nn.Module:
    """Put a checkpoint's EMA weights (or, with ema=False, the raw trained weights) into `model`,
    e.g. to sample from it in a notebook. Returns the model."""
    prefix = "ema.module." if ema else "model."
    tensors, _ = read_checkpoint(path, prefix)
    model.load_state_dict(part(tensors, prefix))
    return model


# ---- shipped weights: what a run leaves in data_samples/ -------------------------------------------

def run_checkpoint(run) -> Path:
    """`run` itself if it is a checkpoint file, else the latest checkpoint in the run directory."""
    run = Path(run)
    checkpoint = latest_checkpoint(run) if run.is_dir() else run
    if checkpoint is None or not checkpoint.exists():
        raise ValueError(f"no checkpoint step_*.safetensors at {run}; train first (python -m minivid.train)")
    return checkpoint


def ship_weights(checkpoint, state: dict[str, torch.Tensor], out, key: str, info: dict) -> Path:
    """Write plain weights `state` to `out` with `info` as JSON under metadata `key` (no optimiser, no RNG:
    a few MB instead of a resumable checkpoint), and copy the run's loss log next to it as `<out>.log.jsonl`."""
    out = Path(out)
    save_file({name: value.contiguous() for name, value in state.items()}, str(out),
              metadata={key: json.dumps(info)})
    log = Path(checkpoint).parent / LOG_NAME
    if log.exists():
        shutil.copyfile(log, out.with_suffix(".log.jsonl"))
    return out


def read_shipped_info(path, key: str) -> dict:
    """The JSON that `ship_weights` stored under `key`; a ValueError for a file written by something else."""
    header = safetensors_metadata(path)
    if key not in header:
        raise ValueError(f"{path} has no {key!r} metadata; it was not written by minivid's export for this model")
    return json.loads(header[key])
