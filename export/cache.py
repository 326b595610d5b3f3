"""Where exported graphs and engines are kept between runs (``HOWVITS_CACHE``, default ~/.cache/howvits)."""

from __future__ import annotations

import os
from pathlib import Path

from export.manifest import Manifest
from export.pipeline import ExportRequest, export_model
from hub import UnitModel

CACHE = Path(os.environ.get("HOWVITS_CACHE", Path.home() / ".cache" / "howvits"))


def cached_onnx(model: UnitModel, precision: str) -> Path:
    """Export (with its parity gate) once per weights hash and precision; reuse afterwards."""
    key = model.config.weights_sha256 or f"random-{model.config.architecture}"
    path = CACHE / "onnx" / key[:16] / f"model.{precision}.onnx"
    try:
        manifest = Manifest.load(path)
        if path.is_file() and manifest.weights_sha256 == model.config.weights_sha256:
            return path
    except FileNotFoundError:
        pass
    export_model(ExportRequest(model.source, path, precision=precision), model)
    return path
