"""Fourier analysis of feature maps (the paper's Fig. 2a and 8): relative log amplitude of every unit's output.

Per unit output ``(B, C, H, W)``: 2-D FFT over (H, W), log amplitude, ``fftshift`` (DC in the centre, correct
for odd sizes too, unlike the original's roll by H/2), averaged over images and channels ("mean of log", the
original) or the log of the mean amplitude. Profiles are taken from DC to the corner along the diagonal (the
original: frequencies (k, k)) and as a radial average; both are relative to DC ("delta log amplitude",
:class:`hub.frequency.DeltaLogAmplitude`). Averaged over every image of the evaluation set, not one image.

"The highest frequency" is either the bin the original's Fig. 8 plots, (h/2 - 1, h/2 - 1), which its axis
labels 1.0 pi, or the true Nyquist corner (``--point``); both are kept per unit. A unit that changes the map's
resolution (a stride-2 conv, a pooling or merging step) changes what "pi" means, since the map halves, so the
per-kind changes are taken over the units that keep resolution and those that change it are reported apart.
Each per-kind change has a bootstrap standard error over images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from hub.frequency import EPS, Average, DeltaLogAmplitude, HighFrequency, diagonal_step, log_amplitude
from training.analyze.inputs import Runtime, images_for, mine_of
from training.analyze.statistics import Estimate, bootstrap
from training.distributed import Distributed


@dataclass(frozen=True)
class FourierSettings:
    average: Average = "mean-of-log"
    """average log amplitudes (the original) or take the log of the mean amplitude"""
    point: HighFrequency = "paper"
    """the high-frequency value: paper: the bin (h/2-1, h/2-1) the original's Fig. 8 plots (its "1.0pi");
    nyquist: the true corner (pi, pi)"""


@dataclass(frozen=True)
class UnitSpectrum:
    name: str
    kind: str
    depth: float
    amplitude: DeltaLogAmplitude
    paper_point: float
    """Delta log amplitude at the original's Fig. 8 bin."""
    nyquist: float
    """Delta log amplitude at the Nyquist corner."""
    keeps_resolution: bool
    """The unit's output map has its input's size (False for the stem and for stride-2 / pooling units)."""

    def at(self, point: HighFrequency) -> float:
        return self.paper_point if point == "paper" else self.nyquist


@dataclass(frozen=True)
class KindChange:
    """The mean change of the high-frequency value from input to output over the units of one kind."""

    kind: str
    units: int
    change: Estimate
    """Mean over those units, with its bootstrap standard error over images."""


@dataclass(frozen=True)
class FourierResult:
    SCHEMA_VERSION: ClassVar[int] = 2
    spectra: list[UnitSpectrum]
    """One per unit but the head, in order."""
    units: list[UnitInfo]
    point: HighFrequency
    """Which bin the changes below are measured at."""
    images: int
    changes: list[KindChange]
    """The paper's claim in numbers, over the units that keep resolution (negative: the kind removes high
    frequencies, i.e. acts as a low-pass filter)."""
    resolution_changing: list[KindChange]
    """The same over the units that change resolution (where input and output "pi" differ), by kind."""

    def change(self, kind: str) -> Estimate | None:
        return next((c.change for c in self.changes if c.kind == kind), None)


@dataclass(frozen=True)
class _Collected:
    spectra: list[UnitSpectrum]
    per_image: Tensor
    """``(images, units, 2)``: each image's channel-mean value (log amplitude or amplitude) at DC and at the
    chosen high-frequency bin of every unit."""


@torch.no_grad()
def _collect(model: UnitIntrospection, loader, average: Average, point: HighFrequency, device: str,
             progress: bool, dist: Distributed = Distributed()) -> _Collected:
    """Under torchrun each rank takes the batches ``b % world == rank``; sums are all-reduced and per-image
    values gathered in batch order, so the result is the single process's (up to summation order)."""
    model.eval().to(device)
    batches = mine_of(loader, dist)
    sums: dict[str, Tensor] = {}
    rows: dict[int, Tensor] = {}
    for b, (images, _) in tqdm(batches, desc="fourier", unit="batch", disable=not (progress and dist.main)):
        per_unit = []
        for name, fmap in model.unit_outputs(images.to(device)).items():
            values = log_amplitude(fmap, average, per_image=True).cpu().double()  # (B, H, W), shifted
            sums[name] = sums[name] + values.sum(0) if name in sums else values.sum(0)
            h, w = values.shape[-2:]
            step = diagonal_step((h, w), point)
            per_unit.append(torch.stack([values[:, h // 2, w // 2], values[:, h // 2 - step, w // 2 - step]], -1))
        rows[b] = torch.stack(per_unit, 1)
    per_image = torch.cat(dist.gather(rows, len(loader)))
    count = len(per_image)
    spectra, previous = [], None
    for info in model.unit_infos()[:-1]:
        spectrum = dist.sum(sums[info.name]) / count
        if average == "log-of-mean":
            spectrum = torch.log(spectrum + EPS)
        amplitude = DeltaLogAmplitude.of(spectrum)
        keeps = previous is not None and amplitude.size == previous
        spectra.append(UnitSpectrum(info.name, info.kind.value, info.depth, amplitude, amplitude.at("paper"),
                                    amplitude.at("nyquist"), keeps))
        previous = amplitude.size
    return _Collected(spectra, per_image)


def feature_map_spectra(model: UnitIntrospection, loader, average: Average = "mean-of-log", device: str = "cpu",
                        progress: bool = True) -> list[UnitSpectrum]:
    """Delta log amplitude of every unit's output, averaged over all images of ``loader``."""
    return _collect(model, loader, average, "paper", device, progress).spectra


def kind_changes(collected: _Collected, average: Average, keeps_resolution: bool, seed: int = 0) -> list[KindChange]:
    """Per unit kind, the mean change of the high-frequency value from each unit's input to its output, over the
    units that keep (or change) resolution, with a bootstrap standard error over images."""
    spectra = collected.spectra
    groups: dict[str, list[int]] = {}
    for i in range(1, len(spectra)):
        if spectra[i].keeps_resolution == keeps_resolution:
            groups.setdefault(spectra[i].kind, []).append(i)
    if not groups:
        return []
    kinds = list(groups)

    def statistic(means: Tensor) -> Tensor:  # (r, units * 2) -> (r, kinds)
        values = means.view(len(means), len(spectra), 2)
        if average == "log-of-mean":
            values = torch.log(values + EPS)
        high = values[..., 1] - values[..., 0]
        return torch.stack([(high[:, groups[k]] - high[:, [i - 1 for i in groups[k]]]).mean(1) for k in kinds], 1)

    value, se = bootstrap(collected.per_image.flatten(1), statistic, seed=seed)
    return [KindChange(k, len(groups[k]), Estimate(value[j].item(), se[j].item())) for j, k in enumerate(kinds)]


def run(model: UnitIntrospection, data: DataSpec, settings: FourierSettings,
        runtime: Runtime = Runtime()) -> FourierResult:
    collected = _collect(model, images_for(model, data), settings.average, settings.point, runtime.device,
                         runtime.progress, runtime.dist)
    return FourierResult(collected.spectra, model.unit_infos()[:-1], settings.point, len(collected.per_image),
                         kind_changes(collected, settings.average, True, data.seed),
                         kind_changes(collected, settings.average, False, data.seed))
