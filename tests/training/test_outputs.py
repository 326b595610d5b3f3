"""Run outputs: metrics.json with the reliability bins and a reliability diagram, and the training card."""

import json
from pathlib import Path

import torch

from hub.data import DataSpec
from tests.training.test_metrics import LABELS, PROBS, logits_for
from training.metrics import MetricAccumulator
from training.outputs import RunSummary, card_metrics, training_card, write_evaluation
from training.recipes import get_recipe
from training.settings import RunSettings


def test_evaluation_files_hold_metrics_bins_and_the_header(tmp_path):
    acc = MetricAccumulator()
    acc.update(logits_for(PROBS), LABELS)
    metrics = write_evaluation(tmp_path, acc, {"model": "m", "seed": 3}, "title")
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["model"] == "m" and report["seed"] == 3 and report["metrics"]["count"] == len(LABELS)
    assert sum(report["reliability_15_bins"]["count"]) == len(LABELS)
    assert report["metrics"]["accuracy"] == metrics.accuracy == card_metrics(metrics)["accuracy"]
    png = (tmp_path / "reliability.png").read_bytes()
    assert len(png) > 5000 and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_card_states_recipe_overrides_data_and_provenance():
    recipe = get_recipe("cpu-quick").with_overrides(batch_size=20)
    settings = RunSettings("resnet_tiny", DataSpec("d.tar", val_size=40, split="train", seed=2), Path("run"), recipe,
                           command="python -m training.train --model resnet_tiny")
    history = [{"epoch": 1, "train_loss": 2.0, "val_accuracy": 0.3}, {"epoch": 2, "train_loss": 1.5,
                                                                       "val_accuracy": 0.25}]
    card = training_card(settings, RunSummary(200, 40, 10, 10, 1, 75.0, "abc123", history))
    for fact in ('`cpu-quick` with overrides `{"batch_size": 20}`', "200 training images", "40 held out",
                 "seed 2", "git commit `abc123`", "1m15s", "best epoch 1 (0.3000)", "torch " + torch.__version__):
        assert fact in card.training, fact
    assert card.reproduce == settings.command
