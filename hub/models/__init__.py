"""One module per architecture family; importing this package registers them all."""

from hub.models import alternet, resnet

__all__ = ["alternet", "resnet"]
