"""What every analysis reads: a model (trained, or an architecture with seeded random weights), its images
through a :class:`hub.data.DataSpec`, and for the loss-based analyses fixed augmented batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from hub import UnitIntrospection, create_model, from_pretrained, is_model
from hub.data import DataSpec
from hub.foreign import is_foreign, load_foreign
from hub.transforms import eval_transform
from training.augment import batch_mixer, train_transform
from training.distributed import Distributed
from training.recipes import Recipe, get_recipe
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
    """Where an analysis may keep resumable state (the landscape's grid, each rank's finished items); none:
    nothing is kept."""
    dist: Distributed = field(default_factory=Distributed)
    """This process's place in a torchrun job: the analyses that shard their work split it by rank."""


def load_model(name: str, num_classes: int | None = None, pretrained: bool = False) -> UnitIntrospection:
    """A trained model (short name, Hub repo, folder), a registered architecture with random weights (seeded;
    useful to compare against the trained one and to test the analyses on every family), or another library's
    model or one's own (``timm:NAME``, ``torchvision:NAME``, ``package.module:factory``; random weights unless
    ``pretrained``)."""
    if is_foreign(name):
        return load_foreign(name, pretrained, num_classes)
    if pretrained:
        raise ValueError("--pretrained applies to timm:, torchvision: and package.module:factory models; "
                         f"{name} names its weights itself")
    if is_model(name) and not Path(name).exists():
        torch.manual_seed(0)
        model = create_model(name, num_classes=num_classes)
        model.source = f"{name} (random initialisation, seed 0)"
        return model
    return from_pretrained(name)


MODEL_RECIPE = "model"
"""The ``augment`` choice that means: the augmentation the model was trained with."""


def augmentation(model: UnitIntrospection, choice: str) -> tuple[Recipe | None, str]:
    """The recipe whose training augmentation a loss-based analysis uses, and a line saying which and why.

    ``choice``: a recipe name, ``none`` (evaluation images, one-hot targets) or ``model``: the recipe saved
    beside the model's weights (``recipe.json``, written by the trainer), else the paper's for a model without one
    (the authors' released checkpoints were trained with it)."""
    if choice == "none":
        return None, "none (evaluation transform, one-hot targets)"
    if choice != MODEL_RECIPE:
        return get_recipe(choice), f"{choice} (chosen)"
    folder = getattr(model, "folder", None)
    saved = Path(folder) / "recipe.json" if folder is not None else None
    if saved is not None and saved.is_file():
        recipe = Recipe.load(saved)
        return recipe, f"{recipe.name} (the model's own recipe.json)"
    return get_recipe("paper"), "paper (the model has no recipe.json; the paper's recipe assumed)"


def images_for(model: UnitIntrospection, data: DataSpec, normalise: bool = True) -> DataLoader:
    """The images of ``data`` preprocessed for ``model``; ``normalise=False`` stops at pixels in [0, 1]."""
    return data.loader(eval_transform(model.config, normalise=normalise))


def mine_of(loader, dist: Distributed) -> Iterator[tuple[int, Any]]:
    """``(index, batch)`` for the batches of ``loader`` this rank takes (``index % world == rank``; all of them
    in a single process). Every rank must have one, so that the collectives after the loop line up."""
    if len(loader) < dist.world:
        raise ValueError(f"{len(loader)} batches cannot be shared by {dist.world} processes: use smaller batches")
    mine = dist.mine(len(loader))
    if dist.world == 1 or not isinstance(loader, DataLoader):
        return ((b, batch) for b, batch in enumerate(loader) if b in mine)
    batches = list(loader.batch_sampler)  # load only this rank's images
    own = DataLoader(loader.dataset, batch_sampler=[batches[b] for b in mine], num_workers=loader.num_workers,
                     collate_fn=loader.collate_fn)
    return zip(mine, own, strict=True)


def loss_batches(model: UnitIntrospection, data: DataSpec, augment: Recipe | None = None,
                 limit: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """Fixed ``(inputs, soft targets)`` batches for loss-based analyses (Hessian, landscape).

    ``augment``: the recipe's training augmentation and MixUp/CutMix/label smoothing, every draw seeded by
    ``data.seed``, so every evaluation (every grid point, every eigenvalue run) sees the same augmented samples;
    ``None``: the evaluation transform and one-hot targets. ``limit``: the first batches only (the same ones:
    each batch's draws depend on its index), without preparing the rest."""
    num_classes = model.config.num_classes
    base, indices = data.base_and_indices(eval_transform(model.config) if augment is None else None)
    if limit is not None:
        indices = indices[: limit * data.batch_size]
    if augment is None:
        return [(images, torch.nn.functional.one_hot(labels, num_classes).to(images.dtype))
                for images, labels in DataLoader(Subset(base, indices), batch_size=data.batch_size, shuffle=False)]
    dataset = SeededTransformSubset(base, indices, train_transform(augment, model.config), data.seed)
    mix = batch_mixer(augment, num_classes)
    batches = []
    for i, (images, labels) in enumerate(DataLoader(dataset, batch_size=data.batch_size, shuffle=False)):
        torch.manual_seed(sample_seed(data.seed, 0, -2 - i))
        batches.append(mix(images, labels))
    return batches
