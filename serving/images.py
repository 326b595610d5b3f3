"""Turning request bytes into an RGB image, or a 4xx that says what is wrong: empty, too large, not an image,
an unsupported format, truncated, or too many pixels (a decompression bomb)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from http import HTTPStatus

from PIL import Image, UnidentifiedImageError

FORMATS = {"JPEG", "PNG", "WEBP", "BMP"}


class ImageError(ValueError):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    """RGB, original size."""
    format: str
    mode: str
    """The mode before conversion (L, RGBA, P, ...)."""


def decode_image(data: bytes, max_bytes: int, max_pixels: int) -> Decoded:
    """RGB image from JPEG/PNG/WebP/BMP bytes (grey, alpha and palette images are converted)."""
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"the image is {len(data):,} bytes; the limit is {max_bytes:,}",
                         HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise ImageError(f"{image.format} images are not accepted; send JPEG, PNG, WebP or BMP",
                                 HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(f"the image is {width}x{height} = {width * height:,} pixels; the limit is "
                                 f"{max_pixels:,}", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        raise ImageError("the data is not an image PIL can read (JPEG, PNG, WebP or BMP expected)",
                         HTTPStatus.UNSUPPORTED_MEDIA_TYPE) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"the image has too many pixels: {err}", HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageError(f"the image is corrupt or truncated: {err}") from err
    return Decoded(to_rgb(image), image.format, image.mode)


def to_rgb(image: Image.Image) -> Image.Image:
    """Alpha is composited over white (a transparent background is not black); palettes are expanded."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")
