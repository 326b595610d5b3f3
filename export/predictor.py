"""One predictor interface over every runtime (:func:`export.load.load_predictor` builds them).

A predictor takes a normalised float32 batch ``(N, 3, H, W)`` and returns logits ``(N, classes)``;
:meth:`Predictor.preprocess` turns PIL images into that batch with the model's own config (the hub's single
preprocessing, :mod:`hub.preprocess`, NumPy and Pillow only). This module needs no torch: the PyTorch predictor
is :mod:`export.torch_runtime`'s and the TensorRT one lives with the engine builder in :mod:`export.tensorrt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from hub.config import ModelConfig
from hub.preprocess import input_batch

INPUT, OUTPUT = "input", "logits"
"""The names of the exported graphs' input and output."""


@dataclass
class Predictor:
    """Base: metadata plus shared preprocessing; subclasses implement :meth:`predict`."""

    config: ModelConfig
    source: str
    backend: str
    precision: str = "fp32"
    providers: list[str] = field(default_factory=list)
    threads: int = 1
    notes: list[str] = field(default_factory=list)
    """How the backend was chosen and anything that fell back."""
    parity: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None
    """The model folder the weights came from (its card and metrics.json), when known."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def preprocess(self, images: list[Image.Image]) -> np.ndarray:
        return input_batch(images, self.config)

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "backend": self.backend, "precision": self.precision,
                "providers": self.providers, "threads": self.threads, "notes": self.notes,
                "architecture": self.config.architecture, "num_classes": self.config.num_classes,
                "parity": self.parity}


@dataclass
class OrtPredictor(Predictor):
    session: Any = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(batch, dtype=np.float32)})[0]
