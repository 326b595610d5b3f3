"""The manifest written beside every exported graph (``model.onnx`` -> ``model.onnx.json``): where the graph
came from, how to feed it, and the parity figures it passed."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from hub.config import ModelConfig


def versions() -> dict[str, str]:
    found = {}
    for package in ("torch", "onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu", "onnxconverter-common",
                    "tensorrt"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass
class Manifest:
    source: str
    """What was exported: short name, repo@commit or folder."""
    weights_sha256: str | None
    onnx_file: str
    onnx_sha256: str
    precision: str
    exporter: str
    opset: int
    config: dict[str, Any]
    """The hub ModelConfig: architecture, input size, mean/std, interpolation, crop, labels."""
    parity: dict[str, Any]
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.config)

    def save(self, onnx_path: Path) -> Path:
        path = manifest_path(onnx_path)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, onnx_path: Path) -> Manifest:
        path = manifest_path(onnx_path)
        if not path.is_file():
            raise FileNotFoundError(f"{onnx_path} has no manifest {path.name}: export it with python -m export onnx")
        return cls(**json.loads(path.read_text()))


def manifest_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".json")
