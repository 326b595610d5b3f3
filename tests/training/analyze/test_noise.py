"""The band-noise analysis: accuracy drops and flips per band, through ``run`` on real images."""

import math

import pytest
import torch

import hub
from hub.data import DataSpec
from hub.noise import centres
from hub.spectrum import BandNoise
from tests.training.test_train import FIXTURE
from training.analyze.noise import NoiseSettings, frequency_noise_robustness, run


def test_dataset_robustness_reports_drops_and_flips():
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=10)
    loader = [(torch.rand(8, 3, 32, 32), torch.arange(8))]
    result = frequency_noise_robustness(model, loader, [BandNoise(c, strength=0.5) for c in centres(3)],
                                        progress=False)
    assert result.images == 8
    for row in result.bands:
        assert row.accuracy_drop == pytest.approx(result.clean_accuracy - row.accuracy)
        assert 0 <= row.flip_rate <= 1 and row.noise_l2 == pytest.approx(0.5 * math.sqrt(3 * 32 * 32), rel=1e-3)


def test_run_reads_pixels_through_the_data_spec():
    torch.manual_seed(0)
    model = hub.create_model("vit_tiny", num_classes=10)
    result = run(model, DataSpec(str(FIXTURE), val_size=20), NoiseSettings(bands=2, strength=1.0))
    assert result.images == 20 and [b.centre_pi for b in result.bands] == [0.0, 1.0]
    assert result.bands[1].noise_l2 == pytest.approx(math.sqrt(3 * 32 * 32), rel=1e-3)  # RMS 1 in pixel units

