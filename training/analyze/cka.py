"""Mini-batch linear CKA between the outputs of all units (Nguyen, Raghu & Kornblith 2021).

For each batch, the unbiased HSIC estimator of every pair of units' linear Gram matrices is accumulated;
CKA(i, j) = sum HSIC(K_i, K_j) / sqrt(sum HSIC(K_i, K_i) * sum HSIC(K_j, K_j)). Batches need > 3 images.

The block structure (one block of similar representations per stage) is summarised by neighbours: the mean
CKA of consecutive units inside a stage against that of consecutive units on either side of a stage boundary,
with bootstrap standard errors over batches.

With ``--other B`` the same estimator compares two models (Kornblith et al. 2019, e.g. a ViT against a ResNet):
both see the same images, each through its own preprocessing (resolutions may differ: CKA compares the two
models' Gram matrices over the same examples), and the HSIC of every pair of units of either model is
accumulated at once, so the units(A) x units(B) block and A's own matrix come from the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from training.analyze.inputs import Runtime, images_for, load_model
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
class CkaSettings:
    other: str | None = None
    """a second model (short name, Hub repo, folder or architecture, loaded as --model is): also CKA between
    every unit of --model and every unit of this one, each model seeing the same images through its own
    preprocessing; none: CKA between the units of --model only"""
    other_pretrained: bool = False
    """load --other with its library's pretrained weights (timm:, torchvision: and factory models, as --pretrained
    does for --model)"""


@dataclass(frozen=True)
class CrossCka:
    """CKA between the units of the analysed model (rows) and those of another model (columns)."""

    source: str
    """Where the other model's weights came from."""
    architecture: str
    units: list[UnitInfo]
    """The other model's units (the columns)."""
    cka: list[list[float]]
    """``cka[i][j]`` between unit ``i`` of the analysed model and unit ``j`` of the other."""


@dataclass(frozen=True)
class CkaResult:
    SCHEMA_VERSION: ClassVar[int] = 3
    units: list[UnitInfo]
    cka: list[list[float]]
    """``cka[i][j]`` between the outputs of units ``i`` and ``j``."""
    blocks: StageBlocks | None = None
    """None for a single-stage model (or one batch)."""
    cross: CrossCka | None = None
    """With ``--other``: CKA between this model's units and the other's."""


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


def unit_grams(model: UnitIntrospection, images: Tensor, device: str = "cpu") -> tuple[list[str], Tensor]:
    """Unit names and the ``(U, n, n)`` linear Gram matrices of their flattened outputs (float64)."""
    features = model.unit_outputs(images.to(device))
    flat = [f.flatten(1).double() for f in features.values()]
    return list(features), torch.stack([f @ f.T for f in flat])


@torch.no_grad()
def joint_batch_hsic(models: Sequence[UnitIntrospection], loaders: Sequence, device: str = "cpu",
                     progress: bool = True) -> tuple[list[list[str]], Tensor]:
    """Each model's unit names and the ``(batches, U, U)`` unbiased HSIC between all units of all the models
    (in model order), per batch of at least 4 images. ``loaders[m]`` yields the images for ``models[m]``: the
    same images in the same batches (labels are checked), each preprocessed for its own model."""
    for model in models:
        model.eval().to(device)
    per_batch = []
    names: list[list[str]] = []
    for batches in tqdm(zip(*loaders, strict=True), desc="cka", unit="batch", total=len(loaders[0]),
                        disable=not progress):
        if any(not torch.equal(labels, batches[0][1]) for _, labels in batches):
            raise ValueError("the models' loaders do not yield the same images in the same order")
        if len(batches[0][0]) < 4:
            continue
        parts = [unit_grams(model, images, device) for model, (images, _) in zip(models, batches, strict=True)]
        names = [unit_names for unit_names, _ in parts]
        per_batch.append(unbiased_hsic_matrix(torch.cat([grams for _, grams in parts])).cpu())
    if not per_batch:
        raise ValueError("no batch of at least 4 images")
    return names, torch.stack(per_batch)


def batch_hsic(model: UnitIntrospection, loader, device: str = "cpu",
               progress: bool = True) -> tuple[list[str], Tensor]:
    """Unit names and the ``(batches, U, U)`` unbiased HSIC of every batch of at least 4 images."""
    names, hsic = joint_batch_hsic([model], [loader], device, progress)
    return names[0], hsic


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


def _infos(model: UnitIntrospection, names: list[str]) -> list[UnitInfo]:
    return [info for info in model.unit_infos() if info.name in names]


def compare_units(model: UnitIntrospection, data: DataSpec, runtime: Runtime = Runtime(),
                  other: UnitIntrospection | None = None) -> CkaResult:
    """CKA between the units of ``model`` and, given ``other``, between its units and ``other``'s."""
    models = [model] if other is None else [model, other]
    names, hsic = joint_batch_hsic(models, [images_for(m, data) for m in models], runtime.device, runtime.progress)
    size = len(names[0])
    cka = cka_from_hsic(hsic.sum(0))
    infos = _infos(model, names[0])
    cross = None if other is None else CrossCka(other.source, other.config.architecture, _infos(other, names[1]),
                                                cka[:size, size:].tolist())
    return CkaResult(infos, cka[:size, :size].tolist(), stage_blocks(infos, hsic[:, :size, :size], data.seed),
                     cross)


def run(model: UnitIntrospection, data: DataSpec, settings: CkaSettings, runtime: Runtime = Runtime()) -> CkaResult:
    """CKA of ``model``'s units and, with ``--other``, against that model's (built with its own number of classes:
    heads are left out of CKA)."""
    other = load_model(settings.other, None, settings.other_pretrained) if settings.other else None
    return compare_units(model, data, runtime, other)
