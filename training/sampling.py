"""Seeded sampling that makes a training run deterministic across loader workers, DDP ranks and resumes.

(The datasets, the held-out split and class-balanced subsets are :mod:`hub.data`'s.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed that depends only on the run seed, the epoch and a sample (or step) index."""
    return ((seed * 1_000_003 + epoch) * 1_000_000_007 + index) % (2**63)


class SeededTransformSubset(Dataset):
    """``dataset[indices[i]]`` passed through ``transform``, with the CPU RNG seeded per sample.

    The augmentation of sample ``i`` in epoch ``e`` is a function of ``(seed, e, i)`` alone: the same with 0
    or 8 loader workers, on every DDP rank, and after a resume in the middle of an epoch.
    Call :meth:`set_epoch` before each epoch (loader workers must not be persistent, so they see it).
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int], transform: Callable[[Image.Image], object],
                 seed: int = 0) -> None:
        self.dataset, self.indices, self.transform, self.seed, self.epoch = dataset, list(indices), transform, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[object, int]:
        image, label = self.dataset[self.indices[i]]
        torch.default_generator.manual_seed(sample_seed(self.seed, self.epoch, i))
        return self.transform(image), label


class EpochBatchSampler(Sampler[list[int]]):
    """Global batches of a seeded per-epoch permutation (last partial batch dropped), this rank's share of each.

    Rank ``r`` of ``world`` takes every ``world``-th sample of each global batch, so the union over ranks is
    exactly the batch one process would see: DDP with the same global batch follows the single-process run.
    ``start_step`` skips the first batches of the epoch (resuming mid-epoch).
    """

    def __init__(self, size: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ValueError(f"global batch size {batch_size} is not divisible by {world} processes")
        if size < batch_size:
            raise ValueError(f"{size} training images are fewer than one batch of {batch_size}")
        self.size, self.batch_size, self.seed, self.rank, self.world = size, batch_size, seed, rank, world
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def __len__(self) -> int:
        return self.size // self.batch_size - self.start_step

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, -1))
        order = torch.randperm(self.size, generator=generator)
        for step in range(self.start_step, self.size // self.batch_size):
            batch = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield batch[self.rank::self.world].tolist()
