"""Classification and calibration metrics, every sample weighted equally.

The original code averaged per-batch means (so the last, smaller batch weighed as much as a full one); here
per-sample values are accumulated and reduced once. ECE uses equal-width bins over the max-probability
confidence with ``(lo, hi]`` membership for counts, accuracy and confidence alike (the original mixed
``(lo, hi]`` and ``[lo, hi)``); 15 bins is the common convention, 10 bins the original's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

CUTOFF = 0.9


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    top5: float
    nll: float
    ece: float
    """15 bins."""
    ece_10: float
    """10 bins, the original code's convention."""
    brier: float
    acc_90: float
    """Accuracy among predictions with confidence > 0.9 (NaN if there are none)."""
    unc_90: float
    """Fraction of wrong predictions with confidence <= 0.9 (NaN if there are no errors)."""
    freq_90: float
    """Fraction of predictions with confidence > 0.9."""
    count: int

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready: undefined metrics (NaN) become ``None`` (``null``)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def _bin_sums(confidence: Tensor, correct: Tensor, bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-bin sample count, number correct and confidence sum over equal-width bins ``(lo, hi]``."""
    index = (confidence * bins).ceil().long().clamp(1, bins) - 1  # a confidence of exactly 0 joins bin 0

    def per_bin(values: Tensor) -> Tensor:
        return torch.zeros(bins, dtype=torch.float64).index_add_(0, index, values.double())

    return per_bin(torch.ones_like(confidence)), per_bin(correct), per_bin(confidence)


def expected_calibration_error(confidence: Tensor, correct: Tensor, bins: int = 15) -> float:
    """``sum_b n_b / N * |acc_b - conf_b|``."""
    _, right, conf = _bin_sums(confidence, correct, bins)
    return float((right - conf).abs().sum() / len(confidence))


def reliability_bins(confidence: Tensor, correct: Tensor, bins: int = 15) -> dict[str, list[float]]:
    """Per-bin count, accuracy and mean confidence (NaN for empty bins): the numbers a reliability diagram plots."""
    count, right, conf = _bin_sums(confidence, correct, bins)
    return {"count": count.tolist(), "accuracy": (right / count).tolist(), "confidence": (conf / count).tolist()}


class MetricAccumulator:
    """Collect per-sample statistics batch by batch; ``compute()`` reduces them once."""

    def __init__(self) -> None:
        self._confidence: list[Tensor] = []
        self._correct: list[Tensor] = []
        self._top5: list[Tensor] = []
        self._nll: list[Tensor] = []
        self._brier: list[Tensor] = []

    def update(self, logits: Tensor, labels: Tensor) -> None:
        """``logits``: ``(N, K)`` unnormalised scores; ``labels``: ``(N,)`` class indices."""
        logits, labels = logits.detach().double().cpu(), labels.detach().cpu()
        log_probs = logits.log_softmax(-1)
        probs = log_probs.exp()
        confidence, predicted = probs.max(-1)
        k = min(5, probs.shape[-1])
        self._confidence.append(confidence)
        self._correct.append(predicted == labels)
        self._top5.append((probs.topk(k, -1).indices == labels[:, None]).any(-1))
        self._nll.append(-log_probs.gather(1, labels[:, None]).squeeze(1))
        onehot = torch.nn.functional.one_hot(labels, probs.shape[-1]).double()
        self._brier.append(((probs - onehot) ** 2).sum(-1))

    @property
    def confidence(self) -> Tensor:
        return torch.cat(self._confidence)

    @property
    def correct(self) -> Tensor:
        return torch.cat(self._correct)

    def compute(self) -> Metrics:
        if not self._confidence:
            raise ValueError("no samples were seen")
        confidence, correct = self.confidence, self.correct
        sure = confidence > CUTOFF
        wrong = ~correct
        nan = float("nan")
        return Metrics(
            accuracy=float(correct.double().mean()),
            top5=float(torch.cat(self._top5).double().mean()),
            nll=float(torch.cat(self._nll).mean()),
            ece=expected_calibration_error(confidence, correct, 15),
            ece_10=expected_calibration_error(confidence, correct, 10),
            brier=float(torch.cat(self._brier).mean()),
            acc_90=float(correct[sure].double().mean()) if sure.any() else nan,
            unc_90=float((~sure[wrong]).double().mean()) if wrong.any() else nan,
            freq_90=float(sure.double().mean()),
            count=len(confidence),
        )
