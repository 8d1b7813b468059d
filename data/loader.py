"""Batches from tensors held in memory.

Image sets are small enough to live in memory as uint8 tensors, so there is no per-sample ``__getitem__``,
no worker processes and no PIL: a batch is one ``index_select`` per tensor. The shuffling order of epoch
``e`` comes from a generator seeded with ``(seed, e)`` alone, so a run resumed in the middle of an epoch sees
exactly the batches it would have seen (the position is just the number of batches already consumed), and
the global RNG is left to the model.

Under torchrun (engine/distributed.py) every rank draws the same order and takes its slice of each global
batch (``rank`` of ``world`` near-equal contiguous parts); ``batch_size`` and ``batch_size_at`` stay global.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor


class InMemoryLoader:
    def __init__(self, tensors: dict[str, Tensor], batch_size: int, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world: int = 1):
        sizes = {len(t) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"tensors have different lengths: { {k: len(t) for k, t in tensors.items()} }")
        self.tensors = tensors
        self.num_samples = sizes.pop()
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def batch_size_at(self, index: int) -> int:
        """Number of samples in batch ``index`` of any epoch (only the last one can be smaller)."""
        return min(self.batch_size, self.num_samples - index * self.batch_size)

    def order(self, epoch: int) -> Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=g)

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[dict[str, Tensor]]:
        """The batches of ``epoch``, skipping the first ``start`` (for resuming mid-epoch)."""
        order = self.order(epoch)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            if self.world > 1:
                idx = idx.tensor_split(self.world)[self.rank]
            yield {k: t.index_select(0, idx) for k, t in self.tensors.items()}

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        return self.batches(0)
