"""What every analysis reads: a model (trained, or an architecture with seeded random weights), its images
through a :class:`hub.data.DataSpec`, and for the loss-based analyses fixed augmented batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from hub import UnitModel, create_model, from_pretrained, is_model
from hub.data import DataSpec
from hub.preprocess import eval_transform
from training.augment import batch_mixer, train_transform
from training.recipes import Recipe
from training.sampling import SeededTransformSubset, sample_seed


@dataclass(frozen=True)
class NoSettings:
    """The settings of an analysis that has none of its own (it is defined by its data alone)."""


@dataclass(frozen=True)
class Runtime:
    """How an analysis runs, as opposed to what it computes."""

    device: str = "cpu"
    progress: bool = False
    """tqdm progress bars"""
    workdir: Path | None = None
    """Where an analysis may keep resumable state (the landscape's grid file); none: nothing is kept."""


def load_model(name: str, num_classes: int | None = None) -> UnitModel:
    """A trained model (short name, Hub repo, folder), or a registered architecture with random weights
    (seeded; useful to compare against the trained one and to test the analyses on every family)."""
    if is_model(name) and not Path(name).exists():
        torch.manual_seed(0)
        model = create_model(name, num_classes=num_classes)
        model.source = f"{name} (random initialisation, seed 0)"
        return model
    return from_pretrained(name)


def images_for(model: UnitModel, data: DataSpec, normalise: bool = True) -> DataLoader:
    """The images of ``data`` preprocessed for ``model``; ``normalise=False`` stops at pixels in [0, 1]."""
    return data.loader(eval_transform(model.config, normalise=normalise))


def loss_batches(model: UnitModel, data: DataSpec, augment: Recipe | None = None) -> list[tuple[Tensor, Tensor]]:
    """Fixed ``(inputs, soft targets)`` batches for loss-based analyses (Hessian, landscape).

    ``augment``: the recipe's training augmentation and MixUp/CutMix/label smoothing, every draw seeded by
    ``data.seed``, so every evaluation (every grid point, every eigenvalue run) sees the same augmented samples;
    ``None``: the evaluation transform and one-hot targets."""
    num_classes = model.config.num_classes
    if augment is None:
        return [(images, torch.nn.functional.one_hot(labels, num_classes).to(images.dtype))
                for images, labels in images_for(model, data)]
    base, indices = data.base_and_indices()
    dataset = SeededTransformSubset(base, indices, train_transform(augment, model.config), data.seed)
    mix = batch_mixer(augment, num_classes)
    batches = []
    for i, (images, labels) in enumerate(DataLoader(dataset, batch_size=data.batch_size, shuffle=False)):
        torch.manual_seed(sample_seed(data.seed, 0, -2 - i))
        batches.append(mix(images, labels))
    return batches
