"""ONNX / TensorRT export with parity gates on real images, and one predictor interface over every runtime."""

from export.errors import BackendUnavailable, ExportError, ParityError
from export.load import load_predictor
from export.pipeline import ExportRequest, ImageSource, export_model
from export.predictor import Predictor

__all__ = ["BackendUnavailable", "ExportError", "ExportRequest", "ImageSource", "ParityError", "Predictor",
           "export_model", "load_predictor"]
