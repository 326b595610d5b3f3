"""Mini-batch linear CKA between the outputs of all units (Nguyen, Raghu & Kornblith 2021).

For each batch, the unbiased HSIC estimator of every pair of units' linear Gram matrices is accumulated;
CKA(i, j) = sum HSIC(K_i, K_j) / sqrt(sum HSIC(K_i, K_i) * sum HSIC(K_j, K_j)). Batches need > 3 images.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from tqdm import tqdm

from hub import UnitModel


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
        features = model.forward_features(images.to(device))
        names = list(features)
        flat = [f.flatten(1).double() for f in features.values()]
        grams = torch.stack([f @ f.T for f in flat])
        hsic = unbiased_hsic_matrix(grams).cpu()
        total = hsic if total is None else total + hsic
    if total is None:
        raise ValueError("no batch of at least 4 images")
    norms = total.diagonal().clamp(min=1e-30).sqrt()
    return names, total / torch.outer(norms, norms)


def plot_cka(names: list[str], cka: Tensor, title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(cka.numpy(), cmap="magma", vmin=0, vmax=1, origin="lower")
    ticks = range(0, len(names), max(1, len(names) // 12))
    ax.set_xticks(list(ticks), [names[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), [names[i] for i in ticks], fontsize=7)
    fig.colorbar(image, ax=ax, label="linear CKA")
    ax.set_title(title)
    fig.tight_layout()
    return fig
