"""Unit descriptions of torchvision's ResNet, ViT and Swin (module names of torchvision 0.15+)."""

from __future__ import annotations

from torch import nn

from hub.describe import Description, UnitSpec
from hub.descriptions import NHWC, existing, last_norm, pre_norm_block, register_description, residual_stages, tokens
from hub.units import UnitKind


@register_description("torchvision.models.resnet.ResNet")
def resnet(model: nn.Module) -> Description:
    """Stem up to the max-pool, one conv unit per block (branch ends at its last BatchNorm)."""
    stages = ["layer1", "layer2", "layer3", "layer4"]
    units = [UnitSpec("maxpool", UnitKind.STEM, 0, owns=("conv1", "bn1")),
             *residual_stages(model, stages, last_norm),
             UnitSpec("fc", UnitKind.HEAD, len(stages) + 1)]
    return Description(tuple(units), "torchvision ResNet")


@register_description("torchvision.models.vision_transformer.VisionTransformer")
def vision_transformer(model: nn.Module) -> Description:
    """The stem ends after the class token and position embedding (the encoder's dropout); attention is
    ``nn.MultiheadAttention``, whose tuple output the lesion zeroes in its first element."""
    layout = tokens(1)
    stem = UnitSpec("encoder.dropout", UnitKind.STEM, 0, layout,
                    owns=("conv_proj", "class_token", "encoder.pos_embedding"))
    blocks = [spec for name, _ in model.encoder.layers.named_children() for spec in
              pre_norm_block(f"encoder.layers.{name}", 1, layout, norm1="ln_1", mixer="self_attention",
                             norm2="ln_2")]
    head = UnitSpec("heads", UnitKind.HEAD, 2, owns=("encoder.ln", "heads"))
    return Description((stem, *blocks, head), "torchvision VisionTransformer")


@register_description("torchvision.models.swin_transformer.SwinTransformer")
def swin_transformer(model: nn.Module) -> Description:
    """``features`` alternates block stages and patch merging (pool units); blocks work on NHWC maps."""
    units = [UnitSpec("features.0", UnitKind.STEM, 0, NHWC)]
    stage = 0
    for i, part in enumerate(model.features):
        if i == 0:
            continue
        if isinstance(part, nn.Sequential):
            stage += 1
            units += [spec for k in range(len(part)) for spec in
                      pre_norm_block(f"features.{i}.{k}", stage, NHWC)]
        else:
            units.append(UnitSpec(f"features.{i}", UnitKind.POOL, stage + 1, NHWC))
    units.append(UnitSpec("head", UnitKind.HEAD, stage + 1, owns=existing(model, "norm", "head")))
    return Description(tuple(units), "torchvision SwinTransformer")
