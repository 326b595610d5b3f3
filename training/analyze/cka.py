"""Mini-batch linear CKA between the outputs of all units (Nguyen, Raghu & Kornblith 2021).

For each batch, the unbiased HSIC estimator of every pair of units' linear Gram matrices is accumulated;
CKA(i, j) = sum HSIC(K_i, K_j) / sqrt(sum HSIC(K_i, K_i) * sum HSIC(K_j, K_j)). Batches need > 3 images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitModel
from hub.data import DataSpec
from training.analyze.inputs import NoSettings, Runtime, images_for


@dataclass(frozen=True)
class CkaResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    units: list[str]
    cka: list[list[float]]
    """``cka[i][j]`` between the outputs of units ``i`` and ``j``."""


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


@torch.no_grad()
def minibatch_cka(model: UnitModel, loader, device: str = "cpu", progress: bool = True) -> tuple[list[str], Tensor]:
    model.eval().to(device)
    total = None
    names: list[str] = []
    for images, _ in tqdm(loader, desc="cka", unit="batch", disable=not progress):
        if len(images) < 4:
            continue
        features = model.forward_intermediates(images.to(device))
        names = list(features)
        flat = [f.flatten(1).double() for f in features.values()]
        grams = torch.stack([f @ f.T for f in flat])
        hsic = unbiased_hsic_matrix(grams).cpu()
        total = hsic if total is None else total + hsic
    if total is None:
        raise ValueError("no batch of at least 4 images")
    norms = total.diagonal().clamp(min=1e-30).sqrt()
    return names, total / torch.outer(norms, norms)


def run(model: UnitModel, data: DataSpec, settings: NoSettings, runtime: Runtime = Runtime()) -> CkaResult:
    names, matrix = minibatch_cka(model, images_for(model, data), runtime.device, runtime.progress)
    return CkaResult(names, matrix.tolist())
