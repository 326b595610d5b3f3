"""Feature-map spectra and variance: every family through the unit API; ``run`` on real images."""

import math
from itertools import pairwise

import pytest
import torch

import hub
from hub.data import DataSpec
from tests.training.test_train import FIXTURE
from training.analyze import fourier, variance
from training.analyze.fourier import FourierSettings, feature_map_spectra
from training.analyze.inputs import NoSettings
from training.analyze.statistics import bootstrap
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
    assert all(math.isfinite(s.paper_point) and math.isfinite(s.nyquist) and s.amplitude.diagonal[0] == 0
               for s in spectra)
    values = feature_map_variance(model, loader, progress=False)
    assert list(values) == names


def test_runs_summarise_by_unit_kind_on_real_images():
    torch.manual_seed(0)
    model = hub.create_model("alternet_tiny", num_classes=10)
    data = DataSpec(str(FIXTURE), val_size=20, batch_size=8)
    spectra = fourier.run(model, data, FourierSettings())
    assert [u.name for u in spectra.units] == [s.name for s in spectra.spectra] and spectra.images == 20
    pairs = list(zip(spectra.spectra, spectra.spectra[1:], strict=False))
    # a stride-2 unit halves the map, so its "pi" is not its input's: it is reported apart, not averaged in
    kept = [b.paper_point - a.paper_point for a, b in pairs if b.kind == "conv" and b.keeps_resolution]
    assert {c.kind for c in spectra.changes} == {"conv", "msa"}
    assert spectra.change("conv").value == pytest.approx(sum(kept) / len(kept), rel=1e-5)  # float32 sums
    assert [c.kind for c in spectra.resolution_changing] == ["conv"]
    halved = [b for a, b in pairs if b.amplitude.size != a.amplitude.size]
    assert halved and all(not b.keeps_resolution for b in halved)
    assert all(0 < c.change.se < 1 for c in spectra.changes)
    corner = fourier.run(model, data, FourierSettings(point="nyquist"))
    assert corner.point == "nyquist" and corner.change("conv").value == pytest.approx(
        sum(b.nyquist - a.nyquist for a, b in pairs if b.kind == "conv" and b.keeps_resolution) / len(kept), rel=1e-5)

    result = variance.run(model, data, NoSettings())
    assert set(result.variance) == {u.name for u in result.units} and result.images == 20
    assert set(result.log_change_by_kind) == {"conv", "msa"}
    names = [u.name for u in result.units]
    convs = [math.log(result.variance[b] / result.variance[a]) for a, b in pairwise(names)
             if "conv" in b]
    assert result.log_change_by_kind["conv"].value == pytest.approx(sum(convs) / len(convs))
    assert 0 < result.log_change_by_kind["conv"].se < 1


def test_the_bootstrap_error_of_a_per_image_mean_is_its_standard_error():
    values = torch.randn(4000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3 + 1
    value, se = bootstrap(values, lambda means: means)
    assert value.item() == pytest.approx(values.mean().item())
    assert se.item() == pytest.approx(3 / math.sqrt(4000), rel=0.1)
    ratio, ratio_se = bootstrap(torch.stack([values[:, 0], values[:, 0] + 5], 1), lambda m: m[:, 1:] - m[:, :1])
    assert ratio.item() == pytest.approx(5) and ratio_se.item() < 1e-9  # paired: the same images cancel out
