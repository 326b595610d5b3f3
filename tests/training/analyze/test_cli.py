"""``python -m training.analyze``: every subcommand on real images, and the report with its claims."""

import json

import pytest

from tests.training.test_train import FIXTURE
from training.analyze.__main__ import main
from training.analyze.report import evaluate_claims

DATA = ["--data", str(FIXTURE), "--val-size", "40", "--num-classes", "10", "--no-progress"]
RUNS = {
    "fourier": ["--average", "log-of-mean"],
    "variance": [],
    "noise": ["--bands", "3", "--mask", "circle"],
    "hessian": ["--batches", "2", "--k", "2", "--method", "lanczos", "--lanczos-steps", "8", "--density",
                "--probes", "2"],
    "landscape": ["--points", "3", "--num-images", "40", "--augment", "paper", "--normalisation", "paper"],
    "lesion": [],
    "cka": ["--batch-size", "20"],
    "corruptions": ["--severities", "1,3", "--corruptions", "fog,contrast"],
}


@pytest.mark.parametrize("analysis", list(RUNS))
def test_subcommand_writes_json_with_settings_and_a_figure(analysis, tmp_path):
    assert main([analysis, "--model", "alternet_tiny", "--out", str(tmp_path), *DATA, *RUNS[analysis]]) == 0
    payload = json.loads((tmp_path / f"{analysis}.json").read_text())
    assert payload["analysis"] == analysis and "random initialisation" in payload["model"]
    assert payload["settings"]["data"].startswith(str(FIXTURE))
    assert (tmp_path / f"{analysis}.png").stat().st_size > 10_000


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["corruptions", "--model", "resnet_tiny", "--out", str(tmp_path), *DATA, "--corruptions", "rain"]) == 1
    assert "unknown corruption" in capsys.readouterr().err
    assert main(["fourier", "--model", "no-such-model", "--out", str(tmp_path), *DATA]) == 1
    assert "no-such-model" in capsys.readouterr().err


def test_report_runs_the_suite_and_judges_each_claim(tmp_path):
    assert main(["report", "--models", "resnet_tiny,alternet_tiny", "--data", str(FIXTURE), "--val-size", "40",
                 "--out", str(tmp_path), "--analyses", "fourier,variance,noise,lesion", "--no-progress"]) == 0
    page = (tmp_path / "report.md").read_text()
    claims = json.loads((tmp_path / "claims.json").read_text())["claims"]
    assert [c["claim"].split(" ")[0] for c in claims] == ["MSAs", "MSAs", "MSA", "AlterNet"]
    for claim in claims:
        assert claim["claim"] in page and claim["verdict"] in ("supported", "not supported")
    for figure in ("compare_fourier.png", "resnet_tiny/lesion.png", "alternet_tiny/noise.png"):
        assert (tmp_path / figure).is_file() and f"]({figure})" in page


def test_claims_follow_the_numbers():
    def result(kind_changes, variance, drops, top, accuracy):
        units = [{"kind": k} for k in kind_changes]
        return {"fourier": {"result": {"units": units, "mean_high_frequency_change_by_kind": kind_changes}},
                "variance": {"result": {"mean_log_change_by_kind": variance}},
                "noise": {"result": {"bands": [{"centre_pi": 1.0, "accuracy_drop": drops}]}},
                "hessian": {"result": {"mean_top_positive": top, "negative_fraction": 0.1}},
                "lesion": {"result": {"clean_accuracy": accuracy}}}

    supportive = {"resnet": result({"conv": 0.2}, {"conv": 0.1}, 0.3, 50.0, 0.80),
                  "alternet": result({"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3}, 0.1, 20.0, 0.85)}
    assert [c["verdict"] for c in evaluate_claims(supportive)] == ["supported"] * 5
    contrary = {"resnet": result({"conv": 0.2}, {"conv": 0.1}, 0.1, 10.0, 0.90),
                "alternet": result({"conv": -0.5, "msa": 0.4}, {"conv": -0.2, "msa": 0.3}, 0.3, 20.0, 0.85)}
    assert [c["verdict"] for c in evaluate_claims(contrary)] == ["not supported"] * 5
