"""Feature-map spectra and variance: known signals give known answers; every family works."""

import math

import pytest
import torch

import hub
from training.analyze.fourier import diagonal_profile, feature_map_spectra, radial_profile, shifted_amplitude
from training.analyze.variance import feature_map_variance, spatial_variance


def test_constant_map_has_only_dc():
    spectrum = shifted_amplitude(torch.full((2, 3, 8, 8), 5.0))
    assert spectrum[4, 4] == pytest.approx(2 * math.log(5.0 * 64), rel=1e-5)  # summed over 2 images
    off = spectrum.clone()
    off[4, 4] = float("nan")
    assert torch.nanmean(off) == pytest.approx(2 * math.log(1e-6), rel=1e-3)


def test_fftshift_puts_dc_in_the_centre_for_odd_and_even_sizes():
    for size in (7, 8):
        freqs, values = diagonal_profile(shifted_amplitude(torch.ones(1, 1, size, size)))
        assert values[0] == 0 and (values[1:] < -10).all()
        assert freqs[-1] == pytest.approx(2 * (size // 2) / size)  # pi exactly for even sizes


def test_a_sinusoid_peaks_at_its_frequency():
    """cos(2 pi k x / N) on both axes puts energy at diagonal frequency 2k/N (x pi) and at that radius."""
    n, k = 16, 4
    x = torch.arange(n, dtype=torch.float64)
    wave = (torch.cos(2 * math.pi * k * x / n)[:, None] * torch.cos(2 * math.pi * k * x / n)[None, :])
    spectrum = shifted_amplitude(wave[None, None].float())
    freqs, diag = diagonal_profile(spectrum)
    assert freqs[int(diag.argmax())] == pytest.approx(2 * k / n)
    rfreq, radial = radial_profile(spectrum)
    assert rfreq[int(torch.nan_to_num(radial, nan=-1e9)[1:].argmax()) + 1] == pytest.approx(
        round(math.sqrt(2) * 2 * k / n * 8) / 8)


def test_spatial_variance_matches_torch():
    fmap = torch.randn(3, 4, 5, 6)
    expected = fmap.flatten(2).var(-1).mean(1).double()
    assert torch.allclose(spatial_variance(fmap), expected)
    assert spatial_variance(torch.randn(2, 3, 1, 1)).isnan().all()


@pytest.mark.parametrize("arch", ["resnet_tiny", "vit_tiny", "alternet_tiny", "swin_t", "mixer_ti", "pit_ti",
                                  "vgg_11", "alexnet", "preresnet_18"])
def test_every_family_through_the_unit_api(arch):
    torch.manual_seed(0)
    model = hub.create_model(arch, num_classes=10)
    loader = [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))] * 2
    spectra = feature_map_spectra(model, loader, progress=False)
    names = [i.name for i in model.unit_infos()[:-1]]
    assert [s.name for s in spectra] == names
    assert all(math.isfinite(s.high_frequency) and s.diagonal[0] == 0 for s in spectra)
    variance = feature_map_variance(model, loader, progress=False)
    assert list(variance) == names
