"""MLP-Mixer (Tolstikhin et al.): token-mixing and channel-mixing MLP units on patch tokens, GAP head."""

from __future__ import annotations

from torch import Tensor, nn

from hub.config import Preset
from hub.layers import Mlp, stochastic_depth_rates
from hub.models.transformer import TokenHead, mlp_unit
from hub.registry import register_model
from hub.units import MapLayout, Residual, SequentialUnit, Unit, UnitKind, UnitModel


class TokenMixing(nn.Module):
    """LayerNorm, then an MLP across the token axis (the same weights for every channel)."""

    def __init__(self, dim: int, tokens: int, hidden: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(tokens, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.norm(x).transpose(1, 2)).transpose(1, 2)


class Tokens(nn.Module):
    """``(B, C, H, W) -> (B, H*W, C)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).transpose(1, 2)


def build_mixer(preset: Preset, num_classes: int, *, dim: int, depth: int, token_hidden: int, channel_hidden: int,
                patch_size: int | None = None, drop_path_rate: float = 0.0, norm_eps: float = 1e-5,
                img_size: int = 32) -> UnitModel:
    """``norm_eps``: the LayerNorms' epsilon (timm's Mixer uses 1e-6)."""
    patch = patch_size or (16 if preset.imagenet_stem else 2)
    if img_size % patch:
        raise ValueError(f"patch size {patch} does not divide the {img_size}x{img_size} input")
    side = img_size // patch
    layout = MapLayout("tokens", (side, side))
    units: list[Unit] = [SequentialUnit(UnitKind.STEM, 0, nn.Conv2d(3, dim, patch, patch), Tokens(), layout=layout)]
    for rate in stochastic_depth_rates(depth, drop_path_rate):
        token_mixing = Residual(UnitKind.MLP, 1, TokenMixing(dim, side * side, token_hidden, norm_eps),
                                drop_path=rate, layout=layout)
        units += [token_mixing, mlp_unit(dim, channel_hidden, 1, layout, rate, norm_eps)]
    units.append(TokenHead(2, dim, num_classes, pool="mean", eps=norm_eps))
    return UnitModel(units, units_per_block=2)


@register_model(example=True)
def mixer_ti(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Mixer-Ti: 8 blocks of width 256."""
    return build_mixer(preset, num_classes, dim=256, depth=8, token_hidden=128, channel_hidden=1024, **kwargs)


@register_model
def mixer_s(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Mixer-S: 8 blocks of width 512."""
    return build_mixer(preset, num_classes, dim=512, depth=8, token_hidden=256, channel_hidden=2048, **kwargs)


@register_model
def mixer_b(preset: Preset, num_classes: int, **kwargs) -> UnitModel:
    """Mixer-B: 12 blocks of width 768."""
    return build_mixer(preset, num_classes, dim=768, depth=12, token_hidden=384, channel_hidden=3072, **kwargs)
