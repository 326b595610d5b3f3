"""ONNX / TensorRT export with parity gates on real images, and one predictor interface over every runtime.

``load_predictor`` and ``Predictor`` import without torch (the ONNX Runtime path); the export pipeline's names
load on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from export.errors import BackendUnavailable, ExportError, ParityError
from export.load import load_predictor
from export.predictor import Predictor

_PIPELINE = ("ExportRequest", "ImageSource", "export_model")
__all__ = ["BackendUnavailable", "ExportError", "ExportRequest", "ImageSource", "ParityError", "Predictor",
           "export_model", "load_predictor"]

if TYPE_CHECKING:
    from export.pipeline import ExportRequest, ImageSource, export_model


def __getattr__(name: str) -> Any:
    if name not in _PIPELINE:
        raise AttributeError(f"module 'export' has no attribute {name!r}")
    value = getattr(importlib.import_module("export.pipeline"), name)
    globals()[name] = value
    return value
