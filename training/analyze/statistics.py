"""Uncertainty of the figures a verdict rests on: an estimate with its standard error, the bootstrap over images
that gives one to any function of per-image means, and the one rule every verdict uses to tell a sign or a gap
from sampling noise."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Verdict = Literal["supported", "not supported", "within noise", "not tested"]
SIGNIFICANCE = 2.0
"""A sign or a gap counts only beyond this many standard errors; closer is "within noise"."""
REPLICATES = 1000
"""Bootstrap resamples."""


@dataclass(frozen=True)
class Estimate:
    """A figure and its standard error."""

    value: float
    se: float

    def __str__(self) -> str:
        return f"{self.value:.3g} +- {self.se:.2g}"

    def signed(self) -> str:
        return f"{self.value:+.3f} +- {self.se:.3f}"

    def percent(self) -> str:
        return f"{100 * self.value:.1f} +- {100 * self.se:.1f}"

    @property
    def z(self) -> float:
        """The value in standard errors."""
        return self.value / max(self.se, 1e-12) if math.isfinite(self.se) else 0.0


def bootstrap(per_image: Tensor, statistic: Callable[[Tensor], Tensor], replicates: int = REPLICATES,
              seed: int = 0) -> tuple[Tensor, Tensor]:
    """``statistic`` of the per-image means and its bootstrap standard error over images.

    ``per_image`` is ``(n, m)``: m values per image; ``statistic`` maps ``(r, m)`` rows of means to ``(r, k)``.
    Each replicate resamples the n images with replacement, so anything built from per-image means (a ratio, a
    log, a difference between units measured on the same images) gets the spread it would have over sets of
    images. Returns ``(value (k,), se (k,))`` in float64."""
    samples = per_image.double()
    n = len(samples)
    value = statistic(samples.mean(0, keepdim=True))[0]
    generator = torch.Generator().manual_seed(seed)
    draws = []
    for start in range(0, replicates, 100):  # resampling counts, 100 replicates at a time
        rows = min(100, replicates - start)
        index = torch.randint(n, (rows, n), generator=generator)
        ones = torch.ones(rows, n, dtype=torch.float64)
        counts = torch.zeros(rows, n, dtype=torch.float64).scatter_add_(1, index, ones)
        draws.append(statistic(counts @ samples / n))
    return value, torch.cat(draws).std(0)


def sign(estimate: Estimate, expected: Literal[1, -1]) -> Verdict:
    """Does ``estimate`` have the ``expected`` sign beyond noise?"""
    z = expected * estimate.z
    return "supported" if z > SIGNIFICANCE else "not supported" if z < -SIGNIFICANCE else "within noise"


def lower_than(low: list[Estimate], high: list[Estimate]) -> Verdict:
    """Is every ``low`` below every ``high``? Each pair is judged by its gap in combined standard errors."""
    return both(*(sign(Estimate(h.value - lo.value, math.hypot(lo.se, h.se)), 1) for lo in low for h in high))


def both(*verdicts: Verdict) -> Verdict:
    """All must hold: one contradiction makes it "not supported", one tie "within noise"."""
    if all(v == "supported" for v in verdicts):
        return "supported"
    return "not supported" if "not supported" in verdicts else "within noise"
