"""The parity gate every exported graph must pass: run it in ONNX Runtime on real images and compare with
PyTorch. A failed gate raises :class:`ParityError`; it is never a warning.

FP32: max |logit difference| <= 1e-4 and 100% top-1 agreement. FP16: <= 1e-2 and >= 99%. INT8 (static or
dynamic): accuracy on a labelled validation set within 1 percentage point of PyTorch's.

Top-1 agreement is counted over the images whose PyTorch top-2 margin exceeds twice the gate's logit tolerance:
below that, a logit error the gate accepts can swap the two classes, so such an image is a tie at that
precision, not evidence against the graph. Ties are counted and reported, with the agreement over all images.
(A flip outside the ties needs a logit error beyond the tolerance, so for FP32 and FP16 the tolerance is the
binding check; random-weight models, whose top classes are often near-tied, are what made this rule necessary.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from export.errors import ParityError
from hub import UnitModel


@dataclass(frozen=True)
class Gate:
    max_abs: float | None = None
    min_top1_agreement: float | None = None
    max_accuracy_drop: float | None = None
    """In percentage points, on labelled images."""


GATES: dict[str, Gate] = {
    "fp32": Gate(max_abs=1e-4, min_top1_agreement=1.0),
    "fp16": Gate(max_abs=1e-2, min_top1_agreement=0.99),
    "int8": Gate(max_accuracy_drop=1.0),
    "int8-cpu": Gate(max_accuracy_drop=1.0),
    "int8-dynamic": Gate(max_accuracy_drop=1.0),
}


@dataclass
class Parity:
    precision: str
    images: int
    max_abs: float
    mean_abs: float
    top1_agreement: float
    """Over the images that are not ties at the gate's tolerance."""
    top1_agreement_all: float
    ties: int
    """Images whose PyTorch top-2 margin is within twice the gate's logit tolerance."""
    accuracy_torch: float | None
    accuracy_onnx: float | None
    gate: Gate
    passed: bool
    failures: list[str]

    @property
    def accuracy_drop_pp(self) -> float | None:
        if self.accuracy_torch is None or self.accuracy_onnx is None:
            return None
        return 100 * (self.accuracy_torch - self.accuracy_onnx)

    def to_dict(self) -> dict:
        return {**asdict(self), "accuracy_drop_pp": self.accuracy_drop_pp}


def measure_parity(model: UnitModel, run: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                   labels: np.ndarray | None, precision: str, gate: Gate | None = None,
                   batch_size: int = 64) -> Parity:
    """Compare ``run`` (an ONNX Runtime session call) with ``model`` on normalised ``images`` (N, 3, H, W)."""
    gate = gate or GATES[precision]
    model.eval()
    expected, got = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        with torch.no_grad():
            expected.append(model(torch.from_numpy(batch)).numpy())
        got.append(np.asarray(run(batch), dtype=np.float32))
    reference, candidate = np.concatenate(expected), np.concatenate(got)
    diff = np.abs(reference - candidate)
    agrees = reference.argmax(1) == candidate.argmax(1)
    top2 = np.sort(reference, axis=1)[:, -2:] if reference.shape[1] > 1 else np.zeros((len(reference), 2))
    tie = top2[:, 1] - top2[:, 0] <= 2 * gate.max_abs if gate.max_abs is not None else np.zeros(len(agrees), bool)
    agreement = float(agrees[~tie].mean()) if (~tie).any() else 1.0
    acc_torch = acc_onnx = None
    if labels is not None:
        acc_torch = float((reference.argmax(1) == labels).mean())
        acc_onnx = float((candidate.argmax(1) == labels).mean())
    measured = {"max_abs": float(diff.max()), "top1_agreement": agreement, "labelled": labels is not None,
                "accuracy_drop_pp": None if labels is None else 100 * (acc_torch - acc_onnx)}
    failures = gate_failures(gate, measured)
    return Parity(precision, len(images), float(diff.max()), float(diff.mean()), agreement, float(agrees.mean()),
                  int(tie.sum()), acc_torch, acc_onnx, gate, not failures, failures)


def gate_failures(gate: Gate, measured: dict) -> list[str]:
    """What ``measured`` (``max_abs``, ``top1_agreement``, ``accuracy_drop_pp``, ``labelled``) fails of ``gate``."""
    failures = []
    if gate.max_abs is not None and measured["max_abs"] > gate.max_abs:
        failures.append(f"max |logit difference| {measured['max_abs']:.3g} > {gate.max_abs:g}")
    if gate.min_top1_agreement is not None and measured["top1_agreement"] < gate.min_top1_agreement:
        failures.append(f"top-1 agreement {100 * measured['top1_agreement']:.2f}% < {100 * gate.min_top1_agreement:g}%")
    if gate.max_accuracy_drop is not None:
        if not measured.get("labelled", measured.get("accuracy_drop_pp") is not None):
            failures.append("an INT8 gate needs labelled images")
        elif measured["accuracy_drop_pp"] > gate.max_accuracy_drop:
            failures.append(f"accuracy drop {measured['accuracy_drop_pp']:.2f} pp > {gate.max_accuracy_drop:g} pp")
    return failures


def enforce(parity: Parity, what: str) -> Parity:
    if not parity.passed:
        raise ParityError(f"{what} fails the {parity.precision} parity gate on {parity.images} real images: "
                          + "; ".join(parity.failures))
    return parity
