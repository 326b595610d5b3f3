"""``python -m training.analyze``: every subcommand on real images, and the report with its claims."""

import json

import pytest

import hub
from hub import UnitInfo, UnitKind
from tests.training.test_train import FIXTURE
from training.analyze.__main__ import main
from training.analyze.fourier import FourierResult, KindChange
from training.analyze.hessian import Eigenpairs, HessianResult, MaxEigenvalueSpectrum
from training.analyze.lesion import LesionResult
from training.analyze.noise import BandResult, NoiseResult
from training.analyze.records import AnalysisRecord
from training.analyze.registry import ANALYSES
from training.analyze.report import ReportModel, evaluate_claims
from training.analyze.statistics import Estimate
from training.analyze.variance import VarianceResult

DATA = ["--data", str(FIXTURE), "--val-size", "40", "--num-classes", "10", "--no-progress"]
RUNS = {
    "fourier": ["--average", "log-of-mean"],
    "variance": [],
    "noise": ["--bands", "3", "--mask", "circle"],
    "hessian": ["--batches", "2", "--k", "2", "--method", "lanczos", "--lanczos-steps", "8", "--density",
                "--probes", "2", "--no-trace"],  # the trace: test_hessian_trace_units.py
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
    assert payload["data"]["data"] == str(FIXTURE) and payload["schema_version"] == ANALYSES[analysis].schema_version
    assert (tmp_path / f"{analysis}.png").stat().st_size > 10_000
    record = ANALYSES[analysis].load(tmp_path)  # read back as the typed result it was written from
    assert isinstance(record.result, ANALYSES[analysis].result) and record.seconds > 0
    assert record.data.split == ("train" if analysis in ("hessian", "landscape") else "val")


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
    assert [c["claim"].split(" ")[0] for c in claims] == ["MSAs", "MSAs", "MSA", "AlterNet", "MSAs"]
    assert "python -m training.analyze lesion --model MODEL" in page
    assert "stored as JPEG files (lossy" in page and "| `alternet_tiny` | `alternet_tiny` |" in page
    for claim in claims:
        assert claim["claim"] in page and claim["verdict"] in ("supported", "not supported", "within noise")
    for figure in ("compare_fourier.png", "resnet_tiny/lesion.png", "alternet_tiny/noise.png"):
        assert (tmp_path / figure).is_file() and f"]({figure})" in page


def _record(analysis: str, result) -> AnalysisRecord:
    return AnalysisRecord(analysis, 1, "m", "arch", None, None, result)


def _model(family, kind_changes, variance, drop, tops, accuracy, images, negative=-1.0, train_images=None):
    """A report model whose analysis results hold exactly the figures evaluate_claims reads."""
    kinds = [UnitKind.STEM, *(UnitKind(k) for k in kind_changes)]
    units = [UnitInfo(i, k.value, k, 0, 0.0, False) for i, k in enumerate(kinds)]
    pairs = [Eigenpairs([t, negative], [0.0, 0.0], 10, "lanczos-magnitude") for t in tops]
    changes = [KindChange(k, 1, Estimate(v, 0.01)) for k, v in kind_changes.items()]
    records = {
        "fourier": _record("fourier", FourierResult([], units, "paper", images, changes, [])),
        "variance": _record("variance", VarianceResult({}, units, images,
                                                       {k: Estimate(v, 0.01) for k, v in variance.items()})),
        "noise": _record("noise", NoiseResult(accuracy, images, [BandResult(3.14, 1.0, 0.0, drop, drop + 0.05, 1.0)])),
        "hessian": _record("hessian", HessianResult(MaxEigenvalueSpectrum(pairs, sum(tops) / len(tops), 0.5))),
        "lesion": _record("lesion", LesionResult(accuracy, images, [], units)),
    }
    return ReportModel(family, f"{family}_tiny", family, units, records, train_images=train_images)


def test_claims_follow_the_numbers():
    msa_low = ({"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3})
    supportive = [_model("resnet", {"conv": 0.2}, {"conv": 0.1}, 0.3, [50.0, 52.0], 0.80, 10_000),
                  _model("alternet", *msa_low, 0.1, [20.0, 22.0], 0.85, 10_000)]
    assert [c.verdict for c in evaluate_claims(supportive)] == ["supported"] * 5 + ["not tested"]
    contrary = [_model("resnet", {"conv": 0.2}, {"conv": 0.1}, 0.1, [10.0, 12.0], 0.90, 10_000),
                _model("alternet", {"conv": -0.5, "msa": 0.4}, {"conv": -0.2, "msa": 0.3}, 0.3, [20.0, 22.0],
                       0.85, 10_000)]
    assert [c.verdict for c in evaluate_claims(contrary)] == ["not supported"] * 5 + ["not tested"]


def test_gaps_within_two_standard_errors_are_within_noise():
    """The same ordering as the supportive case, but on 100 images and widely spread batches: too close to call."""
    msa_low = ({"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3})
    close = [_model("resnet", {"conv": 0.2}, {"conv": 0.1}, 0.30, [10.0, 90.0], 0.80, 100),
             _model("alternet", *msa_low, 0.25, [5.0, 85.0], 0.83, 100)]
    verdicts = {c.claim.split(" (")[0]: c.verdict for c in evaluate_claims(close)}
    assert list(verdicts.values()) == ["supported", "supported", "within noise", "within noise", "within noise",
                                       "not tested"]
    assert "+-" in " ".join(c.evidence for c in evaluate_claims(close))
    weak = [_model("resnet", {"conv": 0.015}, {"conv": 0.1}, 0.3, [50.0, 52.0], 0.80, 10_000),
            _model("alternet", *msa_low, 0.1, [20.0, 22.0], 0.85, 10_000)]
    assert evaluate_claims(weak)[0].verdict == "within noise"  # a conv change of 1.5 SE is not a sign


def test_the_negative_eigenvalue_claim_compares_one_architecture_at_two_data_sizes():
    def vit(train_images, negative):
        model = _model("vit", {"msa": -0.4, "mlp": 0.1}, {"msa": -0.3, "mlp": 0.2}, 0.1, [20.0] * 4, 0.85, 100,
                       negative, train_images)
        model.name = f"vit-{train_images}"
        return model

    claim = evaluate_claims([vit(4_500, -1.0), vit(45_000, 1.0)])[-1]
    assert claim.claim.startswith("Less training data") and claim.verdict == "supported"
    assert "4,500 images 50.0 +- 0.0%" in claim.evidence
    assert evaluate_claims([vit(4_500, 1.0), vit(45_000, -1.0)])[-1].verdict == "not supported"
    assert evaluate_claims([vit(45_000, -1.0)])[-1].verdict == "not tested"


def test_the_report_picks_models_by_registered_family_not_by_name():
    """Renamed models still meet as AlterNet and ResNet; a ViT and a ResNet do not make that claim."""
    alternet = _model("alternet", {"conv": 0.1, "msa": -0.4}, {"conv": 0.2, "msa": -0.3}, 0.1, [20.0], 0.85, 100)
    resnet = _model("resnet", {"conv": 0.2}, {"conv": 0.1}, 0.3, [50.0], 0.80, 100)
    alternet.name, resnet.name = "mine-a", "mine-b"
    assert any(c.claim.startswith("AlterNet") for c in evaluate_claims([alternet, resnet]))
    vit = _model("vit", {"msa": -0.4, "mlp": 0.1}, {"msa": -0.3, "mlp": 0.2}, 0.1, [20.0], 0.85, 100)
    assert not any(c.claim.startswith("AlterNet") for c in evaluate_claims([vit, resnet]))
    assert hub.model_family("alternet_tiny") == "alternet"
