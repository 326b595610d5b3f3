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
    (b"hello, world", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "not an image this service reads"),
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


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    decoded = decode_image(saved(image, "JPEG", exif=exif), **LIMITS)
    assert decoded.image.size == (20, 40) and decoded.size == (40, 20)
    r, _, b = decoded.image.getpixel((10, 5))
    assert b > 200 and r < 60  # the blue half is on top once upright


def test_sixteen_bit_images_are_scaled_not_clipped():
    grey = Image.fromarray(__import__("numpy").full((8, 8), 32768, dtype="uint16"))
    decoded = decode_image(saved(grey, "PNG"), **LIMITS)
    assert decoded.mode.startswith("I") and decoded.image.getpixel((0, 0)) == (128, 128, 128)


def test_camera_mpo_files_are_accepted():
    frames = [Image.new("RGB", (32, 32), (200, 10, 10)), Image.new("RGB", (32, 32), (10, 200, 10))]
    data = saved(frames[0], "MPO", save_all=True, append_images=frames[1:])
    decoded = decode_image(data, **LIMITS)
    assert decoded.format == "MPO" and decoded.image.getpixel((5, 5))[0] > 150


def test_costly_images_are_refused_before_decoding():
    with pytest.raises(ImageError, match="longer than 16 times"):
        decode_image(saved(Image.new("L", (1, 100_000)), "PNG"), **LIMITS)
    rle = bytearray(saved(Image.new("P", (8, 8)), "BMP"))
    rle[30:34] = (1).to_bytes(4, "little")  # BI_RLE8 in the info header
    with pytest.raises(ImageError, match="RLE") as error:
        decode_image(bytes(rle), **LIMITS)
    assert error.value.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    progressive = saved(Image.new("RGB", (64, 64)), "JPEG", progressive=True)
    scans = progressive.replace(b"\xff\xd9", b"") + (b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" * 40) + b"\xff\xd9"
    with pytest.raises(ImageError, match="scans"):
        decode_image(scans, **LIMITS)
    with pytest.raises(ImageError, match="ICO images are not accepted"):
        decode_image(saved(Image.new("RGB", (32, 32)), "ICO"), **LIMITS)


def test_large_jpegs_are_decoded_at_a_reduced_scale_and_pixels_count_per_request():
    big = saved(Image.new("RGB", (2048, 1536), (9, 99, 199)), "JPEG")
    decoded = decode_image(big, 10_000_000, 5_000_000, draft_size=32)
    assert decoded.size == (2048, 1536) and decoded.image.size == (256, 192)  # 1/8 scale still covers 32
    with pytest.raises(ImageError, match="left for this request"):
        decode_image(big, 10_000_000, 3_000_000)
