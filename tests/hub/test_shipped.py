"""The three models shipped in the package: they load with their checksums, classify held-out real images well
above chance, and their cards' numbers are reproduced by re-running the evaluation command."""

import json
from pathlib import Path

import pytest
import torch

import hub
from hub.catalog import load_catalog
from hub.samples import sample_images
from hub.transforms import eval_transform
from training.evaluate import main as evaluate

SHIPPED = ["resnet-tiny-cifar10", "vit-tiny-cifar10", "alternet-tiny-cifar10"]
ARCHIVE = Path(__file__).parents[3] / "shared" / "data" / "cifar10-train-jpeg.tar.gz"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_and_is_small(name):
    entry = load_catalog()[name]
    assert entry.availability == "shipped"
    folder = entry.package_folder
    assert (folder / "model.safetensors").stat().st_size < 5_000_000
    model = hub.from_pretrained(name)
    assert model.config.label_names[0] == "airplane" and model.config.num_classes == 10
    card = (folder / "README.md").read_text()
    for fact in ("cpu-quick", "45,000 training images", "5,000 held out", "git commit", "--model"):
        assert fact in card, fact


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_classifies_held_out_images(name):
    model = hub.from_pretrained(name).eval()
    pairs = sample_images()  # from the validation split, never trained on
    transform = eval_transform(model.config)
    with torch.no_grad():
        predicted = model(torch.stack([transform(image) for image, _ in pairs])).argmax(-1)
    accuracy = sum(model.config.label_names[i] == label for i, (_, label) in zip(predicted, pairs, strict=True))
    assert accuracy / len(pairs) > 0.6


@pytest.mark.skipif(not ARCHIVE.is_file(), reason="needs ../shared/data/cifar10-train-jpeg.tar.gz")
@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == "alternet-tiny-cifar10" else pytest.mark.slow)
                                  for n in SHIPPED])  # ~27 s each: the served default model in the default run
def test_card_metrics_are_reproduced_by_the_evaluation_command(name, tmp_path):
    folder = load_catalog()[name].package_folder
    shipped = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert evaluate(["--model", name, "--data", str(ARCHIVE), "--val-size", "5000", "--out", str(tmp_path)]) == 0
    measured = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert measured["count"] == 5000
    for key in ("accuracy", "top5"):
        assert measured[key] == pytest.approx(shipped[key], abs=1e-9), key
    for key in ("ece", "ece_10"):  # float32 confidences: the bin sums move by ~1e-8 with the thread count
        assert measured[key] == pytest.approx(shipped[key], abs=1e-6), key
    assert measured["nll"] == pytest.approx(shipped["nll"], rel=1e-5)
