"""Named, typed training recipes. A run saves the recipe it used (after overrides) next to its outputs.

``paper`` is the configuration the paper used for CNNs and ViTs alike (``configs/cifar100_vit.yaml`` of the
original); ``paper-sgd`` the original's weak-augmentation SGD configuration; ``cpu-quick`` a short schedule
for the tiny models on a CPU. Every field can be overridden from the command line (``--lr 1e-3``).

Departures from the original, each a switch whose default is the original behaviour unless stated:
- ``decay_norm_and_bias``: the original applies AdamW weight decay to every parameter (True); False gives
  the DeiT/timm groups (no decay on norms, biases, position embeddings, CLS tokens, relative-position tables).
- ``warmup_epochs`` are *in addition to* ``epochs`` as in the original (5 + 300 = 305 epochs), with a
  per-iteration linear warm-up; cosine is stepped per iteration here rather than per epoch (smoother, same
  end points).
- RandAugment comes from torchvision (``num_ops``, ``magnitude``); torchvision has no magnitude noise, so the
  original's ``mstd1.0`` is not reproduced.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from hub.cli import add_dataclass_arguments, dataclass_from_args


@dataclass(frozen=True)
class Recipe:
    name: str
    optimizer: Literal["adamw", "sgd"] = field(default="adamw", metadata={"help": "adamw or sgd"})
    lr: float = field(default=1.25e-4, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=0.05, metadata={"help": "decoupled (AdamW) or L2 (SGD) weight decay"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    decay_norm_and_bias: bool = field(default=True, metadata={
        "help": "also decay norms, biases, embeddings and tables (the original: true; DeiT/timm: false)"})
    batch_size: int = field(default=96, metadata={"help": "global batch size (split across DDP processes)"})
    epochs: int = field(default=300, metadata={"help": "epochs after warm-up"})
    warmup_epochs: int = field(default=5, metadata={"help": "linear warm-up epochs, before `epochs`"})
    schedule: Literal["cosine", "multistep"] = field(default="cosine", metadata={"help": "cosine or multistep"})
    milestones: tuple[int, ...] = field(default=(), metadata={"help": "multistep: epochs at which lr *= gamma"})
    gamma: float = field(default=0.2, metadata={"help": "multistep decay factor"})
    crop_padding: int = field(default=4, metadata={"help": "random-crop padding (0 disables the crop)"})
    hflip: bool = field(default=True, metadata={"help": "random horizontal flip"})
    randaugment_ops: int = field(default=2, metadata={"help": "RandAugment operations per image (0 disables)"})
    randaugment_magnitude: int = field(default=9, metadata={"help": "RandAugment magnitude (0-30)"})
    mixup_alpha: float = field(default=1.0, metadata={"help": "MixUp alpha (0 disables)"})
    cutmix_alpha: float = field(default=0.8, metadata={"help": "CutMix alpha (0 disables)"})
    label_smoothing: float = field(default=0.1, metadata={"help": "label smoothing"})
    grad_clip: float | None = field(default=5.0, metadata={"help": "max global gradient norm (none disables)"})
    drop_path: float = field(default=0.1, metadata={"help": "stochastic depth rate of the last unit"})

    def with_overrides(self, **changes: Any) -> Recipe:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown recipe field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Recipe:
        data = json.loads(path.read_text())
        data["milestones"] = tuple(data.get("milestones", ()))
        return cls(**data)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("paper"),
    "paper-sgd": Recipe(
        "paper-sgd", optimizer="sgd", lr=0.1, weight_decay=5e-4, batch_size=128, epochs=200, warmup_epochs=1,
        schedule="multistep", milestones=(60, 120, 160), gamma=0.2, randaugment_ops=0, mixup_alpha=0.0,
        cutmix_alpha=0.0, label_smoothing=0.0, grad_clip=None, drop_path=0.0,
    ),
    # About 30 minutes per tiny model on 2 CPU cores. A short schedule underfits, so no RandAugment, MixUp,
    # CutMix or stochastic depth; the DeiT/timm decay groups; a higher peak rate than the 300-epoch recipe.
    "cpu-quick": Recipe(
        "cpu-quick", lr=2e-3, batch_size=96, epochs=14, warmup_epochs=1, randaugment_ops=0,
        mixup_alpha=0.0, cutmix_alpha=0.0, drop_path=0.0, decay_norm_and_bias=False,
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` flag per recipe field; a flag left out keeps the recipe's value (``none`` clears an optional)."""
    group = parser.add_argument_group("recipe overrides (default: the chosen recipe's value)")
    add_dataclass_arguments(group, Recipe, exclude=("name",), keep_unset=True, bool_values=True)


def recipe_from_args(args: argparse.Namespace, base: str) -> Recipe:
    return dataclass_from_args(Recipe, args, base=get_recipe(base), exclude=("name",))
