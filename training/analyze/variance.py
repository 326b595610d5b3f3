"""Feature-map variance (the paper's Fig. 9): per unit, the variance over spatial positions of every
(image, channel) map, averaged over channels and over every image of the set (many batches)."""

from __future__ import annotations

from itertools import pairwise

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitModel
from training.analyze.common import depth_plot


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
        for name, fmap in model.forward_features(images.to(device)).items():
            sums[name] = sums.get(name, 0.0) + spatial_variance(fmap).sum().item()
        count += len(images)
    return {name: total / count for name, total in sums.items()}


def plot_variance(model: UnitModel, variance: dict[str, float], title: str) -> plt.Figure:
    infos = model.unit_infos()[:-1]
    fig, ax = plt.subplots(figsize=(7, 4))
    depth_plot(ax, infos, [variance[i.name] for i in infos], "feature-map variance")
    ax.set_yscale("log")
    ax.set_title(title + " (grey: MSA, purple: pooling)")
    fig.tight_layout()
    return fig


def variance_changes_by_kind(model: UnitModel, variance: dict[str, float]) -> dict[str, float]:
    """Mean log-ratio of a unit's output variance to its input's, per unit kind (< 0: the kind reduces it)."""
    infos = model.unit_infos()[:-1]
    ratios: dict[str, list[float]] = {}
    for before, after in pairwise(infos):
        a, b = variance[before.name], variance[after.name]
        if a > 0 and b > 0:
            ratios.setdefault(after.kind.value, []).append(float(torch.log(torch.tensor(b / a))))
    return {kind: sum(v) / len(v) for kind, v in ratios.items()}
