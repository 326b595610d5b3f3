"""The claim of the registry: a new architecture family is one module with ``@register_model`` functions, and
everything else (creation, listing, the unit API, lesions, ONNX export with its parity gate, the analyses, the
optimiser's decay groups and the landscape's fixed parameters) picks it up with no other edit anywhere.

The family is written here into a temporary module outside our packages, using only the public API."""

import importlib.util
import sys
import textwrap

import pytest
import torch

import hub
from export import ExportRequest, export_model
from hub.data import DataSpec
from tests.training.test_train import FIXTURE
from training.analyze import fourier, lesion
from training.analyze.inputs import NoSettings
from training.analyze.landscape import random_direction
from training.optim import parameter_groups

FAMILY = '''
from typing import ClassVar

import torch
from torch import nn

from hub import ParamRole, UnitKind, UnitModel, register_model
from hub.units import Residual, SequentialUnit, Unit


class PositionalStem(Unit):
    """A conv stem that adds a learned per-position offset (declared, so it is not decayed nor perturbed)."""

    param_roles: ClassVar = {"offset": ParamRole.POSITION}

    def __init__(self, width, size):
        super().__init__(UnitKind.STEM, 0)
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.offset = nn.Parameter(torch.zeros(1, width, size, size))

    def forward(self, x):
        return self.conv(x) + self.offset


def build(preset, num_classes, width, img_size):
    mix = nn.Sequential(nn.BatchNorm2d(width), nn.Conv2d(width, width, 1), nn.GELU())
    units = [PositionalStem(width, img_size),
             Residual(UnitKind.CONV, 1, nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())),
             Residual(UnitKind.MLP, 1, mix),
             SequentialUnit(UnitKind.POOL, 1, nn.AvgPool2d(2)),
             SequentialUnit(UnitKind.HEAD, 2, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))]
    return UnitModel(units)


@register_model
def toynet_small(preset, num_classes, img_size=32):
    """A toy family member."""
    return build(preset, num_classes, 8, img_size)


@register_model
def toynet_large(preset, num_classes, img_size=32):
    return build(preset, num_classes, 16, img_size)
'''


@pytest.fixture
def toynet(tmp_path, monkeypatch):
    """Import the family module from a temporary file; the registry is restored afterwards."""
    monkeypatch.setattr(hub.registry, "_MODELS", dict(hub.registry._MODELS))
    path = tmp_path / "toynet.py"
    path.write_text(textwrap.dedent(FAMILY))
    spec = importlib.util.spec_from_file_location("toynet", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toynet", module)
    spec.loader.exec_module(module)
    return module


def test_a_family_in_one_module_works_everywhere(toynet, tmp_path):
    assert hub.list_models(family="toynet") == ["toynet_large", "toynet_small"]
    assert hub.family_examples()["toynet"] == "toynet_small"  # none marked: the first registered
    torch.manual_seed(0)
    model = hub.create_model("toynet_small", num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    maps = model.eval().unit_outputs(x)
    assert list(maps) == ["stem", "s1.0.conv", "s1.1.mlp", "s1.2.pool"] and maps["s1.2.pool"].shape == (2, 8, 16, 16)
    with torch.no_grad(), model.lesioned(1):
        assert not torch.equal(model(x), hub.create_model("toynet_small", num_classes=10).eval()(x))

    manifest = export_model(ExportRequest("toynet_small", tmp_path / "toy.onnx"), model)
    assert manifest.parity["fp32"]["passed"] and manifest.parity["fp32"]["max_abs"] <= 1e-4

    data = DataSpec(str(FIXTURE), val_size=20, batch_size=10)
    spectra = fourier.run(model, data, fourier.FourierSettings())
    assert [s.name for s in spectra.spectra] == list(maps)
    assert {c.kind for c in spectra.changes + spectra.resolution_changing} == {"conv", "mlp", "pool"}
    lesions = lesion.run(model, data, NoSettings())
    assert [u.name for u in lesions.lesioned] == ["s1.0.conv", "s1.1.mlp"] and lesions.images == 20

    decayed, exempt = parameter_groups(model, 0.05, decay_norm_and_bias=False)
    assert any(p is model.units[0].offset for p in exempt["params"])
    assert not any(p is model.units[0].offset for p in decayed["params"])
    assert not random_direction(model, "paper", torch.Generator().manual_seed(0))["units.0.offset"].any()


def test_the_temporary_family_leaves_the_registry_as_it_was():
    assert "toynet" not in hub.family_examples() and not hub.is_model("toynet_small")
