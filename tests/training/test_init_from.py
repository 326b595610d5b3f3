"""``training.train --init-from``: fine-tuning a shipped model on real CIFAR-10 images (the 240-image fixture), the
flags it refuses, and the mean/std of data without published statistics, computed from the training images."""

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image

import hub
from hub.data import TarImageFolder, balanced_sample
from training.train import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "cifar10-mini.tar.gz"
PARENT = "resnet-tiny-cifar10"
# 200 training images (40 held out), one epoch of 10 steps of 20, no warm-up.
QUICK = ["--val-size", "40", "--recipe", "cpu-quick", "--batch-size", "20", "--warmup-epochs", "0", "--epochs", "1",
         "--threads", "1", "--no-progress"]


def fixture_pixels() -> dict[str, np.ndarray]:
    """Every fixture image as float64 ``(H, W, 3)`` pixels in [0, 1], by member name, read with Pillow alone."""
    with tarfile.open(FIXTURE) as archive:
        return {m.name: np.asarray(Image.open(io.BytesIO(archive.extractfile(m).read())).convert("RGB"),
                                   dtype=np.float64) / 255 for m in archive if m.isfile()}


def subset_tar(path: Path, classes: set[str]) -> Path:
    with tarfile.open(FIXTURE) as source, tarfile.open(path, "w") as target:
        for member in source:
            if member.isfile() and member.name.split("/")[-2] in classes:
                target.addfile(member, source.extractfile(member))
    return path


def test_fine_tuning_a_shipped_model_keeps_its_architecture_and_statistics_and_names_it_as_base_model(tmp_path):
    out = tmp_path / "ft"
    assert main(["--init-from", PARENT, "--dataset", str(FIXTURE), "--out", str(out), *QUICK]) == 0
    parent, model = hub.from_pretrained(PARENT), hub.from_pretrained(str(out))
    assert model.config.architecture == "resnet_tiny" and model.config.num_classes == 10
    assert (model.config.mean, model.config.std) == (parent.config.mean, parent.config.std)
    assert model.config.normalisation == hub.config.Normalisation("parent", PARENT)
    assert model.config.parent == hub.config.Parent(PARENT, parent.config.weights_sha256)
    trained, started = model.state_dict(), parent.state_dict()
    assert not torch.equal(trained["units.0.layers.0.weight"], started["units.0.layers.0.weight"])
    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == PARENT and card.data.base_model_relation == "finetune"
    for fact in (f"`resnet_tiny` fine-tuned from `{PARENT}`", f"inherited from parent `{PARENT}`",
                 f"weights sha256 `{parent.config.weights_sha256}`", f"--init-from {PARENT}"):
        assert fact in card.text, fact


def test_fewer_classes_reset_the_classifier_and_the_run_says_so(tmp_path, caplog):
    data = subset_tar(tmp_path / "five.tar", {"airplane", "automobile", "bird", "cat", "deer"})
    out = tmp_path / "five"
    args = ["--init-from", PARENT, "--dataset", str(data), "--out", str(out), "--val-size", "0", "--epochs", "0",
            "--warmup-epochs", "0", "--threads", "1", "--no-progress", "--img-size", "48"]
    assert main(args) == 0  # no step: the saved weights are the parent's with a new classifier
    assert "re-initialised for 5 classes (the checkpoint has 10)" in caplog.text
    model, parent = hub.from_pretrained(str(out)), hub.from_pretrained(PARENT)
    assert model.config.label_names == ["airplane", "automobile", "bird", "cat", "deer"]
    assert model.config.input_size == (3, 48, 48)
    head = {k for k in parent.state_dict() if k.startswith("units.9.")} & {n for n, _ in parent.named_parameters()}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in parent.state_dict().items() if k not in head)


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--init-from", PARENT, "--model", "vit_tiny"], 1, "--model vit_tiny contradicts --init-from"),
    (["--init-from", PARENT, "--preset", "imagenet"], 1, "--preset imagenet contradicts"),
    (["--normalisation", "parent", "--model", "resnet_tiny"], 2, "needs --init-from"),
    ([], 2, "give --model"),
])
def test_contradictory_or_missing_flags_are_refused(tmp_path, capsys, extra, code, message):
    assert main(["--dataset", str(FIXTURE), "--out", str(tmp_path / "x"), *QUICK, *extra]) == code
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "model.safetensors").exists()


@pytest.mark.parametrize("form", ["tar", "folder"])
def test_data_without_published_statistics_gets_its_own_mean_and_std(tmp_path, form):
    data = FIXTURE
    if form == "folder":
        shutil.unpack_archive(FIXTURE, tmp_path / "images")
        data = tmp_path / "images" / "train"
    out = tmp_path / "run"
    assert main(["--model", "resnet_tiny", "--dataset", str(data), "--out", str(out), "--val-size", "0",
                 "--epochs", "0", "--warmup-epochs", "0", "--threads", "1", "--no-progress"]) == 0
    pixels = np.stack(list(fixture_pixels().values()))
    config = hub.from_pretrained(str(out)).config
    np.testing.assert_allclose(config.mean, pixels.mean(axis=(0, 1, 2)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(config.std, pixels.std(axis=(0, 1, 2)), rtol=0, atol=1e-6)
    assert config.normalisation == hub.config.Normalisation("computed", images=240, cap=10_000)
    assert "mean/std computed from 240 training images" in (out / "README.md").read_text()


def test_the_statistics_cap_takes_a_seeded_class_balanced_sample(tmp_path):
    out = tmp_path / "capped"
    assert main(["--model", "resnet_tiny", "--dataset", str(FIXTURE), "--out", str(out), "--val-size", "0",
                 "--epochs", "0", "--warmup-epochs", "0", "--threads", "1", "--no-progress", "--seed", "3",
                 "--statistics-images", "50"]) == 0
    dataset = TarImageFolder(FIXTURE)
    picked = balanced_sample(dataset.targets, range(len(dataset)), 50, seed=3)
    everything = fixture_pixels()
    pixels = np.stack([everything[dataset.names[i]] for i in picked])
    config = hub.from_pretrained(str(out)).config
    np.testing.assert_allclose(config.mean, pixels.mean(axis=(0, 1, 2)), rtol=0, atol=1e-6)
    assert config.normalisation.images == 50 and config.normalisation.cap == 50
    assert len({dataset.targets[i] for i in picked}) == 10
