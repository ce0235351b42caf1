"""Peak activation memory of a call, measured the same way on CPU and CUDA.

`PeakTensorMemory` watches every tensor storage created while it is active (through a dispatch mode:
each op's outputs, weakrefs to know when they are freed) and keeps the most bytes alive at once. Weights
and inputs created before the call are not counted, and views, in-place ops and no-op casts add nothing,
so the number is what the call itself allocates — the quantity tiling and chunking are meant to bound.
The CUDA allocator's `max_memory_allocated` adds workspaces and rounding on top; a CPU has no such counter.
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakTensorMemory(TorchDispatchMode):
    """Live bytes of the tensor storages created inside the context; `peak` is their maximum."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self.seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {id(t.untyped_storage()) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()  # one Python object per storage (PyObject preservation)
                # new memory only: views, in-place ops and no-op casts (`w.float()`) return an input's storage
                if id(storage) not in self.seen and id(storage) not in inputs:
                    self.seen.add(id(storage))
                    self.live += storage.nbytes()
                    weakref.finalize(storage, self._free, id(storage), storage.nbytes())
        self.peak = max(self.peak, self.live)
        return out


def peak_bytes(fn: Callable[[], object]) -> int:
    """The most bytes of tensors that `fn()` holds at once (its result included while it is being made)."""
    with torch.inference_mode(), PeakTensorMemory() as tracker:
        fn()
    return tracker.peak
