"""AlterNet (Alter-ResNet): a pre-activation ResNet whose late Conv units alternate with local MSA units.

Replacement rule of the original: a stage of ``n`` units with ``m`` MSAs is ``(n - 2m)`` Conv units followed by
``m`` pairs ``[Conv, MSA]``, so every MSA follows a Conv unit that plays the role of its MLP. MSA units are
pre-activation: BN -> GELU -> 1x1 conv to the bottleneck width -> BN -> window MSA (one relative-position
table shared by the heads, 64-dim heads) back to the unit width. The window must divide each MSA stage's
map: 4 for CIFAR (maps 32/16/8/4), 7 for ImageNet (56/28/14/7); anything else is rejected at build time.
"""

from __future__ import annotations

from torch import nn

from hub.config import Preset
from hub.layers import WindowAttention, check_window, stochastic_depth_rates
from hub.models.resnet import BASIC, BOTTLENECK, WIDTHS, BlockSpec, conv1x1, conv_stem, conv_unit, gap_head
from hub.registry import register_model
from hub.units import Permute, PreActResidual, Unit, UnitKind, UnitModel

HEADS = (3, 6, 12, 24)


def msa_unit(spec: BlockSpec, dim: int, heads: int, dim_head: int, window: int, resolution: tuple[int, int],
             stage: int, drop_path: float) -> Unit:
    width = dim // spec.expansion
    branch = nn.Sequential(
        conv1x1(dim, width), nn.BatchNorm2d(width), Permute(0, 2, 3, 1),
        WindowAttention(width, heads, window, resolution, dim_head=dim_head, out_dim=dim, bias_per_head=False),
        Permute(0, 3, 1, 2),
    )
    preact = nn.Sequential(nn.BatchNorm2d(dim), nn.GELU())
    return PreActResidual(UnitKind.MSA, stage, preact, branch, None, drop_path)


def stage_plan(num_units: int, num_msa: int) -> list[UnitKind]:
    if 2 * num_msa > num_units:
        raise ValueError(f"a stage of {num_units} units cannot hold {num_msa} alternating MSAs")
    return [UnitKind.CONV] * (num_units - 2 * num_msa) + [UnitKind.CONV, UnitKind.MSA] * num_msa


def build_alternet(preset: Preset, num_classes: int, spec: BlockSpec, layers: tuple[int, ...], msas: tuple[int, ...],
                   *, widths: tuple[int, ...] = WIDTHS, heads: tuple[int, ...] = HEADS, dim_head: int = 64,
                   window_size: int | None = None, drop_path_rate: float = 0.0, img_size: int = 32) -> UnitModel:
    window = window_size or (7 if preset.imagenet_stem else 4)
    plans = [stage_plan(n, m) for n, m in zip(layers, msas, strict=True)]
    resolution = img_size // 4 if preset.imagenet_stem else img_size
    rates = iter(stochastic_depth_rates(sum(layers), drop_path_rate))
    units: list[Unit] = [conv_stem(preset, widths[0], norm_act=False)]
    cin = widths[0]
    for s, (plan, planes) in enumerate(zip(plans, widths, strict=True), start=1):
        resolution = resolution if s == 1 else resolution // 2
        if UnitKind.MSA in plan:
            check_window((resolution, resolution), window, f"stage {s}")
        for i, kind in enumerate(plan):
            if kind is UnitKind.MSA:
                grid = (resolution, resolution)
                units.append(msa_unit(spec, cin, heads[s - 1], dim_head, window, grid, s, next(rates)))
            else:
                stride = 2 if s > 1 and i == 0 else 1
                units.append(conv_unit(spec, cin, planes, stride, s, next(rates), preact=True))
                cin = planes * spec.expansion
    units.append(gap_head(len(layers) + 1, cin, num_classes, preact=True))
    return UnitModel(units)


@register_model
def alternet_18(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Stages CC . CM . CM . CM on basic units."""
    return build_alternet(preset, num_classes, BASIC, (2, 2, 2, 2), (0, 1, 1, 1), **kwargs)


@register_model
def alternet_34(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """AlterNet-34."""
    return build_alternet(preset, num_classes, BASIC, (3, 4, 6, 4), (0, 1, 3, 2), **kwargs)


@register_model
def alternet_50(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Stages CCC . CCCM . CMCMCM . CMCM on bottleneck units (stage 4 has 4 units, not ResNet's 3)."""
    return build_alternet(preset, num_classes, BOTTLENECK, (3, 4, 6, 4), (0, 1, 3, 2), **kwargs)


@register_model
def alternet_101(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """AlterNet-101."""
    return build_alternet(preset, num_classes, BOTTLENECK, (3, 4, 23, 4), (0, 1, 3, 2), **kwargs)


@register_model
def alternet_152(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """AlterNet-152."""
    return build_alternet(preset, num_classes, BOTTLENECK, (3, 8, 36, 4), (0, 1, 3, 2), **kwargs)


@register_model(example=True)
def alternet_tiny(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """AlterNet-18 at a quarter of the width (16-dim heads): the CPU-sized counterpart of ``resnet_tiny``."""
    kwargs = {"widths": (16, 32, 64, 128), "dim_head": 16, **kwargs}
    return build_alternet(preset, num_classes, BASIC, (2, 2, 2, 2), (0, 1, 1, 1), **kwargs)
