"""Mini-batch linear CKA between the outputs of all units (Nguyen, Raghu & Kornblith 2021).

For each batch, the unbiased HSIC estimator of every pair of units' linear Gram matrices is accumulated;
CKA(i, j) = sum HSIC(K_i, K_j) / sqrt(sum HSIC(K_i, K_i) * sum HSIC(K_j, K_j)). Batches need > 3 images.

The block structure (one block of similar representations per stage) is summarised by neighbours: the mean
CKA of consecutive units inside a stage against that of consecutive units on either side of a stage boundary,
with bootstrap standard errors over batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from training.analyze.inputs import NoSettings, Runtime, images_for
from training.analyze.statistics import Estimate, bootstrap


@dataclass(frozen=True)
class StageBlocks:
    within: Estimate
    """Mean CKA of consecutive units of the same stage."""
    boundary: Estimate
    """Mean CKA of consecutive units of different stages (stem and head excluded)."""
    contrast: Estimate
    """``within - boundary``: > 0 when each stage forms a block."""
    batches: int


@dataclass(frozen=True)
class CkaResult:
    SCHEMA_VERSION: ClassVar[int] = 2
    units: list[str]
    cka: list[list[float]]
    """``cka[i][j]`` between the outputs of units ``i`` and ``j``."""
    blocks: StageBlocks | None = None
    """None for a single-stage model (or one batch)."""


def unbiased_hsic_matrix(grams: Tensor) -> Tensor:
    """``(U, n, n)`` Gram matrices -> ``(U, U)`` unbiased HSIC of every pair (Song et al. 2012)."""
    n = grams.shape[-1]
    if n < 4:
        raise ValueError(f"unbiased HSIC needs batches of at least 4 images, got {n}")
    k = grams.clone()
    k.diagonal(dim1=-2, dim2=-1).zero_()
    flat = k.flatten(1)
    trace_term = flat @ flat.T  # tr(K~ L~) for symmetric K~, L~
    sums = k.sum((1, 2))
    rows = k.sum(2)  # K~ 1
    hsic = trace_term + torch.outer(sums, sums) / ((n - 1) * (n - 2)) - 2 / (n - 2) * rows @ rows.T
    return hsic / (n * (n - 3))


def cka_from_hsic(hsic: Tensor) -> Tensor:
    """``(..., U, U)`` summed HSIC -> CKA."""
    norms = hsic.diagonal(dim1=-2, dim2=-1).clamp(min=1e-30).sqrt()
    return hsic / (norms[..., :, None] * norms[..., None, :])


@torch.no_grad()
def batch_hsic(model: UnitIntrospection, loader, device: str = "cpu",
               progress: bool = True) -> tuple[list[str], Tensor]:
    """Unit names and the ``(batches, U, U)`` unbiased HSIC of every batch of at least 4 images."""
    model.eval().to(device)
    per_batch = []
    names: list[str] = []
    for images, _ in tqdm(loader, desc="cka", unit="batch", disable=not progress):
        if len(images) < 4:
            continue
        features = model.unit_outputs(images.to(device))
        names = list(features)
        flat = [f.flatten(1).double() for f in features.values()]
        grams = torch.stack([f @ f.T for f in flat])
        per_batch.append(unbiased_hsic_matrix(grams).cpu())
    if not per_batch:
        raise ValueError("no batch of at least 4 images")
    return names, torch.stack(per_batch)


def minibatch_cka(model: UnitIntrospection, loader, device: str = "cpu",
                  progress: bool = True) -> tuple[list[str], Tensor]:
    names, hsic = batch_hsic(model, loader, device, progress)
    return names, cka_from_hsic(hsic.sum(0))


def stage_blocks(infos: list[UnitInfo], hsic: Tensor, seed: int = 0) -> StageBlocks | None:
    """Neighbours within a stage against neighbours across a stage boundary, bootstrapped over batches."""
    pairs = list(pairwise(infos[1:]))  # the stem left out; ``infos`` has no head
    within = [(a.index, b.index) for a, b in pairs if a.stage == b.stage]
    boundary = [(a.index, b.index) for a, b in pairs if a.stage != b.stage]
    if not within or not boundary or len(hsic) < 2:
        return None
    size = hsic.shape[-1]

    def statistic(means: Tensor) -> Tensor:
        cka = cka_from_hsic(means.view(len(means), size, size))
        w = torch.stack([cka[:, i, j] for i, j in within], 1).mean(1)
        b = torch.stack([cka[:, i, j] for i, j in boundary], 1).mean(1)
        return torch.stack([w, b, w - b], 1)

    value, se = bootstrap(hsic.flatten(1), statistic, seed=seed)
    within_e, boundary_e, contrast = (Estimate(v.item(), e.item()) for v, e in zip(value, se, strict=True))
    return StageBlocks(within_e, boundary_e, contrast, len(hsic))


def run(model: UnitIntrospection, data: DataSpec, settings: NoSettings, runtime: Runtime = Runtime()) -> CkaResult:
    names, hsic = batch_hsic(model, images_for(model, data), runtime.device, runtime.progress)
    infos = [info for info in model.unit_infos() if info.name in names]
    return CkaResult(names, cka_from_hsic(hsic.sum(0)).tolist(), stage_blocks(infos, hsic, data.seed))
