"""Model zoo and hub for "How Do Vision Transformers Work?" (Park & Kim, ICLR 2022)."""

from hub.config import PRESETS, ModelConfig, Preset
from hub.registry import create_model, is_model, list_models
from hub.units import UnitInfo, UnitKind, UnitModel, count_parameters

__all__ = [
    "PRESETS",
    "ModelConfig",
    "Preset",
    "UnitInfo",
    "UnitKind",
    "UnitModel",
    "count_parameters",
    "create_model",
    "is_model",
    "list_models",
]
