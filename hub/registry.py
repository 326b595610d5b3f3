"""Model registry: families register named variants with ``@register_model``; no if/elif chain anywhere."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from hub.config import PRESETS, ModelConfig, Preset
from hub.units import UnitModel

ModelFn = Callable[..., UnitModel]
_MODELS: dict[str, ModelFn] = {}
_FAMILY: dict[str, str] = {}


def register_model(fn: ModelFn) -> ModelFn:
    """Register ``fn(preset: Preset, num_classes: int, **overrides) -> UnitModel`` under its own name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    _FAMILY[fn.__name__] = fn.__module__.rsplit(".", 1)[-1]
    return fn


def _ensure_loaded() -> None:
    import hub.models  # noqa: F401  (importing the package registers every family)


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern``, optionally restricted to one family module."""
    _ensure_loaded()
    names = [n for n in _MODELS if fnmatch.fnmatch(n, pattern) and (family is None or _FAMILY[n] == family)]
    return sorted(names)


def model_family(name: str) -> str:
    _ensure_loaded()
    return _FAMILY[name]


def is_model(name: str) -> bool:
    _ensure_loaded()
    return name in _MODELS


def create_model(name: str, num_classes: int | None = None, preset: str | Preset = "cifar",
                 **overrides: Any) -> UnitModel:
    """Build a registered architecture with random weights.

    ``preset`` is ``"cifar"`` (32x32 inputs, CIFAR stem, 100 classes) or ``"imagenet"`` (224x224, ImageNet
    stem, 1000 classes); ``overrides`` are the family's keyword arguments (e.g. ``drop_path_rate``,
    ``window_size``, ``img_size``) and unknown ones raise instead of being swallowed.
    """
    _ensure_loaded()
    if name not in _MODELS:
        import difflib

        close = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see hub.list_models()"
        raise KeyError(f"unknown architecture {name!r}{hint}")
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    num_classes = preset.num_classes if num_classes is None else num_classes
    img_size = int(overrides.pop("img_size", preset.img_size))
    model = _MODELS[name](preset=preset, num_classes=num_classes, img_size=img_size, **overrides)
    args = dict(overrides, img_size=img_size) if img_size != preset.img_size else dict(overrides)
    model.config = ModelConfig.for_preset(name, preset, num_classes, args)
    return model
