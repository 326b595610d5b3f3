"""Ready-made unit descriptions of the model families researchers analyse, found from the model's own class.

A describer is registered for class paths (``module.QualName``) and matched along the model's MRO, so the
libraries themselves are never imported here: a timm or torchvision model brings its classes with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

from hub.describe import Description, DescriptionError, UnitSpec
from hub.units import MapLayout, UnitKind

Describer = Callable[[nn.Module], Description]

_DESCRIBERS: dict[str, Describer] = {}
_MODULES = ("hub.descriptions.timm_models", "hub.descriptions.torchvision_models")


def register_description(*class_paths: str) -> Callable[[Describer], Describer]:
    """Register ``describer`` for models whose class (or a base class) is one of ``class_paths``."""

    def register(describer: Describer) -> Describer:
        for path in class_paths:
            _DESCRIBERS[path] = describer
        return describer

    return register


def _registered() -> dict[str, Describer]:
    for module in _MODULES:
        importlib.import_module(module)
    return _DESCRIBERS


def described_classes() -> list[str]:
    """Every class path with a ready-made description."""
    return sorted(_registered())


def find_description(model: nn.Module) -> Description:
    """The ready-made description of ``model``'s class, or an error naming what is described."""
    describers = _registered()
    for cls in type(model).__mro__:
        describer = describers.get(f"{cls.__module__}.{cls.__qualname__}")
        if describer is not None:
            return describer(model)
    raise DescriptionError(
        f"{type(model).__module__}.{type(model).__qualname__} has no ready-made unit description (described: "
        f"{', '.join(described_classes())}); wrap it yourself with hub.describe.DescribedModel(model, "
        "Description((UnitSpec(...), ...), family=...))")


# -- pieces the describers share ------------------------------------------------------------------------------

TOKENS = MapLayout("tokens")
NHWC = MapLayout("nhwc")


def tokens(prefix: int) -> MapLayout:
    """A square token grid after ``prefix`` non-spatial tokens."""
    return MapLayout("tokens", prefix=prefix)


def pre_norm_block(path: str, stage: int, layout: MapLayout, *, norm1: str = "norm1", mixer: str = "attn",
                   norm2: str = "norm2", mlp: str = "mlp", mixer_kind: UnitKind = UnitKind.MSA,
                   scales: tuple[str, str] | None = None) -> list[UnitSpec]:
    """``x + mixer(norm1(x))`` then ``x + mlp(norm2(x))`` in one block module: the first sub-block ends where
    ``norm2`` begins, the second at the block's output. ``scales``: layer-scale modules after each branch."""
    first = (f"{path}.{norm1}", f"{path}.{mixer}") + ((f"{path}.{scales[0]}",) if scales else ())
    second = (f"{path}.{norm2}", f"{path}.{mlp}") + ((f"{path}.{scales[1]}",) if scales else ())
    return [UnitSpec(f"{path}.{norm2}", mixer_kind, stage, layout, tap="input", branch=f"{path}.{mixer}",
                     owns=first),
            UnitSpec(path, UnitKind.MLP, stage, layout, branch=f"{path}.{mlp}", owns=second)]


def residual_stages(model: nn.Module, stages: list[str], branch: Callable[[nn.Module], str],
                    kind: UnitKind = UnitKind.CONV, first_stage: int = 1) -> list[UnitSpec]:
    """One residual unit per block of each stage (a sequence of blocks); ``branch(block)`` names the block's
    last module on its residual branch."""
    return [UnitSpec(f"{stage}.{name}", kind, first_stage + s, branch=f"{stage}.{name}.{branch(block)}")
            for s, stage in enumerate(stages) for name, block in model.get_submodule(stage).named_children()]


def last_norm(block: nn.Module) -> str:
    """The last BatchNorm on a basic (``bn2``) or bottleneck (``bn3``) ResNet block's branch (timm, torchvision)."""
    return "bn3" if hasattr(block, "bn3") else "bn2"


def existing(model: nn.Module, *paths: str) -> tuple[str, ...]:
    """The paths among ``paths`` that ``model`` has (optional norms and heads)."""
    names = dict(model.named_modules())
    return tuple(p for p in paths if p in names)


__all__ = ["DescriptionError", "described_classes", "find_description", "register_description"]
