"""``python -m training.evaluate`` on a real model folder and a tar-archived image tree."""

import json

import torch

import hub
from tests.hub.test_data import make_tar
from training.evaluate import main


def test_evaluate_writes_metrics_that_match_a_direct_computation(tmp_path):
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=3).eval()
    hub.save_pretrained(model, tmp_path / "model", label_names=["a", "b", "c"])
    data = make_tar(tmp_path / "images.tar.gz", {"a": 4, "b": 3, "c": 5})
    assert main(["--model", str(tmp_path / "model"), "--data", str(data), "--out", str(tmp_path / "eval"),
                 "--batch-size", "5"]) == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["metrics"]["count"] == 12 and sum(report["reliability_15_bins"]["count"]) == 12
    assert (tmp_path / "eval" / "reliability.png").stat().st_size > 5000

    from hub.data import TarImageFolder
    from hub.transforms import eval_transform

    images = TarImageFolder(data, transform=eval_transform(model.config))
    x = torch.stack([images[i][0] for i in range(len(images))])
    with torch.no_grad():
        predicted = model(x).argmax(-1)
    expected = (predicted == torch.tensor(images.targets)).double().mean().item()
    assert report["metrics"]["accuracy"] == expected


def test_evaluate_reports_bad_input_clearly(tmp_path, capsys):
    assert main(["--model", "no-such-model", "--data", "cifar10", "--out", str(tmp_path)]) == 1
    assert "unknown model" in capsys.readouterr().err
