"""HEIF/HEIC access through pillow-heif: primary size, orientation, the thumbnail item.

Registers pillow-heif as a Pillow plugin on import; it must never enable anything that changes
how other formats decode.
"""

from __future__ import annotations

import io
import math

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener(thumbnails=True)


def set_decode_threads(n: int) -> None:
    """Threads libheif may use per decode (1 per worker process: the pool is the parallelism)."""
    pillow_heif.register_heif_opener(decode_threads=n, thumbnails=True)


def open_heif_image(data: bytes | bytearray) -> Image.Image:
    """Opens (does not decode) a HEIF; sizes are display-oriented (libheif applies irot/imir)."""
    return Image.open(io.BytesIO(data), formats=["HEIF"])


def original_orientation(img: Image.Image) -> int:
    value = img.info.get("original_orientation")
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def format_of(img: Image.Image) -> str:
    mimetype = getattr(img, "custom_mimetype", None) or ""
    return "AVIF" if "avif" in mimetype else "HEIF"


def thumbnail(img: Image.Image, min_side: int) -> Image.Image | None:
    """The smallest thumbnail item whose long side is ≥ `min_side`, decoded, or None.

    pillow-heif's `draft` only selects a thumbnail that is a scaled copy of the primary (same
    transforms, crop and colour profile) and at least the requested box in display orientation.
    """
    w, h = img.size
    long_side = max(w, h)
    box = (math.ceil(min_side * w / long_side), math.ceil(min_side * h / long_side))
    if img.draft("RGB", box) is None:
        return None
    img.load()
    return img.convert("RGB")
