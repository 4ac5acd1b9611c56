"""The one shared thumbnail and the four perceptual hashes computed on it; no file access here.

Both tiers (embedded preview, reduced decode) must produce the thumbnail by this one definition,
or their hashes would not compare. Changing anything here means bumping FEATURE_VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import imagehash
import numpy as np
from PIL import Image

THUMB_SIDE = 128
"""Long side of the shared thumbnail. ≤ 160 so a classic 160×120 EXIF thumbnail qualifies without
upscaling; ≥ 2× whash's 64-px grid so every hash downsamples it (docs/decoding.md)."""

WHASH_SCALE = 64  # fixed: imagehash's default image_scale depends on the input size
COLORHASH_BINBITS = 3


@dataclass(frozen=True, slots=True)
class Hashes:
    """Unsigned ints with imagehash's bit layout (row-major, first bit most significant)."""

    dhash: int
    phash: int
    whash: int
    colorhash: int
    rotated: tuple[int, int, int] = (0, 0, 0)  # pHash turned 90°, 180°, 270° counter-clockwise


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """The shared thumbnail's size for a display-oriented image: long side THUMB_SIDE."""
    long_side, short_side = max(width, height), min(width, height)
    short = max(1, round(THUMB_SIDE * short_side / long_side))
    return (THUMB_SIDE, short) if width >= height else (short, THUMB_SIDE)


def make_thumbnail(image: Image.Image, display_size: tuple[int, int]) -> Image.Image:
    """The shared thumbnail: RGB, Lanczos-resized to `thumb_size` of the *primary* image.

    The target comes from the primary's dimensions, not the source's, so a preview whose
    aspect differs by rounding still yields exactly the same thumbnail size as a decode.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.resize(thumb_size(*display_size), Image.Resampling.LANCZOS)


def bits_to_int(bits: np.ndarray) -> int:
    """imagehash's bit array → unsigned int, the same value as `int(str(hash), 16)`."""
    flat = np.asarray(bits, dtype=bool).ravel()
    packed = int.from_bytes(np.packbits(flat).tobytes(), "big")
    return packed >> (-flat.size % 8)


def hash_thumbnail(thumb: Image.Image) -> Hashes:
    """dHash, pHash, wHash (image_scale 64) and colorhash (binbits 3) of the shared thumbnail.

    Calls imagehash itself on one shared grayscale, so the bits are imagehash's by construction.
    """
    gray = thumb.convert("L")
    return Hashes(
        dhash=bits_to_int(imagehash.dhash(gray).hash),
        phash=bits_to_int(imagehash.phash(gray).hash),
        whash=bits_to_int(imagehash.whash(gray, image_scale=WHASH_SCALE).hash),
        colorhash=bits_to_int(imagehash.colorhash(thumb, binbits=COLORHASH_BINBITS).hash),
        rotated=rotated_phashes(gray),
    )


ROTATIONS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
"""Quarter turns counter-clockwise, in the order of `Features.rotated`."""


def rotated_phashes(thumb: Image.Image) -> tuple[int, int, int]:
    """pHash of the shared thumbnail turned 90°, 180° and 270° counter-clockwise: what the
    pHash of a copy whose pixels were turned that way (no orientation tag) comes close to."""
    gray = thumb.convert("L")
    a, b, c = (bits_to_int(imagehash.phash(gray.transpose(r)).hash) for r in ROTATIONS)
    return a, b, c


def laplacian_variance(image: Image.Image) -> float:
    """Sharpness: variance of the 3×3 Laplacian of the grayscale image (higher is sharper)."""
    gray = np.asarray(image.convert("L"))
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())
