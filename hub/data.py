"""Datasets and the one data specification every command uses.

Data is ``cifar10`` / ``cifar100`` (torchvision, downloaded into a root folder), an ImageFolder directory (with
an optional ``classes.txt`` listing every class in label order, so that a folder holding some classes only keeps
the full label indices), or a ``.tar``/``.tar.gz`` of one (read in memory, never unpacked). :class:`DataSpec`
says which images of it a command looks at: the seeded, stratified held-out split the training runs carve from
it, its validation or training part, and optionally a seeded class-balanced subset. Training, evaluation, the
analyses and the export gates all read images through it, so "the validation split, seed 0" means the same
images everywhere.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets import ImageFolder
from tqdm import tqdm

from hub.cli import add_dataclass_arguments, dataclass_from_args

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".gif", ".tif", ".tiff"}
CLASSES_FILE = "classes.txt"


class ListedImageFolder(ImageFolder):
    """An ImageFolder whose classes, in label order, are the lines of its ``classes.txt`` (folders may be missing)."""

    def __init__(self, root: str | Path, transform: Callable | None = None) -> None:
        super().__init__(root, transform=transform, allow_empty=True)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        names = (Path(directory) / CLASSES_FILE).read_text().split()
        return names, {name: i for i, name in enumerate(names)}


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
        self.names: list[str] = []
        """Each image's member path in the archive."""
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
                self.names.append(member.name)
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


def open_dataset(data: str, transform: Any = None, root: str = "data", train: bool = False) -> Dataset:
    """A dataset by name (cifar10/cifar100: the training or the test split), ImageFolder directory or tar of one."""
    from torchvision import datasets

    if data in ("cifar10", "cifar100"):
        cls = datasets.CIFAR10 if data == "cifar10" else datasets.CIFAR100
        return cls(root, train=train, transform=transform, download=True)
    path = Path(data)
    if path.is_dir():
        listed = (path / CLASSES_FILE).is_file()
        return ListedImageFolder(path, transform) if listed else datasets.ImageFolder(path, transform=transform)
    if path.is_file() and ".tar" in path.name:
        return TarImageFolder(path, transform=transform)
    raise ValueError(f"data {data!r} is not cifar10, cifar100, an ImageFolder directory or a .tar(.gz) of one")


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


def balanced_sample(targets: Sequence[int], indices: Sequence[int], count: int, seed: int = 0) -> list[int]:
    """At most ``count`` of ``indices`` (into ``targets``): all of them, or a seeded class-balanced subset."""
    if count >= len(indices):
        return list(indices)
    keep = class_balanced_subset([targets[i] for i in indices], count / len(indices), seed)
    return [indices[i] for i in keep][:count]


STATISTICS_IMAGES = 10_000
"""The most training images the mean/std of a dataset without published statistics are computed from: enough
for the third decimal (per-image means spread by about 0.1, divided by 100), and a short pass on a large set."""


@dataclass(frozen=True)
class ChannelStatistics:
    """Per-channel mean and standard deviation of pixels in [0, 1] (what a ``Normalize`` step takes)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    images: int


def channel_statistics(batches: Iterable[torch.Tensor], total: int, progress: bool = True) -> ChannelStatistics:
    """Mean and (population) std of each channel over every pixel of ``(B, 3, H, W)`` batches, streamed: float64
    sums, one batch in memory at a time, a progress bar over the ``total`` images."""
    sums, squares = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    pixels = images = 0
    with tqdm(total=total, unit="img", desc="mean/std", disable=not progress) as bar:
        for batch in batches:
            values = batch.to(torch.float64).transpose(0, 1).flatten(1)
            sums += values.sum(1)
            squares += values.square().sum(1)
            pixels += values.shape[1]
            images += len(batch)
            bar.update(len(batch))
    if not images:
        raise ValueError("no images to compute the mean/std from")
    mean = sums / pixels
    std = (squares / pixels - mean.square()).clamp_min(0).sqrt()
    return ChannelStatistics(tuple(mean.tolist()), tuple(std.tolist()), images)


@dataclass(frozen=True)
class DataSpec:
    """Which images a command looks at, and in what batches."""

    data: str
    """cifar10, cifar100, an ImageFolder directory or a .tar/.tar.gz of one"""
    root: str = "data"
    """download folder for cifar10/cifar100"""
    val_size: float | None = 5000
    """the seeded stratified split held out of DATA (a count or a fraction); 0 or none: all of DATA (for
    cifar10/cifar100 without a split: the test set, or the training set with --split train)"""
    split: Literal["val", "train"] = "val"
    """which part of that split"""
    num_images: int | None = None
    """keep a seeded class-balanced subset of this many images (none: all)"""
    seed: int = 0
    """seed of the split, the subset and every random draw"""
    batch_size: int = 128
    """images per batch"""

    def open(self, transform: Any = None) -> Dataset:
        """The dataset the split is carved from (for CIFAR: its training set when a split is held out)."""
        return open_dataset(self.data, transform, self.root, train=bool(self.val_size) or self.split == "train")

    def indices(self, targets: Sequence[int]) -> list[int]:
        """The chosen part of the split, then the subset, as indices into the opened dataset."""
        indices = list(range(len(targets)))
        if self.val_size:
            train, val = stratified_split(targets, self.val_size, self.seed)
            indices = val if self.split == "val" else train
        if self.num_images is not None:
            indices = balanced_sample(targets, indices, self.num_images, self.seed)
        return indices

    def base_and_indices(self, transform: Any = None) -> tuple[Dataset, list[int]]:
        dataset = self.open(transform)
        return dataset, self.indices(list(dataset.targets))

    def dataset(self, transform: Any) -> Dataset:
        return Subset(*self.base_and_indices(transform))

    def loader(self, transform: Any) -> DataLoader:
        return DataLoader(self.dataset(transform), batch_size=self.batch_size, shuffle=False)

    def describe(self) -> str:
        split = f"{self.split} part of the {self.val_size:g} split (seed {self.seed})" if self.val_size else self.split
        subset = f", {self.num_images} class-balanced images" if self.num_images else ""
        return f"{self.data}: {split}{subset}"


def add_data_arguments(parser: argparse.ArgumentParser, *, defaults: Mapping[str, Any] | None = None,
                       exclude: tuple[str, ...] = (), flag: str = "--data") -> None:
    """The data flags (``--data``, ``--root``, ``--val-size``, ``--split``, ``--num-images``, ``--seed``,
    ``--batch-size``) with per-command defaults; ``flag`` renames ``--data`` (the trainer's ``--dataset``)."""
    group = parser.add_argument_group("data")
    add_dataclass_arguments(group, DataSpec, defaults=defaults, exclude=exclude, flags={"data": flag},
                            required=("data",))


def data_spec_from_args(args: argparse.Namespace) -> DataSpec:
    return dataclass_from_args(DataSpec, args)
