"""Swin Transformer (Liu et al.): window MSA with cyclic shifts on channels-last maps, patch merging.

CIFAR setting of the paper's released Swin-Ti: 1x1 patches and 4x4 windows (stage maps 32/16/8/4). As in
Swin, a stage whose map is no larger than the window attends globally without shifting; otherwise the
window must divide the map, which is checked when the model is built.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hub.config import Preset
from hub.layers import WindowAttention, check_window, stochastic_depth_rates
from hub.models.heads import Head
from hub.models.transformer import mlp_unit
from hub.registry import register_model
from hub.units import MapLayout, Permute, Residual, SequentialUnit, Unit, UnitKind, UnitModel

NHWC = MapLayout("nhwc")


class PatchMerging(Unit):
    """Concatenate each 2x2 neighbourhood (4C channels), LayerNorm, project to 2C."""

    def __init__(self, dim: int, stage: int) -> None:
        super().__init__(UnitKind.POOL, stage, NHWC)
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class MapHead(Head):
    """LayerNorm (the final norm) on the channels-last map, global average over the map, linear classifier."""

    def __init__(self, stage: int, dim: int, num_classes: int) -> None:
        super().__init__(stage)
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def pre_logits(self, x: Tensor) -> Tensor:
        return x.mean((1, 2))


def build_swin(preset: Preset, num_classes: int, *, dim: int, depths: tuple[int, ...], heads: tuple[int, ...],
               window_size: int | None = None, patch_size: int | None = None, mlp_ratio: float = 4.0,
               qkv_bias: bool = False, drop_path_rate: float = 0.0, pool_at_start: bool = False,
               img_size: int = 32) -> UnitModel:
    """``pool_at_start``: patch merging is the first unit of the next stage (timm 1.x's ``layers.i.downsample``)
    rather than the last of its own (timm 0.5's, the paper's); only the unit's stage changes, not the numbers."""
    patch = patch_size or (4 if preset.imagenet_stem else 1)
    window = window_size or (7 if preset.imagenet_stem else 4)
    if img_size % patch:
        raise ValueError(f"patch size {patch} does not divide the {img_size}x{img_size} input")
    resolution = img_size // patch
    stem = SequentialUnit(UnitKind.STEM, 0, nn.Conv2d(3, dim, patch, patch), Permute(0, 2, 3, 1), nn.LayerNorm(dim),
                          layout=NHWC)
    units: list[Unit] = [stem]
    rates = iter(stochastic_depth_rates(sum(depths), drop_path_rate))
    for s, (depth, head) in enumerate(zip(depths, heads, strict=True), start=1):
        if resolution <= window:
            stage_window, shift = resolution, 0
        else:
            check_window((resolution, resolution), window, f"stage {s}")
            stage_window, shift = window, window // 2
        for i in range(depth):
            rate = next(rates)
            attn = WindowAttention(dim, head, stage_window, (resolution, resolution), shift=shift if i % 2 else 0,
                                   qkv_bias=qkv_bias)
            units += [Residual(UnitKind.MSA, s, nn.Sequential(nn.LayerNorm(dim), attn), drop_path=rate, layout=NHWC),
                      mlp_unit(dim, int(dim * mlp_ratio), s, NHWC, rate)]
        if s < len(depths):
            if resolution % 2:
                raise ValueError(f"stage {s} map {resolution}x{resolution} is odd and cannot be merged 2x2")
            units.append(PatchMerging(dim, s + 1 if pool_at_start else s))
            dim, resolution = dim * 2, resolution // 2
    units.append(MapHead(len(depths) + 1, dim, num_classes))
    return UnitModel(units)


@register_model(example=True)
def swin_t(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Swin-T: width 96, stages of 2/2/6/2 blocks."""
    return build_swin(preset, num_classes, dim=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), **kwargs)


@register_model
def swin_s(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Swin-S: width 96, stages of 2/2/18/2 blocks."""
    return build_swin(preset, num_classes, dim=96, depths=(2, 2, 18, 2), heads=(3, 6, 12, 24), **kwargs)


@register_model
def swin_b(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Swin-B: width 128, stages of 2/2/18/2 blocks."""
    return build_swin(preset, num_classes, dim=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), **kwargs)
