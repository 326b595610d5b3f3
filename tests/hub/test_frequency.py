"""Frequency primitives: known signals give known spectra, for odd and even sizes."""

import math

import numpy as np
import pytest
import torch

from hub.frequency import DeltaLogAmplitude, diagonal_profile, log_amplitude, radial_profile
from hub.spectrum import band_mask, power_spectrum, radial_average, radial_frequency


def test_constant_map_has_only_dc():
    spectrum = log_amplitude(torch.full((2, 3, 8, 8), 5.0))
    assert spectrum[4, 4] == pytest.approx(2 * math.log(5.0 * 64), rel=1e-5)  # summed over 2 images
    off = spectrum.clone()
    off[4, 4] = float("nan")
    assert torch.nanmean(off) == pytest.approx(2 * math.log(1e-6), rel=1e-3)


def test_fftshift_puts_dc_in_the_centre_for_odd_and_even_sizes():
    for size in (7, 8):
        freqs, values = diagonal_profile(log_amplitude(torch.ones(1, 1, size, size)))
        assert values[0] == 0 and (values[1:] < -10).all()
        assert freqs[-1] == pytest.approx(2 * (size // 2) / size)  # pi exactly for even sizes


def test_a_sinusoid_peaks_at_its_frequency():
    """cos(2 pi k x / N) on both axes puts energy at diagonal frequency 2k/N (x pi) and at that radius."""
    n, k = 16, 4
    x = torch.arange(n, dtype=torch.float64)
    wave = (torch.cos(2 * math.pi * k * x / n)[:, None] * torch.cos(2 * math.pi * k * x / n)[None, :])
    spectrum = log_amplitude(wave[None, None].float())
    freqs, diag = diagonal_profile(spectrum)
    assert freqs[int(diag.argmax())] == pytest.approx(2 * k / n)
    rfreq, radial = radial_profile(spectrum)
    assert rfreq[int(torch.nan_to_num(radial, nan=-1e9)[1:].argmax()) + 1] == pytest.approx(
        round(math.sqrt(2) * 2 * k / n * 8) / 8)
    amplitude = DeltaLogAmplitude.of(spectrum)
    assert amplitude.size == (16, 16) and amplitude.at("nyquist") == diag[-1].item()
    assert amplitude.at("paper") == diag[-2].item()  # the original's last plotted bin, (h/2 - 1, h/2 - 1)


def test_radial_average_of_the_radius_is_the_ring_radius():
    radius = radial_frequency(32, 32)
    rings, means = radial_average(radius)
    assert len(rings) == 17 and np.allclose(means, rings, atol=0.02)  # each ring's mean radius is its own
    assert radius[0, 0] == 0 and radius[16, 16] == pytest.approx(math.sqrt(2))  # the corner lies beyond pi


def test_power_spectrum_of_noise_and_of_a_smooth_image():
    white = power_spectrum(np.random.default_rng(0).random((3, 32, 32)))
    wave = 0.5 + 0.4 * np.cos(2 * math.pi * np.arange(32) / 32)  # one period: all energy at 1/16 pi
    smooth = power_spectrum(np.broadcast_to(wave[:, None] * wave[None, :], (3, 32, 32)))
    assert white.frequency_pi[0] == 0 and white.frequency_pi[-1] == 1 and len(white.power) == 17
    assert smooth.high_frequency_share < 0.01 < white.high_frequency_share
    assert power_spectrum(np.full((3, 8, 8), 0.5)).high_frequency_share == 0.0


def test_band_masks_are_annuli_of_the_right_shape():
    square, circle = band_mask(32, 32, math.pi, 0.2, "square"), band_mask(32, 32, math.pi, 0.2, "circle")
    assert square[16, 0] and square[16, 16] and not circle[16, 16]  # the corner is at sqrt(2) pi
    assert band_mask(32, 32, 0.0, 0.2)[0, 0] and not band_mask(32, 32, 0.0, 0.2)[16, 16]
