"""Datasets: torchvision CIFAR, ImageFolder trees, and tar archives of them read in memory (never unpacked).

Plus the two index helpers the paper's experiments need: a stratified validation split carved from the
training set with a fixed seed, and class-balanced subsets for the data-regime experiments.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import torch
from PIL import Image
from torch.utils.data import Dataset

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
