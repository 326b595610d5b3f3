"""CIFAR-C corruptions: deterministic, in range, stronger with severity; released files are read."""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

import hub
from hub.data import TarImageFolder
from hub.preprocess import normalise_batch
from tests.training.test_train import FIXTURE
from training.analyze.corruptions import CORRUPTIONS, corrupt, corruption_robustness

PAPER_SET = {"gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
             "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"}


@pytest.fixture(scope="module")
def pixels():
    """Real CIFAR-10 images (the fixture archive) as pixels in [0, 1]."""
    images = TarImageFolder(FIXTURE, transform=v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]))
    return torch.stack([images[i][0] for i in range(0, 240, 40)])


def test_the_fifteen_corruptions():
    assert set(CORRUPTIONS) == PAPER_SET


@pytest.mark.parametrize("name", sorted(PAPER_SET))
def test_corruption_is_deterministic_in_range_and_grows_with_severity(name, pixels):
    mild, severe = corrupt(pixels, name, 1, seed=0), corrupt(pixels, name, 5, seed=0)
    assert mild.shape == pixels.shape and mild.min() >= 0 and mild.max() <= 1
    assert torch.equal(severe, corrupt(pixels, name, 5, seed=0))
    if name != "elastic_transform":  # the CIFAR constants trade the affine part (larger at 1) for the elastic one
        assert (severe - pixels).abs().mean() > (mild - pixels).abs().mean()


def test_bad_arguments(pixels):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(pixels, "rain", 1, 0)
    with pytest.raises(ValueError, match="severity"):
        corrupt(pixels, "fog", 6, 0)


def test_released_files_are_sliced_by_severity(tmp_path):
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=10)
    images = np.zeros((5 * 4, 32, 32, 3), dtype=np.uint8)
    images[4:] = 255  # severity 1: black images, severities 2-5: white
    np.save(tmp_path / "fog.npy", images)
    np.save(tmp_path / "labels.npy", np.tile(np.arange(4, dtype=np.uint8), 5))
    loader = [(torch.rand(4, 3, 32, 32), torch.arange(4))]
    result = corruption_robustness(model, loader, (1, 2), ("fog",), released=tmp_path, progress=False)
    with torch.no_grad():
        black = model(normalise_batch(torch.zeros(4, 3, 32, 32), model.config)).argmax(-1)
    assert result.sets[0].accuracy == (black == torch.arange(4)).float().mean().item()
    assert "released" in result.source and len(result.sets) == 2
    assert result.accuracy("fog", 2) == result.sets[1].accuracy
