"""Which examples each process reads at each step: a pure function of (seed, step).

Exact resume needs the data order to be part of the checkpoint. Rather than pickling a sampler or
a DataLoader, the order is *computed*: epoch e is a permutation seeded with `seed + e`, exactly
`DistributedSampler`'s, and optimizer step s of an epoch reads positions [s*B, (s+1)*B) of it
(B the global batch). So the step number alone says where the data stream is, and the examples
of a step are the same whether they are read by 1 process in 1 batch, by 1 process in k
accumulation micro-batches, or by W processes: process r takes every W-th example (`rank::W`,
as `DistributedSampler` does) and cuts its share into k micro-batches.

The dataset must return the same example for the same index (minivid's synthetic clips do), and
the last incomplete global batch of each epoch is dropped so that every step is full.
"""
from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler


class DataOrder:
    """Per-process micro-batches of dataset indices. batch_size is the *global* batch of one
    optimizer step: every process reads batch_size / (grad_accum * world_size) examples at a time."""

    def __init__(self, dataset: Dataset, batch_size: int, grad_accum: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size % (grad_accum * world_size) != 0:
            raise ValueError(f"batch_size {batch_size} (the global batch of one optimizer step) must "
                             f"be divisible by grad_accum * world_size = {grad_accum} * {world_size}")
        if len(dataset) < batch_size:
            raise ValueError(f"the dataset has {len(dataset)} examples, fewer than one batch of "
                             f"{batch_size}; use a larger dataset or a smaller batch_size")
        # The same sampler with or without DDP: with world_size 1 it is a seeded shuffle.
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.micro_batch = batch_size // (grad_accum * world_size)
        self.grad_accum = grad_accum
        self.steps_per_epoch = len(dataset) // batch_size

    def micro_batches(self, start_step: int = 0) -> Iterator[list[int]]:
        """Endless micro-batches of indices, grad_accum per step, from optimizer step `start_step`."""
        epoch, step = divmod(start_step, self.steps_per_epoch)
        per_epoch = self.steps_per_epoch * self.grad_accum
        while True:
            self.sampler.set_epoch(epoch)
            indices = list(self.sampler)  # this process's share of epoch `epoch`'s permutation
            for i in range(step * self.grad_accum, per_epoch):
                yield indices[i * self.micro_batch:(i + 1) * self.micro_batch]
            epoch, step = epoch + 1, 0
