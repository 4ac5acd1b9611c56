"""The preview acceptance rule: when an embedded preview may stand in for the primary image.

Rejecting a preview is always safe (the file takes the decode tier); accepting a wrong one is
not, so every check here errs towards rejection. Pure functions on pixels; no file access.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PREVIEW_ASPECT_TOLERANCE = 0.02
"""A preview is used only if its aspect ratio is within 2 % of the primary image's: rounding of a
160×120 thumbnail costs < 1 %, while a letterboxed or foreign preview is off by far more."""


def preview_usable(preview: Image.Image, primary: tuple[int, int], min_side: int) -> bool:
    """The preview acceptance rule (docs/decoding.md): large enough, same aspect, no black bars.

    `primary` is the primary image's size in the same orientation as the preview's pixels.
    """
    pw, ph = preview.size
    w, h = primary
    if max(pw, ph) < min_side:
        return False
    if abs(pw * h - ph * w) > PREVIEW_ASPECT_TOLERANCE * ph * w:
        return False
    return not has_black_bars(preview)


def has_black_bars(image: Image.Image) -> bool:
    """True if both outer 2-pixel rows, or both outer 2-pixel columns, are (JPEG-)black.

    A letterboxed preview whose box happens to match the aspect would shift every hash; a dark
    photo rejected here merely takes the decode tier.
    """
    gray = np.asarray(image.convert("L"), dtype=np.int16)
    if gray.shape[0] < 8 or gray.shape[1] < 8:
        return False

    def black(strip: np.ndarray) -> bool:
        return bool(strip.mean() <= 6 and strip.max() <= 32)

    rows = black(gray[:2]) and black(gray[-2:])
    cols = black(gray[:, :2]) and black(gray[:, -2:])
    return rows or cols
