"""Lesion study: replace one residual unit at a time by its identity path; accuracy drop per unit vs depth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from tqdm import tqdm

from hub import UnitModel
from training.analyze.common import KIND_COLOURS, shade_units


@torch.no_grad()
def accuracy(model: UnitModel, batches: list, device: str = "cpu") -> float:
    correct = total = 0
    for images, labels in batches:
        correct += (model(images.to(device)).argmax(-1).cpu() == labels).sum().item()
        total += len(labels)
    return correct / total


def lesion_study(model: UnitModel, loader, device: str = "cpu", progress: bool = True) -> dict:
    """Clean accuracy and, for every residual unit, the accuracy with that unit removed."""
    model.eval().to(device)
    batches = list(loader)
    clean = accuracy(model, batches, device)
    rows = []
    residual = [info for info in model.unit_infos() if info.residual]
    for info in tqdm(residual, desc="lesion", unit="unit", disable=not progress):
        with model.lesioned(info.index):
            lesioned = accuracy(model, batches, device)
        rows.append({"index": info.index, "name": info.name, "kind": info.kind.value, "depth": info.depth,
                     "accuracy": lesioned, "drop": clean - lesioned})
    return {"clean_accuracy": clean, "images": sum(len(b[1]) for b in batches), "units": rows}


def plot_lesion(model: UnitModel, result: dict, title: str) -> plt.Figure:
    infos = model.unit_infos()
    fig, ax = plt.subplots(figsize=(8, 4))
    shade_units(ax, infos)
    width = 0.8 / max(len(infos) - 1, 1)
    by_kind = {}
    for row in result["units"]:
        info = infos[row["index"]]
        by_kind[info.kind] = ax.bar(row["depth"], 100 * row["drop"], width=width, color=KIND_COLOURS[info.kind])
    ax.legend(by_kind.values(), [k.value for k in by_kind], fontsize=8)
    ax.set_xlabel("normalised depth of the removed unit")
    ax.set_ylabel("accuracy drop (pp)")
    ax.set_title(f"{title}: clean accuracy {100 * result['clean_accuracy']:.1f}%")
    fig.tight_layout()
    return fig
