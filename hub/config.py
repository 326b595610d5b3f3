"""Typed model configuration: what ``config.json`` holds and what ``create_model`` attaches to a model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)
"""The 100 CIFAR-100 fine classes in label order (alphabetical, as torchvision lists them)."""
PUBLISHED_STATISTICS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
    "imagenet-1k": (IMAGENET_MEAN, IMAGENET_STD),
}
"""The per-channel mean/std every user of these datasets normalises with, by Hub dataset id."""


@dataclass(frozen=True)
class Preset:
    """Input regime a model is built for: stem, resolution and default preprocessing."""

    name: str
    img_size: int
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    crop_pct: float

    @property
    def imagenet_stem(self) -> bool:
        """Large-input stem (strided 7x7 conv + max-pool) instead of the 3x3/1 CIFAR stem."""
        return self.img_size > 64

    def check_fixed_size(self, img_size: int, family: str) -> None:
        """For builders whose layers do not depend on the input size: any other ``img_size`` is refused rather
        than recorded for a network that was not built for it."""
        if img_size != self.img_size:
            raise ValueError(f"{family} takes no img_size: it is built for the {self.name} preset's "
                             f"{self.img_size}x{self.img_size} inputs; choose the preset instead")


PRESETS: dict[str, Preset] = {
    "cifar": Preset("cifar", 32, 100, CIFAR100_MEAN, CIFAR100_STD, "bilinear", 1.0),
    "imagenet": Preset("imagenet", 224, 1000, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875),
}


@dataclass(frozen=True)
class Parent:
    """The model a fine-tuned one started from (the card's ``base_model``)."""

    source: str
    """What it is known as (its ``model.source``): a short name, a folder, or ``repo@commit``."""
    weights_sha256: str | None = None
    repo_id: str | None = None
    """Its Hub repo, when it has one: the card's ``base_model`` (Hub metadata wants a repo id)."""

    @property
    def base_model(self) -> str:
        return self.repo_id or self.source


@dataclass(frozen=True)
class Normalisation:
    """Where a config's mean/std come from, so that a card can say it and a user can redo it."""

    origin: Literal["published", "computed", "parent"]
    name: str = ""
    """``published``: the dataset's Hub id; ``parent``: the parent's source."""
    images: int | None = None
    """``computed``: how many training images they were computed from."""
    cap: int | None = None
    """``computed``: the most images the run would compute them from."""


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model and preprocess its inputs (timm/Hub ``config.json`` layout)."""

    architecture: str
    num_classes: int
    preset: str = "cifar"
    model_args: dict[str, Any] = field(default_factory=dict)
    label_names: list[str] | None = None
    input_size: tuple[int, int, int] = (3, 32, 32)
    mean: tuple[float, ...] = CIFAR100_MEAN
    std: tuple[float, ...] = CIFAR100_STD
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    weights_sha256: str | None = None
    library: str = "howvits"
    parent: Parent | None = None
    """The model these weights were fine-tuned from, if any."""
    normalisation: Normalisation | None = None
    """Where ``mean``/``std`` come from (None: the preset's defaults)."""

    @property
    def labels(self) -> list[str]:
        """The class names, or the class indices as strings when the config has none."""
        return self.label_names or [str(i) for i in range(self.num_classes)]

    @classmethod
    def for_preset(cls, architecture: str, preset: Preset, num_classes: int, model_args: dict[str, Any]) -> ModelConfig:
        size = int(model_args.get("img_size", preset.img_size))
        return cls(architecture, num_classes, preset.name, dict(model_args), None, (3, size, size), preset.mean,
                   preset.std, preset.interpolation, preset.crop_pct)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with a timm-compatible ``pretrained_cfg`` block next to our flat fields."""
        data = asdict(self)
        data["pretrained_cfg"] = {
            "input_size": list(self.input_size), "mean": list(self.mean), "std": list(self.std),
            "interpolation": self.interpolation, "crop_pct": self.crop_pct, "num_classes": self.num_classes,
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        missing = [name for name in ("architecture", "num_classes") if name not in data]
        if missing:
            raise ValueError(f"config.json lacks required field(s) {missing}")
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("input_size", "mean", "std"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        for key, kind in (("parent", Parent), ("normalisation", Normalisation)):
            if kwargs.get(key) is not None:
                kwargs[key] = kind(**kwargs[key])
        return cls(**kwargs)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        return cls.from_dict(json.loads(path.read_text()))
