"""timm models with every floating tensor drawn at random, for the tests that compare our conversions and unit
descriptions with timm's own models."""

import math

import torch

EMBEDDINGS = ("patch_embed.proj", "patch_embed.conv", "stem.proj", "pos_embed", "cls_token")
"""Scaled to the size of LayerNorm's epsilon, so that a wrong epsilon changes the logits by far more than 1e-4."""


def randomised(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    """timm's model with every floating tensor drawn at random, norms, biases and BatchNorm statistics included
    (a wrong mapping cannot hide behind ones and zeros)."""
    torch.manual_seed(seed)
    import timm

    model = timm.create_model(name, pretrained=False, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict(keep_vars=True).items():
            if tensor.is_floating_point():
                tensor.copy_(_draw(key, tensor.shape, generator))
    return model.eval()


def _draw(key: str, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    if key.endswith("running_var"):
        value = 0.5 + torch.rand(shape, generator=generator)
    elif key.startswith(("pos_embed", "cls_token")) or "relative_position_bias_table" in key:
        value = torch.randn(shape, generator=generator)
    elif len(shape) >= 2:
        value = torch.randn(shape, generator=generator) / math.sqrt(math.prod(shape[1:]))
    elif key.endswith("weight"):
        value = 1 + 0.1 * torch.randn(shape, generator=generator)
    else:
        value = 0.1 * torch.randn(shape, generator=generator)
    return value * 3e-3 if key.startswith(EMBEDDINGS) else value
