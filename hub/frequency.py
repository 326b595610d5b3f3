"""The spectra of feature maps, in torch: the delta log amplitude profiles of the Fourier analysis (Fig. 8) and of
the service's per-stage diagnostics. The frequency grid, masks, radial averages and image spectra they build on
are :mod:`hub.spectrum`'s (NumPy).

"Shifted" spectra have DC at ``[H // 2, W // 2]``; frequencies are normalised so that 1 is pi radians per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hub.spectrum import radial_average

Average = Literal["mean-of-log", "log-of-mean"]
HighFrequency = Literal["paper", "nyquist"]
"""Which diagonal bin stands for "the highest frequency": ``nyquist`` the true corner (pi, pi); ``paper`` the
bin (h/2 - 1, h/2 - 1) that the original's Fig. 8 plots and its axis calls 1.0 pi (the same for odd sizes)."""
EPS = 1e-6
"""Added to amplitudes before the log (the original's constant)."""


def log_amplitude(fmap: Tensor, average: Average = "mean-of-log", per_image: bool = False) -> Tensor:
    """``(B, C, H, W)`` -> shifted ``(H, W)`` summed over B (callers divide by the image count), or ``(B, H, W)``
    per image.

    ``mean-of-log`` sums ``log(|F| + 1e-6)`` averaged over channels (the original); ``log-of-mean`` sums ``|F|``
    averaged over channels (take the log once the whole set is summed)."""
    amplitude = torch.fft.fft2(fmap.float()).abs()
    values = torch.log(amplitude + EPS) if average == "mean-of-log" else amplitude
    values = torch.fft.fftshift(values, dim=(-2, -1)).mean(1)
    return values if per_image else values.sum(0)


def diagonal_step(size: tuple[int, int], point: HighFrequency) -> int:
    """Steps from DC along the diagonal of a shifted ``size`` spectrum to the high-frequency ``point``."""
    last = min(size) // 2
    return last - 1 if point == "paper" and min(size) % 2 == 0 and last > 0 else last


def diagonal_profile(spectrum: Tensor) -> tuple[Tensor, Tensor]:
    """Frequencies (in units of pi) and values minus DC along the diagonal of a shifted spectrum, from DC to
    the corner. Walks towards negative frequencies, which for even sizes reaches the Nyquist corner
    (-pi, -pi); the amplitude of a real signal is symmetric, so this is the original's (k, k) diagonal plus
    its last point."""
    h, w = spectrum.shape
    cy, cx = h // 2, w // 2
    steps = torch.arange(min(cy, cx) + 1)
    values = spectrum[cy - steps, cx - steps]
    return 2 * steps.double() / min(h, w), values - values[0]


def radial_profile(spectrum: Tensor, bins: int | None = None) -> tuple[Tensor, Tensor]:
    """Ring averages of a shifted spectrum from 0 to pi (see :func:`radial_average`), minus DC."""
    h, w = spectrum.shape
    radii, values = radial_average(torch.fft.ifftshift(spectrum).double().cpu().numpy(), bins)
    return torch.from_numpy(radii), torch.from_numpy(values) - spectrum[h // 2, w // 2].double().cpu()


@dataclass(frozen=True)
class DeltaLogAmplitude:
    """The delta log amplitude (relative to DC) of a map's spectrum, along the diagonal and by radius."""

    size: tuple[int, int]
    diagonal_freq: list[float]
    diagonal: list[float]
    radial_freq: list[float]
    radial: list[float]

    def at(self, point: HighFrequency) -> float:
        """At the highest diagonal frequency: the true corner, or the paper's Fig. 8 bin (see ``HighFrequency``)."""
        return self.diagonal[diagonal_step(self.size, point)]

    @classmethod
    def of(cls, spectrum: Tensor) -> DeltaLogAmplitude:
        """From a shifted log-amplitude spectrum ``(H, W)`` averaged over the images."""
        spectrum = spectrum.double()
        dfreq, diagonal = diagonal_profile(spectrum)
        rfreq, radial = radial_profile(spectrum)
        return cls(tuple(spectrum.shape), dfreq.tolist(), diagonal.tolist(), rfreq.tolist(), radial.tolist())
