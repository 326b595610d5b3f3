"""Strict conversion of another implementation's state dict into our units, module by module: the machinery that
:mod:`hub.official` (the paper's released CIFAR-100 files) and :mod:`hub.timm_weights` (timm's ImageNet
checkpoints) share.

A layout names, for a built model of ours, which of the original's modules each of our modules is (ours module
prefix -> theirs). Conversion is strict both ways: every source key is mapped onto one of our tensors or is one
of the originals' derived buffers (:data:`DERIVED`, with the reason), every one of our tensors is filled, and
shapes must agree; anything else is one error that lists the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hub.errors import IncompatibleWeightsError
from hub.units import UnitInfo, UnitKind, UnitModel

ModulePairs = list[tuple[str, str]]
"""``(our module prefix, the original's module prefix)`` pairs."""

DERIVED = {
    "num_batches_tracked": "BatchNorm's step counter; it has no effect in eval mode and ours starts at 0",
    "relative_position_index": "Swin's relative-position index, a function of the window size (ours is rebuilt)",
    "attn_mask": "Swin's shifted-window mask, a function of the resolution and shift (ours is rebuilt)",
}
"""Buffers the originals compute from their configuration: a file may hold their values, the conversion does not
depend on them (the tests fill them with zeros)."""


@dataclass(frozen=True)
class Layout:
    """How one original implementation names its modules: ours module prefix -> theirs, for a built model."""

    architecture: str
    origin: str
    modules: Callable[[UnitModel], ModulePairs]


def is_derived(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in DERIVED


def stage_counters(model: UnitModel) -> list[tuple[int, UnitInfo, int]]:
    """``(unit index, info, index of the unit among the units of its kind in its stage)``."""
    seen: dict[tuple[int, UnitKind], int] = {}
    rows = []
    for info in model.unit_infos():
        key = (info.stage, info.kind)
        rows.append((info.index, info, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return rows


def block_pairs(index: int, kind: UnitKind, block: str) -> ModulePairs:
    """A timm transformer block (``norm1``, ``attn``, ``norm2``, ``mlp``) split into our MSA and MLP units."""
    if kind is UnitKind.MSA:
        return [(f"units.{index}.branch.0", f"{block}.norm1"), (f"units.{index}.branch.1.qkv", f"{block}.attn.qkv"),
                (f"units.{index}.branch.1.proj", f"{block}.attn.proj"),
                (f"units.{index}.branch.1.relative_bias", f"{block}.attn.relative_position_bias_table")]
    return [(f"units.{index}.branch.0", f"{block}.norm2"), (f"units.{index}.branch.1.0", f"{block}.mlp.fc1"),
            (f"units.{index}.branch.1.3", f"{block}.mlp.fc2")]


def head_pairs(model: UnitModel, norm: str | None, fc: str) -> ModulePairs:
    """The head unit's LayerNorm (when the original has one, named ``norm``) and its classifier, found by type so
    that how the head names them does not matter."""
    index = len(model.units) - 1
    pairs = [(f"units.{index}.{_only(model.units[index], nn.Linear)}", fc)]
    if norm is not None:
        pairs.append((f"units.{index}.{_only(model.units[index], nn.LayerNorm)}", norm))
    return pairs


def _only(module: nn.Module, kind: type[nn.Module]) -> str:
    names = [name for name, sub in module.named_modules() if isinstance(sub, kind)]
    if len(names) != 1:
        raise ValueError(f"the head has {len(names)} {kind.__name__} modules ({names}), not one")
    return names[0]


def vit_modules(model: UnitModel) -> ModulePairs:
    """timm ``VisionTransformer`` (0.4-1.x): ``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.{i}``,
    ``norm``, ``head``."""
    pairs = [("units.0.proj", "patch_embed.proj"), ("units.0.cls_token", "cls_token"),
             ("units.0.pos_embed", "pos_embed")]
    for index, info, nth in stage_counters(model):
        if info.kind in (UnitKind.MSA, UnitKind.MLP):
            pairs += block_pairs(index, info.kind, f"blocks.{nth}")
    return pairs + head_pairs(model, "norm", "head")


def pit_modules(model: UnitModel) -> ModulePairs:
    """timm ``PoolingVisionTransformer``: ``patch_embed.conv``, ``transformers.{s}.blocks.{j}``,
    ``transformers.{s}.pool.{conv,fc}`` (the pool unit's stage says which ``s``), ``norm``, ``head``."""
    pairs = [("units.0.proj", "patch_embed.conv"), ("units.0.cls_token", "cls_token"),
             ("units.0.pos_embed", "pos_embed")]
    for index, info, nth in stage_counters(model):
        stage = f"transformers.{info.stage - 1}"
        if info.kind in (UnitKind.MSA, UnitKind.MLP):
            pairs += block_pairs(index, info.kind, f"{stage}.blocks.{nth}")
        elif info.kind is UnitKind.POOL:
            pairs += [(f"units.{index}.conv", f"{stage}.pool.conv"), (f"units.{index}.fc", f"{stage}.pool.fc")]
    return pairs + head_pairs(model, "norm", "head")


def swin_modules(model: UnitModel, head: str = "head") -> ModulePairs:
    """timm ``SwinTransformer``: ``patch_embed.{proj,norm}``, ``layers.{s}.blocks.{j}``, ``layers.{s}.downsample``
    (the pool unit's stage says which ``s``), ``norm``, and the classifier ``head``."""
    pairs = [("units.0.layers.0", "patch_embed.proj"), ("units.0.layers.2", "patch_embed.norm")]
    for index, info, nth in stage_counters(model):
        stage = f"layers.{info.stage - 1}"
        if info.kind in (UnitKind.MSA, UnitKind.MLP):
            pairs += block_pairs(index, info.kind, f"{stage}.blocks.{nth}")
        elif info.kind is UnitKind.POOL:
            pairs.append((f"units.{index}", f"{stage}.downsample"))
    return pairs + head_pairs(model, "norm", head)


def map_state(model: UnitModel, pairs: ModulePairs, state: Mapping[str, Tensor], what: str) -> dict[str, Tensor]:
    """Our state dict, every tensor taken from ``state`` through ``pairs`` (strict both ways; ``what`` names the
    target in the error)."""
    modules = sorted(pairs, key=lambda pair: -len(pair[0]))
    converted, consumed, unmapped, shapes = {}, set(), [], []
    for key, tensor in model.state_dict().items():
        if is_derived(key):
            converted[key] = torch.zeros_like(tensor)
            continue
        ours, theirs = next(((o, t) for o, t in modules if key == o or key.startswith(o + ".")), (None, None))
        source = None if ours is None else theirs + key[len(ours):]
        if source not in state:
            unmapped.append(f"{key} (from {source})" if source else key)
            continue
        consumed.add(source)
        if state[source].shape != tensor.shape:
            shapes.append(f"{key}: ours {tuple(tensor.shape)} vs the original's {source} {tuple(state[source].shape)}")
            continue
        converted[key] = state[source].to(tensor.dtype)
    leftover = sorted(k for k in state if k not in consumed and not is_derived(k))
    problems = [f"{title} ({len(items)}): " + ", ".join(items[:12]) + (" ..." if len(items) > 12 else "")
                for title, items in (("our tensors with no source", unmapped), ("source keys not consumed", leftover),
                                     ("shape mismatches", shapes)) if items]
    if problems:
        raise IncompatibleWeightsError(f"the file does not convert to {what}:\n  " + "\n  ".join(problems))
    return converted


def load_mapped(model: UnitModel, pairs: ModulePairs, state: Mapping[str, Tensor], what: str) -> UnitModel:
    """``model`` in eval mode with :func:`map_state`'s tensors loaded strictly."""
    model.load_state_dict(map_state(model, pairs, state, what), strict=True)
    return model.eval()


def derived_present(keys: Iterable[str]) -> list[str]:
    """The derived buffers a file holds, each with why it is not used (for a model card)."""
    return [f"`{name}` ({why})" for name, why in DERIVED.items() if any(key.endswith(name) for key in keys)]
