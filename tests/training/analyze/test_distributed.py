"""``torchrun -m training.analyze``: two gloo processes write the single process's result, and resume."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import hub
from hub.data import DataSpec
from tests.training.test_train import FIXTURE, REPO
from training.analyze import hessian
from training.analyze.__main__ import main
from training.analyze.hessian import Eigenpairs, HessianSettings
from training.analyze.inputs import Runtime
from training.analyze.shards import ShardFile
from training.distributed import Distributed

DATA = ["--data", str(FIXTURE), "--val-size", "40", "--num-classes", "10", "--no-progress"]
RUNS = {  # the work items of each: image batches, Hessian batches, CIFAR-C sets, grid points
    "fourier": ["--batch-size", "10"],
    "variance": ["--batch-size", "10"],
    "hessian": ["--batches", "2", "--k", "2", "--method", "lanczos", "--lanczos-steps", "8", "--batch-size", "8",
                "--trace-probes", "5"],
    "corruptions": ["--severities", "1,3", "--corruptions", "fog,contrast,zoom_blur", "--batch-size", "20"],
    "landscape": ["--points", "3", "--num-images", "20", "--batch-size", "10"],
}
REDUCED = {"fourier"}
"""Results that hold sums reduced across ranks (equal up to summation order); the others are gathered lists."""


def _result(folder, analysis: str) -> dict:
    return json.loads((folder / f"{analysis}.json").read_text())["result"]


def _close(a, b, path="result") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, path


@pytest.mark.parametrize("analysis", list(RUNS))
def test_two_gloo_processes_write_the_single_process_result(analysis, tmp_path):
    single, shared = tmp_path / "single", tmp_path / "shared"
    assert main([analysis, "--model", "alternet_tiny", "--out", str(single), *DATA, *RUNS[analysis]]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "training.analyze", analysis, "--model", "alternet_tiny", "--out", str(shared), *DATA,
               *RUNS[analysis]]
    run = subprocess.run(command, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, got = _result(single, analysis), _result(shared, analysis)
    if analysis in REDUCED:
        _close(got, expected)
    else:
        assert got == expected  # every item computed by one rank and gathered in order: bit for bit
    assert not list(shared.glob(".*.rank*"))  # the shard files are gone once the result is written


def test_an_analysis_that_does_not_shard_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["noise", "--model", "alternet_tiny", "--out", str(tmp_path), *DATA]) == 1
    assert "noise runs in one process; torchrun shares fourier, variance, hessian" in capsys.readouterr().err


def test_a_rerun_resumes_from_the_items_a_rank_finished(tmp_path):
    """A planted item for batch 1 is taken as finished; the same file under other settings is ignored."""
    torch.manual_seed(0)
    model = hub.create_model("alternet_tiny", num_classes=10)
    model.source = "alternet_tiny (random)"
    data = DataSpec(str(FIXTURE), val_size=40, split="train", batch_size=8)
    settings = HessianSettings(batches=2, k=2, method="lanczos", lanczos_steps=6)
    planted = Eigenpairs([123.0, -4.0], [0.0, 0.0], 0, "planted", [True, True])
    key = {"model": model.source, "data": data, "settings": settings}
    ShardFile(tmp_path, "hessian", key, Distributed(), Eigenpairs).put(1, planted)
    result = hessian.run(model, data, settings, Runtime(workdir=tmp_path))
    assert result.spectrum.per_batch[1] == planted and result.spectrum.per_batch[0].method == "lanczos-magnitude"
    assert not (tmp_path / ".hessian.rank0-of-1.json").exists()
    other = HessianSettings(batches=2, k=2, method="lanczos", lanczos_steps=7)
    ShardFile(tmp_path, "hessian", key, Distributed(), Eigenpairs).put(1, planted)
    assert hessian.run(model, data, other, Runtime(workdir=tmp_path)).spectrum.per_batch[1] != planted


def test_the_fixed_assignment_covers_every_item_once():
    ranks = [Distributed(rank=r, world=3) for r in range(3)]
    shares = [d.mine(10) for d in ranks]
    assert sorted(i for share in shares for i in share) == list(range(10)) and shares[1] == [1, 4, 7]
    assert Distributed().gather({0: "a", 1: "b"}, 2) == ["a", "b"]
    with pytest.raises(RuntimeError, match="no rank produced items"):
        Distributed().gather({0: "a"}, 2)
