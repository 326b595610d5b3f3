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
        assert claim["claim"] in page and claim["verdict"] in ("supported", "not supported", "within noise")
    for figure in ("compare_fourier.png", "resnet_tiny/lesion.png", "alternet_tiny/noise.png"):
        assert (tmp_path / figure).is_file() and f"]({figure})" in page


def _claim_inputs(kind_changes, variance, drop, tops, accuracy, images):
    """The parts of a model's analysis results that evaluate_claims reads."""
    units = [{"kind": k} for k in kind_changes]
    return {"fourier": {"result": {"units": units, "mean_high_frequency_change_by_kind": kind_changes}},
            "variance": {"result": {"mean_log_change_by_kind": variance}},
            "noise": {"result": {"images": images, "bands": [
                {"centre_pi": 1.0, "accuracy_drop": drop, "flip_rate": drop + 0.05}]}},
            "hessian": {"result": {"per_batch": [[t, -1.0] for t in tops], "mean_top_positive": sum(tops) / len(tops),
                                   "negative_fraction": 0.5}},
            "lesion": {"result": {"clean_accuracy": accuracy, "images": images}}}


def test_claims_follow_the_numbers():
    msa_low = ({"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3})
    supportive = {"resnet": _claim_inputs({"conv": 0.2}, {"conv": 0.1}, 0.3, [50.0, 52.0], 0.80, 10_000),
                  "alternet": _claim_inputs(*msa_low, 0.1, [20.0, 22.0], 0.85, 10_000)}
    assert [c["verdict"] for c in evaluate_claims(supportive)] == ["supported"] * 5
    contrary = {"resnet": _claim_inputs({"conv": 0.2}, {"conv": 0.1}, 0.1, [10.0, 12.0], 0.90, 10_000),
                "alternet": _claim_inputs({"conv": -0.5, "msa": 0.4}, {"conv": -0.2, "msa": 0.3}, 0.3, [20.0, 22.0],
                                          0.85, 10_000)}
    assert [c["verdict"] for c in evaluate_claims(contrary)] == ["not supported"] * 5


def test_gaps_within_two_standard_errors_are_within_noise():
    """The same ordering as the supportive case, but on 100 images and widely spread batches: too close to call."""
    msa_low = ({"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3})
    close = {"resnet": _claim_inputs({"conv": 0.2}, {"conv": 0.1}, 0.30, [10.0, 90.0], 0.80, 100),
             "alternet": _claim_inputs(*msa_low, 0.25, [5.0, 85.0], 0.83, 100)}
    verdicts = {c["claim"].split(" (")[0]: c["verdict"] for c in evaluate_claims(close)}
    assert list(verdicts.values()) == ["supported", "supported", "within noise", "within noise", "within noise"]
    evidence = " ".join(c["evidence"] for c in evaluate_claims(close))
    assert "+-" in evidence
