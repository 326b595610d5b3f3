"""Feature-map variance (the paper's Fig. 9): per unit, the variance over spatial positions of every
(image, channel) map, averaged over channels and over every image of the set (many batches)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitModel
from hub.data import DataSpec
from training.analyze.inputs import NoSettings, Runtime, images_for


@dataclass(frozen=True)
class VarianceResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    variance: dict[str, float]
    """Unit name -> mean feature-map variance (NaN for 1x1 maps)."""
    units: list[UnitInfo]
    mean_log_change_by_kind: dict[str, float]
    """Mean log-ratio of a unit's output variance to its input's, per unit kind (< 0: the kind reduces it)."""


def spatial_variance(fmap: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B,)``: unbiased variance over (H, W), averaged over channels (NaN for 1x1 maps)."""
    flat = fmap.flatten(2).double()
    if flat.shape[-1] < 2:
        return torch.full((fmap.shape[0],), float("nan"), dtype=torch.float64)
    return flat.var(-1, unbiased=True).mean(1)


@torch.no_grad()
def feature_map_variance(model: UnitModel, loader, device: str = "cpu", progress: bool = True) -> dict[str, float]:
    model.eval().to(device)
    sums: dict[str, float] = {}
    count = 0
    for images, _ in tqdm(loader, desc="variance", unit="batch", disable=not progress):
        for name, fmap in model.forward_intermediates(images.to(device)).items():
            sums[name] = sums.get(name, 0.0) + spatial_variance(fmap).sum().item()
        count += len(images)
    return {name: total / count for name, total in sums.items()}


def variance_changes_by_kind(infos: list[UnitInfo], variance: dict[str, float]) -> dict[str, float]:
    ratios: dict[str, list[float]] = {}
    for before, after in pairwise(infos):
        a, b = variance[before.name], variance[after.name]
        if a > 0 and b > 0:
            ratios.setdefault(after.kind.value, []).append(math.log(b / a))
    return {kind: sum(v) / len(v) for kind, v in ratios.items()}


def run(model: UnitModel, data: DataSpec, settings: NoSettings,
        runtime: Runtime = Runtime()) -> VarianceResult:
    values = feature_map_variance(model, images_for(model, data), runtime.device, runtime.progress)
    infos = model.unit_infos()[:-1]
    return VarianceResult(values, infos, variance_changes_by_kind(infos, values))
