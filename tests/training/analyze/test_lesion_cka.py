"""Lesion study and mini-batch CKA."""

import pytest
import torch

import hub
from training.analyze.cka import minibatch_cka, unbiased_hsic_matrix
from training.analyze.lesion import lesion_study


def test_lesion_covers_every_residual_unit_and_changes_predictions():
    torch.manual_seed(0)
    model = hub.create_model("alternet_tiny", num_classes=10)
    loader = [(torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,)))]
    result = lesion_study(model, loader, progress=False)
    residual = [i for i in model.unit_infos() if i.residual]
    assert [r.name for r in result.lesioned] == [i.name for i in residual]
    assert {r.kind for r in result.lesioned} >= {"conv", "msa"}
    assert all(r.drop == pytest.approx(result.clean_accuracy - r.accuracy) for r in result.lesioned)
    assert result.images == 16 and result.units == model.unit_infos()


def _hsic_by_definition(k: torch.Tensor, m: torch.Tensor) -> float:
    n = k.shape[0]
    k, m = k.clone(), m.clone()
    k.fill_diagonal_(0)
    m.fill_diagonal_(0)
    one = torch.ones(n, dtype=k.dtype)
    value = (k @ m).trace() + (one @ k @ one) * (one @ m @ one) / ((n - 1) * (n - 2))
    value -= 2 / (n - 2) * (one @ k @ m @ one)
    return (value / (n * (n - 3))).item()


def test_unbiased_hsic_matches_its_definition():
    x, y = torch.randn(10, 5, dtype=torch.float64), torch.randn(10, 7, dtype=torch.float64)
    grams = torch.stack([x @ x.T, y @ y.T])
    hsic = unbiased_hsic_matrix(grams)
    assert hsic[0, 1].item() == pytest.approx(_hsic_by_definition(grams[0], grams[1]), rel=1e-10)
    assert hsic[0, 0].item() == pytest.approx(_hsic_by_definition(grams[0], grams[0]), rel=1e-10)


def test_cka_is_one_on_the_diagonal_and_symmetric():
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=10)
    loader = [(torch.randn(8, 3, 32, 32), torch.zeros(8, dtype=torch.long)) for _ in range(2)]
    names, cka = minibatch_cka(model, loader, progress=False)
    assert names == [i.name for i in model.unit_infos()[:-1]]
    assert torch.allclose(cka.diagonal(), torch.ones(len(names), dtype=cka.dtype))
    assert torch.allclose(cka, cka.T)
    with pytest.raises(ValueError, match="at least 4"):
        unbiased_hsic_matrix(torch.randn(2, 3, 3))
