"""Feature-map spectra and variance: every family through the unit API; ``run`` on real images."""

import math

import pytest
import torch

import hub
from hub.data import DataSpec
from tests.training.test_train import FIXTURE
from training.analyze import fourier, variance
from training.analyze.fourier import FourierSettings, feature_map_spectra
from training.analyze.inputs import NoSettings
from training.analyze.variance import feature_map_variance, spatial_variance


def test_spatial_variance_matches_torch():
    fmap = torch.randn(3, 4, 5, 6)
    expected = fmap.flatten(2).var(-1).mean(1).double()
    assert torch.allclose(spatial_variance(fmap), expected)
    assert spatial_variance(torch.randn(2, 3, 1, 1)).isnan().all()


@pytest.mark.parametrize("arch", sorted({*hub.family_examples().values(), "preresnet_18"}))
def test_every_family_through_the_unit_api(arch):
    torch.manual_seed(0)
    model = hub.create_model(arch, num_classes=10)
    loader = [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))] * 2
    spectra = feature_map_spectra(model, loader, progress=False)
    names = [i.name for i in model.unit_infos()[:-1]]
    assert [s.name for s in spectra] == names
    assert all(math.isfinite(s.high_frequency) and s.amplitude.diagonal[0] == 0 for s in spectra)
    values = feature_map_variance(model, loader, progress=False)
    assert list(values) == names


def test_runs_summarise_by_unit_kind_on_real_images():
    torch.manual_seed(0)
    model = hub.create_model("alternet_tiny", num_classes=10)
    data = DataSpec(str(FIXTURE), val_size=20, batch_size=8)
    spectra = fourier.run(model, data, FourierSettings())
    assert [u.name for u in spectra.units] == [s.name for s in spectra.spectra]
    assert set(spectra.mean_high_frequency_change_by_kind) == {"conv", "msa"}
    conv = [b.high_frequency - a.high_frequency for a, b in zip(spectra.spectra, spectra.spectra[1:], strict=False)
            if b.kind == "conv"]
    assert spectra.mean_high_frequency_change_by_kind["conv"] == pytest.approx(sum(conv) / len(conv))
    result = variance.run(model, data, NoSettings())
    assert set(result.variance) == {u.name for u in result.units}
    assert set(result.mean_log_change_by_kind) == {"conv", "msa"}
