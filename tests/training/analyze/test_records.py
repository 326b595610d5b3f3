"""Analysis records: typed JSON that reads back equal to what was written, refused at another schema version."""

import json
import math
from pathlib import Path

import pytest

from hub import UnitInfo, UnitKind
from hub.data import DataSpec
from training.analyze.hessian import Eigenpairs, HessianResult, HessianSettings, MaxEigenvalueSpectrum
from training.analyze.inputs import NoSettings
from training.analyze.landscape import LandscapeResult, LandscapeSettings
from training.analyze.records import AnalysisRecord, from_json, to_json
from training.analyze.registry import ANALYSES
from training.analyze.statistics import Estimate
from training.analyze.variance import VarianceResult


def test_nested_results_round_trip(tmp_path):
    spectrum = MaxEigenvalueSpectrum([Eigenpairs([3.0, -1.0], [0.1, 0.2], 12, "power", [True, False])], 3.0, 0.5)
    record = AnalysisRecord("hessian", HessianResult.SCHEMA_VERSION, "m", "vit_tiny", DataSpec("d.tar", split="train"),
                            HessianSettings(batches=2), HessianResult(spectrum), 1.5)
    ANALYSES["hessian"].write(record, tmp_path)
    back = ANALYSES["hessian"].load(tmp_path)
    assert back == record and (tmp_path / "hessian.png").is_file()


def test_non_finite_values_and_enums_survive():
    units = [UnitInfo(0, "stem", UnitKind.STEM, 0, 0.0, False), UnitInfo(1, "s1.0.msa", UnitKind.MSA, 1, 1.0, True)]
    result = VarianceResult({"stem": 1.0, "s1.0.msa": math.nan}, units, 8, {"msa": Estimate(-0.5, 0.1)})
    back = from_json(VarianceResult, json.loads(json.dumps(to_json(result))))
    assert back.units == units and back.units[1].kind is UnitKind.MSA and math.isnan(back.variance["s1.0.msa"])
    assert back.log_change_by_kind["msa"] == Estimate(-0.5, 0.1)
    grid = LandscapeResult([-1.0, 0.0, 1.0], (3,), [2.0, math.nan, 2.5], [0.0] * 3, [0.5] * 3, math.nan, 3, 3)
    again = from_json(LandscapeResult, json.loads(json.dumps(to_json(grid))))
    assert again.shape == (3,) and math.isnan(again.nll[1]) and again.grid(again.nll).shape == (3,)
    assert from_json(LandscapeSettings, to_json(LandscapeSettings(dims=1))) == LandscapeSettings(dims=1)


def test_another_schema_version_is_refused(tmp_path):
    record = AnalysisRecord("variance", 1, "m", "a", DataSpec("d"), NoSettings(),
                            VarianceResult({}, [], 0, {}))
    path = record.save(tmp_path)
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    Path(path).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema version 99"):
        ANALYSES["variance"].load(tmp_path)


def test_every_analysis_declares_settings_a_versioned_result_and_a_run():
    for analysis in ANALYSES.values():
        assert analysis.settings() is not None and analysis.schema_version >= 1
        with pytest.raises(TypeError, match="takes"):
            analysis.execute(None, DataSpec("d"), object())
