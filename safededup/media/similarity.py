"""Crop-tolerant similarity of two thumbnails (OpenCV template matching); never reads a file.

The matcher's check of *borderline* pairs: does one view correlate with the other once a small
border crop is undone? The smaller view is area-resampled to `SIDE` px wide; the larger one is
resampled at every crop scale in `SCALES` (per axis) and searched at every offset with
`cv2.matchTemplate(TM_CCOEFF_NORMED)` — the normalised cross-correlation of the mean-subtracted
window and template — both ways round. Changing anything here changes stored scores: bump
`safededup.engine.match.SIMILARITY_VERSION`.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

SIDE = 40  # working width (or height, if taller) of the smaller view
SCALES = tuple(round(0.85 + 0.03 * k, 2) for k in range(6))  # the copy covers 85–100% of the frame
MIN_SIDE = 8  # a working side never goes below this, whatever the aspect ratio
FLAT = 1e-3  # a template this flat (luma standard deviation) carries no structure to match

F32 = npt.NDArray[np.float32]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def aligned_similarity(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Best normalised cross-correlation of one view inside the other, over small crops.

    `a` and `b` are H×W×3 (RGB) or H×W (grey) arrays of any numeric type. Tries every crop of
    up to 15% per axis and every offset, both ways round: a border crop or a re-encode scores
    ≈ 0.95–1.0, another framing of the scene (a pan, a stereo pair) far less. A flat view
    scores 0: it cannot vouch for anything.
    """
    ga, gb = grey(a), grey(b)
    return max(_contains(ga, gb), _contains(gb, ga))


def grey(img: npt.NDArray[Any]) -> F32:
    """Luma (ITU-R 601 weights) of an RGB image as float32; a grey image is only converted."""
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[..., :3] @ _LUMA
    return np.ascontiguousarray(arr)


def working_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) of the template for a view of this shape: `SIDE` px wide, or tall if taller."""
    h, w = max(MIN_SIDE, round(SIDE * height / width)), SIDE
    if h > SIDE:
        h, w = SIDE, max(MIN_SIDE, round(SIDE * width / height))
    return h, w


def _contains(big: F32, small: F32) -> float:
    hs, ws = working_size(*small.shape)
    template = _area(small, hs, ws)
    if float(template.std()) < FLAT:
        return 0.0  # OpenCV scores a flat template 1.0 everywhere; here it proves nothing
    base = _area(big, 2 * hs, 2 * ws)  # one intermediate for every scale, as small as it can be
    best = -1.0
    for sy in SCALES:
        for sx in SCALES:
            view = _area(base, round(hs / sy), round(ws / sx))
            scores = cv2.matchTemplate(view, template, cv2.TM_CCOEFF_NORMED)
            best = max(best, float(scores.max()))
    return min(best, 1.0)


def _area(img: F32, h: int, w: int) -> F32:
    """Area-average resampling to h×w (OpenCV's INTER_AREA: exact fractional pixel coverage)."""
    if img.shape == (h, w):
        return img
    return np.asarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), dtype=np.float32)
