"""The same analysis, whichever way the model came in: timm's model read through its unit description, and the
same weights converted into our units, give the same Fourier profiles, variances and lesion accuracies (within
1e-5) and the same top Hessian eigenvalue (within the solver's tolerance), one test per family."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from hub.data import DataSpec
from hub.describe import DescribedModel
from hub.descriptions import find_description
from hub.timm_weights import convert_timm_state, read_timm_config
from training.analyze import fourier, lesion, variance
from training.analyze.hessian import HessianSettings
from training.analyze.inputs import NoSettings
from training.analyze.registry import ANALYSES

timm = pytest.importorskip("timm")
from timm.models._hub import save_config_for_hf  # noqa: E402

from tests.timm_models import randomised  # noqa: E402

FIXTURE = Path(__file__).parents[2] / "fixtures" / "cifar10-mini.tar.gz"
DATA = DataSpec(str(FIXTURE), val_size=20, num_images=4, batch_size=4)
FAMILIES = [
    pytest.param("resnet18", 32, id="resnet"),
    pytest.param("vit_tiny_patch16_224", 224, id="vit", marks=pytest.mark.slow),  # ~25 s: 24 units at 224
    pytest.param("pit_ti_224", 224, id="pit", marks=pytest.mark.slow),
    pytest.param("swin_tiny_patch4_window7_224", 224, id="swin", marks=pytest.mark.slow),  # see SPECTRUM_TOL
    pytest.param("mixer_s16_224", 224, id="mixer", marks=pytest.mark.slow),
    pytest.param("resnet50", 224, id="resnet50", marks=pytest.mark.slow),
]


def both_ways(name: str, size: int, tmp_path: Path) -> tuple[torch.nn.Module, DescribedModel]:
    """Ours (converted) and timm's (described) on the same weights and the same preprocessing at ``size``."""
    theirs = randomised(name)
    save_config_for_hf(theirs, tmp_path / "config.json")
    ours = convert_timm_state(read_timm_config(tmp_path / "config.json"), theirs.state_dict()).eval()
    ours.config = dataclasses.replace(ours.config, input_size=(3, size, size))
    described = DescribedModel(theirs, find_description(theirs), dataclasses.replace(ours.config))
    assert [(i.kind, i.residual) for i in ours.unit_infos()] == [(i.kind, i.residual) for i in
                                                                 described.unit_infos()]
    return ours, described


SPECTRUM_TOL = {"swin_tiny_patch4_window7_224": 1e-4}
"""Swin's windowed attention adds the relative-position bias and the shift mask in another order than timm's: its
maps differ by float32 round-off (about 2e-6 on values near 6, logits by 1.3e-6), which the log amplitudes of
near-zero frequencies magnify to about 2e-5 (measured). Every other family: 1e-5."""


def close(a: float, b: float, tol: float = 1e-5) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


@pytest.mark.parametrize(("name", "size"), FAMILIES)
def test_fourier_variance_and_lesion_are_the_same(name, size, tmp_path):
    ours, theirs = both_ways(name, size, tmp_path)
    spectra = [fourier.run(model, DATA, fourier.FourierSettings()).spectra for model in (ours, theirs)]
    tol = SPECTRUM_TOL.get(name, 1e-5)
    for a, b in zip(*spectra, strict=True):
        assert a.amplitude.size == b.amplitude.size and a.kind == b.kind
        assert all(close(x, y, tol) for x, y in zip(a.amplitude.diagonal + a.amplitude.radial,
                                               b.amplitude.diagonal + b.amplitude.radial, strict=True)), a.name
    variances = [list(variance.run(model, DATA, NoSettings()).variance.values()) for model in (ours, theirs)]
    assert all(close(a, b, 1e-5 * max(1.0, abs(a))) for a, b in zip(*variances, strict=True))
    lesions = [lesion.run(model, DATA, NoSettings()) for model in (ours, theirs)]
    assert lesions[0].clean_accuracy == lesions[1].clean_accuracy
    assert all(close(a.accuracy, b.accuracy) for a, b in zip(lesions[0].lesioned, lesions[1].lesioned, strict=True))


@pytest.mark.slow  # about 50 s each: hundreds of Hessian-vector products through 5-11M parameters, twice
@pytest.mark.parametrize(("name", "size"), [("resnet18", 32), ("vit_tiny_patch16_224", 224)], ids=["resnet", "vit"])
def test_the_top_hessian_eigenvalue_is_the_same(name, size, tmp_path):
    ours, theirs = both_ways(name, size, tmp_path)
    data = dataclasses.replace(DATA, split="train")
    settings = HessianSettings(batches=1, k=1, method="power", tol=1e-5, max_iter=200, augment="none", trace=False)
    top = [ANALYSES["hessian"].execute(model, data, settings).result.spectrum.per_batch[0] for model in (ours, theirs)]
    assert all(pairs.converged == [True] for pairs in top)
    assert top[0].values[0] == pytest.approx(top[1].values[0], rel=1e-4)
