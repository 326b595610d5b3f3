"""AlexNet without normalisation layers, as in the paper's code.

CIFAR preset: a 3x3/2 stem and 2x2 max-pools (32 -> 16 -> 8 -> 4 -> 2), so the MLP head sees 256x2x2
features (23.84M parameters at 100 classes). ImageNet preset: the classic 11x11/4 stem, 3x3/2 pools, 6x6.
"""

from __future__ import annotations

from torch import nn

from hub.config import Preset
from hub.models.vgg import mlp_head
from hub.registry import register_model
from hub.units import SequentialUnit, Unit, UnitKind, UnitModel


def conv_relu(cin: int, cout: int, kernel: int, stage: int, kind: UnitKind = UnitKind.CONV, stride: int = 1) -> Unit:
    return SequentialUnit(kind, stage, nn.Conv2d(cin, cout, kernel, stride, kernel // 2), nn.ReLU(inplace=True))


@register_model(example=True)
def alexnet(preset: Preset, num_classes: int, img_size: int = 32) -> UnitModel:
    """AlexNet without normalisation layers."""
    preset.check_fixed_size(img_size, "AlexNet")
    big = preset.imagenet_stem

    def pool(stage: int) -> Unit:
        return SequentialUnit(UnitKind.POOL, stage, nn.MaxPool2d(3, 2) if big else nn.MaxPool2d(2, 2))

    stem = conv_relu(3, 64, 11 if big else 3, 0, UnitKind.STEM, stride=4 if big else 2)
    units = [stem, pool(0), conv_relu(64, 192, 5, 1), pool(1), conv_relu(192, 384, 3, 2), conv_relu(384, 256, 3, 2),
             conv_relu(256, 256, 3, 2), pool(2), mlp_head(3, 256, 6 if big else 2, num_classes)]
    return UnitModel(units)
