"""Hutchinson's trace and the per-unit Hessian blocks against the exact Hessian of a tiny unit model (float64);
the new parts of the record, and two torchrun processes giving the one-process result."""

import json
import math
import os
import subprocess
import sys
from itertools import pairwise

import pytest
import torch
from torch import nn

from hub.units import Residual, SequentialUnit, UnitModel
from tests.training.analyze.test_hessian import exact_hessian, tiny_problems
from tests.training.test_train import FIXTURE, REPO
from training.analyze.__main__ import main
from training.analyze.hessian import (
    MIN_TRACE_PROBES,
    HessianOperator,
    HessianResult,
    LossSpec,
    TopK,
    hessian_trace,
    hutchinson_trace,
    unit_eigenvalues,
)
from training.analyze.registry import ANALYSES

DATA = ["--data", str(FIXTURE), "--val-size", "40", "--num-classes", "10", "--no-progress"]


def tiny_unit_model() -> UnitModel:
    """275 parameters in four units with parameters and a pooling unit without."""
    torch.manual_seed(0)
    return UnitModel([
        SequentialUnit("stem", 0, nn.Conv2d(3, 4, 3), nn.Tanh()),
        Residual("conv", 1, nn.Sequential(nn.Conv2d(4, 4, 1), nn.GELU())),
        SequentialUnit("pool", 2, nn.AvgPool2d(2)),
        Residual("mlp", 2, nn.Sequential(nn.Conv2d(4, 6, 1), nn.Tanh(), nn.Conv2d(6, 4, 1))),
        SequentialUnit("head", 3, nn.Flatten(), nn.Linear(16, 5)),
    ]).double().eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 6, 6, dtype=torch.float64, generator=generator)
    return x, torch.softmax(torch.randn(16, 5, dtype=torch.float64, generator=generator), -1)


def block(model: nn.Module, index: int) -> slice:
    """Where unit ``index``'s parameters sit in the flat parameter vector of the exact Hessian."""
    offsets, start = {}, 0
    for name, p in model.named_parameters():
        offsets[name] = (start, start + p.numel())
        start += p.numel()
    spans = [offsets[name] for name, _ in model.unit_parameters(index)]
    assert all(a[1] == b[0] for a, b in pairwise(spans))  # contiguous
    return slice(spans[0][0], spans[-1][1])


@pytest.mark.parametrize("problem", ["unit-model", "conv-bn"])
def test_hutchinson_trace_is_the_exact_trace_within_three_standard_errors(problem):
    model, x, targets = (tiny_unit_model(), *inputs()) if problem == "unit-model" else tiny_problems()[0]
    spec = LossSpec(l2="paper")
    hessian = exact_hessian(model, x, targets, spec)
    op = HessianOperator(model, [(x, targets)], spec)
    estimate = hutchinson_trace(op, op.size, probes=300, seed=3, dtype=torch.float64)
    exact = hessian.trace().item()
    assert estimate.probes == 300 and not estimate.converged
    assert abs(estimate.value - exact) <= 3 * estimate.se
    assert estimate.se < 0.1 * abs(exact)  # a meaningful test: the error bar is not wider than the trace
    # the same Rademacher draws against the exact Hessian: the estimator's arithmetic, to rounding
    generator = torch.Generator().manual_seed(3)
    probes = torch.stack([torch.randn(op.size, generator=generator, dtype=torch.float64).sign() for _ in range(300)])
    samples = torch.einsum("pi,ij,pj->p", probes, hessian, probes)
    assert estimate.value == pytest.approx(samples.mean().item(), rel=1e-10)
    assert estimate.se == pytest.approx(samples.std().item() / math.sqrt(300), rel=1e-8)


def test_the_tolerance_stops_the_probes_once_the_standard_error_is_small():
    model, (x, targets) = tiny_unit_model(), inputs()
    op = HessianOperator(model, [(x, targets)], LossSpec())
    early = hutchinson_trace(op, op.size, probes=200, tol=0.1, dtype=torch.float64)
    assert early.converged and MIN_TRACE_PROBES <= early.probes < 200 and early.se <= 0.1 * abs(early.value)
    one = hutchinson_trace(op, op.size, probes=1, dtype=torch.float64)
    assert one.probes == 1 and math.isnan(one.se)


def test_the_trace_over_batches_is_the_size_weighted_trace_of_their_hessian():
    model, (x, targets) = tiny_unit_model(), inputs()
    batches = [(x[:10], targets[:10]), (x[10:], targets[10:])]
    trace = hessian_trace(model, batches, LossSpec(), probes=300, seed=1, progress=False)
    exact = exact_hessian(model, x, targets, LossSpec()).trace().item()  # the mean loss over all 16 images
    assert trace.images == [10, 6] and len(trace.per_batch) == 2
    assert trace.value == pytest.approx((10 * trace.per_batch[0].value + 6 * trace.per_batch[1].value) / 16)
    assert abs(trace.value - exact) <= 3 * trace.se and trace.batch_se > 0


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_each_unit_s_top_eigenvalues_are_those_of_its_exact_hessian_block(method):
    model, (x, targets) = tiny_unit_model(), inputs()
    spec = LossSpec(l2="paper")  # a sum over tensors: restricted with the block
    hessian = exact_hessian(model, x, targets, spec)
    top = TopK(k=2, method=method, max_iter=3000, tol=1e-9, lanczos_steps=120)
    units = unit_eigenvalues(model, (x, targets), spec, top, progress=False)
    assert [u.unit.name for u in units] == ["stem", "s1.0.conv", "s2.1.mlp", "head"]  # the pool owns nothing
    for found in units:
        span = block(model, found.unit.index)
        exact = torch.linalg.eigvalsh(hessian[span, span])
        assert found.parameters == span.stop - span.start
        by_magnitude = exact[exact.abs().argsort(descending=True)][:2]
        assert torch.allclose(torch.tensor(found.eigenpairs.values, dtype=torch.float64), by_magnitude, rtol=1e-6)
        assert all(found.eigenpairs.converged)
    params = [p for _, p in model.unit_parameters(3)]
    op = HessianOperator(model, [(x, targets)], spec, params)
    v = torch.randn(op.size, dtype=torch.float64)
    span = block(model, 3)
    assert torch.allclose(op(v), hessian[span, span] @ v, rtol=1e-10, atol=1e-12)  # the diagonal block itself


def test_the_record_holds_the_trace_and_the_units_and_refuses_the_old_schema(tmp_path):
    assert main(["hessian", "--model", "alternet_tiny", "--out", str(tmp_path), *DATA, "--batches", "2",
                 "--batch-size", "8", "--k", "2", "--method", "lanczos", "--lanczos-steps", "8", "--trace-probes",
                 "4", "--per-unit", "--unit-k", "1"]) == 0
    result = ANALYSES["hessian"].load(tmp_path).result
    assert isinstance(result, HessianResult) and len(result.trace.per_batch) == 2
    assert all(t.probes <= 4 and math.isfinite(t.value) for t in result.trace.per_batch)
    assert math.isfinite(result.trace.value) and result.trace.se > 0
    assert [u.unit.name for u in result.per_unit] == ["stem", "s1.0.conv", "s1.1.conv", "s2.0.conv", "s2.1.msa",
                                                      "s3.0.conv", "s3.1.msa", "s4.0.conv", "s4.1.msa", "head"]
    assert all(len(u.eigenpairs.values) == 1 for u in result.per_unit)
    assert (tmp_path / "hessian.png").stat().st_size > 10_000
    payload = json.loads((tmp_path / "hessian.json").read_text())
    payload["schema_version"] = 2
    (tmp_path / "hessian.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="schema version 2 of the hessian result; this code reads version 3"):
        ANALYSES["hessian"].load(tmp_path)


@pytest.mark.slow  # ~40 s; the spectrum's sharding is in the default run (test_distributed.py)
def test_two_gloo_processes_share_the_trace_and_the_units(tmp_path):
    flags = ["--batches", "3", "--batch-size", "8", "--k", "1", "--method", "lanczos", "--lanczos-steps", "6",
             "--trace-probes", "3", "--per-unit"]
    single, shared = tmp_path / "single", tmp_path / "shared"
    assert main(["hessian", "--model", "alternet_tiny", "--out", str(single), *DATA, *flags]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "training.analyze", "hessian", "--model", "alternet_tiny", "--out", str(shared), *DATA, *flags]
    run = subprocess.run(command, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, got = (json.loads((folder / "hessian.json").read_text())["result"] for folder in (single, shared))
    assert got == expected and len(got["per_unit"]) == 10 and len(got["trace"]["per_batch"]) == 3
    assert not list(shared.glob(".*.rank*"))
