"""Multi-head self-attention on token sequences and on windows of a feature map."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from hub.layers.roles import ParamRole
from hub.layers.windows import window_partition, window_reverse

_FUSED = True
MASKED = -1e4
"""Additive logit for forbidden pairs: exp(-1e4) is 0 in float32 and the value still fits float16."""


@contextmanager
def fused_attention(enabled: bool) -> Iterator[None]:
    """Switch between ``scaled_dot_product_attention`` and the explicit softmax(QK^T)V.

    Fused kernels are faster but some cannot be differentiated twice (Hessian-vector products); the
    explicit form always can. Disabled, other libraries' calls of ``scaled_dot_product_attention`` (timm's,
    torchvision's) take PyTorch's math backend, which can be differentiated twice too.
    """
    global _FUSED
    previous, _FUSED = _FUSED, enabled
    try:
        with nullcontext() if enabled else sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        _FUSED = previous


def attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` over the last two dims of ``(..., heads, tokens, dim_head)``.

    A bias that is trained (a relative-position table) takes the explicit form even when fused kernels are on:
    no fused CPU kernel returns the bias's gradient, so ``scaled_dot_product_attention`` falls back to its math
    path, which scales both q and k and was measured 5-10% slower per MSA unit than the explicit form.
    """
    if _FUSED and (bias is None or not bias.requires_grad):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1) @ v


class Attention(nn.Module):
    """Global MHSA on ``(B, N, C)`` tokens (ViT, PiT)."""

    def __init__(self, dim: int, heads: int, dim_head: int | None = None, qkv_bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.dim_head = dim_head or dim // heads
        inner = self.heads * self.dim_head
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4).unbind(0)
        out = attend(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


def relative_position_index(window: int) -> Tensor:
    """``(window^2, window^2)`` index into a ``(2 * window - 1)^2`` table of relative offsets."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def shifted_window_mask(resolution: tuple[int, int], window: int, shift: int) -> Tensor:
    """``(windows, window^2, window^2)`` additive mask that stops attention across the image border.

    After the cyclic shift the last window row/column holds pixels from both ends of the image. Each
    pixel is labelled by which of the three bands (not wrapped / partially / wrapped) it lies in, per
    axis; two pixels may attend to each other only if their labels match. Labelling by bands, not by
    window indices, is what makes the mask right for any number of windows (the original's was right
    only for 2x2 windows).
    """
    h, w = resolution
    labels = torch.zeros(1, h, w, 1)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in bands:
        for ws in bands:
            labels[:, hs, ws, :] = label
            label += 1
    win = window_partition(labels, window).squeeze(-1)
    return torch.where(win[:, :, None] != win[:, None, :], MASKED, 0.0)


class WindowAttention(nn.Module):
    """MHSA inside non-overlapping windows of a ``(B, H, W, C)`` map, optionally cyclically shifted (Swin).

    ``bias_per_head=False`` shares one relative-position table across heads, as AlterNet's local MSA does.
    ``out_dim`` may differ from ``dim`` (AlterNet's MSA expands back to the bottleneck width).
    """

    param_roles: ClassVar[Mapping[str, ParamRole]] = {"relative_bias": ParamRole.POSITION}

    def __init__(self, dim: int, heads: int, window: int, resolution: tuple[int, int], dim_head: int | None = None,
                 shift: int = 0, qkv_bias: bool = False, out_dim: int | None = None,
                 bias_per_head: bool = True) -> None:
        super().__init__()
        self.heads, self.window, self.shift, self.resolution = heads, window, shift, resolution
        self.dim_head = dim_head or dim // heads
        inner = heads * self.dim_head
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, out_dim or dim)
        self.relative_bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads if bias_per_head else 1))
        nn.init.trunc_normal_(self.relative_bias, std=0.02)
        self.register_buffer("bias_index", relative_position_index(window), persistent=False)
        mask = shifted_window_mask(resolution, window, shift) if shift else None
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        p, area = self.window, self.window * self.window
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, p)
        # unbind, not qkv[0], qkv[1], qkv[2]: its backward stacks the three gradients once, where three
        # selects would each zero-fill and copy a gradient the size of all three (a quarter of an MSA's backward)
        q, k, v = self.qkv(windows).reshape(b, -1, area, 3, self.heads, self.dim_head).permute(3, 0, 1, 4, 2, 5) \
            .unbind(0)
        bias = self.relative_bias[self.bias_index.reshape(-1)].reshape(area, area, -1).permute(2, 0, 1)
        if self.mask is not None:
            bias = bias + self.mask[:, None]  # (windows, heads or 1, area, area), broadcast over the batch
        out = attend(q, k, v, bias)  # (B, windows, heads, area, dim_head)
        out = self.proj(out.transpose(-3, -2).reshape(-1, area, self.heads * self.dim_head))
        out = window_reverse(out, p, h, w)
        if self.shift:
            out = torch.roll(out, shifts=(self.shift, self.shift), dims=(1, 2))
        return out
