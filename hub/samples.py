"""Forty real CIFAR-10 images shipped with the package (4 per class, from the held-out validation split of
the shipped models' training archive), for export parity gates, warm-up and examples without any data."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).with_name("samples")


def sample_images() -> list[tuple[Image.Image, str]]:
    """``(image, CIFAR-10 class name)`` pairs in a fixed order."""
    return [(Image.open(path).convert("RGB"), path.stem.rsplit("_", 1)[0]) for path in sorted(SAMPLES.glob("*.png"))]
