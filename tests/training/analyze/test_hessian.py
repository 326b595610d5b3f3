"""Hessian eigenvalues against the exact Hessian of tiny networks (float64), both ends of the spectrum."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hub
from training.analyze.hessian import (
    HessianOperator,
    HessianSettings,
    LossSpec,
    MaxEigenvalueSpectrum,
    l2_term,
    lanczos_eigenvalues,
    max_eigenvalue_spectrum,
    micro_batches,
    power_iteration,
    slq_density,
)
from training.analyze.inputs import MODEL_RECIPE, augmentation
from training.augment import soft_target_cross_entropy
from training.recipes import Recipe, get_recipe

REL = 1e-3


def exact_hessian(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, spec: LossSpec) -> torch.Tensor:
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector: torch.Tensor) -> torch.Tensor:
        chunks = vector.split([s.numel() for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        return soft_target_cross_entropy(functional_call(model, params, (x,)), targets) + l2_term(
            list(params.values()), spec)

    return torch.autograd.functional.hessian(loss, flat)


def tiny_problems():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Tanh(), nn.Flatten(), nn.Linear(64, 5))
    cnn[1].running_mean.normal_()
    cnn[1].running_var.uniform_(0.5, 2)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(108, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 5))
    x = torch.randn(16, 3, 6, 6, dtype=torch.float64)
    targets = torch.softmax(torch.randn(16, 5, dtype=torch.float64), -1)
    return [(cnn.double().eval(), x, targets), (mlp.double().eval(), x, targets)]


@pytest.mark.parametrize("problem", [0, 1], ids=["conv-bn", "mlp-layernorm"])
@pytest.mark.parametrize("l2", ["none", "half", "paper"])
def test_eigenvalues_match_the_exact_hessian(problem, l2):
    model, x, targets = tiny_problems()[problem]
    spec = LossSpec(l2=l2, weight_decay=0.05)
    hessian = exact_hessian(model, x, targets, spec)
    exact = torch.linalg.eigvalsh(hessian)
    op = HessianOperator(model, [(x, targets)], spec)
    v = torch.randn(op.size, dtype=torch.float64)
    assert torch.allclose(op(v), hessian @ v, rtol=1e-8, atol=1e-10)

    by_magnitude = exact[exact.abs().argsort(descending=True)][:3]
    power = power_iteration(op, op.size, 3, max_iter=2000, tol=1e-9, dtype=torch.float64)
    assert torch.allclose(torch.tensor(power.values, dtype=torch.float64), by_magnitude, rtol=REL)

    top = lanczos_eigenvalues(op, op.size, 3, steps=80, dtype=torch.float64)
    bottom = lanczos_eigenvalues(op, op.size, 3, steps=80, dtype=torch.float64, which="smallest")
    assert torch.allclose(torch.tensor(top.values, dtype=torch.float64), exact.flip(0)[:3], rtol=REL)
    assert torch.allclose(torch.tensor(bottom.values, dtype=torch.float64), exact[:3], rtol=REL)
    assert all(top.converged)


def test_slq_density_integrates_to_one_with_the_right_mean():
    model, x, targets = tiny_problems()[0]
    op = HessianOperator(model, [(x, targets)], LossSpec())
    exact = torch.linalg.eigvalsh(exact_hessian(model, x, targets, LossSpec()))
    density = slq_density(op, op.size, steps=90, probes=8, dtype=torch.float64)
    grid, values = torch.tensor(density.grid), torch.tensor(density.density)
    assert torch.trapezoid(values, grid).item() == pytest.approx(1.0, abs=1e-6)
    mean = torch.trapezoid(values * grid, grid).item()
    assert mean == pytest.approx(exact.mean().item(), abs=0.2 * exact.abs().mean().item())
    assert min(density.grid) <= exact.min().item() and max(density.grid) >= exact.max().item()


def test_several_batches_are_weighted_by_size():
    model, x, targets = tiny_problems()[1]
    whole = HessianOperator(model, [(x, targets)], LossSpec())
    split = HessianOperator(model, [(x[:12], targets[:12]), (x[12:], targets[12:])], LossSpec())
    v = torch.randn(whole.size, dtype=torch.float64)
    assert torch.allclose(whole(v), split(v), rtol=1e-10)


def test_micro_batches_give_the_whole_batch_hessian_on_running_statistics():
    model, x, targets = tiny_problems()[0]  # conv + BatchNorm on running statistics
    whole = HessianOperator(model, [(x, targets)], LossSpec(l2="paper"))
    chunks = micro_batches((x, targets), 5)
    assert [len(c[0]) for c in chunks] == [5, 5, 5, 1] and micro_batches((x, targets), 0) == [(x, targets)]
    split = HessianOperator(model, chunks, LossSpec(l2="paper"))
    v = torch.randn(whole.size, dtype=torch.float64)
    assert torch.allclose(whole(v), split(v), rtol=1e-10)
    spectra = [max_eigenvalue_spectrum(model, [(x, targets)], LossSpec(), k=3, method="lanczos", tol=1e-8,
                                       progress=False, micro_batch=size) for size in (0, 4)]
    assert spectra[0].values == pytest.approx(spectra[1].values, rel=1e-8)
    with pytest.raises(ValueError, match="bn eval"):
        HessianSettings(micro_batch=32, bn="train")


def test_attention_models_double_backward_and_bn_statistics_stay_put():
    torch.manual_seed(0)
    vit = hub.create_model("vit_tiny", num_classes=10)
    x, y = torch.randn(4, 3, 32, 32), torch.eye(10)[:4]
    op = HessianOperator(vit, [(x, y)], LossSpec())  # would fail under the fused SDPA kernel on CPU
    assert op(torch.randn(op.size)).isfinite().all()

    resnet = hub.create_model("resnet_tiny", num_classes=10)
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    for bn in ("train", "eval"):
        op = HessianOperator(resnet, [(x, y)], LossSpec(bn=bn))
        op(torch.randn(op.size))
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())
    assert not any("forward" in vars(m) for m in resnet.modules())  # the affine eval-mode BatchNorm is undone


def test_max_eigenvalue_spectrum_collects_k_per_batch():
    model, x, targets = tiny_problems()[1]
    batches = [(x[:8], targets[:8]), (x[8:], targets[8:])]
    result = max_eigenvalue_spectrum(model, batches, LossSpec(), k=2, method="lanczos", lanczos_steps=40,
                                     progress=False)
    assert result.batches == 2 and all(len(b.values) == 2 for b in result.per_batch)
    power = max_eigenvalue_spectrum(model, batches, LossSpec(), k=2, method="power", max_iter=2000, tol=1e-9,
                                    progress=False)
    assert torch.allclose(torch.tensor(result.values), torch.tensor(power.values), rtol=1e-3)
    assert 0 <= result.negative_fraction <= 1
    tops = result.top_positive()
    assert result.mean_top_positive == pytest.approx(sum(tops) / len(tops))


def test_lanczos_stops_once_every_wanted_value_meets_its_residual():
    model, x, targets = tiny_problems()[0]
    op = HessianOperator(model, [(x, targets)], LossSpec())
    exact = torch.linalg.eigvalsh(exact_hessian(model, x, targets, LossSpec())).flip(0)
    early = lanczos_eigenvalues(op, op.size, 2, steps=80, tol=1e-4, dtype=torch.float64)
    assert all(early.converged) and early.products < 80
    assert all(r <= 1e-4 * abs(v) for v, r in zip(early.values, early.residuals, strict=True))
    assert torch.allclose(torch.tensor(early.values, dtype=torch.float64), exact[:2], rtol=1e-4)
    short = lanczos_eigenvalues(op, op.size, 5, steps=6, tol=1e-6, dtype=torch.float64)
    assert short.products == 6 and not all(short.converged)  # out of steps: flagged, not passed off as converged
    spectrum = MaxEigenvalueSpectrum([short, early], 1.0, 0.0)
    assert spectrum.unconverged == sum(not c for c in short.converged)


def test_the_loss_is_measured_on_the_augmentation_the_model_was_trained_with(tmp_path):
    model = hub.from_pretrained("vit-tiny-cifar10")
    recipe, described = augmentation(model, MODEL_RECIPE)
    assert recipe == Recipe.load(model.folder / "recipe.json") and recipe.name == "cpu-quick"
    assert "recipe.json" in described
    assert augmentation(model, "none") == (None, "none (evaluation transform, one-hot targets)")
    assert augmentation(model, "paper")[0] == get_recipe("paper")
    random = hub.create_model("vit_tiny", num_classes=10)
    assert augmentation(random, MODEL_RECIPE)[0] == get_recipe("paper")
    assert "no recipe.json" in augmentation(random, MODEL_RECIPE)[1]
