"""Vision Transformer (Dosovitskiy et al.) with the paper's CIFAR setting: 32x32 inputs, 2x2 patches.

Units: the patch embedding (with CLS token and absolute position embedding) as the stem, then every MSA and
MLP sub-block as its own unit, as the paper's Fourier and variance analyses split them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import Tensor, nn

from hub.config import Preset
from hub.layers import ParamRole, stochastic_depth_rates
from hub.models.transformer import TokenHead, init_token_params, mlp_unit, msa_unit, prepend
from hub.registry import register_model
from hub.units import MapLayout, Unit, UnitKind, UnitModel


class PatchEmbed(Unit):
    """Non-overlapping patches -> tokens, plus CLS token and learned absolute positions."""

    param_roles: ClassVar[Mapping[str, ParamRole]] = {"pos_embed": ParamRole.POSITION, "cls_token": ParamRole.TOKEN}

    def __init__(self, dim: int, patch: int, img_size: int, stride: int | None = None) -> None:
        stride = stride or patch
        side = (img_size - patch) // stride + 1
        super().__init__(UnitKind.STEM, 0, MapLayout("tokens", (side, side), prefix=1))
        self.proj = nn.Conv2d(3, dim, patch, stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side + 1, dim))
        init_token_params(self.cls_token, self.pos_embed)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.proj(x).flatten(2).transpose(1, 2)
        return prepend(self.cls_token, tokens) + self.pos_embed


def build_vit(preset: Preset, num_classes: int, *, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0,
              patch_size: int | None = None, qkv_bias: bool = False, drop_path_rate: float = 0.0,
              img_size: int = 32) -> UnitModel:
    patch = patch_size or (16 if preset.imagenet_stem else 2)
    if img_size % patch:
        raise ValueError(f"patch size {patch} does not divide the {img_size}x{img_size} input")
    stem = PatchEmbed(dim, patch, img_size)
    rates = stochastic_depth_rates(depth, drop_path_rate)
    units: list[Unit] = [stem]
    for rate in rates:
        units += [msa_unit(dim, heads, 1, stem.layout, rate, qkv_bias),
                  mlp_unit(dim, int(dim * mlp_ratio), 1, stem.layout, rate)]
    units.append(TokenHead(2, dim, num_classes, pool="cls"))
    return UnitModel(units)


@register_model
def vit_ti(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ViT-Ti (DeiT-tiny width): 12 blocks of width 192, 3 heads."""
    return build_vit(preset, num_classes, dim=192, depth=12, heads=3, **kwargs)


@register_model
def vit_s(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ViT-S: 12 blocks of width 384, 6 heads."""
    return build_vit(preset, num_classes, dim=384, depth=12, heads=6, **kwargs)


@register_model
def vit_b(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ViT-B: 12 blocks of width 768, 12 heads."""
    return build_vit(preset, num_classes, dim=768, depth=12, heads=12, **kwargs)


@register_model
def vit_l(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """ViT-L: 24 blocks of width 1024, 16 heads."""
    return build_vit(preset, num_classes, dim=1024, depth=24, heads=16, **kwargs)


@register_model(example=True, preset_args={"cifar": {"patch_size": 4}})
def vit_tiny(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """6 blocks of width 96 on 4x4 patches (64 tokens at 32x32): a CPU-sized ViT of about 0.7M parameters."""
    return build_vit(preset, num_classes, dim=96, depth=6, heads=3, **kwargs)
