"""Frequency primitives shared by the Fourier analysis, the band-noise analysis and the service's per-image
diagnostics: the FFT frequency grid, band masks, radial averages, an image's radial power spectrum, and the
delta log amplitude profiles of a feature map.

Frequencies are normalised so that 1 is the Nyquist frequency (pi radians per pixel). Arrays in "FFT order"
have DC at ``[0, 0]`` (as ``torch.fft.fft2`` returns them); "shifted" ones have it at ``[H // 2, W // 2]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Average = Literal["mean-of-log", "log-of-mean"]
HighFrequency = Literal["paper", "nyquist"]
"""Which diagonal bin stands for "the highest frequency": ``nyquist`` the true corner (pi, pi); ``paper`` the
bin (h/2 - 1, h/2 - 1) that the original's Fig. 8 plots and its axis calls 1.0 pi (the same for odd sizes)."""
MaskShape = Literal["square", "circle"]
EPS = 1e-6
"""Added to amplitudes before the log (the original's constant)."""


def frequency_grid(height: int, width: int) -> tuple[Tensor, Tensor]:
    """``|fy|`` ``(H, 1)`` and ``|fx|`` ``(1, W)`` of every FFT bin in FFT order, normalised (1 = pi)."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).abs() * 2
    fx = torch.fft.fftfreq(width, dtype=torch.float64).abs() * 2
    return fy[:, None], fx[None, :]


def radial_frequency(height: int, width: int) -> Tensor:
    """Normalised radial frequency ``sqrt(fy^2 + fx^2)`` of every FFT bin, in FFT order."""
    fy, fx = frequency_grid(height, width)
    return torch.sqrt(fy**2 + fx**2)


def band_mask(height: int, width: int, centre: float, half_width: float, shape: MaskShape = "square") -> Tensor:
    """Boolean ``(H, W)`` mask (FFT order) of the frequencies whose radius, in radians per pixel, lies within
    ``half_width`` of ``centre``: the square (L-infinity) annulus of the original's ``FreqAttack`` or a circle."""
    fy, fx = frequency_grid(height, width)
    radius = (torch.maximum(fy, fx) if shape == "square" else torch.sqrt(fy**2 + fx**2)) * math.pi
    return (radius >= centre - half_width - 1e-9) & (radius <= centre + half_width + 1e-9)


def radial_average(values: Tensor, bins: int | None = None) -> tuple[Tensor, Tensor]:
    """Mean of ``values`` (``(H, W)``, FFT order) over rings of normalised radius rounded to ``k / bins`` for
    ``k = 0..bins`` (default ``min(H, W) // 2``); the corners beyond pi are left out, empty rings are NaN.
    Returns the ring radii and the means, in float64."""
    h, w = values.shape
    bins = bins or min(h, w) // 2
    index = torch.round(radial_frequency(h, w) * bins).long()
    inside = index <= bins
    sums = torch.zeros(bins + 1, dtype=torch.float64).index_add_(0, index[inside], values[inside].double())
    counts = torch.bincount(index[inside], minlength=bins + 1).double()
    means = sums / counts.clamp(min=1)
    means[counts == 0] = float("nan")
    return torch.arange(bins + 1, dtype=torch.float64) / bins, means


@dataclass(frozen=True)
class PowerSpectrum:
    """Radially averaged power of an image and the share of its energy above ``threshold_pi``."""

    frequency_pi: list[float]
    power: list[float]
    high_frequency_share: float
    threshold_pi: float


def power_spectrum(pixels: Tensor, threshold: float = 0.5, bins: int | None = None) -> PowerSpectrum:
    """Of the grey ``(3, H, W)`` image (channel mean, mean removed)."""
    grey = pixels.double().mean(0)
    power = torch.fft.fft2(grey - grey.mean()).abs().pow(2)
    frequency, profile = radial_average(power, bins)
    total = power.sum().item()
    high = power[radial_frequency(*grey.shape) > threshold].sum().item()
    return PowerSpectrum(frequency.tolist(), profile.tolist(), high / total if total > 0 else 0.0, threshold)


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
    radii, values = radial_average(torch.fft.ifftshift(spectrum), bins)
    return radii, values - spectrum[h // 2, w // 2].double()


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
