"""The frequency grid, band masks, radial averages, an image's power spectrum and band-limited noise, in NumPy:
shared by the analyses (:mod:`hub.frequency`, :mod:`hub.noise`, on torch tensors converted at the edges) and
the service's per-image diagnostics, which run on ONNX Runtime's outputs without torch.

Frequencies are normalised so that 1 is the Nyquist frequency (pi radians per pixel). Arrays in "FFT order"
have DC at ``[0, 0]`` (as ``fft2`` returns them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

MaskShape = Literal["square", "circle"]
NoiseNorm = Literal["fixed", "original"]


def frequency_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``|fy|`` ``(H, 1)`` and ``|fx|`` ``(1, W)`` of every FFT bin in FFT order, normalised (1 = pi)."""
    fy = np.abs(np.fft.fftfreq(height)) * 2
    fx = np.abs(np.fft.fftfreq(width)) * 2
    return fy[:, None], fx[None, :]


def radial_frequency(height: int, width: int) -> np.ndarray:
    """Normalised radial frequency ``sqrt(fy^2 + fx^2)`` of every FFT bin, in FFT order."""
    fy, fx = frequency_grid(height, width)
    return np.sqrt(fy**2 + fx**2)


def band_mask(height: int, width: int, centre: float, half_width: float, shape: MaskShape = "square") -> np.ndarray:
    """Boolean ``(H, W)`` mask (FFT order) of the frequencies whose radius, in radians per pixel, lies within
    ``half_width`` of ``centre``: the square (L-infinity) annulus of the original's ``FreqAttack`` or a circle."""
    fy, fx = frequency_grid(height, width)
    radius = (np.maximum(fy, fx) if shape == "square" else np.sqrt(fy**2 + fx**2)) * math.pi
    return (radius >= centre - half_width - 1e-9) & (radius <= centre + half_width + 1e-9)


def radial_average(values: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` (``(H, W)``, FFT order) over rings of normalised radius rounded to ``k / bins`` for
    ``k = 0..bins`` (default ``min(H, W) // 2``); the corners beyond pi are left out, empty rings are NaN.
    Returns the ring radii and the means, in float64."""
    h, w = values.shape
    bins = bins or min(h, w) // 2
    index = np.round(radial_frequency(h, w) * bins).astype(np.int64)
    inside = index <= bins
    sums = np.bincount(index[inside], weights=np.asarray(values, dtype=np.float64)[inside], minlength=bins + 1)
    counts = np.bincount(index[inside], minlength=bins + 1).astype(np.float64)
    means = sums / np.maximum(counts, 1)
    means[counts == 0] = np.nan
    with np.errstate(invalid="ignore"):  # a 1 x 1 map has no rings: its one radius is NaN, as the mean of none
        return np.arange(bins + 1, dtype=np.float64) / bins, means


@dataclass(frozen=True)
class PowerSpectrum:
    """Radially averaged power of an image and the share of its energy above ``threshold_pi``."""

    frequency_pi: list[float]
    power: list[float]
    high_frequency_share: float
    threshold_pi: float


def power_spectrum(pixels: np.ndarray, threshold: float = 0.5, bins: int | None = None) -> PowerSpectrum:
    """Of the grey ``(3, H, W)`` image (channel mean, mean removed)."""
    grey = np.asarray(pixels, dtype=np.float64).mean(0)
    power = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
    frequency, profile = radial_average(power, bins)
    total = float(power.sum())
    high = float(power[radial_frequency(*grey.shape) > threshold].sum())
    return PowerSpectrum(frequency.tolist(), profile.tolist(), high / total if total > 0 else 0.0, threshold)


def frequency_filtered(pixels: np.ndarray, cutoff: float, keep: Literal["low", "high"]) -> np.ndarray:
    """Ideal circular low-pass (``keep="low"``) or high-pass (``"high"``, mean colour kept) filter of
    ``(..., H, W)`` pixels in [0, 1], clipped back into [0, 1]."""
    radius = radial_frequency(*pixels.shape[-2:])
    mask = radius <= cutoff if keep == "low" else radius > cutoff
    mask[0, 0] = True  # the mean colour: a high-passed image stays an image
    filtered = np.fft.ifft2(np.fft.fft2(np.asarray(pixels, dtype=np.float64)) * mask).real
    return np.clip(filtered, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class BandNoise:
    """One band-limited noise setting (the paper's Fig. 2b): band centre and half-width in radians per pixel
    (pi = Nyquist).

    ``norm="fixed"`` rescales every image's noise to RMS ``strength`` (bands comparable); ``norm="original"``
    keeps the filtered +-strength draw (the original: narrow and low bands then carry less energy)."""

    centre: float
    half_width: float = 0.2
    strength: float = 0.1
    """RMS of the noise in [0, 1] pixel units (``fixed``), or the +- amplitude before filtering (``original``)."""
    shape: MaskShape = "square"
    norm: NoiseNorm = "fixed"
    base: Literal["gaussian", "sign"] = "gaussian"


def band_limit(draw: np.ndarray, setting: BandNoise) -> np.ndarray:
    """A float64 draw ``(..., C, H, W)`` (Gaussian; its signs for ``base="sign"``) restricted to the band of
    ``setting`` and scaled as it says: 2-D FFT, band mask, inverse FFT. The mask is symmetric under f -> -f, so
    the filtered noise is real and all its energy lies in the band. Returns float32."""
    if setting.base == "sign":
        draw = np.sign(draw)
    mask = band_mask(draw.shape[-2], draw.shape[-1], setting.centre, setting.half_width, setting.shape)
    noise = np.fft.ifft2(np.fft.fft2(draw) * mask).real
    if setting.norm == "fixed":
        flat = noise.reshape(*noise.shape[:-3], -1)
        rms = np.maximum(np.sqrt((flat**2).mean(-1)), 1e-12)
        return (noise / rms[..., None, None, None] * setting.strength).astype(np.float32)
    return (noise * setting.strength).astype(np.float32)
