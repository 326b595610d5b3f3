"""Unit descriptions of timm's families (timm 1.x module names): ResNet, ViT/DeiT, Swin, PiT, ConvNeXt, MLP-Mixer.

Sub-blocks are split as our own families split them (an MSA and an MLP unit per transformer block, a token-
and a channel-mixing unit per Mixer block), so the paper's per-kind analyses read them alike.
"""

from __future__ import annotations

from torch import nn

from hub.describe import Description, UnitSpec
from hub.descriptions import (
    NHWC,
    TOKENS,
    existing,
    last_norm,
    pre_norm_block,
    register_description,
    residual_stages,
    tokens,
)
from hub.units import UnitKind


@register_description("timm.models.resnet.ResNet")
def resnet(model: nn.Module) -> Description:
    """Stem up to the max-pool, one conv unit per basic/bottleneck block (branch ends at its last BatchNorm)."""
    stages = ["layer1", "layer2", "layer3", "layer4"]
    units = [UnitSpec("maxpool", UnitKind.STEM, 0, owns=existing(model, "conv1", "bn1")),
             *residual_stages(model, stages, last_norm),
             UnitSpec("fc", UnitKind.HEAD, len(stages) + 1)]
    return Description(tuple(units), "timm ResNet")


@register_description("timm.models.vision_transformer.VisionTransformer")
def vision_transformer(model: nn.Module) -> Description:
    """ViT and DeiT (distilled too): the stem ends after the position embedding, before the first block."""
    layout = tokens(model.num_prefix_tokens)
    stem = UnitSpec("norm_pre", UnitKind.STEM, 0, layout,
                    owns=("patch_embed", *_root_parameters(model, "cls_token", "pos_embed", "dist_token",
                                                           "reg_token")))
    blocks = [spec for k in range(len(model.blocks)) for spec in
              pre_norm_block(f"blocks.{k}", 1, layout, scales=("ls1", "ls2"))]
    head = UnitSpec("head", UnitKind.HEAD, 2, owns=existing(model, "norm", "fc_norm", "head", "head_dist"))
    return Description((stem, *blocks, head), "timm VisionTransformer")


@register_description("timm.models.swin_transformer.SwinTransformer")
def swin_transformer(model: nn.Module) -> Description:
    """Patch merging (at the start of stages 2-4 in timm 1.x) is a pool unit; blocks work on NHWC maps and the
    MSA sub-block's output is the flattened token sequence its ``norm2`` takes."""
    units = [UnitSpec("patch_embed", UnitKind.STEM, 0, NHWC)]
    for i, stage in enumerate(model.layers):
        if not isinstance(stage.downsample, nn.Identity):
            units.append(UnitSpec(f"layers.{i}.downsample", UnitKind.POOL, i + 1, NHWC))
        units += [spec for k in range(len(stage.blocks)) for spec in
                  _swin_block(f"layers.{i}.blocks.{k}", i + 1)]
    units.append(UnitSpec("head", UnitKind.HEAD, len(model.layers) + 1, owns=("norm", "head")))
    return Description(tuple(units), "timm SwinTransformer")


def _swin_block(path: str, stage: int) -> list[UnitSpec]:
    msa, mlp = pre_norm_block(path, stage, TOKENS)
    return [msa, UnitSpec(mlp.path, mlp.kind, stage, NHWC, branch=mlp.branch, owns=mlp.owns)]


@register_description("timm.models.pit.PoolingVisionTransformer")
def pooling_vision_transformer(model: nn.Module) -> Description:
    """PiT: the conv-pooling step that opens stages 2 and 3 is a pool unit (its map output, CLS tokens aside)."""
    layout = tokens(model.cls_token.shape[1])
    units = [UnitSpec("pos_drop", UnitKind.STEM, 0,
                      owns=("patch_embed", *_root_parameters(model, "pos_embed", "cls_token")))]
    for i, stage in enumerate(model.transformers):
        if stage.pool is not None:
            units.append(UnitSpec(f"transformers.{i}.pool", UnitKind.POOL, i + 1))
        units += [spec for k in range(len(stage.blocks)) for spec in
                  pre_norm_block(f"transformers.{i}.blocks.{k}", i + 1, layout, scales=("ls1", "ls2"))]
    head = UnitSpec("head", UnitKind.HEAD, len(model.transformers) + 1,
                    owns=existing(model, "norm", "head", "head_dist"))
    return Description((*units, head), "timm PoolingVisionTransformer")


@register_description("timm.models.convnext.ConvNeXt")
def convnext(model: nn.Module) -> Description:
    """A conv unit per block (its branch ends at the MLP, before the layer scale); the stride-2 downsampling
    that opens stages 2-4 is a pool unit."""
    units = [UnitSpec("stem", UnitKind.STEM, 0)]
    for i, stage in enumerate(model.stages):
        if not isinstance(stage.downsample, nn.Identity):
            units.append(UnitSpec(f"stages.{i}.downsample", UnitKind.POOL, i + 1))
        units += residual_stages(model, [f"stages.{i}.blocks"], lambda block: "mlp", first_stage=i + 1)
    units.append(UnitSpec("head", UnitKind.HEAD, len(model.stages) + 1, owns=existing(model, "norm_pre", "head")))
    return Description(tuple(units), "timm ConvNeXt")


@register_description("timm.models.mlp_mixer.MlpMixer")
def mlp_mixer(model: nn.Module) -> Description:
    """Token mixing and channel mixing are both ``mlp`` units, as in our Mixer."""
    blocks = [spec for k in range(len(model.blocks)) for spec in
              pre_norm_block(f"blocks.{k}", 1, TOKENS, mixer="mlp_tokens", mlp="mlp_channels",
                             mixer_kind=UnitKind.MLP)]
    head = UnitSpec("head", UnitKind.HEAD, 2, owns=existing(model, "norm", "head"))
    return Description((UnitSpec("stem", UnitKind.STEM, 0, TOKENS), *blocks, head), "timm MlpMixer")


def _root_parameters(model: nn.Module, *names: str) -> tuple[str, ...]:
    return tuple(n for n in names if isinstance(getattr(model, n, None), nn.Parameter))
