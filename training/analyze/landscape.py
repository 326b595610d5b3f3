"""Loss landscapes (the paper's Fig. 1a): the loss at ``theta + a d1 (+ b d2)`` on a 1-D or 2-D grid.

Directions are seeded Gaussians over the parameters (BatchNorm running statistics are never perturbed),
normalised per tensor in one of two ways:
- ``filter`` (Li et al. 2018): each output filter ``d[j]`` gets the norm of ``w[j]``;
- ``paper`` (the original code): norms taken with ``norm(dim=0)``, i.e. per slice across output filters,
  and what the model declares as position embeddings / relative-position tables (``ParamRole.POSITION``)
  is not perturbed.
Tensors with fewer than 2 dimensions (biases, norm affine parameters) are not perturbed in either mode.

Every grid point is evaluated on the same fixed batches (a chosen subset; optionally the training
augmentation with every draw seeded), reporting NLL and the regulariser separately. The grid is saved
after every point to a resumable file; a rerun with the same settings continues where it stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn
from tqdm import tqdm

from hub import UnitIntrospection
from hub.data import DataSpec
from hub.files import atomic_path
from hub.layers import ParamRole, parameter_roles
from training.analyze.hessian import L2, LossSpec, l2_term
from training.analyze.inputs import Runtime, loss_batches
from training.augment import soft_target_cross_entropy
from training.distributed import Distributed
from training.recipes import RECIPES, get_recipe


@dataclass(frozen=True)
class LandscapeSettings:
    dims: Literal[1, 2] = 2
    """1-D or 2-D grid"""
    points: int = 21
    """grid points per axis (21, as the paper)"""
    span: float = 1.0
    """the grid covers [-span, span]"""
    normalisation: Literal["filter", "paper"] = "filter"
    """filter: Li et al. per output filter; paper: the original's norm(dim=0) variant"""
    augment: str = field(default="none", metadata={"choices": ["none", *RECIPES]})
    """evaluate on seeded training augmentation of this recipe (the paper: paper)"""
    l2: L2 = "paper"
    """regulariser reported beside the NLL: paper (the original's), half or none"""
    weight_decay: float = 0.05
    """weight decay of the L2 term"""

    @property
    def coordinates(self) -> list[float]:
        """``points`` values on [-span, span], always including 0 when ``points`` is odd."""
        return torch.linspace(-self.span, self.span, self.points, dtype=torch.float64).tolist()


@dataclass(frozen=True)
class LandscapeResult:
    SCHEMA_VERSION: ClassVar[int] = 1
    coordinates: list[float]
    shape: tuple[int, ...]
    """Grid shape: ``(points,)`` or ``(points, points)`` (second axis: direction 1)."""
    nll: list[float]
    """Row-major over ``shape``, like every grid below; NaN where a point diverged."""
    regulariser: list[float]
    accuracy: list[float]
    centre_nll: float
    points: int
    points_evaluated: int
    """Points computed in this run; the others were resumed from the grid file."""

    @property
    def loss(self) -> list[float]:
        return [n + r for n, r in zip(self.nll, self.regulariser, strict=True)]

    def grid(self, values: list[float]) -> Tensor:
        return torch.tensor(values, dtype=torch.float64).view(self.shape)


def random_direction(model: nn.Module, normalisation: str, generator: torch.Generator) -> dict[str, Tensor]:
    """One normalised Gaussian direction per parameter tensor (zeros where the mode does not perturb)."""
    fixed = {n for n, role in parameter_roles(model).items() if role is ParamRole.POSITION}
    direction = {}
    for name, w in model.named_parameters():
        d = torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w)
        if w.ndim < 2 or (normalisation == "paper" and name in fixed):
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

    def __init__(self, path: Path | None, settings: dict, shape: tuple[int, ...]) -> None:
        self.path, self.settings = path, settings
        if path is not None and path.is_file():
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
        if self.path is not None:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"settings": self.settings, "values": self.values}))


def loss_landscape(model: nn.Module, batches: list[tuple[Tensor, Tensor]], settings: LandscapeSettings, seed: int,
                   grid_path: Path | None, data_settings: dict, progress: bool = True,
                   dist: Distributed = Distributed()) -> LandscapeResult:
    """Evaluate the grid (resuming ``grid_path`` when given), returning NLL / regulariser / accuracy per point.

    Under torchrun each rank evaluates the points ``i % world == rank`` into its own grid file (every rank draws
    the same directions from ``seed``), and the values are gathered into one grid."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    directions = [random_direction(model, settings.normalisation, generator) for _ in range(settings.dims)]
    coords = settings.coordinates
    points = [(a,) for a in coords] if settings.dims == 1 else [(a, b) for b in coords for a in coords]
    grid = GridFile(grid_path, {"landscape": {**asdict(settings), "seed": seed}, "data": data_settings},
                    (len(points),))
    params = dict(model.named_parameters())
    base = {name: p.detach().clone() for name, p in params.items()}
    loss_spec = LossSpec(settings.l2, settings.weight_decay)
    mine = dist.mine(len(points))
    todo = [i for i in mine if not grid.done(i)]
    try:
        for index in tqdm(todo, desc="landscape", unit="point", disable=not (progress and dist.main)):
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
    keys = [key for key in grid.values if key != "done"]
    gathered = dist.gather({i: [grid.values[key][i] for key in keys] for i in mine}, len(points))
    values = {key: [math.nan if point[k] is None else point[k] for point in gathered] for k, key in enumerate(keys)}
    todo_count = int(dist.all_sum([float(len(todo))])[0])
    shape = (len(coords),) * settings.dims
    centre = sum(len(coords) // 2 * len(coords) ** i for i in range(settings.dims))  # row-major index of (0, 0)
    return LandscapeResult(coords, shape, values["nll"], values["regulariser"], values["accuracy"],
                           values["nll"][centre], len(points), todo_count)


def run(model: UnitIntrospection, data: DataSpec, settings: LandscapeSettings,
        runtime: Runtime = Runtime()) -> LandscapeResult:
    augment = None if settings.augment == "none" else get_recipe(settings.augment)
    batches = loss_batches(model, data, augment)
    dist = runtime.dist
    shard = f".rank{dist.rank}-of-{dist.world}" if dist.world > 1 else ""
    grid = runtime.workdir / f"landscape_grid_{settings.dims}d{shard}.json" if runtime.workdir is not None else None
    if grid is not None:
        grid.parent.mkdir(parents=True, exist_ok=True)
    provenance = {"model": model.source, "data": data.describe(), "augmentation": settings.augment}
    return loss_landscape(model, batches, settings, data.seed, grid, provenance, runtime.progress, dist)
