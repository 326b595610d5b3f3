"""Vision Transformer (Dosovitskiy et al.) with the paper's CIFAR setting: 32x32 inputs, 2x2 patches.

Units: the patch embedding (with CLS token and absolute position embedding) as the stem, then every MSA and
MLP sub-block as its own unit, as the paper's Fourier and variance analyses split them. LayerNorms use timm's
epsilon (1e-6), as the paper's released ViT-Ti was trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import Tensor, nn

from hub.config import Preset
from hub.layers import ParamRole, stochastic_depth_rates
from hub.models.transformer import TIMM_EPS, TokenHead, init_token_params, mlp_unit, msa_unit, prepend
from hub.registry import register_model
from hub.units import MapLayout, Unit, UnitKind, UnitModel


class PatchEmbed(Unit):
    """Patches -> tokens, plus a CLS token and learned absolute positions.

    ``cls_position``: the CLS token has a position slot of its own (ViT); without it positions are a map
    ``(1, C, H, W)`` added to the patch map before the CLS token is prepended (PiT).
    """

    param_roles: ClassVar[Mapping[str, ParamRole]] = {"pos_embed": ParamRole.POSITION, "cls_token": ParamRole.TOKEN}

    def __init__(self, dim: int, patch: int, img_size: int, stride: int | None = None,
                 cls_position: bool = True) -> None:
        stride = stride or patch
        side = (img_size - patch) // stride + 1
        super().__init__(UnitKind.STEM, 0, MapLayout("tokens", (side, side), prefix=1))
        self.proj = nn.Conv2d(3, dim, patch, stride)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        shape = (1, side * side + 1, dim) if cls_position else (1, dim, side, side)
        self.pos_embed = nn.Parameter(torch.zeros(shape))
        init_token_params(self.cls_token, self.pos_embed)

    def forward(self, x: Tensor) -> Tensor:
        maps = self.proj(x)
        if self.pos_embed.ndim == 4:
            return prepend(self.cls_token, (maps + self.pos_embed).flatten(2).transpose(1, 2))
        return prepend(self.cls_token, maps.flatten(2).transpose(1, 2)) + self.pos_embed


def build_vit(preset: Preset, num_classes: int, *, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0,
              patch_size: int | None = None, qkv_bias: bool = False, drop_path_rate: float = 0.0,
              norm_eps: float = TIMM_EPS, img_size: int = 32) -> UnitModel:
    patch = patch_size or (16 if preset.imagenet_stem else 2)
    if img_size % patch:
        raise ValueError(f"patch size {patch} does not divide the {img_size}x{img_size} input")
    stem = PatchEmbed(dim, patch, img_size)
    rates = stochastic_depth_rates(depth, drop_path_rate)
    units: list[Unit] = [stem]
    for rate in rates:
        units += [msa_unit(dim, heads, 1, stem.layout, rate, qkv_bias, norm_eps),
                  mlp_unit(dim, int(dim * mlp_ratio), 1, stem.layout, rate, norm_eps)]
    units.append(TokenHead(2, dim, num_classes, pool="cls", eps=norm_eps))
    return UnitModel(units, units_per_block=2)


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
    """6 blocks of width 96 on 4x4 patches (64 tokens at 32x32): a CPU-sized ViT of about 0.7M parameters.

    Its LayerNorms keep PyTorch's epsilon (1e-5), with which the shipped vit-tiny-cifar10 was trained."""
    return build_vit(preset, num_classes, dim=96, depth=6, heads=3, norm_eps=kwargs.pop("norm_eps", 1e-5), **kwargs)
