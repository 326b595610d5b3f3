"""Band-limited noise on torch batches (the paper's Fig. 2b), for the data-set ``noise`` analysis: seeded draws
from a torch generator (Gaussian, or +-1 signs like the original's ``Random`` attack), restricted to a band by
:func:`hub.spectrum.band_limit` and added to images in pixel space, before normalisation. The settings are
:class:`hub.spectrum.BandNoise`; the service's per-image form is :mod:`serving.diagnostics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from hub.config import ModelConfig
from hub.spectrum import BandNoise, band_limit
from hub.transforms import normalise_batch

Classify = Callable[[Tensor], Tensor]
"""Normalised ``(B, 3, H, W)`` batch -> logits: a model in eval mode, or any predictor wrapped as one."""


def centres(count: int) -> list[float]:
    """``count`` band centres evenly from 0 to pi."""
    return [math.pi * i / (count - 1) for i in range(count)]


def band_limited_noise(shape: tuple[int, ...], setting: BandNoise, generator: torch.Generator) -> Tensor:
    """Noise of ``shape`` ``(..., C, H, W)`` whose spectrum lies inside the band of ``setting``."""
    draw = torch.randn(shape, generator=generator, dtype=torch.float64)
    return torch.from_numpy(band_limit(draw.numpy(), setting))


def band_energy_fraction(noise: Tensor, mask: np.ndarray | Tensor) -> float:
    """Share of the noise's spectral energy inside ``mask`` (FFT order)."""
    power = torch.fft.fft2(noise.double()).abs().pow(2)
    return (power * torch.as_tensor(mask)).sum().item() / power.sum().item()


@torch.no_grad()
def predictions_under_noise(classify: Classify, config: ModelConfig, pixels: Tensor, setting: BandNoise,
                            generator: torch.Generator, clip: bool = False) -> tuple[Tensor, Tensor]:
    """Softmax probabilities for ``pixels + noise`` (``(B, 3, H, W)`` in [0, 1]) and the noise used."""
    noise = band_limited_noise(tuple(pixels.shape), setting, generator).to(pixels.device)
    noisy = pixels + noise
    if clip:
        noisy = noisy.clamp(0, 1)
    return classify(normalise_batch(noisy, config)).softmax(-1), noise
