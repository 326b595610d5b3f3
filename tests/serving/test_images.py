"""Image decoding: every accepted format and mode becomes RGB; everything else is a precise 4xx."""

import io
from http import HTTPStatus

import pytest
from PIL import Image

from serving.images import ImageError, decode_image

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 5_000_000}


def encoded(mode: str, fmt: str, size=(40, 30)) -> bytes:
    image = Image.new(mode, size)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(("mode", "fmt"), [("RGB", "JPEG"), ("L", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG"),
                                           ("P", "PNG"), ("LA", "PNG"), ("I;16", "PNG"), ("RGB", "WEBP"),
                                           ("RGBA", "WEBP"), ("RGB", "BMP"), ("P", "BMP"), ("1", "PNG")])
def test_accepted_images_become_rgb(mode, fmt):
    decoded = decode_image(encoded(mode, fmt), **LIMITS)
    assert decoded.image.mode == "RGB" and decoded.image.size == (40, 30)
    assert decoded.format == fmt  # (PIL may store a palette BMP as 1-bit: the mode is what the file holds)


def test_transparent_pixels_become_white():
    decoded = decode_image(encoded("RGBA", "PNG"), **LIMITS)  # fully transparent black
    assert decoded.image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"", HTTPStatus.BAD_REQUEST, "empty"),
    (b"hello, world", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "not an image"),
    (encoded("RGB", "GIF"), HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "GIF images are not accepted"),
    (encoded("RGB", "TIFF"), HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "TIFF"),
    (encoded("RGB", "PNG")[:60], HTTPStatus.BAD_REQUEST, "truncated"),
    (encoded("RGB", "JPEG", (200, 200))[:400], HTTPStatus.BAD_REQUEST, "truncated"),
    (b"\x00" * 1_000_001, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "limit"),
    (encoded("1", "PNG", (3000, 2000)), HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "pixels"),
])
def test_bad_inputs_are_precise_client_errors(data, status, words):
    with pytest.raises(ImageError, match=words) as error:
        decode_image(data, **LIMITS)
    assert error.value.status == status
