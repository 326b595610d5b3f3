"""Lesion study: replace one residual unit at a time by its identity path; accuracy drop per unit vs depth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from training.analyze.inputs import NoSettings, Runtime, images_for


@dataclass(frozen=True)
class LesionedUnit:
    index: int
    name: str
    kind: str
    depth: float
    accuracy: float
    """Accuracy with this unit replaced by its identity path."""
    drop: float
    flip_rate: float
    """Share of images whose correctness the lesion changes: it bounds the variance of the per-image change, so
    ``sqrt(flip_rate / images)`` bounds the drop's standard error."""


@dataclass(frozen=True)
class LesionResult:
    SCHEMA_VERSION: ClassVar[int] = 2
    clean_accuracy: float
    images: int
    lesioned: list[LesionedUnit]
    """Every residual unit, in order."""
    units: list[UnitInfo]
    """Every unit of the model (for depth plots)."""


@torch.no_grad()
def correct(model: UnitIntrospection, batches: list, device: str = "cpu") -> torch.Tensor:
    """Per image, whether the model's top-1 prediction is right."""
    return torch.cat([model(images.to(device)).argmax(-1).cpu() == labels for images, labels in batches])


def lesion_study(model: UnitIntrospection, loader, device: str = "cpu", progress: bool = True) -> LesionResult:
    """Clean accuracy and, for every residual unit, the accuracy with that unit removed."""
    model.eval().to(device)
    batches = list(loader)
    clean = correct(model, batches, device)
    rows = []
    residual = [info for info in model.unit_infos() if info.residual]
    for info in tqdm(residual, desc="lesion", unit="unit", disable=not progress):
        with model.lesioned(info.index):
            lesioned = correct(model, batches, device)
        accuracy = lesioned.double().mean().item()
        rows.append(LesionedUnit(info.index, info.name, info.kind.value, info.depth, accuracy,
                                 clean.double().mean().item() - accuracy, (lesioned != clean).double().mean().item()))
    return LesionResult(clean.double().mean().item(), len(clean), rows, model.unit_infos())


def run(model: UnitIntrospection, data: DataSpec, settings: NoSettings, runtime: Runtime = Runtime()) -> LesionResult:
    return lesion_study(model, images_for(model, data), runtime.device, runtime.progress)
