"""The PyTorch eager predictor: the reference every exported graph is gated against, and the backend whose
model the service's feature-map diagnostics read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from export.predictor import Predictor
from hub import UnitIntrospection
from hub.foreign import load_any


@dataclass
class TorchPredictor(Predictor):
    model: UnitIntrospection | None = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


def torch_predictor(source: str, threads: int) -> TorchPredictor:
    """``source``: anything :func:`hub.from_pretrained` loads, or ``timm:NAME`` / ``torchvision:NAME`` /
    ``package.module:factory`` with its library's pretrained weights (a served model is a trained one)."""
    model = load_any(source, pretrained=True)
    torch.set_num_threads(threads)
    folder = str(model.folder) if model.folder is not None else None
    return TorchPredictor(model.config, model.source, "torch", "fp32", ["pytorch-cpu"], threads, folder=folder,
                          model=model.eval())
