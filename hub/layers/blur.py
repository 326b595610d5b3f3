"""Spatial smoothing ("Blurs Behave Like Ensembles"): a fixed low-pass filter after a stage."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Blur(nn.Module):
    """Depthwise binomial [1, 2, 1] (x) [1, 2, 1] / 16 blur with reflect padding.

    The original uses a 2x2 box blur with padding 1, which grows the map by one pixel per use; the
    binomial 3x3 kernel is two such box blurs composed and keeps the map size, so stage resolutions stay
    powers of two.
    """

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16.0)[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.kernel.expand(c, 1, 3, 3), groups=c)

