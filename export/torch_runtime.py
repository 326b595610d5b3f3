"""The PyTorch eager predictor: the reference every exported graph is gated against, and the backend whose
model the service's feature-map diagnostics read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from export.predictor import Predictor
from hub import UnitModel, from_pretrained


@dataclass
class TorchPredictor(Predictor):
    model: UnitModel | None = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


def torch_predictor(source: str, threads: int) -> TorchPredictor:
    model = from_pretrained(source)
    torch.set_num_threads(threads)
    folder = str(model.folder) if model.folder is not None else None
    return TorchPredictor(model.config, model.source, "torch", "fp32", ["pytorch-cpu"], threads, folder=folder,
                          model=model.eval())
