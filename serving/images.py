"""Turning request bytes into an RGB image, or a 4xx that says what is wrong, at a bounded cost.

Before any pixel is decoded: the byte size, the format (only the JPEG, MPO, PNG, WebP and BMP decoders are
tried, so nothing else is parsed), the pixel count against the request's remaining budget, the aspect ratio
(a 1 x 100000 image would become a 32 x 3,200,000 tensor), RLE-compressed BMPs (decoded by a pure-Python loop)
and JPEG scan counts (progressive JPEGs can repeat scans) are checked. JPEGs are decoded at the smallest DCT
scale that still covers the model's input (draft mode). Then EXIF orientation is applied (phone photos), 16-bit
images are scaled to 8 bits rather than clipped, alpha is composited over white and palettes are expanded.
Messages are our own: a decoder's text is never echoed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from http import HTTPStatus

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from serving.errors import RequestError

FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
"""The only decoders tried (Pillow's JPEG decoder also opens MPO, the multi-picture JPEG of cameras)."""
MAX_ASPECT_RATIO = 16
MAX_JPEG_SCANS = 32
"""A baseline JPEG has one scan and libjpeg's progressive modes about ten."""
BMP_UNCOMPRESSED = (0, 3)
"""BI_RGB and BI_BITFIELDS; the RLE modes (1, 2) are refused."""
REFUSED = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"\x00\x00\x01\x00": "ICO",
           b"%PDF": "PDF", b"<svg": "SVG", b"<?xml": "XML", b"\x00\x00\x00\x1cftypheic": "HEIC"}
"""Signatures of common formats that are not read, named in the answer without running their decoders."""


class ImageError(RequestError):
    """An image that is refused, with the status and message to answer."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    """RGB, upright; possibly smaller than ``size`` when a JPEG was decoded at a reduced DCT scale."""
    size: tuple[int, int]
    """The width and height the file declares."""
    format: str
    mode: str
    """The mode before conversion (L, RGBA, P, I;16, ...)."""

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers in a JPEG (outside entropy-coded data a 0xFF byte is always a marker or stuffed)."""
    return data.count(b"\xff\xda")


def decode_image(data: bytes, max_bytes: int, max_pixels: int, draft_size: int | None = None) -> Decoded:
    """RGB image from JPEG/MPO/PNG/WebP/BMP bytes, refusing anything whose decoding would cost out of proportion.

    ``max_pixels`` is what is left of the request's pixel budget; ``draft_size`` is the shorter side the model's
    preprocessing needs (JPEGs are decoded no larger than the smallest scale covering it)."""
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"the image is {len(data):,} bytes; the limit is {max_bytes:,}",
                         HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    for signature, name in REFUSED.items():
        if data.startswith(signature):
            raise ImageError(f"{name} images are not accepted; send JPEG, PNG, WebP or BMP",
                             HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(f"the image is {width}x{height} = {width * height:,} pixels; {max_pixels:,} are "
                                 f"left for this request", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            if max(width, height) > MAX_ASPECT_RATIO * max(min(width, height), 1):
                raise ImageError(f"the image is {width}x{height}; images longer than {MAX_ASPECT_RATIO} times their "
                                 f"width (or the reverse) are not accepted")
            if image.format == "BMP" and image.info.get("compression", 0) not in BMP_UNCOMPRESSED:
                raise ImageError("RLE-compressed BMPs are not accepted; send PNG", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            if image.format in ("JPEG", "MPO"):
                if jpeg_scans(data) > MAX_JPEG_SCANS:
                    raise ImageError(f"the JPEG has more than {MAX_JPEG_SCANS} scans")
                if draft_size:
                    image.draft("RGB", (draft_size, draft_size))
            image.load()
            fmt, mode = str(image.format), image.mode
            ImageOps.exif_transpose(image, in_place=True)
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        raise ImageError("the data is not an image this service reads (JPEG, PNG, WebP or BMP)",
                         HTTPStatus.UNSUPPORTED_MEDIA_TYPE) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError("the image has too many pixels", HTTPStatus.REQUEST_ENTITY_TOO_LARGE) from err
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError) as err:
        raise ImageError("the image is corrupt or truncated") from err
    return Decoded(to_rgb(image), (width, height), fmt, mode)


def to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer images scaled to 8 bits; alpha composited over white (a transparent background
    is not black); palettes expanded."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")
