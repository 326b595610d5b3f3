"""Lesion study and mini-batch CKA."""

from itertools import pairwise

import pytest
import torch

import hub
from training.analyze.cka import batch_hsic, cka_from_hsic, minibatch_cka, stage_blocks, unbiased_hsic_matrix
from training.analyze.lesion import lesion_study


def test_lesion_covers_every_residual_unit_and_changes_predictions():
    torch.manual_seed(0)
    model = hub.from_pretrained("alternet-tiny-cifar10")  # trained: removing a unit changes what it predicts
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        labels = model.eval()(x).argmax(-1)  # all correct before: any changed prediction is a flip
    result = lesion_study(model, [(x, labels)], progress=False)
    residual = [i for i in model.unit_infos() if i.residual]
    assert [r.name for r in result.lesioned] == [i.name for i in residual]
    assert {r.kind for r in result.lesioned} >= {"conv", "msa"}
    assert all(r.drop == pytest.approx(result.clean_accuracy - r.accuracy) for r in result.lesioned)
    assert all(abs(r.drop) <= r.flip_rate <= 1 for r in result.lesioned)
    assert result.clean_accuracy == 1 and any(r.flip_rate > 0 for r in result.lesioned)
    assert all(r.flip_rate == pytest.approx(r.drop) for r in result.lesioned)  # from all-correct, flips are drops
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


def test_stage_blocks_compare_neighbours_within_and_across_stages():
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=10)
    loader = [(torch.randn(8, 3, 32, 32), torch.zeros(8, dtype=torch.long)) for _ in range(3)]
    _, hsic = batch_hsic(model, loader, progress=False)
    infos = model.unit_infos()[:-1]
    blocks = stage_blocks(infos, hsic)
    cka = cka_from_hsic(hsic.sum(0))
    within = [cka[a.index, b.index] for a, b in pairwise(infos[1:]) if a.stage == b.stage]
    across = [cka[a.index, b.index] for a, b in pairwise(infos[1:]) if a.stage != b.stage]
    assert len(within) == 4 and len(across) == 3 and blocks.batches == 3
    assert blocks.within.value == pytest.approx(sum(within).item() / 4)
    assert blocks.contrast.value == pytest.approx(blocks.within.value - blocks.boundary.value)
    assert blocks.contrast.se > 0
    vit = hub.create_model("vit_tiny", num_classes=10)
    assert stage_blocks(vit.unit_infos()[:-1], torch.zeros(3, 13, 13)) is None  # one stage: no boundary
