"""Optimiser with explicit weight-decay groups, and the warm-up + cosine / multistep learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from hub.layers import parameter_roles
from training.recipes import Recipe


def parameter_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict]:
    """One group with decay for everything (the original), or DeiT/timm groups: no decay on 1-D parameters
    (norms, biases) and on what the model's modules declare as position embeddings, relative-position tables
    or tokens (:mod:`hub.layers.roles`)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if decay_norm_and_bias:
        return [{"params": [p for _, p in params], "weight_decay": weight_decay}]
    declared = parameter_roles(model)
    exempt = [p for n, p in params if p.ndim <= 1 or n in declared]
    exempt_ids = {id(p) for p in exempt}
    decayed = [p for _, p in params if id(p) not in exempt_ids]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, recipe: Recipe, fused: bool = False) -> torch.optim.Optimizer:
    """``fused``: one kernel for the whole update (CUDA and CPU); the numbers match the loop implementation."""
    groups = parameter_groups(model, recipe.weight_decay, recipe.decay_norm_and_bias)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, fused=fused or None)
    return torch.optim.AdamW(groups, lr=recipe.lr, fused=fused or None)


def lr_factor(step: int, recipe: Recipe, steps_per_epoch: int) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based).

    Linear warm-up over ``warmup_epochs`` (per iteration, reaching the peak at its last step), then cosine to
    0 over ``epochs`` (per iteration) or multistep decay at the ``milestones`` (counted after warm-up).
    """
    warmup = recipe.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    step -= warmup
    if recipe.schedule == "multistep":
        epoch = step // steps_per_epoch
        return recipe.gamma ** sum(epoch >= m for m in recipe.milestones)
    total = max(recipe.epochs * steps_per_epoch, 1)
    return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def build_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, recipe, steps_per_epoch))
