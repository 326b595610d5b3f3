"""Stochastic depth."""

from torch import Tensor, nn


class DropPath(nn.Module):
    """Drop the residual branch of whole samples with probability ``p`` (training only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def stochastic_depth_rates(num_units: int, rate: float) -> list[float]:
    """Linear rule of the original code: unit j of J drops with ``rate * j / (J - 1)`` (first 0, last ``rate``)."""
    if num_units <= 1:
        return [0.0] * num_units
    return [rate * j / (num_units - 1) for j in range(num_units)]



