"""Block introspection: every network in the zoo is an ordered chain of *units*.

A unit is one step an analysis can look at: the stem, each residual unit (a Conv block, an MSA or MLP
sub-block), a pooling/merging step, and the head. Models are written as ``UnitModel(units)`` so that
``forward`` is literally the chain, which gives analyses (Fourier spectra, variance, lesion, CKA) one
generic entry point with no per-family code: ``unit_outputs`` returns every unit's output as an NCHW map,
whatever the unit's own layout. A model that is not written this way (a timm or torchvision network, one's
own) gets the same interface from a description of its units (:mod:`hub.describe`); the analyses take either
through :class:`UnitIntrospection`.

Where we use timm's words they keep timm's meaning (:class:`UnitModel`): ``feature_info`` lists the feature
points, which are unit outputs (one per block of a single-stage network, ViT and Mixer; one per stage
otherwise, the stem included for convolutional networks), ``forward_intermediates`` returns the final features
and the maps at chosen points, ``forward_head`` pools and classifies. The one place where our points cannot be
timm's: its ResNet stem point is before the stem's max-pool, ours after it (the max-pool is in our stem unit).

The unit contract, for the author of a new family (one module in ``hub/models/``):

- ``kind``: ``stem`` (first unit), ``conv``, ``msa``, ``mlp``, ``pool`` (any resolution or width change that
  is not residual: max-pool, patch merging, token pooling, blur) and ``head`` (last unit, returns logits).
  The paper's claims are judged per kind, so an attention block is ``msa`` and a channel MLP is ``mlp``.
- the head splits as timm splits a classifier (:class:`hub.models.heads.Head`): ``norm`` (the final norm, an
  identity where there is none), ``pre_logits`` (pooling and hidden layers) and ``fc``.
- ``stage``: 0 for the stem, then 1, 2, ... for each resolution stage, the head last. Unit names are
  ``s{stage}.{index within the stage}.{kind}`` (``stem``, ``head``), stable across releases.
- ``layout``: how the unit's output maps onto a grid: ``nchw`` (conv maps), ``nhwc`` (channels-last maps)
  or ``tokens`` (``(B, prefix + H*W, C)``, with the grid and the number of non-spatial prefix tokens).
- residual units subclass :class:`Residual` (or :class:`PreActResidual`), whose ``identity_path`` is what the
  lesion study runs in place of the unit.
- a module that owns a position embedding, a relative-position table or a learned token declares it in
  ``param_roles`` (:class:`ParamRole`): such parameters take no weight decay with the DeiT/timm groups, and
  position parameters stay fixed in the original's landscape normalisation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from hub.config import ModelConfig
from hub.layers import DropPath
from hub.layers.roles import parameter_roles


class UnitKind(StrEnum):
    STEM = "stem"
    CONV = "conv"
    MSA = "msa"
    MLP = "mlp"
    POOL = "pool"
    HEAD = "head"


@dataclass(frozen=True)
class MapLayout:
    """How a unit's output tensor maps onto a spatial grid.

    ``nchw`` is a conv map, ``nhwc`` a channels-last map (Swin), ``tokens`` a ``(B, prefix + H*W, C)``
    sequence whose first ``prefix`` tokens (CLS) are not spatial.
    """

    kind: str = "nchw"
    grid: tuple[int, int] | None = None
    """The token grid; ``None``: square, from the number of tokens (a model that takes several input sizes)."""
    prefix: int = 0

    def to_map(self, y: Tensor) -> Tensor:
        if self.kind == "nchw":
            return y
        if self.kind == "nhwc":
            return y.permute(0, 3, 1, 2)
        if self.kind == "tokens":
            tokens = y[:, self.prefix :]
            h, w = self.grid or _square(tokens.shape[1])
            return tokens.transpose(1, 2).reshape(y.shape[0], y.shape[-1], h, w)
        raise ValueError(f"unknown layout {self.kind!r}")


NCHW = MapLayout()


def _square(n: int) -> tuple[int, int]:
    side = round(n**0.5)
    if side * side != n:
        raise ValueError(f"{n} tokens are not a square grid: give the layout its grid")
    return side, side


class Unit(nn.Module):
    """Base class of every unit: a module with a kind, a stage index and an output layout.

    Residual units override ``identity_path`` (what the unit computes when its residual branch is
    removed) and set ``residual = True``; the lesion study uses exactly that.
    """

    residual: bool = False

    def __init__(self, kind: UnitKind | str, stage: int, layout: MapLayout = NCHW) -> None:
        super().__init__()
        self.kind = UnitKind(kind)
        self.stage = stage
        self.layout = layout

    def identity_path(self, x: Tensor) -> Tensor:
        raise TypeError(f"{type(self).__name__} is not a residual unit")


class Residual(Unit):
    """``x -> shortcut(x) + drop_path(branch(x))``, the shape of every pre-norm / pre-act unit."""

    residual = True

    def __init__(self, kind: UnitKind | str, stage: int, branch: nn.Module, shortcut: nn.Module | None = None,
                 drop_path: float = 0.0, layout: MapLayout = NCHW) -> None:
        super().__init__(kind, stage, layout)
        self.branch = branch
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.drop_path(self.branch(x))

    def identity_path(self, x: Tensor) -> Tensor:
        return self.shortcut(x)


class SequentialUnit(Unit):
    """A non-residual unit made of layers applied in order (stems, plain conv layers, pools, heads)."""

    def __init__(self, kind: UnitKind | str, stage: int, *layers: nn.Module, layout: MapLayout = NCHW) -> None:
        super().__init__(kind, stage, layout)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class PostActResidual(Residual):
    """``relu(shortcut(x) + branch(x))``: the original (post-activation) ResNet unit."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).relu()

    def identity_path(self, x: Tensor) -> Tensor:
        return self.shortcut(x).relu()


class PreActResidual(Unit):
    """``shortcut(a) + branch(a)`` with ``a = act(norm(x))`` shared by both paths (pre-activation ResNet).

    An identity shortcut takes ``x`` itself, a projection takes the pre-activated ``a``, as in He et al.'s
    identity-mappings paper.
    """

    residual = True

    def __init__(self, kind: UnitKind | str, stage: int, preact: nn.Module, branch: nn.Module,
                 shortcut: nn.Module | None = None, drop_path: float = 0.0) -> None:
        super().__init__(kind, stage)
        self.preact = preact
        self.branch = branch
        self.shortcut = shortcut
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        a = self.preact(x)
        skip = x if self.shortcut is None else self.shortcut(a)
        return skip + self.drop_path(self.branch(a))

    def identity_path(self, x: Tensor) -> Tensor:
        return x if self.shortcut is None else self.shortcut(self.preact(x))


class Permute(nn.Module):
    """Reorder dimensions, e.g. NCHW <-> NHWC around channels-last layers."""

    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


@dataclass(frozen=True)
class UnitInfo:
    index: int
    name: str
    kind: UnitKind
    stage: int
    depth: float
    """Normalised depth in [0, 1] (index / (number of units - 1)), the x-axis of the paper's plots."""
    residual: bool


def chain_infos(units: Sequence[tuple[UnitKind, int, bool]]) -> list[UnitInfo]:
    """Infos of a chain of ``(kind, stage, residual)`` units: names ``s{stage}.{index in stage}.{kind}`` (``stem``,
    ``head``) and depths spread evenly over [0, 1]."""
    infos, per_stage = [], {}
    last = max(len(units) - 1, 1)
    for i, (kind, stage, residual) in enumerate(units):
        if kind in (UnitKind.STEM, UnitKind.HEAD):
            name = kind.value
        else:
            k = per_stage.get(stage, 0)
            per_stage[stage] = k + 1
            name = f"s{stage}.{k}.{kind.value}"
        infos.append(UnitInfo(i, name, kind, stage, i / last, residual))
    return infos


@runtime_checkable
class UnitIntrospection(Protocol):
    """What the analyses, the report and the service's diagnostics need from a model: a
    :class:`UnitModel`, or any module wrapped with a description of its units (:class:`hub.describe.DescribedModel`).
    """

    config: ModelConfig
    source: str
    folder: Path | None

    def __call__(self, x: Tensor) -> Tensor: ...

    def unit_infos(self) -> list[UnitInfo]: ...

    def unit_outputs(self, x: Tensor, indices: Sequence[int] | None = None,
                     include_head: bool = False) -> dict[str, Tensor]: ...

    def lesioned(self, index: int) -> AbstractContextManager[None]: ...

    def unit_parameters(self, index: int) -> list[tuple[str, nn.Parameter]]: ...


class UnitModel(nn.Module):
    """A classifier written as a chain of units; the head is the last unit.

    ``units_per_block``: for a single-stage network whose feature points are its blocks, as timm's ViT and Mixer
    have them, how many units one block is (2: MSA + MLP, or token + channel mixing; Mixer's token mixing is an
    ``mlp`` unit too, so kinds alone cannot tell); ``None``: one feature point per stage.
    """

    _MAP_FORMATS: ClassVar[dict[str, Callable[[Tensor], Tensor]]] = {
        "NCHW": lambda m: m, "NHWC": lambda m: m.permute(0, 2, 3, 1), "NLC": lambda m: m.flatten(2).transpose(1, 2)}

    def __init__(self, units: list[Unit], units_per_block: int | None = None) -> None:
        super().__init__()
        if not units or units[-1].kind is not UnitKind.HEAD:
            raise ValueError("the last unit of a model must be its head")
        body = len(units) - 2
        if units_per_block is not None and (units_per_block < 1 or body % units_per_block):
            raise ValueError(f"the {body} units between stem and head are no blocks of {units_per_block}")
        self.units = nn.ModuleList(units)
        self.units_per_block = units_per_block
        self._feature_info: tuple[tuple[int, ...], list[dict[str, Any]]] | None = None
        """``feature_info`` measured at an input size: ``(input size, points)``."""
        self.config: ModelConfig | None = None
        """Architecture, classes, labels and preprocessing; set by ``create_model`` and ``from_pretrained``."""
        self.source: str = ""
        """Where the weights come from: a short name, a folder, ``repo@commit``, or the architecture's name."""
        self.folder: Path | None = None
        """The model folder the weights were loaded from (its card and metrics.json), if any."""

    def forward(self, x: Tensor) -> Tensor:
        for unit in self.units:
            x = unit(x)
        return x

    def unit_outputs(self, x: Tensor, indices: Sequence[int] | None = None,
                     include_head: bool = False) -> dict[str, Tensor]:
        """Unit outputs in order as NCHW maps (tokens reshaped, CLS dropped), keyed by unit name.

        ``indices`` picks units by position (default: every unit but the head); the chain stops after the
        last one asked for. ``include_head`` adds the logits under ``"head"``.
        """
        infos = self.unit_infos()
        wanted = set(range(len(infos) - 1) if indices is None else (i % len(infos) for i in indices))
        if include_head:
            wanted.add(len(infos) - 1)
        last = max(wanted, default=-1)
        out: dict[str, Tensor] = {}
        for info, unit in zip(infos[: last + 1], self.units, strict=False):
            x = unit(x)
            if info.index in wanted:
                out[info.name] = x if unit.kind is UnitKind.HEAD else unit.layout.to_map(x)
        return out

    # timm's contract, in timm's words: feature points (feature_info), the maps at them (forward_intermediates)
    # and the head split (forward_head). Feature points are unit outputs; unit_outputs is the per-unit view.

    def _feature_units(self) -> list[int]:
        """Indices of the units whose outputs are the feature points, in order.

        A single-stage network with ``units_per_block`` has one point per block (timm's ViT, Mixer). Otherwise
        each stage ends at its last unit that is not a pool (patch merging and token pooling open a stage in
        timm 1.x), and the stem is a point of convolutional networks only: timm's CNNs expose their stem, its
        transformers not their patch embedding.
        """
        if self.units_per_block:
            return list(range(self.units_per_block, len(self.units) - 1, self.units_per_block))
        ends = {unit.stage: i for i, unit in enumerate(self.units[:-1]) if unit.kind is not UnitKind.POOL}
        if not any(unit.kind is UnitKind.CONV for unit in self.units):
            ends.pop(0, None)
        return sorted(ends.values())

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """timm's ``feature_info``: ``num_chs``, ``reduction`` (input side / map side) and ``module`` (``units.i``)
        of each feature point, from one dry run at the configured input size (cached per size).

        Where timm's ResNet has its stem point after the stem's ReLU (reduction 2), ours is the stem unit's
        output, after its max-pool (reduction 4): the max-pool is inside our stem unit.
        """
        if self.config is None:
            raise ValueError("feature_info needs model.config for the input size: build with create_model")
        size = tuple(self.config.input_size)
        if self._feature_info is None or self._feature_info[0] != size:
            self._feature_info = (size, self._measure_features(size))
        return [dict(point) for point in self._feature_info[1]]

    def _measure_features(self, size: tuple[int, ...]) -> list[dict[str, Any]]:
        weight = next(self.parameters())
        x = torch.zeros(1, *size, dtype=weight.dtype, device=weight.device)
        with torch.no_grad(), self._evaluating():
            maps = self.forward_intermediates(x, intermediates_only=True)
        return [{"num_chs": m.shape[1], "reduction": round(size[-1] / m.shape[-1]), "module": f"units.{i}"}
                for i, m in zip(self._feature_units(), maps, strict=True)]

    @contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode for a dry run (BatchNorm statistics untouched), each module's own mode restored after."""
        modes = [(module, module.training) for module in self.modules()]
        self.eval()
        try:
            yield
        finally:
            for module, mode in modes:
                module.training = mode

    @staticmethod
    def _take_indices(count: int, indices: int | Sequence[int] | None) -> list[int]:
        """Absolute point indices, as timm's ``feature_take_indices`` makes them; bad ones raise, naming the range."""
        if indices is None:
            return list(range(count))
        if isinstance(indices, int):
            if not 0 < indices <= count:
                raise ValueError(f"indices={indices} asks for the last {indices} of {count} feature points")
            return list(range(count - indices, count))
        bad = [i for i in indices if not -count <= i < count]
        if bad or not indices:
            raise IndexError(f"feature point indices {list(indices)} are not in range for {count} points "
                             f"(-{count} to {count - 1}, see feature_info)")
        return [i % count for i in indices]

    def forward_intermediates(self, x: Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm's ``forward_intermediates``: the maps at the feature points ``indices`` picks (``None`` every
        point, ``n`` the last ``n``, a sequence those points, negative ones from the end), in chain order, as
        ``output_fmt`` ``NCHW``, ``NHWC`` or ``NLC`` (token maps without their prefix tokens, on their grid).

        Returns the maps (``intermediates_only``) or ``(final, maps)``: ``final`` is what :meth:`forward_head`
        takes, the last unit's output in its own layout after the head's final norm (the normed token sequence,
        CLS included, where timm's PiT keeps its CLS token alone; Swin's NHWC map; a conv map). ``norm`` applies
        that final norm to the maps where timm does: every block of a single-stage network (ViT, Mixer), the last
        stage of a hierarchical one (Swin, pre-activation ResNets). ``stop_early`` ends the chain at the last
        point asked for.
        """
        if output_fmt not in self._MAP_FORMATS:
            raise ValueError(f"output_fmt must be one of {sorted(self._MAP_FORMATS)}, not {output_fmt!r}")
        points = self._feature_units()
        taken = {points[i] for i in self._take_indices(len(points), indices)}
        normed_from = points[0] if self.units_per_block else points[-1]
        last = max(taken) if stop_early or intermediates_only else len(self.units) - 2
        maps = []
        for i, unit in enumerate(self.units[: last + 1]):
            x = unit(x)
            if i in taken:
                y = self._head().norm(x) if norm and i >= normed_from else x
                maps.append(self._MAP_FORMATS[output_fmt](unit.layout.to_map(y)))
        if intermediates_only:
            return maps
        return (self._head().norm(x) if last >= normed_from else x), maps

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """timm's ``forward_head`` on the ``final`` features of :meth:`forward_intermediates`: pooling (and the
        hidden layers of an MLP head), then the classifier; ``pre_logits`` returns the pooled features."""
        head = self._head()
        x = head.pre_logits(x)
        return x if pre_logits else head.fc(x)

    def _head(self) -> Unit:
        head = self.units[-1]
        if not all(hasattr(head, part) for part in ("norm", "pre_logits", "fc")):
            raise TypeError(f"the head ({type(head).__name__}) does not split into norm, pre_logits and fc, which "
                            "forward_head and the final features need (hub.models.heads.Head)")
        return head

    def no_weight_decay(self) -> set[str]:
        """Names of parameters declared as position embeddings, tables or tokens (timm's method name)."""
        return set(parameter_roles(self))

    def unit_infos(self) -> list[UnitInfo]:
        return chain_infos([(unit.kind, unit.stage, unit.residual) for unit in self.units])

    def unit_parameters(self, index: int) -> list[tuple[str, nn.Parameter]]:
        """The parameters unit ``index`` owns, with their full names (per-unit Hessians, per-unit statistics)."""
        return [(f"units.{index}.{name}", p) for name, p in self.units[index].named_parameters()]

    @contextmanager
    def lesioned(self, index: int) -> Iterator[None]:
        """Temporarily replace residual unit ``index`` by its identity path."""
        unit = self.units[index]
        if not unit.residual:
            raise ValueError(f"unit {index} ({unit.kind.value}) is not residual and cannot be lesioned")
        unit.forward = unit.identity_path  # instance attribute shadows the class method
        try:
            yield
        finally:
            del unit.forward

    def reset_classifier(self, num_classes: int) -> list[str]:
        """A freshly initialised classifier for ``num_classes`` classes (timm's method): the head unit's last linear
        layer is replaced, every other weight and every state-dict key name stays. ``config`` takes the new class
        count and drops its label names. Returns the names of the re-initialised parameters."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        head = self.units[-1]
        linears = [name for name, module in head.named_modules() if isinstance(module, nn.Linear)]
        if not linears:
            raise TypeError(f"the head ({type(head).__name__}) has no linear classifier to reset")
        owner, _, attr = linears[-1].rpartition(".")
        old = head.get_submodule(linears[-1])
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None, device=old.weight.device,
                        dtype=old.weight.dtype)
        setattr(head.get_submodule(owner), attr, new.train(old.training))
        if self.config is not None:
            self.config = replace(self.config, num_classes=num_classes, label_names=None)
        return [f"units.{len(self.units) - 1}.{linears[-1]}.{name}" for name, _ in new.named_parameters()]

    def set_input_size(self, img_size: int) -> None:
        """Take ``img_size`` x ``img_size`` inputs (timm's method): absolute position embeddings are resampled,
        window-attention stages rebuilt and ``config`` updated; a model that cannot says why (:mod:`hub.resize`).
        Resampled or rebuilt parameters are new tensors: build the optimiser afterwards."""
        # hub.resize rebuilds models through the registry, which imports this module: a plugin import by name, as
        # the registry's own of hub.models, keeps the import graph acyclic
        importlib.import_module("hub.resize").set_input_size(self, img_size)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
