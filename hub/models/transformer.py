"""Pieces shared by the token-sequence families (ViT, PiT, Mixer): sub-block units and heads."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hub.layers import Attention, Mlp
from hub.models.heads import Head
from hub.units import MapLayout, Residual, Unit, UnitKind

TIMM_EPS = 1e-6
"""LayerNorm epsilon of timm's ViT and PiT, with which the paper trained (and released) them; PyTorch's is 1e-5."""


def msa_unit(dim: int, heads: int, stage: int, layout: MapLayout, drop_path: float, qkv_bias: bool,
             eps: float = 1e-5) -> Unit:
    """Pre-norm ``x + MSA(LN(x))``."""
    branch = nn.Sequential(nn.LayerNorm(dim, eps=eps), Attention(dim, heads, qkv_bias=qkv_bias))
    return Residual(UnitKind.MSA, stage, branch, drop_path=drop_path, layout=layout)


def mlp_unit(dim: int, hidden: int, stage: int, layout: MapLayout, drop_path: float, eps: float = 1e-5) -> Unit:
    """Pre-norm ``x + MLP(LN(x))``."""
    branch = nn.Sequential(nn.LayerNorm(dim, eps=eps), Mlp(dim, hidden))
    return Residual(UnitKind.MLP, stage, branch, drop_path=drop_path, layout=layout)


class TokenHead(Head):
    """LayerNorm (the final norm), then the CLS token (``pool="cls"``) or the mean of all tokens, then a linear
    classifier."""

    def __init__(self, stage: int, dim: int, num_classes: int, pool: str = "cls", eps: float = 1e-5) -> None:
        super().__init__(stage)
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', not {pool!r}")
        self.pool = pool
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fc = nn.Linear(dim, num_classes)

    def pre_logits(self, x: Tensor) -> Tensor:
        return x[:, 0] if self.pool == "cls" else x.flatten(1, -2).mean(1)


def init_token_params(*params: nn.Parameter) -> None:
    for p in params:
        nn.init.trunc_normal_(p, std=0.02)


def prepend(cls_token: Tensor, tokens: Tensor) -> Tensor:
    return torch.cat([cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
