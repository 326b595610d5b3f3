"""Pooling-based Vision Transformer (Heo et al.): three token stages joined by depthwise-conv pooling.

CIFAR setting of the paper's released PiT-Ti: 2x2 patches with stride 1 (31x31 tokens), then 16x16, 8x8. As in
PiT (and timm, with which the paper trained it), positions are a map added to the patch map (the CLS token has
no position slot) and LayerNorms use epsilon 1e-6.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hub.config import Preset
from hub.layers import stochastic_depth_rates
from hub.models.transformer import TIMM_EPS, TokenHead, mlp_unit, msa_unit
from hub.models.vit import PatchEmbed
from hub.registry import register_model
from hub.units import MapLayout, Unit, UnitKind, UnitModel


class TokenPooling(Unit):
    """Halve the token grid with a strided depthwise conv (doubling channels); the CLS token goes through a linear."""

    def __init__(self, dim: int, out_dim: int, grid: tuple[int, int], stage: int, stride: int = 2) -> None:
        out_grid = tuple((g + 2 * (stride // 2) - (stride + 1)) // stride + 1 for g in grid)
        super().__init__(UnitKind.POOL, stage, MapLayout("tokens", out_grid, prefix=1))
        self.grid = grid
        self.conv = nn.Conv2d(dim, out_dim, stride + 1, stride, stride // 2, groups=dim)
        self.fc = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        cls_token, tokens = x[:, :1], x[:, 1:]
        h, w = self.grid
        maps = tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        tokens = self.conv(maps).flatten(2).transpose(1, 2)
        return torch.cat([self.fc(cls_token), tokens], dim=1)


def build_pit(preset: Preset, num_classes: int, *, base_dim: int, depths: tuple[int, ...], heads: tuple[int, ...],
              mlp_ratio: float = 4.0, patch_size: int | None = None, stride: int | None = None,
              drop_path_rate: float = 0.0, norm_eps: float = TIMM_EPS, pool_at_start: bool = False,
              img_size: int = 32) -> UnitModel:
    """``pool_at_start``: token pooling is the first unit of the next stage (timm 1.x's ``transformers.i.pool``)
    rather than the last of its own (timm 0.5's, the paper's); only the unit's stage changes, not the numbers."""
    patch = patch_size or (16 if preset.imagenet_stem else 2)
    stride = stride or (8 if preset.imagenet_stem else 1)
    dims = [base_dim * h for h in heads]
    stem = PatchEmbed(dims[0], patch, img_size, stride, cls_position=False)
    rates = iter(stochastic_depth_rates(sum(depths), drop_path_rate))
    units: list[Unit] = [stem]
    layout = stem.layout
    for s, (depth, dim, head) in enumerate(zip(depths, dims, heads, strict=True), start=1):
        for _ in range(depth):
            rate = next(rates)
            units += [msa_unit(dim, head, s, layout, rate, True, norm_eps),
                      mlp_unit(dim, int(dim * mlp_ratio), s, layout, rate, norm_eps)]
        if s < len(depths):
            pool = TokenPooling(dim, dims[s], layout.grid, s + 1 if pool_at_start else s)
            units.append(pool)
            layout = pool.layout
    units.append(TokenHead(len(depths) + 1, dims[-1], num_classes, pool="cls", eps=norm_eps))
    return UnitModel(units)


@register_model(example=True)
def pit_ti(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """PiT-Ti: base width 32, stages of 2/6/4 blocks with 2/4/8 heads."""
    return build_pit(preset, num_classes, base_dim=32, depths=(2, 6, 4), heads=(2, 4, 8), **kwargs)


@register_model
def pit_xs(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """PiT-XS: base width 48, stages of 2/6/4 blocks with 2/4/8 heads."""
    return build_pit(preset, num_classes, base_dim=48, depths=(2, 6, 4), heads=(2, 4, 8), **kwargs)


@register_model
def pit_s(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """PiT-S: base width 48, stages of 2/6/4 blocks with 3/6/12 heads."""
    return build_pit(preset, num_classes, base_dim=48, depths=(2, 6, 4), heads=(3, 6, 12), **kwargs)


@register_model(preset_args={"imagenet": {"patch_size": 14, "stride": 7}})
def pit_b(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """PiT-B; its ImageNet patch is 14 with stride 7, as in the PiT paper."""
    return build_pit(preset, num_classes, base_dim=64, depths=(3, 6, 4), heads=(4, 8, 16), **kwargs)
