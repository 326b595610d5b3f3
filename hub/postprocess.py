"""From logits to what a person reads: probabilities and the top-k labels (the CLI, the service and its
diagnostics all answer with these)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    label: str
    index: int
    probability: float


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 (stable for any logit scale)."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(-1, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int) -> list[ClassScore]:
    """The ``k`` most probable classes of one ``(classes,)`` row, most probable first (ties: lower index)."""
    order = np.argsort(-probs, kind="stable")[: min(k, len(labels))]
    return [ClassScore(labels[i], int(i), float(probs[i])) for i in order]
