"""timm's ImageNet checkpoints as our unit models: a Hub repo in timm's layout (``config.json`` with timm's
``architecture`` and ``pretrained_cfg``, weights in ``model.safetensors``), such as
``timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k``, is converted strictly, module by module, into the unit model of
ours that computes what timm 1.x computes, once, into a cached model folder.

The paper's ImageNet figures are of timm's ResNet, ViT/DeiT, Swin, PiT and Mixer weights. Where timm 1.x differs
from our ImageNet preset, the conversion builds ours with the builder options that reproduce it (recorded in the
folder's ``config.json`` as ``model_args``): qkv biases in ViT and Swin, patch merging and token pooling as the first
unit of the next stage (``layers.i.downsample``, ``transformers.i.pool``), Mixer's LayerNorm epsilon 1e-6. The
mapping is :mod:`hub.convert`'s (strict both ways; errors list the keys). Only safetensors are read: a repo with
pickled weights alone is refused. The preprocessing (input size, mean, std, interpolation, crop fraction) and the
label names, where the repo has them, come from its ``config.json``. timm itself is never imported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from hub.card import CardInfo
from hub.convert import (
    ModulePairs,
    derived_present,
    head_pairs,
    load_mapped,
    pit_modules,
    stage_counters,
    swin_modules,
    vit_modules,
)
from hub.errors import HubError, IncompatibleWeightsError
from hub.files import atomic_path, file_sha256
from hub.folder import save_pretrained
from hub.preprocess import RESAMPLING
from hub.registry import create_model
from hub.sources import CONFIG_FILE, TIMM_PROVENANCE_FILE, WEIGHTS_FILE, timm_conversion
from hub.units import UnitKind, UnitModel

VERIFIED_BY = "tests/hub/test_timm_weights.py"


def resnet_modules(model: UnitModel) -> ModulePairs:
    """timm ``ResNet``: ``conv1``, ``bn1``, ``layer{s}.{b}.conv{k}``/``bn{k}`` (the k-th conv and BatchNorm of our
    unit's branch) and ``downsample.{0,1}``, ``fc``."""
    pairs = [("units.0.layers.0", "conv1"), ("units.0.layers.1", "bn1")]
    for index, info, nth in stage_counters(model):
        if info.kind is UnitKind.CONV:
            block = f"layer{info.stage}.{nth}"
            for kind, theirs in ((nn.Conv2d, "conv"), (nn.BatchNorm2d, "bn")):
                names = [n for n, m in model.units[index].branch.named_children() if isinstance(m, kind)]
                pairs += [(f"units.{index}.branch.{n}", f"{block}.{theirs}{k}") for k, n in enumerate(names, 1)]
            pairs += [(f"units.{index}.shortcut.{i}", f"{block}.downsample.{i}") for i in (0, 1)]
    return pairs + head_pairs(model, None, "fc")


def mixer_modules(model: UnitModel) -> ModulePairs:
    """timm ``MlpMixer``: ``stem.proj``, ``blocks.{i}`` (``norm1`` + ``mlp_tokens``: our token-mixing unit, ``norm2``
    + ``mlp_channels``: our channel MLP unit), ``norm``, ``head``."""
    pairs = [("units.0.layers.0", "stem.proj")]
    mlps = [index for index, info, _ in stage_counters(model) if info.kind is UnitKind.MLP]
    for i, (tokens, channels) in enumerate(zip(mlps[0::2], mlps[1::2], strict=True)):
        pairs += [(f"units.{tokens}.branch.norm", f"blocks.{i}.norm1"),
                  (f"units.{tokens}.branch.mlp.0", f"blocks.{i}.mlp_tokens.fc1"),
                  (f"units.{tokens}.branch.mlp.3", f"blocks.{i}.mlp_tokens.fc2"),
                  (f"units.{channels}.branch.0", f"blocks.{i}.norm2"),
                  (f"units.{channels}.branch.1.0", f"blocks.{i}.mlp_channels.fc1"),
                  (f"units.{channels}.branch.1.3", f"blocks.{i}.mlp_channels.fc2")]
    return pairs + head_pairs(model, "norm", "head")


@dataclass(frozen=True)
class TimmArchitecture:
    """A timm architecture and the model of ours that computes the same."""

    ours: str
    modules: Callable[[UnitModel], ModulePairs]
    model_args: Mapping[str, Any] = field(default_factory=dict)
    """Our builder options that reproduce timm 1.x's computation (recorded in the converted ``config.json``)."""
    global_pool: str = "token"
    img_size: int | None = 224
    """The input size the architecture is built for; None: any (a convolutional network with global pooling)."""


RESNET = partial(TimmArchitecture, modules=resnet_modules, global_pool="avg", img_size=None)
VIT = partial(TimmArchitecture, modules=vit_modules, model_args={"qkv_bias": True})
SWIN = partial(TimmArchitecture, modules=partial(swin_modules, head="head.fc"),
               model_args={"qkv_bias": True, "pool_at_start": True}, global_pool="avg")
PIT = partial(TimmArchitecture, modules=pit_modules, model_args={"pool_at_start": True})
MIXER = partial(TimmArchitecture, modules=mixer_modules, model_args={"norm_eps": 1e-6}, global_pool="avg")

ARCHITECTURES: dict[str, TimmArchitecture] = {
    "resnet18": RESNET("resnet_18"),
    "resnet34": RESNET("resnet_34"),
    "resnet50": RESNET("resnet_50"),
    "resnet101": RESNET("resnet_101"),
    "resnet152": RESNET("resnet_152"),
    "vit_tiny_patch16_224": VIT("vit_ti"),
    "vit_small_patch16_224": VIT("vit_s"),
    "vit_base_patch16_224": VIT("vit_b"),
    "vit_large_patch16_224": VIT("vit_l"),
    "deit_tiny_patch16_224": VIT("vit_ti"),
    "deit_small_patch16_224": VIT("vit_s"),
    "deit_base_patch16_224": VIT("vit_b"),
    "swin_tiny_patch4_window7_224": SWIN("swin_t"),
    "swin_small_patch4_window7_224": SWIN("swin_s"),
    "swin_base_patch4_window7_224": SWIN("swin_b"),
    "pit_ti_224": PIT("pit_ti"),
    "pit_xs_224": PIT("pit_xs"),
    "pit_s_224": PIT("pit_s"),
    "pit_b_224": PIT("pit_b"),
    "mixer_s16_224": MIXER("mixer_s"),
    "mixer_b16_224": MIXER("mixer_b"),
}
"""timm architecture name (the part of a timm model name before the pretrained tag) -> ours."""
REFUSED = {
    "distilled": "distilled DeiT and PiT have a second (distillation) token and a second head whose logits are "
                 "averaged with the first's; our units have one class token and one head",
}


@dataclass(frozen=True)
class TimmConfig:
    """What a timm ``config.json`` says that the conversion uses."""

    architecture: str
    tag: str | None
    num_classes: int
    label_names: list[str] | None
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    crop_pct: float
    license: str | None


def timm_architecture(name: str) -> TimmArchitecture:
    """Ours for a timm architecture name (a pretrained tag after a dot is ignored); a clear error otherwise."""
    base = name.split(".", 1)[0]
    if base in ARCHITECTURES:
        return ARCHITECTURES[base]
    why = next((reason for word, reason in REFUSED.items() if word in base), None)
    raise HubError(f"timm architecture {base!r} cannot be converted{f': {why}' if why else ''}. Supported timm "
                   f"architectures: {', '.join(ARCHITECTURES)}")


def read_timm_config(path: Path) -> TimmConfig:
    """Parse and check timm's ``config.json``: the architecture is supported, ``model_args`` change nothing about
    it, and the preprocessing is one ours reproduces (shorter side resized, centre crop)."""
    data = json.loads(path.read_text())
    try:
        return _parse(path, data, data["pretrained_cfg"])
    except (KeyError, TypeError, ValueError) as err:
        raise HubError(f"{path} is not a timm config.json that converts ({type(err).__name__}: {err})") from err


def _parse(path: Path, data: Mapping[str, Any], pretrained: Mapping[str, Any]) -> TimmConfig:
    architecture, _, tag = data["architecture"].partition(".")
    spec = timm_architecture(architecture)
    num_classes = int(data.get("num_classes", pretrained.get("num_classes", 0)))
    if num_classes <= 0:
        raise HubError(f"{path}: timm {architecture} has no classifier (num_classes={num_classes}); only classifiers "
                       f"convert")
    input_size = tuple(int(d) for d in pretrained.get("input_size", (3, 224, 224)))
    _check_model_args(path, spec, data.get("model_args", {}), num_classes)
    _check_preprocessing(path, spec, pretrained, input_size)
    return TimmConfig(architecture, tag or pretrained.get("tag"), num_classes,
                      _label_names(path, data.get("label_names", pretrained.get("label_names")), num_classes),
                      input_size, tuple(pretrained["mean"]), tuple(pretrained["std"]), pretrained["interpolation"],
                      float(pretrained["crop_pct"]), pretrained.get("license"))


def _check_model_args(path: Path, spec: TimmArchitecture, args: Mapping[str, Any], num_classes: int) -> None:
    """timm 1.x records the arguments its model was built with; any that would build another network is refused."""
    size = spec.img_size
    expected = {"in_chans": [3], "num_classes": [num_classes], "global_pool": [spec.global_pool],
                "img_size": [size, [size, size]] if size else []}
    changed = [f"{k}={v!r}" for k, v in args.items() if v not in expected.get(k, [])]
    if changed:
        defaults = ", ".join(f"{k}={values[0]!r}" for k, values in expected.items() if values)
        raise HubError(f"{path}: model_args {', '.join(changed)} would build another network than the one that "
                       f"converts ({defaults})")


def _check_preprocessing(path: Path, spec: TimmArchitecture, pretrained: Mapping[str, Any],
                         input_size: tuple[int, ...]) -> None:
    problems = []
    if pretrained.get("crop_mode", "center") != "center":
        problems.append(f"crop_mode {pretrained['crop_mode']!r} (ours resizes the shorter side and crops the centre)")
    if pretrained.get("interpolation") not in RESAMPLING:
        problems.append(f"interpolation {pretrained.get('interpolation')!r} (ours: {', '.join(RESAMPLING)})")
    if len(input_size) != 3 or input_size[0] != 3 or input_size[1] != input_size[2]:
        problems.append(f"input_size {list(input_size)} (ours: square RGB)")
    elif spec.img_size and input_size[1] != spec.img_size:
        problems.append(f"input_size {list(input_size)} for a network built for {spec.img_size}x{spec.img_size}")
    if problems:
        raise HubError(f"{path}: pretrained_cfg has " + "; ".join(problems))


def _label_names(path: Path, names: list[str] | dict[str, str] | None, num_classes: int) -> list[str] | None:
    """timm's label names: a list, or a dict class index -> name."""
    if isinstance(names, dict):
        names = [names.get(str(i)) for i in range(num_classes)]
    if names is not None and (len(names) != num_classes or None in names):
        raise HubError(f"{path}: label_names do not name each of the {num_classes} classes once")
    return list(names) if names else None


def convert_timm_state(config: TimmConfig, state: Mapping[str, Tensor]) -> UnitModel:
    """Our model for a timm state dict, with every tensor taken from it (strict both ways) and the config's
    preprocessing and labels."""
    spec = timm_architecture(config.architecture)
    model = create_model(spec.ours, config.num_classes, "imagenet", **spec.model_args)
    load_mapped(model, spec.modules(model), state, f"{spec.ours} (as timm's {config.architecture})")
    model.config = dataclasses.replace(
        model.config, label_names=config.label_names, input_size=config.input_size, mean=config.mean,
        std=config.std, interpolation=config.interpolation, crop_pct=config.crop_pct)
    return model


@dataclass(frozen=True)
class TimmSource:
    """One snapshot of a timm repo: where it is and what it is."""

    snapshot: Path
    repo_id: str
    commit: str

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.commit}"


def timm_folder(snapshot: Path, repo_id: str, commit: str, cache_dir: str | Path | None = None) -> Path:
    """The folder to load for a downloaded Hub snapshot: the snapshot itself, or, for a repo in timm's layout, its
    conversion into our units (made on first use, then cached by repo and commit, so that later loads convert
    nothing and work offline)."""
    folder = timm_conversion(snapshot, repo_id, commit, cache_dir)
    if folder is None:
        return snapshot
    if not (folder / TIMM_PROVENANCE_FILE).is_file():
        convert_snapshot(TimmSource(snapshot, repo_id, commit), folder)
    return folder


def convert_snapshot(source: TimmSource, folder: Path) -> Path:
    """Convert a timm snapshot into a model folder of ours (written beside ``folder`` and renamed into place, so
    that a reader never sees half a folder)."""
    config = read_timm_config(source.snapshot / CONFIG_FILE)
    weights = source.snapshot / WEIGHTS_FILE
    try:
        state = load_file(weights)
    except SafetensorError as err:
        raise IncompatibleWeightsError(f"{weights} ({source.label}) is not a readable safetensors file: {err}") from err
    model = convert_timm_state(config, state)
    provenance = {"repo_id": source.repo_id, "revision": source.commit, "architecture": config.architecture,
                  "tag": config.tag, "size": weights.stat().st_size, "sha256": file_sha256(weights),
                  "derived_buffers": derived_present(state)}
    print(f"{source.label}: converting timm's {config.architecture} ({provenance['size']:,} bytes, sha256 "
          f"{provenance['sha256']}) into {folder}", file=sys.stderr)
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        save_pretrained(model, staging, card=timm_card(source, config, provenance, model), name=source.repo_id)
        with atomic_path(staging / TIMM_PROVENANCE_FILE) as tmp:
            tmp.write_text(json.dumps(provenance, indent=2) + "\n")
        if not (folder / TIMM_PROVENANCE_FILE).is_file():  # else another process converted it meanwhile
            shutil.rmtree(folder, ignore_errors=True)  # a folder without its provenance is not a conversion
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def timm_card(source: TimmSource, config: TimmConfig, provenance: Mapping[str, Any], model: UnitModel) -> CardInfo:
    """What the converted folder's card says about where it came from and what was checked."""
    args = ", ".join(f"`{k}={v!r}`" for k, v in model.config.model_args.items()) or "none"
    present = provenance["derived_buffers"]
    lines = [
        f"- Converted from timm `{source.label}`: `{WEIGHTS_FILE}`, {provenance['size']:,} bytes, sha256 "
        f"`{provenance['sha256']}`; timm architecture `{config.architecture}`, pretrained tag `{config.tag}`.",
        f"- Ours: `{model.config.architecture}` (preset `imagenet`) with the builder options {args}, which "
        "reproduce timm 1.x's computation.",
        "- Conversion (`hub.timm_weights`): the weights were read from safetensors only (never a pickle); every "
        "source tensor was mapped module by module onto this architecture's units with its shape checked, and "
        "every tensor of ours was filled" + (f"; derived buffers not used: {'; '.join(present)}." if present else "."),
        f"- Preprocessing from timm's `pretrained_cfg`: {config.input_size[1]}x{config.input_size[2]}, "
        f"{config.interpolation}, crop_pct {config.crop_pct}, mean {list(config.mean)}, std {list(config.std)}.",
        f"- Verified by this toolkit's tests ({VERIFIED_BY}): timm models of this architecture with random weights, "
        "saved in the Hub layout and converted the same way, give timm's own logits within 1e-4.",
        "- Not verified here: the accuracy of these weights.",
    ]
    return CardInfo(description=f"timm's `{config.architecture}.{config.tag}` as a unit model of this toolkit: "
                                f"`hub.from_pretrained({source.repo_id!r})`.",
                    source="\n".join(lines), license=config.license or "other", tags=["timm"],
                    reproduce=f"python -c \"import hub; hub.from_pretrained('{source.label}')\"")
