"""ResNet family: ResNet, pre-activation ResNet, ResNeXt, WideResNet, SE-ResNet and their blurred variants.

Post-activation units follow torchvision (stride on the 3x3 conv); pre-activation units follow He et al.
(2016b) with a bare conv stem and a BN-ReLU-GAP-FC head, as the paper's code does. CIFAR presets use a
3x3/1 stem without max-pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hub.config import Preset
from hub.layers import Blur, SqueezeExcite, stochastic_depth_rates
from hub.registry import register_model
from hub.units import PostActResidual, PreActResidual, SequentialUnit, Unit, UnitKind, UnitModel

WIDTHS = (64, 128, 256, 512)


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


@dataclass(frozen=True)
class BlockSpec:
    """Shape of one residual unit; ``bottleneck`` units expand their output 4x."""

    bottleneck: bool
    groups: int = 1
    width_per_group: int = 64
    se: bool = False

    @property
    def expansion(self) -> int:
        return 4 if self.bottleneck else 1

    def inner_width(self, planes: int) -> int:
        return int(planes * self.width_per_group / 64) * self.groups


BASIC = BlockSpec(bottleneck=False)
BOTTLENECK = BlockSpec(bottleneck=True)


def conv_stem(preset: Preset, width: int, norm_act: bool) -> Unit:
    """CIFAR: 3x3/1 conv; ImageNet: 7x7/2 conv + 3x3/2 max-pool. Pre-activation stems omit BN-ReLU."""
    layers = [nn.Conv2d(3, width, 7, 2, 3, bias=False)] if preset.imagenet_stem else [conv3x3(3, width)]
    if norm_act:
        layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    if preset.imagenet_stem:
        layers.append(nn.MaxPool2d(3, 2, 1))
    return SequentialUnit(UnitKind.STEM, 0, *layers)


def gap_head(stage: int, width: int, num_classes: int, preact: bool) -> Unit:
    pre = [nn.BatchNorm2d(width), nn.ReLU(inplace=True)] if preact else []
    pool = (nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return SequentialUnit(UnitKind.HEAD, stage, *pre, *pool, nn.Linear(width, num_classes))


class SmoothingUnit(Unit):
    """``tau * tanh(x / tau)`` -> ReLU -> blur: the TanhBlur block placed after a stage ("Blurs Behave Like
    Ensembles", Park & Kim 2022)."""

    def __init__(self, stage: int, tau: float = 10.0) -> None:
        super().__init__(UnitKind.POOL, stage)
        self.tau = tau
        self.blur = Blur()

    def forward(self, x: Tensor) -> Tensor:
        return self.blur((self.tau * torch.tanh(x / self.tau)).relu())


def post_act_unit(spec: BlockSpec, cin: int, planes: int, stride: int, stage: int, drop_path: float) -> Unit:
    cout = planes * spec.expansion
    if spec.bottleneck:
        width = spec.inner_width(planes)
        layers = [conv1x1(cin, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv3x3(width, width, stride, spec.groups), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv1x1(width, cout), nn.BatchNorm2d(cout)]
    else:
        layers = [conv3x3(cin, planes, stride), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
                  conv3x3(planes, planes), nn.BatchNorm2d(planes)]
    if spec.se:
        layers.append(SqueezeExcite(cout))
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
    return PostActResidual(UnitKind.CONV, stage, nn.Sequential(*layers), shortcut, drop_path)


def pre_act_unit(spec: BlockSpec, cin: int, planes: int, stride: int, stage: int, drop_path: float) -> Unit:
    cout = planes * spec.expansion
    if spec.bottleneck:
        width = spec.inner_width(planes)
        layers = [conv1x1(cin, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv3x3(width, width, stride, spec.groups), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv1x1(width, cout)]
    else:
        layers = [conv3x3(cin, planes, stride), nn.BatchNorm2d(planes), nn.ReLU(inplace=True), conv3x3(planes, planes)]
    if spec.se:
        layers.append(SqueezeExcite(cout))
    shortcut = conv1x1(cin, cout, stride) if stride != 1 or cin != cout else None
    preact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=False))
    return PreActResidual(UnitKind.CONV, stage, preact, nn.Sequential(*layers), shortcut, drop_path)


def build_resnet(preset: Preset, num_classes: int, spec: BlockSpec, layers: tuple[int, ...], *, preact: bool = False,
                 smoothing: bool = False, widths: tuple[int, ...] = WIDTHS, drop_path_rate: float = 0.0,
                 img_size: int = 32) -> UnitModel:
    """Stem, ``layers[i]`` units per stage (stride 2 on the first unit of stages 2+), optional blur after
    every stage but the last, GAP head."""
    make_unit = pre_act_unit if preact else post_act_unit
    rates = iter(stochastic_depth_rates(sum(layers), drop_path_rate))
    units: list[Unit] = [conv_stem(preset, widths[0], norm_act=not preact)]
    cin = widths[0]
    for s, (n, planes) in enumerate(zip(layers, widths, strict=True), start=1):
        for i in range(n):
            stride = 2 if s > 1 and i == 0 else 1
            units.append(make_unit(spec, cin, planes, stride, s, next(rates)))
            cin = planes * spec.expansion
        if smoothing and s < len(layers):
            units.append(SmoothingUnit(s))
    units.append(gap_head(len(layers) + 1, cin, num_classes, preact))
    return UnitModel(units)


DEPTHS = {18: (BASIC, (2, 2, 2, 2)), 34: (BASIC, (3, 4, 6, 3)), 50: (BOTTLENECK, (3, 4, 6, 3)),
          101: (BOTTLENECK, (3, 4, 23, 3)), 152: (BOTTLENECK, (3, 8, 36, 3))}


def _variant(depth: int, **spec_changes: object) -> tuple[BlockSpec, tuple[int, ...]]:
    spec, layers = DEPTHS[depth]
    return BlockSpec(spec.bottleneck, **spec_changes), layers


def _register_depths(prefix: str, depths: tuple[int, ...], preact: bool = False, smoothing: bool = False,
                     **spec_changes: object) -> None:
    """Register ``{prefix}_{depth}`` for each depth; each entry is a one-line call of :func:`build_resnet`."""
    for depth in depths:
        spec, layers = _variant(depth, **spec_changes)

        def entry(preset: Preset, num_classes: int, _spec=spec, _layers=layers, **kwargs) -> UnitModel:
            return build_resnet(preset, num_classes, _spec, _layers, preact=preact, smoothing=smoothing, **kwargs)

        entry.__name__ = entry.__qualname__ = f"{prefix}_{depth}"
        entry.__module__ = __name__
        entry.__doc__ = f"{prefix.replace('_', ' ')}-{depth}"
        register_model(entry)


ALL_DEPTHS = (18, 34, 50, 101, 152)
_register_depths("resnet", ALL_DEPTHS)
_register_depths("preresnet", ALL_DEPTHS, preact=True)
_register_depths("resnet_smoothing", ALL_DEPTHS, smoothing=True)
_register_depths("preresnet_smoothing", ALL_DEPTHS, preact=True, smoothing=True)
_register_depths("seresnet", ALL_DEPTHS, se=True)
_register_depths("resnext", (50,), groups=32, width_per_group=4)
_register_depths("resnext", (101,), groups=32, width_per_group=8)
_register_depths("wideresnet", (50, 101), width_per_group=128)


@register_model
def resnet_tiny(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-18 at a quarter of the width (about 0.7M parameters): trains on a CPU in minutes."""
    return build_resnet(preset, num_classes, BASIC, (2, 2, 2, 2), widths=(16, 32, 64, 128), **kwargs)
