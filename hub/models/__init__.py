"""One module per architecture family; importing this package registers them all."""

from hub.models import alexnet, alternet, mixer, pit, resnet, swin, vgg, vit

__all__ = ["alexnet", "alternet", "mixer", "pit", "resnet", "swin", "vgg", "vit"]
