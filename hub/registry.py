"""Model registry: a family module decorates its variants with ``@register_model``; nothing else lists them.

A family is the module its variants are defined in (``hub/models/vit.py`` is the family ``vit``; a module of
one's own outside this package works the same way once imported). Each registration records what other
floors need to know about the variant, so that export parity, the every-family tests and the analysis report
read it here instead of keeping lists of their own:

- ``example=True`` marks the family's example variant (small, CIFAR-sized): what the every-family export
  and analysis checks build. A family that marks none is represented by its first registered variant.
- ``preset_args`` are per-preset default arguments of the builder, the counterpart of timm's
  ``default_cfgs`` (e.g. ViT-tiny's 4x4 patches at CIFAR size); overrides passed to :func:`create_model` win.

Which parameters take no weight decay and stay fixed in landscapes is declared by the modules that own them
(``param_roles``, see :mod:`hub.units`), so a family gets it right by construction.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

from hub.config import PRESETS, ModelConfig, Preset
from hub.units import UnitModel

ModelFn = Callable[..., UnitModel]
"""``fn(preset: Preset, num_classes: int, img_size: int, **overrides) -> UnitModel``."""


@dataclass(frozen=True)
class ModelEntry:
    """One registered variant and what the registry knows about it."""

    name: str
    family: str
    builder: ModelFn
    example: bool = False
    preset_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """The first line of the variant function's docstring (empty when it has none)."""
        return (self.builder.__doc__ or "").strip().split("\n")[0]


_MODELS: dict[str, ModelEntry] = {}


def _registered() -> dict[str, ModelEntry]:
    """The registry with this package's families in it: the first lookup imports :mod:`hub.models`, whose
    modules register themselves (a plugin import by name, so that ``import hub`` and the torch-free modules
    beside this one stay light)."""
    importlib.import_module("hub.models")
    return _MODELS


@overload
def register_model(fn: ModelFn) -> ModelFn: ...


@overload
def register_model(*, example: bool = False,
                   preset_args: Mapping[str, Mapping[str, Any]] | None = None) -> Callable[[ModelFn], ModelFn]: ...


def register_model(fn: ModelFn | None = None, *, example: bool = False,
                   preset_args: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """Register ``fn`` under its own name, in the family of its module; usable bare or with arguments."""

    def register(function: ModelFn) -> ModelFn:
        name, family = function.__name__, function.__module__.rsplit(".", 1)[-1]
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice ({_MODELS[name].family} and {family})")
        if example and any(e.example for e in _MODELS.values() if e.family == family):
            raise ValueError(f"family {family!r} already has an example variant; {name!r} cannot be another")
        args = MappingProxyType({preset: MappingProxyType(dict(values)) for preset, values in
                                 (preset_args or {}).items()})
        _MODELS[name] = ModelEntry(name, family, function, example, args)
        return function

    return register(fn) if fn is not None else register


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern``, optionally restricted to one family."""
    return sorted(n for n, e in _registered().items() if fnmatch.fnmatch(n, pattern) and family in (None, e.family))


def model_entry(name: str) -> ModelEntry:
    if name not in _registered():
        close = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see hub.list_models()"
        raise KeyError(f"unknown architecture {name!r}{hint}")
    return _MODELS[name]


def model_family(name: str) -> str:
    return model_entry(name).family


def is_model(name: str) -> bool:
    return name in _registered()


def family_examples() -> dict[str, str]:
    """Every registered family and its example variant (the marked one, else the first registered)."""
    examples: dict[str, str] = {}
    for entry in _registered().values():
        if entry.example or entry.family not in examples:
            examples[entry.family] = entry.name
    return dict(sorted(examples.items()))


def create_model(name: str, num_classes: int | None = None, preset: str | Preset = "cifar",
                 **overrides: Any) -> UnitModel:
    """Build a registered architecture with random weights.

    ``preset`` is ``"cifar"`` (32x32 inputs, CIFAR stem, 100 classes) or ``"imagenet"`` (224x224, ImageNet
    stem, 1000 classes); ``overrides`` are the family's keyword arguments (e.g. ``drop_path_rate``,
    ``window_size``, ``img_size``) and unknown ones raise instead of being swallowed.
    """
    entry = model_entry(name)
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    num_classes = preset.num_classes if num_classes is None else num_classes
    img_size = int(overrides.pop("img_size", preset.img_size))
    arguments = {**entry.preset_args.get(preset.name, {}), **overrides}
    model = entry.builder(preset=preset, num_classes=num_classes, img_size=img_size, **arguments)
    args = dict(overrides, img_size=img_size) if img_size != preset.img_size else dict(overrides)
    model.config = ModelConfig.for_preset(name, preset, num_classes, args)
    model.source = name
    return model
