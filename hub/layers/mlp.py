"""Two-layer perceptron used by transformer and mixer units."""

from torch import nn


class Mlp(nn.Sequential):
    def __init__(self, dim: int, hidden: int, out_dim: int | None = None, drop: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, out_dim or dim),
                         nn.Dropout(drop))
