"""Inference preprocessing from a model's config, in one place: training evaluation, the analyses, the ONNX
parity checks, every predictor and the service all call these."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.transforms import InterpolationMode, v2

from hub.config import ModelConfig


def normalisation_steps(config: ModelConfig) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]


def eval_transform(config: ModelConfig, normalise: bool = True) -> v2.Compose:
    """Resize to ``size / crop_pct`` and centre-crop ``size`` (CIFAR: crop_pct 1, a plain resize to 32).

    ``normalise=False`` stops at float pixels in [0, 1], for analyses that perturb images in pixel space
    before :func:`normalise_batch`.
    """
    size = config.input_size[-1]
    interpolation = InterpolationMode(config.interpolation)
    last = normalisation_steps(config) if normalise else [v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose([v2.ToImage(), v2.RGB(), v2.Resize(int(size / config.crop_pct), interpolation, antialias=True),
                       v2.CenterCrop(size), *last])


def normalise_batch(pixels: Tensor, config: ModelConfig) -> Tensor:
    """``(B, 3, H, W)`` pixels in [0, 1] -> the model's normalised input."""
    mean = torch.tensor(config.mean, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    return (pixels - mean) / std
