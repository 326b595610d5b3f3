"""Model zoo and hub for "How Do Vision Transformers Work?" (Park & Kim, ICLR 2022).

The names below load on first use (PEP 562), so that ``hub.config``, ``hub.catalog``, ``hub.sources``,
``hub.preprocess`` and ``hub.spectrum`` import without torch (the service's ONNX Runtime worker uses only
those); the registry imports :mod:`hub.models`, which registers every family, on its first lookup.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CardInfo": "hub.card", "PRESETS": "hub.config", "ModelConfig": "hub.config", "Preset": "hub.config",
    "HubError": "hub.errors", "IncompatibleWeightsError": "hub.errors", "NotAvailableError": "hub.errors",
    "UnknownModelError": "hub.errors", "save_pretrained": "hub.folder", "ParamRole": "hub.layers",
    "convert_official": "hub.official", "from_pretrained": "hub.pretrained", "push_folder": "hub.pretrained",
    "push_to_hub": "hub.pretrained", "create_model": "hub.registry", "family_examples": "hub.registry",
    "is_model": "hub.registry", "list_models": "hub.registry", "model_family": "hub.registry",
    "register_model": "hub.registry", "UnitInfo": "hub.units", "UnitKind": "hub.units", "UnitModel": "hub.units",
    "UnitIntrospection": "hub.units", "DescribedModel": "hub.describe", "Description": "hub.describe",
    "UnitSpec": "hub.describe", "load_foreign": "hub.foreign",
    "count_parameters": "hub.units",
}
__all__ = [
    "PRESETS",
    "CardInfo",
    "DescribedModel",
    "Description",
    "HubError",
    "IncompatibleWeightsError",
    "ModelConfig",
    "NotAvailableError",
    "ParamRole",
    "Preset",
    "UnitInfo",
    "UnitIntrospection",
    "UnitKind",
    "UnitModel",
    "UnitSpec",
    "UnknownModelError",
    "convert_official",
    "count_parameters",
    "create_model",
    "family_examples",
    "from_pretrained",
    "is_model",
    "list_models",
    "load_foreign",
    "model_family",
    "push_folder",
    "push_to_hub",
    "register_model",
    "save_pretrained",
]

if TYPE_CHECKING:
    from hub.card import CardInfo
    from hub.config import PRESETS, ModelConfig, Preset
    from hub.describe import DescribedModel, Description, UnitSpec
    from hub.errors import HubError, IncompatibleWeightsError, NotAvailableError, UnknownModelError
    from hub.folder import save_pretrained
    from hub.foreign import load_foreign
    from hub.layers import ParamRole
    from hub.official import convert_official
    from hub.pretrained import from_pretrained, push_folder, push_to_hub
    from hub.registry import create_model, family_examples, is_model, list_models, model_family, register_model
    from hub.units import UnitInfo, UnitIntrospection, UnitKind, UnitModel, count_parameters


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
