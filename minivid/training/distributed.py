"""DDP in four functions: detect torchrun, start the process group, average numbers, gather state.

`torchrun --nproc_per_node=N -m minivid.train ...` starts N copies of the script and tells each
who it is through environment variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
Without them the trainer is a plain single process and none of this runs. Backends: NCCL between
GPUs, gloo between CPU processes (what the tests use, over loopback).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessInfo:
    rank: int = 0  # this process among all of them; rank 0 writes checkpoints and logs
    local_rank: int = 0  # this process on its machine: which GPU it drives
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> this process's GPU (cuda:LOCAL_RANK) if there is one, else the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def setup_distributed(device: torch.device) -> ProcessInfo:
    """Join the process group when launched by torchrun (idempotent); a no-op otherwise."""
    if not launched_by_torchrun():
        return ProcessInfo()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ProcessInfo(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_world_size())


def teardown_distributed() -> None:
    """Leave the process group together: the barrier keeps the first rank to finish from closing its
    gloo sockets while another is still writing a checkpoint. (CI once saw a rank abort at exit,
    'terminate called without an active exception'; this is the likely cause it removes.)"""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean_over_processes(values: torch.Tensor, info: ProcessInfo) -> torch.Tensor:
    """Average a tensor over all processes (SUM then divide: gloo has no AVG reduction)."""
    if not info.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def gather_to_all(obj, info: ProcessInfo) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every process (pickled; for small states only)."""
    if not info.distributed:
        return [obj]
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered
