"""What every analysis shares: loading a model and a seeded image subset, depth plots, JSON + PNG output."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from hub import UnitInfo, UnitKind, UnitModel, create_model, from_pretrained, is_model
from hub.preprocess import eval_transform
from training.augment import batch_mixer, train_transform
from training.data import (
    SeededTransformSubset,
    class_balanced_subset,
    sample_seed,
    stratified_split,
)
from training.evaluate import open_dataset
from training.recipes import Recipe

KIND_COLOURS = {UnitKind.STEM: "tab:gray", UnitKind.CONV: "tab:blue", UnitKind.MSA: "tab:red",
                UnitKind.MLP: "tab:green", UnitKind.POOL: "tab:purple", UnitKind.HEAD: "black"}


@dataclass(frozen=True)
class DataSpec:
    """Which images an analysis looks at.

    ``val_size`` carves the same seeded stratified split the training runs held out, and ``split`` picks its
    validation or its training part (for ``cifar10``/``cifar100`` without ``val_size``: the test or the
    training set). ``num_images`` then keeps a seeded, class-balanced subset of that many images.
    """

    data: str
    root: str = "data"
    val_size: float | None = 5000
    split: Literal["val", "train"] = "val"
    num_images: int | None = None
    seed: int = 0
    batch_size: int = 128

    def base_and_indices(self, transform: Any = None) -> tuple[Dataset, list[int]]:
        split_train = self.val_size is not None or self.split == "train"
        dataset = open_dataset(self.data, transform, self.root, train=split_train)
        targets = list(dataset.targets)
        indices = list(range(len(targets)))
        if self.val_size is not None:
            train, val = stratified_split(targets, self.val_size, self.seed)
            indices = val if self.split == "val" else train
        if self.num_images is not None and self.num_images < len(indices):
            keep = class_balanced_subset([targets[i] for i in indices], self.num_images / len(indices), self.seed)
            indices = [indices[i] for i in keep][: self.num_images]
        return dataset, indices

    def dataset(self, transform: Any) -> Dataset:
        return Subset(*self.base_and_indices(transform))

    def loader(self, transform: Any) -> DataLoader:
        return DataLoader(self.dataset(transform), batch_size=self.batch_size, shuffle=False)

    def describe(self) -> str:
        split = f"{self.split} part of the {self.val_size:g} split (seed {self.seed})" if self.val_size else self.split
        subset = f", {self.num_images} class-balanced images" if self.num_images else ""
        return f"{self.data}: {split}{subset}"


def loss_batches(model: UnitModel, spec: DataSpec, augment: Recipe | None = None,
                 seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Fixed ``(inputs, soft targets)`` batches for loss-based analyses (Hessian, landscape).

    ``augment``: the recipe's training augmentation and MixUp/CutMix/label smoothing, every draw seeded, so
    every evaluation (every grid point, every eigenvalue run) sees the same augmented samples; ``None``: the
    evaluation transform and one-hot targets."""
    num_classes = model.config.num_classes
    if augment is None:
        batches = []
        for images, labels in spec.loader(eval_transform(model.config)):
            batches.append((images, torch.nn.functional.one_hot(labels, num_classes).to(images.dtype)))
        return batches
    base, indices = spec.base_and_indices()
    dataset = SeededTransformSubset(base, indices, train_transform(augment, model.config), seed)
    mix = batch_mixer(augment, num_classes)
    batches = []
    for i, (images, labels) in enumerate(DataLoader(dataset, batch_size=spec.batch_size, shuffle=False)):
        torch.manual_seed(sample_seed(seed, 0, -2 - i))
        batches.append(mix(images, labels))
    return batches


def load_model(name: str, num_classes: int | None = None) -> UnitModel:
    """A trained model (short name, Hub repo, folder), or a registered architecture with random weights
    (seeded; useful to compare against the trained one and to test the analyses on every family)."""
    if is_model(name) and not Path(name).exists():
        torch.manual_seed(0)
        model = create_model(name, num_classes=num_classes)
        model.source = f"{name} (random initialisation, seed 0)"
        return model
    return from_pretrained(name)


def images_for(model: UnitModel, spec: DataSpec, normalise: bool = True) -> DataLoader:
    return spec.loader(eval_transform(model.config, normalise=normalise))


def model_name(model: UnitModel) -> str:
    return getattr(model, "source", model.config.architecture)


def shade_units(ax: plt.Axes, infos: list[UnitInfo]) -> None:
    """Grey bands over MSA units and purple over pooling units, as in the paper's depth plots."""
    width = 1 / max(len(infos) - 1, 1)
    for info in infos:
        if info.kind in (UnitKind.MSA, UnitKind.POOL):
            colour = "0.85" if info.kind is UnitKind.MSA else "#e8dcf5"
            ax.axvspan(info.depth - width / 2, info.depth + width / 2, color=colour, zorder=0, lw=0)


def depth_plot(ax: plt.Axes, infos: list[UnitInfo], values: list[float], ylabel: str, label: str | None = None,
               colour: str = "black") -> None:
    shade_units(ax, infos)
    ax.plot([i.depth for i in infos], values, "-", color=colour, lw=1, label=label, zorder=2)
    ax.scatter([i.depth for i in infos], values, c=[KIND_COLOURS[i.kind] for i in infos], s=14, zorder=3)
    ax.set_xlabel("normalised depth")
    ax.set_ylabel(ylabel)


def clean(value: Any) -> Any:
    """JSON-ready: tensors to lists, NaN/inf to None, dataclasses to dicts."""
    if isinstance(value, torch.Tensor):
        return clean(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return clean(asdict(value))
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outputs(out: Path, analysis: str, model: UnitModel, settings: dict[str, Any], result: dict[str, Any],
                  figure: plt.Figure | None) -> Path:
    """``<out>/<analysis>.json`` (model, settings, result) and ``<out>/<analysis>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {"analysis": analysis, "model": model_name(model), "architecture": model.config.architecture,
               "settings": clean(settings), "result": clean(result),
               "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = out / f"{analysis}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    if figure is not None:
        figure.savefig(out / f"{analysis}.png", dpi=110, bbox_inches="tight")
        plt.close(figure)
    return path


def unit_table(infos: list[UnitInfo]) -> list[dict[str, Any]]:
    return [{"name": i.name, "kind": i.kind.value, "stage": i.stage, "depth": i.depth} for i in infos]
