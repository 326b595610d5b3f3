"""Band-limited noise (the paper's Fig. 2b): random noise restricted to a band of spatial frequencies, added to
images in pixel space (before normalisation), and its per-image robustness measure (what the service's
diagnostics report; the data-set measure is the ``noise`` analysis).

Noise: a seeded draw (Gaussian, or +-1 signs like the original's ``Random`` attack), 2-D FFT, multiplied by a
band mask (:func:`hub.frequency.band_mask`), inverse FFT. The mask is symmetric under f -> -f, so the filtered
noise is real and all its energy lies in the band. ``norm="fixed"`` rescales every image's noise to RMS
``strength`` (bands comparable); ``norm="original"`` keeps the filtered +-strength draw (the original: narrow
and low bands then carry less energy).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hub.config import ModelConfig
from hub.frequency import MaskShape, band_mask
from hub.preprocess import normalise_batch

NoiseNorm = Literal["fixed", "original"]
Classify = Callable[[Tensor], Tensor]
"""Normalised ``(B, 3, H, W)`` batch -> logits: a model in eval mode, or any predictor wrapped as one."""


@dataclass(frozen=True)
class BandNoise:
    """One noise setting: band centre and half-width in radians per pixel (pi = Nyquist)."""

    centre: float
    half_width: float = 0.2
    strength: float = 0.1
    """RMS of the noise in [0, 1] pixel units (``fixed``), or the +- amplitude before filtering (``original``)."""
    shape: MaskShape = "square"
    norm: NoiseNorm = "fixed"
    base: Literal["gaussian", "sign"] = "gaussian"


def centres(count: int) -> list[float]:
    """``count`` band centres evenly from 0 to pi."""
    return [math.pi * i / (count - 1) for i in range(count)]


def band_limited_noise(shape: tuple[int, ...], setting: BandNoise, generator: torch.Generator) -> Tensor:
    """Noise of ``shape`` ``(..., H, W)`` whose spectrum lies inside the band of ``setting``."""
    draw = torch.randn(shape, generator=generator, dtype=torch.float64)
    if setting.base == "sign":
        draw = draw.sign()
    mask = band_mask(shape[-2], shape[-1], setting.centre, setting.half_width, setting.shape)
    noise = torch.fft.ifft2(torch.fft.fft2(draw) * mask).real
    if setting.norm == "fixed":
        rms = noise.flatten(-3).pow(2).mean(-1).sqrt().clamp(min=1e-12)
        return (noise / rms[..., None, None, None] * setting.strength).float()
    return (noise * setting.strength).float()


def band_energy_fraction(noise: Tensor, mask: Tensor) -> float:
    """Share of the noise's spectral energy inside ``mask`` (FFT order)."""
    power = torch.fft.fft2(noise.double()).abs().pow(2)
    return (power * mask).sum().item() / power.sum().item()


@torch.no_grad()
def predictions_under_noise(classify: Classify, config: ModelConfig, pixels: Tensor, setting: BandNoise,
                            generator: torch.Generator, clip: bool = False) -> tuple[Tensor, Tensor]:
    """Softmax probabilities for ``pixels + noise`` (``(B, 3, H, W)`` in [0, 1]) and the noise used."""
    noise = band_limited_noise(tuple(pixels.shape), setting, generator).to(pixels.device)
    noisy = pixels + noise
    if clip:
        noisy = noisy.clamp(0, 1)
    return classify(normalise_batch(noisy, config)).softmax(-1), noise


@dataclass(frozen=True)
class BandRobustness:
    """How one image's prediction fares under one band's noise."""

    centre: float
    centre_pi: float
    confidence_change: float
    """Mean change of the clean top-1 class's probability over the draws."""
    flip_rate: float
    """Fraction of draws whose top-1 class differs from the clean one."""


@torch.no_grad()
def image_band_robustness(classify: Classify, config: ModelConfig, pixels: Tensor, settings: list[BandNoise],
                          draws: int = 8, seed: int = 0) -> list[BandRobustness]:
    """One ``(3, H, W)`` image in [0, 1], ``draws`` seeded noise draws per band; deterministic for an image and
    seed (every band uses the same seeded draws)."""
    clean = classify(normalise_batch(pixels[None], config)).softmax(-1)[0]
    top = int(clean.argmax())
    batch = pixels[None].expand(draws, *pixels.shape)
    rows = []
    for setting in settings:
        probs, _ = predictions_under_noise(classify, config, batch, setting, torch.Generator().manual_seed(seed))
        rows.append(BandRobustness(setting.centre, setting.centre / math.pi, (probs[:, top] - clean[top]).mean().item(),
                                   (probs.argmax(-1) != top).double().mean().item()))
    return rows
