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
from hub.models.heads import SequentialHead
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
    """(BN-ReLU, the final norm of pre-activation networks) -> global average pool -> linear classifier."""
    norm = [nn.BatchNorm2d(width), nn.ReLU(inplace=True)] if preact else []
    return SequentialHead(stage, norm, [nn.AdaptiveAvgPool2d(1), nn.Flatten()], nn.Linear(width, num_classes))


class SmoothingUnit(Unit):
    """``tau * tanh(x / tau)`` -> ReLU -> blur: the TanhBlur block placed after a stage ("Blurs Behave Like
    Ensembles", Park & Kim 2022)."""

    def __init__(self, stage: int, tau: float = 10.0) -> None:
        super().__init__(UnitKind.POOL, stage)
        self.tau = tau
        self.blur = Blur()

    def forward(self, x: Tensor) -> Tensor:
        return self.blur((self.tau * torch.tanh(x / self.tau)).relu())


def branch_layers(spec: BlockSpec, cin: int, planes: int, stride: int, final_norm: bool) -> nn.Sequential:
    """The residual branch: 1x1-3x3-1x1 (bottleneck) or 3x3-3x3 convs with BN-ReLU between them, a final BN for
    post-activation units (pre-activation units normalise the next unit's input instead), then SE if asked."""
    cout = planes * spec.expansion
    if spec.bottleneck:
        width = spec.inner_width(planes)
        layers = [conv1x1(cin, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv3x3(width, width, stride, spec.groups), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                  conv1x1(width, cout)]
    else:
        layers = [conv3x3(cin, planes, stride), nn.BatchNorm2d(planes), nn.ReLU(inplace=True), conv3x3(planes, planes)]
    if final_norm:
        layers.append(nn.BatchNorm2d(cout))
    if spec.se:
        layers.append(SqueezeExcite(cout))
    return nn.Sequential(*layers)


def conv_unit(spec: BlockSpec, cin: int, planes: int, stride: int, stage: int, drop_path: float,
              preact: bool) -> Unit:
    """A residual conv unit, post-activation (torchvision) or pre-activation (He et al. 2016b); the shortcut
    projects (1x1 conv, plus BN when post-activation) when the stride or the width changes."""
    cout = planes * spec.expansion
    project = stride != 1 or cin != cout
    branch = branch_layers(spec, cin, planes, stride, final_norm=not preact)
    if not preact:
        shortcut = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout)) if project else None
        return PostActResidual(UnitKind.CONV, stage, branch, shortcut, drop_path)
    shortcut = conv1x1(cin, cout, stride) if project else None
    norm_act = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=False))
    return PreActResidual(UnitKind.CONV, stage, norm_act, branch, shortcut, drop_path)


def build_resnet(preset: Preset, num_classes: int, spec: BlockSpec, layers: tuple[int, ...], *, preact: bool = False,
                 smoothing: bool = False, widths: tuple[int, ...] = WIDTHS, drop_path_rate: float = 0.0,
                 img_size: int = 32) -> UnitModel:
    """Stem, ``layers[i]`` units per stage (stride 2 on the first unit of stages 2+), optional blur after
    every stage but the last, GAP head."""
    preset.check_fixed_size(img_size, "the ResNet family")
    rates = iter(stochastic_depth_rates(sum(layers), drop_path_rate))
    units: list[Unit] = [conv_stem(preset, widths[0], norm_act=not preact)]
    cin = widths[0]
    for s, (n, planes) in enumerate(zip(layers, widths, strict=True), start=1):
        for i in range(n):
            stride = 2 if s > 1 and i == 0 else 1
            units.append(conv_unit(spec, cin, planes, stride, s, next(rates), preact))
            cin = planes * spec.expansion
        if smoothing and s < len(layers):
            units.append(SmoothingUnit(s))
    units.append(gap_head(len(layers) + 1, cin, num_classes, preact))
    return UnitModel(units)


DEPTHS = {18: (BASIC, (2, 2, 2, 2)), 34: (BASIC, (3, 4, 6, 3)), 50: (BOTTLENECK, (3, 4, 6, 3)),
          101: (BOTTLENECK, (3, 4, 23, 3)), 152: (BOTTLENECK, (3, 8, 36, 3))}


def variant(depth: int, **spec_changes: object) -> tuple[BlockSpec, tuple[int, ...]]:
    """The block spec and units per stage of a standard depth, with the block spec changed as asked."""
    spec, layers = DEPTHS[depth]
    return BlockSpec(spec.bottleneck, **spec_changes), layers


@register_model
def resnet_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-18."""
    return build_resnet(preset, num_classes, *variant(18), **kwargs)


@register_model
def resnet_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-34."""
    return build_resnet(preset, num_classes, *variant(34), **kwargs)


@register_model
def resnet_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-50."""
    return build_resnet(preset, num_classes, *variant(50), **kwargs)


@register_model
def resnet_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-101."""
    return build_resnet(preset, num_classes, *variant(101), **kwargs)


@register_model
def resnet_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-152."""
    return build_resnet(preset, num_classes, *variant(152), **kwargs)


@register_model
def preresnet_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet-18."""
    return build_resnet(preset, num_classes, *variant(18), preact=True, **kwargs)


@register_model
def preresnet_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet-34."""
    return build_resnet(preset, num_classes, *variant(34), preact=True, **kwargs)


@register_model
def preresnet_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet-50."""
    return build_resnet(preset, num_classes, *variant(50), preact=True, **kwargs)


@register_model
def preresnet_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet-101."""
    return build_resnet(preset, num_classes, *variant(101), preact=True, **kwargs)


@register_model
def preresnet_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet-152."""
    return build_resnet(preset, num_classes, *variant(152), preact=True, **kwargs)


@register_model
def resnet_smoothing_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet with a blur after every stage but the last-18."""
    return build_resnet(preset, num_classes, *variant(18), smoothing=True, **kwargs)


@register_model
def resnet_smoothing_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet with a blur after every stage but the last-34."""
    return build_resnet(preset, num_classes, *variant(34), smoothing=True, **kwargs)


@register_model
def resnet_smoothing_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet with a blur after every stage but the last-50."""
    return build_resnet(preset, num_classes, *variant(50), smoothing=True, **kwargs)


@register_model
def resnet_smoothing_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet with a blur after every stage but the last-101."""
    return build_resnet(preset, num_classes, *variant(101), smoothing=True, **kwargs)


@register_model
def resnet_smoothing_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet with a blur after every stage but the last-152."""
    return build_resnet(preset, num_classes, *variant(152), smoothing=True, **kwargs)


@register_model
def preresnet_smoothing_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet with a blur after every stage but the last-18."""
    return build_resnet(preset, num_classes, *variant(18), preact=True, smoothing=True, **kwargs)


@register_model
def preresnet_smoothing_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet with a blur after every stage but the last-34."""
    return build_resnet(preset, num_classes, *variant(34), preact=True, smoothing=True, **kwargs)


@register_model
def preresnet_smoothing_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet with a blur after every stage but the last-50."""
    return build_resnet(preset, num_classes, *variant(50), preact=True, smoothing=True, **kwargs)


@register_model
def preresnet_smoothing_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet with a blur after every stage but the last-101."""
    return build_resnet(preset, num_classes, *variant(101), preact=True, smoothing=True, **kwargs)


@register_model
def preresnet_smoothing_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation ResNet with a blur after every stage but the last-152."""
    return build_resnet(preset, num_classes, *variant(152), preact=True, smoothing=True, **kwargs)


@register_model
def seresnet_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """SE-ResNet-18."""
    return build_resnet(preset, num_classes, *variant(18, se=True), **kwargs)


@register_model
def seresnet_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """SE-ResNet-34."""
    return build_resnet(preset, num_classes, *variant(34, se=True), **kwargs)


@register_model
def seresnet_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """SE-ResNet-50."""
    return build_resnet(preset, num_classes, *variant(50, se=True), **kwargs)


@register_model
def seresnet_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """SE-ResNet-101."""
    return build_resnet(preset, num_classes, *variant(101, se=True), **kwargs)


@register_model
def seresnet_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """SE-ResNet-152."""
    return build_resnet(preset, num_classes, *variant(152, se=True), **kwargs)


@register_model
def resnext_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNeXt-50 (32x4d)."""
    return build_resnet(preset, num_classes, *variant(50, groups=32, width_per_group=4), **kwargs)


@register_model
def resnext_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNeXt-101 (32x8d)."""
    return build_resnet(preset, num_classes, *variant(101, groups=32, width_per_group=8), **kwargs)


@register_model
def wideresnet_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Wide ResNet-50-2."""
    return build_resnet(preset, num_classes, *variant(50, width_per_group=128), **kwargs)


@register_model
def wideresnet_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Wide ResNet-101-2."""
    return build_resnet(preset, num_classes, *variant(101, width_per_group=128), **kwargs)


@register_model(example=True)
def resnet_tiny(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ResNet-18 at a quarter of the width (about 0.7M parameters): trains on a CPU in minutes."""
    return build_resnet(preset, num_classes, BASIC, (2, 2, 2, 2), widths=(16, 32, 64, 128), **kwargs)
