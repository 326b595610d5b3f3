"""Model zoo and hub for "How Do Vision Transformers Work?" (Park & Kim, ICLR 2022)."""

from hub import models  # noqa: F401  (importing the family modules registers every variant)
from hub.card import CardInfo
from hub.config import PRESETS, ModelConfig, Preset
from hub.errors import HubError, IncompatibleWeightsError, NotAvailableError, UnknownModelError
from hub.folder import save_pretrained
from hub.layers import ParamRole
from hub.official import convert_official
from hub.pretrained import from_pretrained, push_folder, push_to_hub
from hub.registry import create_model, family_examples, is_model, list_models, model_family, register_model
from hub.units import UnitInfo, UnitKind, UnitModel, count_parameters

__all__ = [
    "PRESETS",
    "CardInfo",
    "HubError",
    "IncompatibleWeightsError",
    "ModelConfig",
    "NotAvailableError",
    "ParamRole",
    "Preset",
    "UnitInfo",
    "UnitKind",
    "UnitModel",
    "UnknownModelError",
    "convert_official",
    "count_parameters",
    "create_model",
    "family_examples",
    "from_pretrained",
    "is_model",
    "list_models",
    "model_family",
    "push_folder",
    "push_to_hub",
    "register_model",
    "save_pretrained",
]
