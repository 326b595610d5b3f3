"""Models from other libraries and from one's own code, ready for the analyses: ``timm:NAME``,
``torchvision:NAME`` and ``PACKAGE.MODULE:FACTORY``.

Each is built (random weights seeded with 0 unless ``pretrained``), described with the ready-made
description of its class (:mod:`hub.descriptions`) and wrapped as a :class:`hub.describe.DescribedModel` whose
config carries the library's own preprocessing and labels. timm and torchvision are imported only here and
only when asked for, so neither is needed to use the rest of the toolkit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from hub.config import ModelConfig
from hub.describe import DescribedModel, DescriptionError
from hub.descriptions import find_description
from hub.errors import HubError, NotAvailableError
from hub.sources import FOREIGN
from hub.units import UnitIntrospection


def is_foreign(spec: str) -> bool:
    """Whether ``spec`` names a model of another library or a factory (a Hub id or path never has a colon in
    this form)."""
    return FOREIGN.fullmatch(spec) is not None


def load_foreign(spec: str, pretrained: bool = False, num_classes: int | None = None) -> UnitIntrospection:
    """The model ``spec`` names, with unit introspection; see the module docstring."""
    match = FOREIGN.fullmatch(spec)
    if match is None:
        raise HubError(f"{spec!r} is not timm:NAME, torchvision:NAME or package.module:factory")
    origin, name = match["origin"], match["name"]
    torch.manual_seed(0)
    builder = {"timm": _timm, "torchvision": _torchvision}.get(origin, _factory)
    model = builder(origin, name, pretrained, num_classes)
    if isinstance(model, UnitIntrospection):
        return model
    raise DescriptionError(f"{spec} built a {type(model).__name__}, not a module with unit introspection")


def load_any(name: str, pretrained: bool = False) -> UnitIntrospection:
    """What the export and the PyTorch runtime load: a foreign spec (``pretrained``: timm's or torchvision's
    weights; a factory of one's own is called as it is and loads its own), or anything :func:`hub.from_pretrained`
    loads."""
    if is_foreign(name):
        return load_foreign(name, pretrained and FOREIGN.fullmatch(name)["origin"] in ("timm", "torchvision"))
    from hub.pretrained import from_pretrained

    return from_pretrained(name)


def _weights_note(pretrained: bool, what: str) -> str:
    return f"pretrained {what} weights" if pretrained else "random initialisation, seed 0"


def _library(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise NotAvailableError(f"{name} is not installed: pip install {name} (or this package's [{name}] "
                                "extra)") from err


def _timm(origin: str, name: str, pretrained: bool, num_classes: int | None) -> DescribedModel:
    timm = _library("timm")
    if not timm.is_model(name):
        raise HubError(f"timm has no model {name!r} (timm.list_models() lists them)")
    extra = {} if num_classes is None else {"num_classes": num_classes}
    try:
        model = timm.create_model(name, pretrained=pretrained, **extra)
    except (OSError, RuntimeError, ValueError) as err:
        raise NotAvailableError(f"timm could not build {name} with pretrained={pretrained}: {err} (pretrained "
                                "weights must be reachable: in the Hugging Face cache, or online)") from err
    cfg = model.pretrained_cfg
    labels = _imagenet_labels(timm) if pretrained and model.num_classes == 1000 else None
    config = ModelConfig(f"timm:{name}", model.num_classes, "timm", {}, labels, tuple(cfg["input_size"]),
                         tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"], cfg["crop_pct"], library="timm")
    return DescribedModel(model, find_description(model), config, f"timm:{name} ({_weights_note(pretrained, 'timm')})")


def _imagenet_labels(timm: Any) -> list[str]:
    return list(timm.data.ImageNetInfo().label_descriptions())


def _torchvision(origin: str, name: str, pretrained: bool, num_classes: int | None) -> DescribedModel:
    models = _library("torchvision.models")
    try:
        default = models.get_model_weights(name).DEFAULT
    except ValueError as err:
        raise HubError(f"torchvision has no model {name!r} (torchvision.models.list_models() lists them)") from err
    extra = {} if num_classes is None else {"num_classes": num_classes}
    try:
        model = models.get_model(name, weights=default if pretrained else None, **extra)
    except (OSError, RuntimeError, ValueError) as err:
        raise NotAvailableError(f"torchvision could not build {name} with pretrained={pretrained}: {err} "
                                "(pretrained weights must be reachable: in the torch hub cache, or online)") from err
    preprocess = default.transforms()  # the weights' evaluation transform, random weights included
    size = preprocess.crop_size[0]
    classes = len(default.meta["categories"]) if num_classes is None else num_classes
    labels = list(default.meta["categories"]) if pretrained else None
    config = ModelConfig(f"torchvision:{name}", classes, "torchvision", {}, labels, (3, size, size),
                         tuple(preprocess.mean), tuple(preprocess.std), preprocess.interpolation.value,
                         size / preprocess.resize_size[0], library="torchvision")
    return DescribedModel(model, find_description(model), config,
                          f"torchvision:{name} ({_weights_note(pretrained, 'torchvision')})")


def _factory(origin: str, name: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    """``package.module:factory`` from the user's own code, called with ``pretrained`` and ``num_classes`` when
    given; a plain module gets the ready-made description of its class."""
    try:
        module = importlib.import_module(origin)
    except ImportError as err:
        raise HubError(f"cannot import {origin} for {origin}:{name}: {err}") from err
    factory: Callable[..., Any] | None = getattr(module, name, None)
    if not callable(factory):
        raise HubError(f"{origin} has no callable {name!r}")
    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    if pretrained:
        kwargs["pretrained"] = True
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise HubError(f"{origin}:{name} returned a {type(model).__name__}, not a torch.nn.Module")
    if not isinstance(model, UnitIntrospection):
        model = DescribedModel(model, find_description(model))
    model.source = f"{origin}:{name}"  # what reruns it
    return model
