"""Where exported graphs and engines are kept between runs (``HOWVITS_CACHE``, default ~/.cache/howvits).

A graph is keyed by its weights' sha256 and precision, so a model is exported (and gated) once. Finding a
cached graph needs no torch (:func:`cached_graph`): the service's ONNX Runtime worker looks its models up here
and, on a miss, has ``python -m export cache`` export them in a child process, so torch never enters the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from export.errors import ExportError
from export.manifest import Manifest
from hub.config import ModelConfig
from hub.sources import LocalModel, local_model

if TYPE_CHECKING:
    from hub import UnitModel

CACHE = Path(os.environ.get("HOWVITS_CACHE", Path.home() / ".cache" / "howvits"))


def graph_path(config: ModelConfig, precision: str) -> Path:
    key = config.weights_sha256 or f"random-{config.architecture}"
    return CACHE / "onnx" / key[:16] / f"model.{precision}.onnx"


def is_fresh(path: Path, weights_sha256: str | None) -> bool:
    """A graph (with its manifest) exported from exactly these weights."""
    try:
        return path.is_file() and Manifest.load(path).weights_sha256 == weights_sha256
    except FileNotFoundError:
        return False


def cached_onnx(model: UnitModel, precision: str) -> Path:
    """Export a loaded model (with its parity gate) once per weights hash and precision; reuse afterwards."""
    from export.pipeline import ExportRequest, export_model

    path = graph_path(model.config, precision)
    if not is_fresh(path, model.config.weights_sha256):
        export_model(ExportRequest(model.source, path, precision=precision), model)
    return path


def cached_graph(source: str, precision: str) -> tuple[Path, LocalModel]:
    """The cached graph of a short name, folder or Hub repo and the model folder it came from, without torch;
    on a miss it is exported in a child process (``python -m export cache``), or here when this process has
    imported torch already (there is nothing left to keep out of it)."""
    local = local_model(source)
    if local is None or not is_fresh(graph_path(local.config, precision), local.config.weights_sha256):
        if "torch" in sys.modules:
            from hub import from_pretrained

            path = cached_onnx(from_pretrained(source), precision)
            local = local_model(source)
            assert local is not None
            return path, local
        command = [sys.executable, "-m", "export", "cache", source, "--precision", precision]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportError(f"exporting {source!r} ({precision}) failed:\n{done.stderr.strip()[-2000:]}")
        local = local_model(source)
        assert local is not None, f"{source!r} has no local folder after its export"
    return graph_path(local.config, precision), local
