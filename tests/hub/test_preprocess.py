"""One preprocessing, two forms: the NumPy/Pillow batch every predictor and the service build equals the
torchvision transform of the training evaluation, the analyses and the export gates, bit for bit, and the
served ONNX Runtime model agrees with PyTorch on real images of several sizes, formats and modes."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.transforms import InterpolationMode, v2

from export import load_predictor
from hub.config import ModelConfig
from hub.postprocess import probabilities
from hub.preprocess import input_batch, resize_crop
from hub.samples import SAMPLES
from hub.transforms import eval_transform
from serving.images import decode_image

FIXTURES = Path(__file__).parents[1] / "fixtures"
REAL = sorted((FIXTURES / "cifar100-samples").rglob("*.png"))[:6] + sorted(SAMPLES.glob("*.png"))[::10]
SIZES = [(32, 32), (45, 37), (17, 29), (640, 480), (224, 224)]
FORMATS = [("PNG", "RGB"), ("JPEG", "RGB"), ("WEBP", "RGBA"), ("BMP", "RGB"), ("PNG", "L"), ("PNG", "P")]


def encoded(path: Path, size: tuple[int, int], fmt: str, mode: str) -> bytes:
    image = Image.open(path).convert("RGB").resize(size, Image.Resampling.LANCZOS).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_there_are_real_images_of_every_kind():
    assert len(REAL) >= 8 and all(path.is_file() for path in REAL)


@pytest.mark.parametrize(("interpolation", "crop_pct", "size"), [("bilinear", 1.0, 32), ("bicubic", 0.875, 224),
                                                                  ("bicubic", 0.9, 32)])
def test_the_numpy_batch_equals_the_torchvision_transform_bit_for_bit(interpolation, crop_pct, size):
    config = ModelConfig("any", 10, input_size=(3, size, size), interpolation=interpolation, crop_pct=crop_pct)
    transform = eval_transform(config)
    for path in REAL[:6]:
        for image_size in SIZES:
            image = Image.open(path).convert("RGB").resize(image_size)
            assert np.array_equal(transform(image).numpy()[None], input_batch([image], config))


def test_the_geometry_is_torchvisions_resize_and_centre_crop():
    config = ModelConfig("any", 10, input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875)
    torchvision_pil = v2.Compose([v2.Resize(256, InterpolationMode.BICUBIC), v2.CenterCrop(224)])
    for image_size in SIZES:
        image = Image.open(REAL[0]).convert("RGB").resize(image_size)
        assert np.array_equal(np.asarray(torchvision_pil(image)), np.asarray(resize_crop(image, config)))


def test_the_served_model_agrees_with_pytorch_on_real_images():
    onnx = load_predictor("alternet-tiny-cifar10", "onnxruntime", threads=1)
    eager = load_predictor("alternet-tiny-cifar10", "torch", threads=1)
    transform = eval_transform(eager.config)
    worst, checked = 0.0, 0
    for path in REAL:
        for size in SIZES[:4]:
            for fmt, mode in FORMATS:
                decoded = decode_image(encoded(path, size, fmt, mode), 10 << 20, 10**7, 32).image
                served = probabilities(onnx.predict(onnx.preprocess([decoded])))[0]
                reference = probabilities(eager.predict(transform(decoded).numpy()[None]))[0]
                assert served.argmax() == reference.argmax(), (path.name, size, fmt, mode)
                worst, checked = max(worst, float(np.abs(served - reference).max())), checked + 1
    print(f"{checked} images: max |probability difference| {worst:.2e}")
    assert checked >= 200 and worst < 1e-4
