"""A model at another input size (timm's ``set_input_size``), with its weights.

What an input size changes depends on the family, and each case is handled or refused here:

- absolute position embeddings (ViT's ``(1, 1 + H*W, C)`` tokens, PiT's ``(1, C, H, W)`` map) are resampled to
  the new patch grid as timm's ``resample_abs_pos_embed`` does (bicubic, antialiased; the CLS position kept);
- window attention (Swin, AlterNet) keeps its weights while each stage's window still tiles the stage's map:
  the model is rebuilt by its builder at the new size (resolutions, shifts and masks recomputed), else the error
  names the stage;
- convolutional models whose head pools adaptively (ResNet, VGG and AlexNet, whose MLP heads pool to a fixed
  grid) are unchanged: only ``config.input_size`` changes, once a forward pass at the new size has run;
- MLP-Mixer is refused: its token-mixing weights are sized for exactly its number of tokens.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hub.layers import WindowAttention
from hub.models.mixer import TokenMixing
from hub.models.vit import PatchEmbed
from hub.registry import create_model
from hub.units import UnitModel


def resample_position_embedding(pos: Tensor, grid: tuple[int, int], prefix: int = 1) -> Tensor:
    """A learned absolute position embedding resampled to ``grid``: ``(1, prefix + H*W, C)`` tokens (the prefix
    positions kept) or a ``(1, C, H, W)`` map; unchanged when the grid is the same (timm's function, bicubic)."""
    if pos.ndim == 4:
        return pos if tuple(pos.shape[2:]) == grid else _resize_map(pos, grid)
    tokens = pos.shape[1] - prefix
    side = round(tokens**0.5)
    if (side, side) == grid:
        return pos
    if side * side != tokens:
        raise ValueError(f"{tokens} position tokens after {prefix} prefix token(s) are not a square grid")
    spatial = pos[:, prefix:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    return torch.cat([pos[:, :prefix], _resize_map(spatial, grid).flatten(2).transpose(1, 2)], dim=1)


def _resize_map(maps: Tensor, grid: tuple[int, int]) -> Tensor:
    return F.interpolate(maps.float(), size=grid, mode="bicubic", antialias=True).to(maps.dtype)


def set_input_size(model: UnitModel, img_size: int) -> None:
    """Make ``model`` take ``img_size`` x ``img_size`` inputs in place (see the module docstring); the same size
    changes nothing."""
    if model.config is None:
        raise ValueError("set_input_size needs model.config (a model from create_model or from_pretrained)")
    if img_size == model.config.input_size[-1]:
        return
    architecture = model.config.architecture
    name = architecture if model.source in ("", architecture) else f"{model.source} ({architecture})"
    mixing = _named(model, TokenMixing)
    if mixing:
        tokens = mixing[0][1].mlp[0].in_features
        raise ValueError(f"{name} cannot change its input size: its token-mixing MLPs have weights for exactly "
                         f"{tokens} tokens (the patches of a {model.config.input_size[-1]}x"
                         f"{model.config.input_size[-1]} input)")
    if not any(isinstance(m, PatchEmbed | WindowAttention) for m in model.modules()):
        _probe(model, img_size, name)
        model.config = replace(model.config, input_size=(3, img_size, img_size))
        return
    try:
        resized = rebuilt(model, img_size=img_size)
    except ValueError as err:
        raise ValueError(f"{name} cannot take {img_size}x{img_size} inputs: {err}") from err
    model.units = resized.units
    model.config = replace(model.config, input_size=resized.config.input_size, model_args=resized.config.model_args)


def _probe(model: UnitModel, img_size: int, name: str) -> None:
    """Run one blank image at the new size (in eval mode: no BatchNorm statistics change)."""
    weight = next(model.parameters())
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, img_size, img_size, device=weight.device, dtype=weight.dtype))
    except RuntimeError as err:
        raise ValueError(f"{name} cannot take {img_size}x{img_size} inputs: {err}") from err
    finally:
        model.train(training)


def rebuilt(model: UnitModel, **changes: Any) -> UnitModel:
    """The model's architecture built again with some builder arguments changed (``img_size``,
    ``drop_path_rate``) and every weight carried over: position embeddings resampled to the new grid, everything
    else exactly (same device, dtype, ``requires_grad`` and train/eval mode). Raises ``ValueError`` when a weight
    cannot be carried over (a window whose size would change)."""
    config = model.config
    fresh = create_model(config.architecture, config.num_classes, config.preset, **{**config.model_args, **changes})
    _check_windows(model, fresh)
    state = model.state_dict()
    for key, module in _named(fresh, PatchEmbed):
        state[f"{key}.pos_embed"] = resample_position_embedding(state[f"{key}.pos_embed"], module.layout.grid,
                                                                module.layout.prefix)
    weight = next(model.parameters())
    fresh.load_state_dict(state, strict=True)
    fresh.to(device=weight.device, dtype=weight.dtype).train(model.training)
    frozen = {key for key, p in model.named_parameters() if not p.requires_grad}
    for key, p in fresh.named_parameters():
        p.requires_grad_(key not in frozen)
    size = fresh.config.input_size if "img_size" in changes else config.input_size  # a conv model's is only recorded
    fresh.config = replace(config, model_args=fresh.config.model_args, input_size=size)
    fresh.source, fresh.folder = model.source, model.folder
    return fresh


def _named(model: nn.Module, kind: type) -> list[tuple[str, nn.Module]]:
    return [(key, m) for key, m in model.named_modules() if isinstance(m, kind)]


def _check_windows(old: UnitModel, new: UnitModel) -> None:
    """A window's relative-position table is sized for the window: a stage whose window would change (its map
    now smaller than the window) cannot keep its weights."""
    for (key, before), (_, after) in zip(_named(old, WindowAttention), _named(new, WindowAttention), strict=True):
        if before.window != after.window:
            stage = old.units[int(key.split(".")[1])].stage
            h, w = after.resolution
            raise ValueError(f"stage {stage}'s map would be {h}x{w}, smaller than its {before.window}x{before.window} "
                             f"window (whose relative-position table cannot be resized)")
