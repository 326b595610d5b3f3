"""Each metric against a case small enough to compute by hand."""

import math

import pytest
import torch

from training.metrics import MetricAccumulator, expected_calibration_error


def logits_for(probs: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


# Four samples, three classes. Confidences 0.95, 0.6, 0.5, 0.92; predictions 0, 1, 0, 2; labels 0, 0, 0, 2.
PROBS = [[0.95, 0.03, 0.02], [0.3, 0.6, 0.1], [0.5, 0.3, 0.2], [0.04, 0.04, 0.92]]
LABELS = torch.tensor([0, 0, 0, 2])


def test_metrics_match_a_hand_computed_case():
    acc = MetricAccumulator()
    acc.update(logits_for(PROBS[:3]), LABELS[:3])  # uneven batches: every sample must still count once
    acc.update(logits_for(PROBS[3:]), LABELS[3:])
    m = acc.compute()
    assert m.count == 4
    assert m.accuracy == pytest.approx(3 / 4)
    assert m.top5 == pytest.approx(1.0)
    assert m.nll == pytest.approx(-(math.log(0.95) + math.log(0.3) + math.log(0.5) + math.log(0.92)) / 4)
    brier = [(0.05**2 + 0.03**2 + 0.02**2), (0.7**2 + 0.6**2 + 0.1**2), (0.5**2 + 0.3**2 + 0.2**2),
             (0.04**2 + 0.04**2 + 0.08**2)]
    assert m.brier == pytest.approx(sum(brier) / 4)
    # Confidence > 0.9: samples 0 and 3, both right. The one error (sample 1, conf 0.6) is below the cut-off.
    assert m.freq_90 == pytest.approx(0.5) and m.acc_90 == pytest.approx(1.0) and m.unc_90 == pytest.approx(1.0)
    # 15 bins of width 1/15: 0.95 -> (14/15, 1], 0.92 -> (13/15, 14/15], 0.6 -> (8/15, 9/15], 0.5 -> (7/15, 8/15].
    # Every bin holds one sample, so ECE = mean |correct - confidence|.
    assert m.ece == pytest.approx((0.05 + 0.6 + 0.5 + 0.08) / 4)
    # 10 bins: 0.95 -> (0.9, 1], 0.92 -> (0.9, 1] together: |1 - 0.935| * 2/4; 0.6 -> (0.5, 0.6]; 0.5 -> (0.4, 0.5].
    assert m.ece_10 == pytest.approx((2 * 0.065 + 0.6 + 0.5) / 4)


def test_top5_and_cutoff_edge_cases():
    acc = MetricAccumulator()
    probs = [[0.01] * 9 + [0.91]] * 2
    acc.update(logits_for(probs), torch.tensor([0, 9]))  # sample 0 wrong and label outside the top 5
    m = acc.compute()
    assert m.top5 == pytest.approx(0.5) and m.accuracy == pytest.approx(0.5)
    assert m.unc_90 == pytest.approx(0.0)  # the error was confident
    none_sure = MetricAccumulator()
    none_sure.update(logits_for([[0.5, 0.5]]), torch.tensor([0]))
    assert math.isnan(none_sure.compute().acc_90) and none_sure.compute().to_dict()["acc_90"] is None
    with pytest.raises(ValueError):
        MetricAccumulator().compute()


def test_perfectly_calibrated_bins_have_zero_ece():
    confidence = torch.tensor([0.25] * 4 + [0.75] * 4, dtype=torch.float64)
    correct = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    assert expected_calibration_error(confidence, correct, bins=4) == pytest.approx(0.0)
    assert expected_calibration_error(confidence, ~correct, bins=4) == pytest.approx(0.5)
