"""Feature-map variance (the paper's Fig. 9): per unit, the variance over spatial positions of every
(image, channel) map, averaged over channels and over every image of the set (many batches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from training.analyze.inputs import NoSettings, Runtime, images_for, mine_of
from training.analyze.statistics import Estimate, bootstrap
from training.distributed import Distributed


@dataclass(frozen=True)
class VarianceResult:
    SCHEMA_VERSION: ClassVar[int] = 2
    variance: dict[str, float]
    """Unit name -> mean feature-map variance (NaN for 1x1 maps)."""
    units: list[UnitInfo]
    images: int
    log_change_by_kind: dict[str, Estimate]
    """Mean log-ratio of a unit's output variance to its input's, per unit kind (< 0: the kind reduces it), with
    its bootstrap standard error over images."""


def spatial_variance(fmap: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B,)``: unbiased variance over (H, W), averaged over channels (NaN for 1x1 maps)."""
    flat = fmap.flatten(2).double()
    if flat.shape[-1] < 2:
        return torch.full((fmap.shape[0],), float("nan"), dtype=torch.float64)
    return flat.var(-1, unbiased=True).mean(1)


@torch.no_grad()
def per_image_variance(model: UnitIntrospection, loader, device: str = "cpu", progress: bool = True,
                       dist: Distributed = Distributed()) -> dict[str, Tensor]:
    """Unit name -> ``(images,)`` feature-map variance of each image. Under torchrun each rank takes the batches
    ``b % world == rank`` and the values are gathered in batch order: exactly the single process's."""
    model.eval().to(device)
    rows: dict[int, dict[str, Tensor]] = {}
    for b, (images, _) in tqdm(mine_of(loader, dist), desc="variance", unit="batch",
                               disable=not (progress and dist.main)):
        rows[b] = {name: spatial_variance(fmap).cpu()
                   for name, fmap in model.unit_outputs(images.to(device)).items()}
    gathered = dist.gather(rows, len(loader))
    return {name: torch.cat([batch[name] for batch in gathered]) for name in gathered[0]}


def feature_map_variance(model: UnitIntrospection, loader, device: str = "cpu",
                         progress: bool = True) -> dict[str, float]:
    return {name: v.mean().item() for name, v in per_image_variance(model, loader, device, progress).items()}


def variance_changes_by_kind(infos: list[UnitInfo], per_image: dict[str, Tensor], seed: int = 0) -> dict[str, Estimate]:
    """Per kind, the mean over its units of log(output variance / input variance), bootstrapped over images."""
    columns = [per_image[info.name] for info in infos]
    means = [c.mean().item() for c in columns]
    groups: dict[str, list[int]] = {}
    for i in range(1, len(infos)):
        if means[i - 1] > 0 and means[i] > 0:  # NaN (1x1 maps) and empty maps fail both
            groups.setdefault(infos[i].kind.value, []).append(i)
    if not groups:
        return {}
    kinds = list(groups)

    def statistic(m: Tensor) -> Tensor:
        logs = m.clamp(min=1e-300).log()
        return torch.stack([(logs[:, groups[k]] - logs[:, [i - 1 for i in groups[k]]]).mean(1) for k in kinds], 1)

    samples = torch.nan_to_num(torch.stack(columns, 1), nan=0.0)
    value, se = bootstrap(samples, statistic, seed=seed)
    return {k: Estimate(value[j].item(), se[j].item()) for j, k in enumerate(kinds)}


def run(model: UnitIntrospection, data: DataSpec, settings: NoSettings,
        runtime: Runtime = Runtime()) -> VarianceResult:
    per_image = per_image_variance(model, images_for(model, data), runtime.device, runtime.progress, runtime.dist)
    infos = model.unit_infos()[:-1]
    return VarianceResult({info.name: per_image[info.name].mean().item() for info in infos}, infos,
                          len(per_image[infos[0].name]), variance_changes_by_kind(infos, per_image, data.seed))
