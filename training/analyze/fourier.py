"""Fourier analysis of feature maps (the paper's Fig. 2a and 8): relative log amplitude of every unit's output.

Per unit output ``(B, C, H, W)``: 2-D FFT over (H, W), log amplitude, ``fftshift`` (DC in the centre, correct
for odd sizes too, unlike the original's roll by H/2), averaged over images and channels ("mean of log", the
original) or the log of the mean amplitude. Profiles are taken from DC to the corner along the diagonal (the
original: frequencies (k, k), reaching pi at the corner for even sizes) and as a radial average; both are
relative to DC ("delta log amplitude", :class:`hub.frequency.DeltaLogAmplitude`). Averaged over every image
of the evaluation set, not one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitModel
from hub.data import DataSpec
from hub.frequency import EPS, Average, DeltaLogAmplitude, log_amplitude
from training.analyze.inputs import Runtime, images_for


@dataclass(frozen=True)
class FourierSettings:
    average: Average = "mean-of-log"
    """average log amplitudes (the original) or take the log of the mean amplitude"""


@dataclass(frozen=True)
class UnitSpectrum:
    name: str
    kind: str
    depth: float
    amplitude: DeltaLogAmplitude

    @property
    def high_frequency(self) -> float:
        return self.amplitude.high_frequency


@dataclass(frozen=True)
class FourierResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    spectra: list[UnitSpectrum]
    """One per unit but the head, in order."""
    units: list[UnitInfo]
    mean_high_frequency_change_by_kind: dict[str, float]
    """The paper's claim in numbers: the mean change of the high-frequency value across units of each kind
    (negative: the unit removes high frequencies, i.e. acts as a low-pass filter)."""


@torch.no_grad()
def feature_map_spectra(model: UnitModel, loader, average: Average = "mean-of-log", device: str = "cpu",
                        progress: bool = True) -> list[UnitSpectrum]:
    """Delta log amplitude of every unit's output, averaged over all images of ``loader``."""
    model.eval().to(device)
    sums: dict[str, Tensor] = {}
    count = 0
    for images, _ in tqdm(loader, desc="fourier", unit="batch", disable=not progress):
        for name, fmap in model.forward_intermediates(images.to(device)).items():
            part = log_amplitude(fmap, average).cpu()
            sums[name] = sums[name] + part if name in sums else part
        count += len(images)
    spectra = []
    for info in model.unit_infos()[:-1]:
        spectrum = sums[info.name].double() / count
        if average == "log-of-mean":
            spectrum = torch.log(spectrum + EPS)
        spectra.append(UnitSpectrum(info.name, info.kind.value, info.depth, DeltaLogAmplitude.of(spectrum)))
    return spectra


def changes_by_kind(spectra: list[UnitSpectrum]) -> dict[str, float]:
    """Mean change of the high-frequency value from each unit's input to its output, per unit kind."""
    changes: dict[str, list[float]] = {}
    for before, after in pairwise(spectra):
        changes.setdefault(after.kind, []).append(after.high_frequency - before.high_frequency)
    return {k: sum(v) / len(v) for k, v in changes.items()}


def run(model: UnitModel, data: DataSpec, settings: FourierSettings, runtime: Runtime = Runtime()) -> FourierResult:
    spectra = feature_map_spectra(model, images_for(model, data), settings.average, runtime.device, runtime.progress)
    return FourierResult(spectra, model.unit_infos()[:-1], changes_by_kind(spectra))
