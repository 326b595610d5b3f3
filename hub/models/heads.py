"""Head units split the way timm splits a classifier, which :meth:`hub.units.UnitModel.forward_intermediates`
and ``forward_head`` rely on: ``norm`` closes the features (the end of timm's ``forward_features``; an identity
where a family has no final norm), ``pre_logits`` pools them and runs any hidden layers, ``fc`` classifies.

The token-sequence head is :class:`hub.models.transformer.TokenHead`, Swin's is :class:`hub.models.swin.MapHead`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hub.units import Unit, UnitKind


class Head(Unit):
    """A head unit: ``forward`` is ``fc(pre_logits(norm(x)))``; subclasses provide the three parts."""

    norm: nn.Module
    fc: nn.Module

    def __init__(self, stage: int) -> None:
        super().__init__(UnitKind.HEAD, stage)

    def pre_logits(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pre_logits(self.norm(x)))


class SequentialHead(Head):
    """The conv families' head: ``norm`` layers (pre-activation networks' final BN-ReLU), pooling and hidden
    layers, then the classifier, kept in one ``layers`` list so that weight names stay ``layers.{i}`` as the
    shipped and converted checkpoints have them."""

    def __init__(self, stage: int, norm: Sequence[nn.Module], pool: Sequence[nn.Module], fc: nn.Module) -> None:
        super().__init__(stage)
        self.layers = nn.Sequential(*norm, *pool, fc)
        self.norm_layers = len(norm)

    @property
    def norm(self) -> nn.Module:
        return self.layers[: self.norm_layers]

    @property
    def fc(self) -> nn.Module:
        return self.layers[-1]

    def pre_logits(self, x: Tensor) -> Tensor:
        return self.layers[self.norm_layers : -1](x)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # the layers in one go, so that the exported graph is the one it always was
