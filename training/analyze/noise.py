"""Robustness to frequency-band noise (the paper's Fig. 2b): accuracy under random noise restricted to a band
of spatial frequencies (:mod:`hub.noise`), added in pixel space before normalisation, at band centres from 0
to pi. The noise L2 norm per band is reported whichever normalisation is chosen."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from tqdm import tqdm

from hub import UnitIntrospection
from hub.data import DataSpec
from hub.noise import centres, predictions_under_noise
from hub.spectrum import BandNoise, MaskShape, NoiseNorm
from hub.transforms import normalise_batch
from training.analyze.inputs import Runtime, images_for


@dataclass(frozen=True)
class NoiseSettings:
    bands: int = 11
    """band centres from 0 to pi"""
    half_width: float = 0.2
    """band half-width in rad/pixel (the original: 0.2)"""
    strength: float = 0.1
    """noise RMS in [0,1] pixel units"""
    mask: MaskShape = "square"
    """square annulus (the original) or circle"""
    norm: NoiseNorm = "fixed"
    """fixed: the same noise energy in every band; original: filter a fixed-amplitude draw"""
    noise: Literal["gaussian", "sign"] = "gaussian"
    """base draw before filtering"""
    clip: bool = False
    """clip noisy pixels to [0, 1] (changes the spectrum)"""

    def band_settings(self) -> list[BandNoise]:
        return [BandNoise(c, self.half_width, self.strength, self.mask, self.norm, self.noise)
                for c in centres(self.bands)]


@dataclass(frozen=True)
class BandResult:
    centre: float
    centre_pi: float
    accuracy: float
    accuracy_drop: float
    flip_rate: float
    """Fraction of images whose prediction differs from the clean one."""
    noise_l2: float
    """Mean L2 norm of the noise added to an image."""


@dataclass(frozen=True)
class NoiseResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    clean_accuracy: float
    images: int
    bands: list[BandResult]


@torch.no_grad()
def frequency_noise_robustness(model: UnitIntrospection, loader, settings: list[BandNoise], seed: int = 0,
                               clip: bool = False, device: str = "cpu", progress: bool = True) -> NoiseResult:
    """Per band: accuracy, accuracy drop against clean, prediction-flip rate and mean noise L2 norm.

    ``loader`` yields pixels in [0, 1]. Every band uses the same seeded draws for the same image."""
    model.eval().to(device)
    batches = list(loader)
    clean_pred, labels = [], []
    for pixels, y in batches:
        clean_pred.append(model(normalise_batch(pixels.to(device), model.config)).argmax(-1).cpu())
        labels.append(y)
    clean_pred_t, labels_t = torch.cat(clean_pred), torch.cat(labels)
    clean_acc = (clean_pred_t == labels_t).double().mean().item()
    rows = []
    for setting in tqdm(settings, desc="bands", unit="band", disable=not progress):
        generator = torch.Generator().manual_seed(seed)
        predicted, norms = [], []
        for pixels, _ in batches:
            probs, noise = predictions_under_noise(model, model.config, pixels.to(device), setting, generator, clip)
            predicted.append(probs.argmax(-1).cpu())
            norms.append(noise.flatten(1).norm(dim=1).cpu())
        pred = torch.cat(predicted)
        accuracy = (pred == labels_t).double().mean().item()
        rows.append(BandResult(setting.centre, setting.centre / math.pi, accuracy, clean_acc - accuracy,
                               (pred != clean_pred_t).double().mean().item(), torch.cat(norms).mean().item()))
    return NoiseResult(clean_acc, len(labels_t), rows)


def run(model: UnitIntrospection, data: DataSpec, settings: NoiseSettings, runtime: Runtime = Runtime()) -> NoiseResult:
    return frequency_noise_robustness(model, images_for(model, data, normalise=False), settings.band_settings(),
                                      data.seed, settings.clip, runtime.device, runtime.progress)
