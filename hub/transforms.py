"""The inference preprocessing of :mod:`hub.preprocess` as torchvision transforms and torch ops, for data loaders,
the analyses and the export gates."""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor
from torchvision.transforms import v2

from hub.config import ModelConfig
from hub.preprocess import resize_crop


def normalisation_steps(config: ModelConfig) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]


def eval_transform(config: ModelConfig, normalise: bool = True) -> v2.Compose:
    """PIL image -> ``(3, H, W)`` tensor: :func:`hub.preprocess.resize_crop` (resize to ``size / crop_pct``,
    centre-crop ``size``; CIFAR: crop_pct 1, a plain resize to 32), then scale and normalise.

    ``normalise=False`` stops at float pixels in [0, 1], for analyses that perturb images in pixel space
    before :func:`normalise_batch`.
    """
    last = normalisation_steps(config) if normalise else [v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose([v2.Lambda(partial(resize_crop, config=config)), v2.ToImage(), *last])


def normalise_batch(pixels: Tensor, config: ModelConfig) -> Tensor:
    """``(B, 3, H, W)`` pixels in [0, 1] -> the model's normalised input."""
    mean = torch.tensor(config.mean, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    return (pixels - mean) / std
