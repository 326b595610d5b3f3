"""Parameter roles: a module declares which of its parameters are positions or tokens, where they live.

A module class sets ``param_roles = {"pos_embed": ParamRole.POSITION}`` (names of its own parameters);
:func:`parameter_roles` collects them with full names for any model. The optimiser's DeiT/timm groups and the
landscape's original normalisation read them, so a new family gets both right by declaring once.
"""

from __future__ import annotations

from enum import StrEnum

from torch import nn


class ParamRole(StrEnum):
    POSITION = "position"
    """Position embeddings and relative-position tables: no weight decay (DeiT/timm groups); not perturbed by
    the original's landscape normalisation."""
    TOKEN = "token"
    """Learned tokens (CLS): no weight decay (DeiT/timm groups)."""


def parameter_roles(module: nn.Module) -> dict[str, ParamRole]:
    """Full parameter names -> roles, collected from every submodule's ``param_roles`` declaration."""
    roles = {}
    for prefix, sub in module.named_modules():
        for local, role in getattr(sub, "param_roles", {}).items():  # a class's declaration, or an instance's
            roles[f"{prefix}.{local}" if prefix else local] = role
    return roles
