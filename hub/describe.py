"""Unit introspection for any ``torch.nn.Module``: a small description of its units, read through hooks.

Our own families are written as chains of units (:class:`hub.units.UnitModel`). A model from timm,
torchvision or one's own code is not, but the analyses only need to know *where* each unit's output appears
and *what* removes a residual branch. A :class:`Description` says that with module paths:

- ``path``: the module whose output is the unit's output (``tap="input"``: whose *input* is; a timm ViT block's
  MSA sub-block ends where its ``norm2`` begins, since ``x + attn(norm1(x))`` is no module's output);
- ``kind``, ``stage`` and ``layout`` mean what they mean for our units (kinds ``stem conv msa mlp pool head``;
  ``layout`` maps the tensor onto a grid, a token layout with ``grid=None`` takes a square grid);
- ``branch``: the module whose output, replaced by zeros, leaves the unit's identity path (what the lesion
  study runs), for residual units only;
- ``owns``: the modules holding the unit's parameters (per-unit Hessians).

:class:`DescribedModel` wraps the module with its description and offers the same interface as a
``UnitModel`` (:class:`hub.units.UnitIntrospection`), so every analysis, the report and the service's
diagnostics run unchanged. Ready-made descriptions for timm's and torchvision's families are found from the
model's class (:mod:`hub.descriptions`); one's own model needs a few lines::

    units = [UnitSpec("stem", "stem", 0), UnitSpec("block1", "conv", 1, branch="block1.body"),
             UnitSpec("fc", "head", 2)]
    model = DescribedModel(net, Description(tuple(units), family="mine"))
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hub.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from hub.errors import HubError
from hub.layers.roles import ParamRole
from hub.units import NCHW, MapLayout, UnitInfo, UnitKind, chain_infos


class DescriptionError(HubError):
    """A model without a description, or a description that does not fit its model."""


@dataclass(frozen=True)
class UnitSpec:
    """Where one unit of a foreign model is, and how to read and remove it (see the module docstring)."""

    path: str
    kind: UnitKind | str
    stage: int
    layout: MapLayout = NCHW
    tap: Literal["output", "input"] = "output"
    branch: str | None = None
    owns: tuple[str, ...] | None = None
    """Modules (or single parameters) holding the unit's parameters; ``None``: ``path`` itself."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", UnitKind(self.kind))
        if self.tap not in ("output", "input"):
            raise ValueError(f"tap must be 'output' or 'input', not {self.tap!r}")


DEFAULT_ROLES: tuple[tuple[str, ParamRole], ...] = (
    ("*pos_embed", ParamRole.POSITION), ("*pos_embedding", ParamRole.POSITION),
    ("*relative_position_bias_table", ParamRole.POSITION), ("*cls_token", ParamRole.TOKEN),
    ("*class_token", ParamRole.TOKEN), ("*dist_token", ParamRole.TOKEN), ("*reg_token", ParamRole.TOKEN),
)
"""Parameter-name patterns of position embeddings and learned tokens in timm's and torchvision's models."""


@dataclass(frozen=True)
class Description:
    """A foreign model's units in forward order: the stem first, the head (whose output is the logits) last."""

    units: tuple[UnitSpec, ...]
    family: str
    """What was described, e.g. ``timm ResNet``: recorded with every analysis of the model."""
    roles: tuple[tuple[str, ParamRole], ...] = DEFAULT_ROLES
    """``(fnmatch pattern of a parameter name, role)``: no weight decay, fixed in the landscape's original mode."""

    def __post_init__(self) -> None:
        if not self.units or self.units[-1].kind is not UnitKind.HEAD:
            raise DescriptionError(f"{self.family}: the last unit of a description must be the head")


@dataclass
class _Capture:
    """Collects the outputs of the wanted units during one forward pass, in order, each exactly once."""

    wanted: dict[int, UnitSpec]
    names: dict[int, str]
    stop_after: int | None
    outputs: dict[str, Tensor] = field(default_factory=dict)

    def hook(self, index: int) -> Callable[..., None]:
        spec = self.wanted[index]

        def record(value: Any) -> None:
            name = self.names[index]
            if name in self.outputs:
                raise DescriptionError(f"unit {name} ({spec.path}) ran twice in one forward pass: its module is "
                                       "reused, so it cannot stand for one unit")
            value = value[0] if isinstance(value, tuple) else value
            self.outputs[name] = value.clone()
            if index == self.stop_after:
                raise _Done

        if spec.tap == "input":
            return lambda module, args: record(args[0])
        return lambda module, args, output: record(output)


class _Done(Exception):
    """Raised by the last wanted hook: the rest of the forward pass is not needed."""


class DescribedModel(nn.Module):
    """Any classifier with the unit introspection interface of :class:`hub.units.UnitModel`.

    ``config``: preprocessing, classes and labels; without one, ImageNet's preprocessing at ``input_size`` and
    the number of classes from one forward pass.
    """

    def __init__(self, model: nn.Module, description: Description, config: ModelConfig | None = None,
                 source: str = "", input_size: tuple[int, int, int] = (3, 224, 224)) -> None:
        super().__init__()
        self.model = model
        self.description = description
        for spec in description.units:
            for path in (spec.path, spec.branch):
                if path is not None:
                    self._module(path)
            self._owned(spec)
        self.config = config if config is not None else self._default_config(description.family, input_size)
        self.source = source or description.family
        self.folder: Path | None = None
        self.param_roles = {name: role for name, _ in self.named_parameters()
                            for pattern, role in description.roles if fnmatch.fnmatchcase(name, pattern)}
        """Read by :func:`hub.layers.parameter_roles` like a module class's ``param_roles``."""

    def _module(self, path: str) -> nn.Module:
        try:
            return self.model.get_submodule(path)
        except AttributeError as err:
            raise DescriptionError(f"the {self.description.family} description names module {path!r}, which "
                                   f"{type(self.model).__name__} does not have") from err

    def _default_config(self, family: str, input_size: tuple[int, int, int]) -> ModelConfig:
        with torch.no_grad():
            was_training = self.model.training
            num_classes = self.model.eval()(torch.zeros(1, *input_size)).shape[-1]
            self.model.train(was_training)
        return ModelConfig(family, num_classes, "custom", {}, None, input_size, IMAGENET_MEAN, IMAGENET_STD,
                           "bicubic", 0.875, library="custom")

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def unit_infos(self) -> list[UnitInfo]:
        return chain_infos([(spec.kind, spec.stage, spec.branch is not None) for spec in self.description.units])

    def unit_outputs(self, x: Tensor, indices: Sequence[int] | None = None,
                     include_head: bool = False) -> dict[str, Tensor]:
        """Unit outputs in forward order as NCHW maps (tokens on their grid, prefix tokens dropped).

        ``indices`` as for :meth:`hub.units.UnitModel.unit_outputs`; the forward pass stops after the last
        unit asked for. ``include_head`` adds the model's output under ``"head"``.
        """
        units = self.description.units
        head = len(units) - 1
        chosen = range(head) if indices is None else (i % len(units) for i in indices)
        wanted = {i: units[i] for i in sorted(set(chosen)) if i != head}
        names = {info.index: info.name for info in self.unit_infos()}
        capture = _Capture(wanted, names, None if include_head else max(wanted, default=None))
        with ExitStack() as hooks:
            for i, spec in wanted.items():
                module = self._module(spec.path)
                hook = capture.hook(i)
                handle = (module.register_forward_pre_hook(hook) if spec.tap == "input"
                          else module.register_forward_hook(hook))
                hooks.callback(handle.remove)
            try:
                logits = self.model(x) if wanted or include_head else None
            except _Done:
                logits = None
        missing = [f"{names[i]} ({spec.path})" for i, spec in wanted.items() if names[i] not in capture.outputs]
        if missing:
            raise DescriptionError(f"the {self.description.family} description's unit(s) {', '.join(missing)} "
                                   "did not run in the forward pass")
        out = {names[i]: wanted[i].layout.to_map(capture.outputs[names[i]]) for i in wanted}
        if include_head:
            out["head"] = logits
        return out

    def _owned(self, spec: UnitSpec) -> list[tuple[str, nn.Parameter]]:
        owned = []
        for path in spec.owns or (spec.path,):
            try:
                module = self.model.get_submodule(path)
            except AttributeError:
                try:
                    owned.append((f"model.{path}", self.model.get_parameter(path)))
                    continue
                except AttributeError:
                    raise DescriptionError(f"the {self.description.family} description's unit at {spec.path!r} "
                                           f"owns {path!r}, which is neither a module nor a parameter") from None
            owned += [(f"model.{path}.{name}", p) for name, p in module.named_parameters()]
        return owned

    def unit_parameters(self, index: int) -> list[tuple[str, nn.Parameter]]:
        """The parameters unit ``index`` owns (its ``owns`` modules and parameters), with full names."""
        return self._owned(self.description.units[index])

    @contextmanager
    def lesioned(self, index: int) -> Iterator[None]:
        """Temporarily zero unit ``index``'s residual branch, leaving its identity path."""
        spec = self.description.units[index]
        if spec.branch is None:
            raise ValueError(f"unit {index} ({spec.kind.value}) is not residual and cannot be lesioned")
        handle = self._module(spec.branch).register_forward_hook(_zeroed)
        try:
            yield
        finally:
            handle.remove()


def _zeroed(module: nn.Module, args: Any, output: Any) -> Any:
    if isinstance(output, tuple):
        return (torch.zeros_like(output[0]), *output[1:])
    return torch.zeros_like(output)
