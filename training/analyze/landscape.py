"""Loss landscapes (the paper's Fig. 1a): the loss at ``theta + a d1 (+ b d2)`` on a 1-D or 2-D grid.

Directions are seeded Gaussians over the parameters (BatchNorm running statistics are never perturbed),
normalised per tensor in one of two ways:
- ``filter`` (Li et al. 2018): each output filter ``d[j]`` gets the norm of ``w[j]``;
- ``paper`` (the original code): norms taken with ``norm(dim=0)``, i.e. per slice across output filters,
  and position embeddings / relative-position tables are not perturbed.
Tensors with fewer than 2 dimensions (biases, norm affine parameters) are not perturbed in either mode.

Every grid point is evaluated on the same fixed batches (a chosen subset; optionally the training
augmentation with every draw seeded), reporting NLL and the regulariser separately. The grid is saved
after every point to a resumable file; a rerun with the same settings continues where it stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.analyze.hessian import LossSpec, l2_term
from training.augment import soft_target_cross_entropy

PAPER_FROZEN_KEYS = ("pos_embed", "relative_position", "relative_bias")


@dataclass(frozen=True)
class LandscapeSpec:
    dims: Literal[1, 2] = 2
    points: int = 21
    span: float = 1.0
    normalisation: Literal["filter", "paper"] = "filter"
    seed: int = 0
    l2: Literal["none", "half", "paper"] = "paper"
    weight_decay: float = 0.05

    @property
    def coordinates(self) -> list[float]:
        """``points`` values on [-span, span], always including 0 when ``points`` is odd."""
        return torch.linspace(-self.span, self.span, self.points, dtype=torch.float64).tolist()


def random_direction(model: nn.Module, normalisation: str, generator: torch.Generator) -> dict[str, Tensor]:
    """One normalised Gaussian direction per parameter tensor (zeros where the mode does not perturb)."""
    direction = {}
    for name, w in model.named_parameters():
        d = torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w)
        if w.ndim < 2 or (normalisation == "paper" and any(key in name for key in PAPER_FROZEN_KEYS)):
            d.zero_()
        elif normalisation == "filter":
            dims = tuple(range(1, w.ndim))
            norm = torch.linalg.vector_norm
            d *= norm(w.detach(), dim=dims, keepdim=True) / norm(d, dim=dims, keepdim=True).clamp(min=1e-12)
        else:
            d *= w.detach().norm(dim=0, keepdim=True) / d.norm(dim=0, keepdim=True).clamp(min=1e-12)
        direction[name] = d
    return direction


@torch.no_grad()
def loss_at(model: nn.Module, batches: list[tuple[Tensor, Tensor]], loss_spec: LossSpec) -> dict[str, float]:
    """Sample-weighted NLL and accuracy (against each target's arg-max) over ``batches``, and the regulariser."""
    nll = correct = count = 0.0
    for inputs, targets in batches:
        logits = model(inputs)
        nll += soft_target_cross_entropy(logits, targets).item() * len(inputs)
        correct += (logits.argmax(-1) == targets.argmax(-1)).sum().item()
        count += len(inputs)
    regulariser = l2_term(list(model.parameters()), loss_spec).item()
    return {"nll": nll / count, "regulariser": regulariser, "accuracy": correct / count}


class GridFile:
    """The self-describing, resumable grid: settings plus one value per point (``null`` = not yet done)."""

    def __init__(self, path: Path, settings: dict, shape: tuple[int, ...]) -> None:
        self.path, self.settings = path, settings
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved["settings"] != settings:
                raise ValueError(f"{path} holds a grid with other settings; delete it or choose another --out")
            self.values = saved["values"]
        else:
            size = math.prod(shape)
            self.values = {key: [None] * size for key in ("nll", "regulariser", "accuracy", "done")}

    def done(self, index: int) -> bool:
        return bool(self.values["done"][index])

    def record(self, index: int, values: dict[str, float]) -> None:
        """Non-finite values (a diverged point) are stored as ``null`` and plotted as gaps."""
        for key, value in values.items():
            self.values[key][index] = value if math.isfinite(value) else None
        self.values["done"][index] = True
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"settings": self.settings, "values": self.values}))
        tmp.replace(self.path)


def loss_landscape(model: nn.Module, batches: list[tuple[Tensor, Tensor]], spec: LandscapeSpec, grid_path: Path,
                   data_settings: dict, progress: bool = True) -> dict:
    """Evaluate the grid (resuming ``grid_path``), returning coordinates and NLL / regulariser / accuracy."""
    model.eval()
    generator = torch.Generator().manual_seed(spec.seed)
    directions = [random_direction(model, spec.normalisation, generator) for _ in range(spec.dims)]
    coords = spec.coordinates
    points = [(a,) for a in coords] if spec.dims == 1 else [(a, b) for b in coords for a in coords]
    grid = GridFile(grid_path, {"landscape": asdict(spec), "data": data_settings}, (len(points),))
    params = dict(model.named_parameters())
    base = {name: p.detach().clone() for name, p in params.items()}
    loss_spec = LossSpec(spec.l2, spec.weight_decay)
    todo = [i for i in range(len(points)) if not grid.done(i)]
    try:
        for index in tqdm(todo, desc="landscape", unit="point", disable=not progress):
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(base[name])
                    for alpha, direction in zip(points[index], directions, strict=True):
                        p.add_(direction[name], alpha=alpha)
            grid.record(index, loss_at(model, batches, loss_spec))
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(base[name])
    shape = (len(coords),) * spec.dims
    values = {key: torch.tensor([math.nan if v is None else v for v in vals], dtype=torch.float64).view(shape)
              for key, vals in grid.values.items() if key != "done"}
    centre = (len(coords) // 2,) * spec.dims
    return {"coordinates": coords, "nll": values["nll"], "regulariser": values["regulariser"],
            "accuracy": values["accuracy"], "loss": values["nll"] + values["regulariser"],
            "centre_nll": values["nll"][centre].item(), "points": len(points),
            "points_evaluated": len(todo)}  # the rest were resumed from grid_path


def plot_landscape(result: dict, spec: LandscapeSpec, title: str) -> plt.Figure:
    coords = result["coordinates"]
    if spec.dims == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(coords, result["nll"].tolist(), label="NLL")
        ax.plot(coords, result["loss"].tolist(), label=f"NLL + {spec.l2} L2")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("loss")
        ax.legend()
    else:
        fig = plt.figure(figsize=(12, 5))
        ax = fig.add_subplot(1, 2, 1)
        x, y = torch.meshgrid(torch.tensor(coords), torch.tensor(coords), indexing="xy")
        z = result["loss"]
        contour = ax.contour(x.numpy(), y.numpy(), z.numpy(), levels=20, cmap="plasma")
        ax.clabel(contour, fontsize=6)
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_title(f"NLL + {spec.l2} L2 (contours)")
        ax3d = fig.add_subplot(1, 2, 2, projection="3d")
        shifted = (z - torch.nan_to_num(z, nan=math.inf).min()).numpy()
        ax3d.plot_surface(x.numpy(), y.numpy(), shifted, cmap="plasma", linewidth=0)
        ax3d.set_title("surface (shifted to min 0)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
