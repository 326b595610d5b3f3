"""A model's inference input, defined once from its config, with NumPy and Pillow alone: resize the short side to
``size / crop_pct`` with Pillow's antialiased filter, centre-crop ``size``, scale to [0, 1], normalise.

Everything that feeds a model goes through here: the torchvision form of the training evaluation, the analyses and
the export gates (:func:`hub.transforms.eval_transform`) resizes with :func:`resize_crop`, and every predictor and
the service build their batches with :func:`input_batch`, so the worker that serves ONNX Runtime needs no torch.
Resizing with Pillow (as timm's evaluation transform does) also gives the same pixels on every CPU, where
torch's uint8 resize takes a different path with and without AVX2.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from hub.config import ModelConfig

RESAMPLING = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
              "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` with the shorter side ``short_side`` and the aspect ratio kept (the longer side
    truncated, as torchvision's ``Resize(int)`` computes it)."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def resize_crop(image: Image.Image, config: ModelConfig) -> Image.Image:
    """The RGB image resized to ``size / crop_pct`` on its shorter side and centre-cropped to ``size``."""
    size = config.input_size[-1]
    image = image if image.mode == "RGB" else image.convert("RGB")
    target = resized_size(*image.size, int(size / config.crop_pct))
    if target != image.size:
        image = image.resize(target, RESAMPLING[config.interpolation])
    width, height = image.size
    if (width, height) == (size, size):
        return image
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def pixel_batch(images: list[Image.Image], config: ModelConfig) -> np.ndarray:
    """Float32 ``(N, 3, H, W)`` pixels in [0, 1], before normalisation (what pixel-space perturbations act on)."""
    arrays = [np.asarray(resize_crop(image, config), dtype=np.uint8) for image in images]
    return np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)


def normalise(pixels: np.ndarray, config: ModelConfig) -> np.ndarray:
    """``(..., 3, H, W)`` pixels in [0, 1] -> the model's normalised input (float32)."""
    mean = np.asarray(config.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(config.std, dtype=np.float32)[:, None, None]
    return ((np.asarray(pixels, dtype=np.float32) - mean) / std).astype(np.float32)


def input_batch(images: list[Image.Image], config: ModelConfig) -> np.ndarray:
    """The model's normalised float32 input ``(N, 3, H, W)`` for PIL images."""
    return normalise(pixel_batch(images, config), config)
