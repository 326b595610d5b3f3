"""CKA between two models' units: the within-model matrix when both are one model, invariant to rotating and
isotropically scaling one model's features, each model on its own preprocessing, and the CLI with --other."""

import dataclasses
import json
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import hub
from hub.data import DataSpec
from tests.training.test_train import FIXTURE
from training.analyze.__main__ import main
from training.analyze.cka import CkaResult, compare_units
from training.analyze.registry import ANALYSES

DATA = DataSpec(str(FIXTURE), val_size=40, batch_size=10)
"""40 real CIFAR-10 images in 4 batches."""


class Transformed(nn.Module):
    """``model`` whose unit outputs go through ``transform(name, map)``, with its own preprocessing ``config``;
    it records the input sizes it was given."""

    def __init__(self, model: nn.Module, transform: Callable[[str, Tensor], Tensor], config=None) -> None:
        super().__init__()
        self.model, self.transform = model, transform
        self.config = config or model.config
        self.source, self.folder = f"{model.source} (transformed)", None
        self.sizes: set[tuple[int, int]] = set()

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def unit_infos(self) -> list[hub.UnitInfo]:
        return self.model.unit_infos()

    def unit_outputs(self, x: Tensor, indices=None, include_head: bool = False) -> dict[str, Tensor]:
        self.sizes.add(tuple(x.shape[-2:]))
        return {name: self.transform(name, f) for name, f in self.model.unit_outputs(x, indices, include_head).items()}


def _per_unit(make: Callable[[int], Tensor]) -> Callable[[str, Tensor], Tensor]:
    """A channel transform per unit (``make(channels)``, drawn once per unit), applied at every position."""
    matrices: dict[str, Tensor] = {}

    def transform(name: str, f: Tensor) -> Tensor:
        matrix = matrices.setdefault(name, make(f.shape[1]))
        return torch.einsum("nchw,dc->ndhw", f.double(), matrix)

    return transform


def _rotation(channels: int, generator: torch.Generator) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(channels, channels, generator=generator, dtype=torch.float64))
    return q * r.diagonal().sign()


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = hub.create_model(name, num_classes=10)
    model.source = f"{name} (random)"
    return model


def test_cross_cka_of_a_model_with_itself_is_its_within_model_cka():
    model = _model("alternet_tiny")
    alone = compare_units(model, DATA)
    paired = compare_units(model, DATA, other=model)
    within = torch.tensor(alone.cka, dtype=torch.float64)
    assert paired.cross.units == alone.units == model.unit_infos()[:-1]
    assert torch.allclose(torch.tensor(paired.cross.cka, dtype=torch.float64), within, rtol=1e-12, atol=1e-14)
    assert torch.allclose(torch.tensor(paired.cka, dtype=torch.float64), within, rtol=1e-12, atol=1e-14)
    assert paired.blocks.contrast.value == pytest.approx(alone.blocks.contrast.value, rel=1e-9)
    assert alone.cross is None and paired.cross.source == "alternet_tiny (random)"
    assert paired.cross.architecture == "alternet_tiny"
    assert within.diagonal().allclose(torch.ones(len(within), dtype=torch.float64))
    assert within.min() < 0.9  # not a trivial all-ones matrix: the identity above can fail


def test_cka_is_invariant_to_rotating_and_isotropically_scaling_one_model_s_features():
    model = _model("alternet_tiny")  # conv maps and MSA token grids
    within = torch.tensor(compare_units(model, DATA).cka, dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    rotated = Transformed(model, _per_unit(lambda c: 7.5 * _rotation(c, generator)))
    cross = torch.tensor(compare_units(model, DATA, other=rotated).cross.cka, dtype=torch.float64)
    assert torch.allclose(cross, within, rtol=1e-9, atol=1e-12)
    stretched = Transformed(model, _per_unit(lambda c: torch.diag(torch.rand(c, generator=generator,
                                                                             dtype=torch.float64) * 10)))
    changed = torch.tensor(compare_units(model, DATA, other=stretched).cross.cka, dtype=torch.float64)
    assert (changed - within).abs().max() > 1e-2  # a non-isotropic scaling is not an invariance


def test_each_model_sees_the_same_images_through_its_own_preprocessing():
    vit = _model("vit_tiny")
    config = dataclasses.replace(vit.config, input_size=(3, 48, 48))
    resnet = Transformed(_model("resnet_tiny"), lambda name, f: f, config)  # a ResNet takes any size
    result = compare_units(vit, DATA, other=resnet)
    assert resnet.sizes == {(48, 48)}
    assert len(result.cka) == len(vit.unit_infos()) - 1
    assert [len(row) for row in result.cross.cka] == [len(resnet.unit_infos()) - 1] * len(result.cka)
    assert all(0 <= value <= 1 + 1e-9 for row in result.cross.cka for value in row)


def test_the_cli_compares_two_models_on_cifar_images(tmp_path):
    assert main(["cka", "--model", "vit_tiny", "--other", "resnet_tiny", "--out", str(tmp_path), "--data",
                 str(FIXTURE), "--val-size", "40", "--batch-size", "20", "--num-classes", "10", "--no-progress"]) == 0
    payload = json.loads((tmp_path / "cka.json").read_text())
    assert payload["settings"] == {"other": "resnet_tiny", "other_pretrained": False}
    assert payload["schema_version"] == CkaResult.SCHEMA_VERSION
    result = ANALYSES["cka"].load(tmp_path).result
    vit, resnet = hub.create_model("vit_tiny", num_classes=10), hub.create_model("resnet_tiny", num_classes=10)
    assert result.units == vit.unit_infos()[:-1] and result.cross.units == resnet.unit_infos()[:-1]
    assert result.cross.source == "resnet_tiny (random initialisation, seed 0)"
    assert len(result.cross.cka) == 13 and {len(row) for row in result.cross.cka} == {9}
    assert (tmp_path / "cka.png").stat().st_size > 10_000
