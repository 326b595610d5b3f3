"""``training.train`` end to end on real CIFAR-10 images (the 240-image fixture): output folder, determinism,
resume after SIGKILL and SIGTERM, and two DDP processes on gloo against one process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import hub
from training.sampling import EpochBatchSampler
from training.train import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "cifar10-mini.tar.gz"
REPO = Path(__file__).parents[2]
# 200 training images (40 held out), 10 steps of 20 per epoch.
BASE = ["--dataset", str(FIXTURE), "--dataset-name", "cifar10", "--val-size", "40", "--recipe", "cpu-quick",
        "--batch-size", "20", "--warmup-epochs", "1", "--threads", "1", "--no-progress"]


def run_args(model: str, out: Path, epochs: int = 1, *extra: str) -> list[str]:
    return ["--model", model, "--out", str(out), "--epochs", str(epochs), *BASE, *extra]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def losses(folder: Path) -> list[float]:
    return [json.loads(line)["train_loss"] for line in (folder / "log.jsonl").read_text().splitlines()]


def spawn(args: list[str], **env: str) -> subprocess.Popen:
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **env)
    return subprocess.Popen([sys.executable, "-m", "training.train", *args], cwd=REPO, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sampler_splits_each_global_batch_across_ranks():
    one = list(EpochBatchSampler(50, 10, seed=3))
    two = [EpochBatchSampler(50, 10, seed=3, rank=r, world=2) for r in range(2)]
    for batch, *shares in zip(one, *two, strict=True):
        assert sorted(batch) == sorted(shares[0] + shares[1])
    resumed = EpochBatchSampler(50, 10, seed=3)
    resumed.set_epoch(0, start_step=2)
    assert list(resumed) == one[2:]
    with pytest.raises(ValueError, match="not divisible"):
        EpochBatchSampler(50, 10, world=3)


def test_run_writes_a_loadable_hub_folder_with_card_and_log_and_pushes_it(tmp_path, monkeypatch):
    uploads = []

    class RecordingApi:  # the loopback Hub server has no write API; record the upload of the finished folder
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            pass

        def upload_folder(self, repo_id, folder_path, commit_message, allow_patterns):
            uploads.append((repo_id, Path(folder_path), allow_patterns))
            return type("Commit", (), {"commit_url": f"https://hub.invalid/{repo_id}/commit/1"})

    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    out = tmp_path / "run"
    assert main(run_args("resnet_tiny", out, 1, "--name", "mini", "--push-to-hub", "me/mini")) == 0
    assert uploads == [("me/mini", out, ["config.json", "model.safetensors", "README.md"])]
    model = hub.from_pretrained(str(out))
    assert model.config.label_names[:2] == ["airplane", "automobile"]
    assert model.config.mean == hub.config.CIFAR10_MEAN
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all(0 <= r["val_accuracy"] <= 1 for r in log)
    report = json.loads((out / "metrics.json").read_text())
    assert report["metrics"]["count"] == 40 and report["metrics"]["accuracy"] == log[-1]["val_accuracy"]
    card = (out / "README.md").read_text()
    for fact in ("cpu-quick", "seed 0", "git commit", "1 warm-up + 1 epochs", "200 training images",
                 "40 held out", "--model resnet_tiny"):
        assert fact in card, fact
    assert json.loads((out / "recipe.json").read_text())["batch_size"] == 20
    assert (out / "reliability.png").stat().st_size > 5000


def test_same_seed_same_weights_with_or_without_loader_workers(tmp_path):
    assert main(run_args("vit_tiny", tmp_path / "a", 1)) == 0
    assert main(run_args("vit_tiny", tmp_path / "b", 1, "--workers", "2")) == 0
    assert main(run_args("vit_tiny", tmp_path / "c", 1, "--seed", "1")) == 0
    a, b, c = (weights(tmp_path / n) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_sigkill_then_resume_reproduces_the_uninterrupted_run(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert main(run_args("resnet_tiny", reference, 3)) == 0

    process = spawn(run_args("resnet_tiny", killed, 3))
    wait_for(lambda: (killed / "log.jsonl").is_file(), process)  # epoch 1 is checkpointed; kill inside epoch 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(losses(killed)) == 1 and not (killed / "model.safetensors").exists()

    assert main(run_args("resnet_tiny", killed, 3, "--resume")) == 0
    assert losses(killed) == losses(reference)  # epochs 2-4 after the kill: bit for bit
    expected, got = weights(reference), weights(killed)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_sigterm_checkpoints_mid_epoch_and_resume_is_exact(tmp_path):
    reference, stopped = tmp_path / "reference", tmp_path / "stopped"
    assert main(run_args("vit_tiny", reference, 2)) == 0

    process = spawn(run_args("vit_tiny", stopped, 2))
    wait_for(lambda: (stopped / "log.jsonl").is_file(), process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "--resume" in output
    state = torch.load(stopped / "checkpoint.pt", weights_only=True)
    assert (state["epoch"], state["step"] > 0) == (1, True), "stopped inside epoch 2"

    assert main(run_args("vit_tiny", stopped, 2, "--resume")) == 0
    assert losses(stopped) == pytest.approx(losses(reference), abs=1e-6)
    expected, got = weights(reference), weights(stopped)
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, capsys):
    assert main(run_args("vit_tiny", tmp_path / "run", 0)) == 0
    assert main(run_args("vit_tiny", tmp_path / "run", 0, "--seed", "5", "--resume")) == 1
    assert "different run" in capsys.readouterr().err


def test_two_gloo_processes_match_one_process(tmp_path):
    """Same global batch of 20: 2 processes x 10 images give the weights of 1 process x 20 (LayerNorm model)."""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(run_args("vit_tiny", single, 1)) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "training.train", *run_args("vit_tiny", ddp, 1)]
    result = subprocess.run(command, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected, got = weights(single), weights(ddp)
    worst = max((expected[k] - got[k]).abs().max().item() for k in expected)
    print(f"DDP vs one process: max |weight difference| {worst:.3g}")
    assert worst < 1e-4, worst
    assert losses(ddp) == pytest.approx(losses(single), rel=1e-4)
    assert "torchrun" in (ddp / "README.md").read_text()


def test_bad_arguments_fail_clearly(tmp_path, capsys):
    assert main(run_args("alexnet", tmp_path / "x", 1, "--drop-path", "0.1")) == 1
    assert "no stochastic depth" in capsys.readouterr().err
    assert main(run_args("vit_tiny", tmp_path / "y", 1, "--batch-size", "500")) == 1
    assert "fewer than one batch" in capsys.readouterr().err
    assert main(run_args("vit_tiny", tmp_path / "z", 1, "--resume")) == 1
    assert "no checkpoint.pt" in capsys.readouterr().err
