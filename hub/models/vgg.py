"""VGG and pre-activation VGG: plain 3x3 conv units, max-pool units, and the 7x7-pool MLP head.

The paper's code keeps VGG's 7x7 adaptive pool and 4096-4096 MLP head on CIFAR too (VGG-16: 134.67M
parameters at 100 classes); so do we, for parameter parity.
"""

from __future__ import annotations

from torch import nn

from hub.config import Preset
from hub.models.heads import SequentialHead
from hub.registry import register_model
from hub.units import SequentialUnit, Unit, UnitKind, UnitModel

CONFIGS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)


def conv_unit(cin: int, cout: int, stage: int, preact: bool) -> Unit:
    conv = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
    if preact:
        return SequentialUnit(UnitKind.CONV, stage, nn.BatchNorm2d(cin), nn.ReLU(inplace=True), conv)
    return SequentialUnit(UnitKind.CONV, stage, conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def mlp_head(stage: int, features: int, pool: int, num_classes: int, dropout: float = 0.5,
             pre: tuple[nn.Module, ...] = ()) -> Unit:
    """(pre-layers, the final norm) -> adaptive average pool to ``pool x pool`` -> 4096-4096 MLP with dropout
    (the pre-logits, as in timm's VGG) -> classifier."""
    hidden = (nn.AdaptiveAvgPool2d(pool), nn.Flatten(), nn.Dropout(dropout), nn.Linear(features * pool * pool, 4096),
              nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True))
    return SequentialHead(stage, pre, hidden, nn.Linear(4096, num_classes))


def build_vgg(preset: Preset, num_classes: int, depth: int, *, preact: bool = False, img_size: int = 32) -> UnitModel:
    """The first conv is the stem (a bare conv for pre-act VGG, whose later units are BN-ReLU-conv)."""
    preset.check_fixed_size(img_size, "the VGG family")
    stem = nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False)
    stem_layers = (stem,) if preact else (stem, nn.BatchNorm2d(WIDTHS[0]), nn.ReLU(inplace=True))
    units: list[Unit] = [SequentialUnit(UnitKind.STEM, 0, *stem_layers)]
    cin = WIDTHS[0]
    for s, (n, width) in enumerate(zip(CONFIGS[depth], WIDTHS, strict=True), start=1):
        for _ in range(n - 1 if s == 1 else n):
            units.append(conv_unit(cin, width, s, preact))
            cin = width
        units.append(SequentialUnit(UnitKind.POOL, s, nn.MaxPool2d(2, 2)))
    pre = (nn.BatchNorm2d(cin), nn.ReLU(inplace=True)) if preact else ()
    units.append(mlp_head(len(WIDTHS) + 1, cin, 7, num_classes, pre=pre))
    return UnitModel(units)


@register_model(example=True)
def vgg_11(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """VGG-11."""
    return build_vgg(preset, num_classes, 11, **kwargs)


@register_model
def vgg_13(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """VGG-13."""
    return build_vgg(preset, num_classes, 13, **kwargs)


@register_model
def vgg_16(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """VGG-16."""
    return build_vgg(preset, num_classes, 16, **kwargs)


@register_model
def vgg_19(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """VGG-19."""
    return build_vgg(preset, num_classes, 19, **kwargs)


@register_model
def prevgg_11(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation VGG-11."""
    return build_vgg(preset, num_classes, 11, preact=True, **kwargs)


@register_model
def prevgg_13(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation VGG-13."""
    return build_vgg(preset, num_classes, 13, preact=True, **kwargs)


@register_model
def prevgg_16(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation VGG-16."""
    return build_vgg(preset, num_classes, 16, preact=True, **kwargs)


@register_model
def prevgg_19(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """pre-activation VGG-19."""
    return build_vgg(preset, num_classes, 19, preact=True, **kwargs)
