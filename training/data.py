"""Datasets: torchvision CIFAR, ImageFolder trees, and tar archives of them read in memory (never unpacked).

Plus the index helpers the paper's experiments need (a stratified validation split carved from the training
set with a fixed seed, class-balanced subsets for the data-regime experiments) and the seeded sampling that
makes a run deterministic across loader workers, DDP ranks and resumes.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".gif", ".tif", ".tiff"}


class TarImageFolder(Dataset):
    """An ImageFolder tree (``[subdir/]<class>/<image>``) inside a ``.tar``/``.tar.gz``, held as encoded bytes.

    Compressed tars cannot be read at random offsets, so the encoded images are read once into memory
    (CIFAR-10's 50,000 JPEGs are about 60 MB) and decoded on access. Classes are the sorted folder names,
    as in ``torchvision.datasets.ImageFolder``.
    """

    def __init__(self, path: str | Path, subdir: str | None = None,
                 transform: Callable[[Image.Image], object] | None = None) -> None:
        self.path, self.transform = Path(path), transform
        entries: list[tuple[str, bytes]] = []
        with tarfile.open(self.path) as archive:
            for member in archive:
                name = PurePosixPath(member.name)
                if not member.isfile() or name.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                parts = name.parts
                if subdir:
                    if parts[0] != subdir:
                        continue
                    parts = parts[1:]
                if len(parts) < 2:
                    continue
                entries.append((parts[-2], archive.extractfile(member).read()))
        if not entries:
            where = f"under {subdir}/ " if subdir else ""
            raise ValueError(f"{self.path} holds no images {where}in <class>/<image> folders")
        self.classes = sorted({cls for cls, _ in entries})
        index = {cls: i for i, cls in enumerate(self.classes)}
        self._images = [data for _, data in entries]
        self.targets = [index[cls] for cls, _ in entries]

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, i: int) -> tuple[object, int]:
        image = Image.open(io.BytesIO(self._images[i])).convert("RGB")
        return (self.transform(image) if self.transform else image), self.targets[i]


def shuffled_classes(targets: Sequence[int], seed: int) -> list[torch.Tensor]:
    """The indices of each class (in class order), each shuffled by one seeded generator."""
    targets_t = torch.as_tensor(targets)
    generator = torch.Generator().manual_seed(seed)
    return [(members := torch.nonzero(targets_t == cls).squeeze(1))[torch.randperm(len(members), generator=generator)]
            for cls in targets_t.unique().tolist()]


def stratified_split(targets: Sequence[int], val_size: int | float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split indices into train/validation with the same class proportions in both.

    ``val_size`` is a count (``5000``) or a fraction (``0.1``). The same seed always gives the same split.
    """
    fraction = val_size / len(targets) if val_size >= 1 else float(val_size)
    train, val = [], []
    for members in shuffled_classes(targets, seed):
        n_val = round(len(members) * fraction)
        val += members[:n_val].tolist()
        train += members[n_val:].tolist()
    return sorted(train), sorted(val)


def class_balanced_subset(targets: Sequence[int], fraction: float, seed: int = 0) -> list[int]:
    """The same ``fraction`` of every class (at least one image each), for the data-regime experiments."""
    if not 0 < fraction <= 1:
        raise ValueError(f"data fraction must be in (0, 1], got {fraction}")
    keep = []
    for members in shuffled_classes(targets, seed):
        keep += members[: max(1, round(len(members) * fraction))].tolist()
    return sorted(keep)


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
