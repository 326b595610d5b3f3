"""Band-limited noise: energy in the band, real, the requested strength."""

import math

import pytest
import torch

from hub.noise import band_energy_fraction, band_limited_noise
from hub.spectrum import BandNoise, band_mask


@pytest.mark.parametrize("shape", ["square", "circle"])
@pytest.mark.parametrize("size", [32, 31])
@pytest.mark.parametrize("centre", [0.0, 0.5, 1.5, math.pi])
def test_noise_energy_lies_inside_the_band(shape, size, centre):
    setting = BandNoise(centre, 0.2, 0.1, shape)
    noise = band_limited_noise((4, 3, size, size), setting, torch.Generator().manual_seed(0))
    mask = band_mask(size, size, centre, 0.2, shape)
    assert mask.any()
    assert band_energy_fraction(noise, mask) >= 0.95
    rms = noise.flatten(1).pow(2).mean(1).sqrt()
    assert torch.allclose(rms, torch.full_like(rms, 0.1), rtol=1e-4)


def test_unfiltered_noise_would_fail_the_band_check():
    white = torch.randn(4, 3, 32, 32)
    assert band_energy_fraction(white, band_mask(32, 32, math.pi, 0.2)) < 0.5


def test_original_norm_keeps_the_filtered_amplitude():
    setting = BandNoise(0.0, 0.2, 0.5, norm="original", base="sign")
    noise = band_limited_noise((2, 3, 32, 32), setting, torch.Generator().manual_seed(0))
    assert noise.abs().max() < 0.5  # a narrow low band keeps a small share of the +-0.5 draw
