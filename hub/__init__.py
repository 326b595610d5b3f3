"""Model zoo and hub for "How Do Vision Transformers Work?" (Park & Kim, ICLR 2022)."""

from hub.card import CardInfo
from hub.config import PRESETS, ModelConfig, Preset
from hub.errors import HubError, IncompatibleWeightsError, NotAvailableError, UnknownModelError
from hub.pretrained import from_pretrained, push_folder, push_to_hub, save_pretrained
from hub.registry import create_model, is_model, list_models
from hub.units import UnitInfo, UnitKind, UnitModel, count_parameters

__all__ = [
    "PRESETS",
    "CardInfo",
    "HubError",
    "IncompatibleWeightsError",
    "ModelConfig",
    "NotAvailableError",
    "Preset",
    "UnitInfo",
    "UnitKind",
    "UnitModel",
    "UnknownModelError",
    "count_parameters",
    "create_model",
    "from_pretrained",
    "is_model",
    "list_models",
    "push_folder",
    "push_to_hub",
    "save_pretrained",
]
