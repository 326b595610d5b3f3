"""Input pipelines from a recipe and a model config, built on torchvision.transforms.v2.

Per image: random crop with padding, horizontal flip, RandAugment, then normalisation with the model's own
mean/std. Per batch: MixUp or CutMix (one picked at random per batch, as timm's switch_prob=0.5 does) and
label smoothing, giving soft targets for :func:`soft_target_cross_entropy`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision.transforms import v2

from hub.config import ModelConfig
from hub.transforms import normalisation_steps
from training.recipes import Recipe


def train_transform(recipe: Recipe, config: ModelConfig) -> v2.Compose:
    size = config.input_size[-1]
    steps: list[v2.Transform] = [v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True)]
    if recipe.crop_padding:
        steps.append(v2.RandomCrop(size, padding=recipe.crop_padding))
    if recipe.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if recipe.randaugment_ops:
        steps.append(v2.RandAugment(recipe.randaugment_ops, recipe.randaugment_magnitude))
    return v2.Compose(steps + normalisation_steps(config))


def batch_mixer(recipe: Recipe, num_classes: int) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``(images, labels) -> (mixed images, soft targets)`` with the recipe's MixUp/CutMix and label smoothing."""
    mixers = [v2.MixUp(alpha=recipe.mixup_alpha, num_classes=num_classes)] if recipe.mixup_alpha else []
    if recipe.cutmix_alpha:
        mixers.append(v2.CutMix(alpha=recipe.cutmix_alpha, num_classes=num_classes))
    mix = v2.RandomChoice(mixers) if mixers else None
    eps = recipe.label_smoothing

    def apply(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if mix is not None:
            images, targets = mix(images, labels)
        else:
            targets = torch.nn.functional.one_hot(labels, num_classes).float()
        return images, targets * (1 - eps) + eps / num_classes

    return apply


def soft_target_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of ``-sum_k t_k log softmax(logits)_k``: cross-entropy against mixed/smoothed targets."""
    return -(targets * logits.log_softmax(-1)).sum(-1).mean()
