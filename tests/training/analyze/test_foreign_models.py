"""The analyses on models that are not ours, through the command line: a user's own factory, timm's ViT (whose
fused attention must still be differentiable twice for the Hessian), and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.analyze.__main__ import main

FIXTURE = Path(__file__).parents[2] / "fixtures" / "cifar10-mini.tar.gz"
DATA = ["--data", str(FIXTURE), "--val-size", "20", "--no-progress"]


def test_lesion_of_a_users_own_model(tmp_path):
    assert main(["lesion", "--model", "tests.hub.own_model:tiny_net", "--num-classes", "10", *DATA,
                 "--num-images", "8", "--batch-size", "4", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "lesion.json").read_text())
    assert record["model"] == "tests.hub.own_model:tiny_net" and record["architecture"] == "tiny_net"
    assert [r["name"] for r in record["result"]["lesioned"]] == ["s1.0.conv", "s1.1.conv"]
    assert (tmp_path / "lesion.png").stat().st_size > 0


def test_hessian_of_a_timm_vit(tmp_path):
    pytest.importorskip("timm")
    from hub.data import DataSpec
    from hub.foreign import load_foreign
    from training.analyze.hessian import HessianSettings
    from training.analyze.registry import ANALYSES

    model = load_foreign("timm:vit_tiny_patch16_224", num_classes=10)
    model.model.set_input_size(img_size=32, patch_size=8)  # timm's own resize: 16 tokens, CPU-test size
    model.config.input_size = (3, 32, 32)
    data = DataSpec(str(FIXTURE), val_size=20, split="train", num_images=8, batch_size=4)
    settings = HessianSettings(batches=1, k=1, max_iter=20, augment="none", trace=False)
    result = ANALYSES["hessian"].execute(model, data, settings).result
    assert result.spectrum.batches == 1 and result.spectrum.per_batch[0].values[0] > 0


def test_refusals_name_the_problem(tmp_path, capsys):
    assert main(["fourier", "--model", "timm:no_such_net", *DATA, "--out", str(tmp_path)]) == 1
    assert "timm has no model 'no_such_net'" in capsys.readouterr().err
    assert main(["fourier", "--model", "resnet_tiny", "--pretrained", *DATA, "--out", str(tmp_path)]) == 1
    assert "--pretrained applies to" in capsys.readouterr().err
    assert main(["fourier", "--model", "torch.nn:Identity", *DATA, "--out", str(tmp_path)]) == 1
    assert "no ready-made unit description" in capsys.readouterr().err
