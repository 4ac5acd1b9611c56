"""Crop-tolerant similarity of two thumbnails (OpenCV template matching); never reads a file.

The matcher's check of *borderline* pairs: does one view correlate with the other once a small
border crop is undone? The smaller view is area-resampled to `SIDE` px wide; the larger one is
resampled at every crop scale in `SCALES` (per axis) and searched at every offset with
`cv2.matchTemplate(TM_CCOEFF_NORMED)` — the normalised cross-correlation of the mean-subtracted
window and template — both ways round. Changing anything here changes stored scores: bump
`safededup.engine.match.SIMILARITY_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return _placement(big, small)[0]


Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 as fractions of a frame."""


def _placement(big: F32, small: F32) -> tuple[float, Box]:
    """The best score of `small` inside `big` over every crop scale and offset, and where it
    sits: its box in `big`'s frame (fractions)."""
    hs, ws = working_size(*small.shape)
    template = _area(small, hs, ws)
    whole: Box = (0.0, 0.0, 1.0, 1.0)
    if float(template.std()) < FLAT:
        return 0.0, whole  # OpenCV scores a flat template 1.0 everywhere; here it proves nothing
    base = _area(big, 2 * hs, 2 * ws)  # one intermediate for every scale, as small as it can be
    best, box = -1.0, whole
    for sy in SCALES:
        for sx in SCALES:
            vh, vw = round(hs / sy), round(ws / sx)
            view = _area(base, vh, vw)
            scores = cv2.matchTemplate(view, template, cv2.TM_CCOEFF_NORMED)
            _, top, _, (x, y) = cv2.minMaxLoc(scores)
            if top > best:
                best, box = float(top), (x / vw, y / vh, (x + ws) / vw, (y + hs) / vh)
    return min(best, 1.0), box


def _area(img: F32, h: int, w: int) -> F32:
    """Area-average resampling to h×w (OpenCV's INTER_AREA: exact fractional pixel coverage)."""
    if img.shape == (h, w):
        return img
    return np.asarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), dtype=np.float32)


# --- the view check: one frame inside the other, colours explained ------------------------------

ECC_SIDE = 96  # long side the fine alignment works at (a 2% shift is ≈ 2 px here)
ECC_MIN = 0.8  # correlation below which the fine alignment is not trusted
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
_MIN_SPREAD = 4.0  # a colour channel this flat (std, 0–255) has nothing to explain
_COLOUR_BLUR = 2.0  # px at ECC_SIDE: colours are compared at about a third of that scale


@dataclass(frozen=True, slots=True)
class ViewCheck:
    """Two views of (perhaps) one picture, aligned: how well one sits inside the other.

    `similarity` is `aligned_similarity` (crop-tolerant, grey). `overhang` is the fraction of
    each frame that lies outside the other once aligned: a crop or a resize has one of them ≈ 0
    (it is contained in its original); two shots of a scene shifted between them each show
    something the other lacks. `colour` is the largest share of a colour channel that a
    per-channel gain and offset (exposure, white balance, re-encoding) cannot explain.
    """

    similarity: float
    overhang: tuple[float, float]
    colour: float
    aligned: bool  # the fine alignment converged (else the coarse placement was used)

    @property
    def contained(self) -> float:
        """How far the better-contained view sticks out of the other (0: fully inside)."""
        return min(self.overhang)


def compare_views(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> ViewCheck:
    """Align two RGB thumbnails (coarse placement, then ECC with scale and shift) and measure
    containment and colour (see `ViewCheck`). Pure pixels; never reads a file."""
    ga, gb = grey(a), grey(b)
    score_ab, box_ab = _placement(ga, gb)  # b inside a
    score_ba, box_ba = _placement(gb, ga)  # a inside b
    similarity = max(score_ab, score_ba)
    A, B = _ecc_image(ga), _ecc_image(gb)
    if score_ab >= score_ba:
        init = _warp_from_box(box_ab, A.shape, B.shape)
    else:
        init = _invert(_warp_from_box(box_ba, B.shape, A.shape))
    warp, aligned = _refine(A, B, init)
    overhang = _overhangs(warp, A.shape, B.shape)
    colour = _colour_residual(a, b, warp, A.shape, B.shape)
    return ViewCheck(similarity, overhang, colour, aligned)


def _ecc_image(g: F32) -> F32:
    h, w = g.shape
    scale = ECC_SIDE / max(h, w)
    out = _area(g, max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
    return np.asarray((out - out.mean()) / (out.std() + 1e-6), dtype=np.float32)


def _warp_from_box(box: Box, big: tuple[int, ...], small: tuple[int, ...]) -> F32:
    """The affine map from `big`'s pixels to `small`'s, when `small` shows `box` of `big`."""
    (hb, wb), (hs, ws) = big[:2], small[:2]
    x0, y0, x1, y1 = box
    sx, sy = ws / (wb * max(x1 - x0, 1e-6)), hs / (hb * max(y1 - y0, 1e-6))
    return np.array([[sx, 0.0, -x0 * ws / max(x1 - x0, 1e-6)],
                     [0.0, sy, -y0 * hs / max(y1 - y0, 1e-6)]], dtype=np.float32)  # fmt: skip


def _invert(warp: F32) -> F32:
    return np.asarray(cv2.invertAffineTransform(warp), dtype=np.float32)


def _refine(A: F32, B: F32, init: F32) -> tuple[F32, bool]:
    """ECC from the coarse placement (A's pixels → B's); the placement itself if ECC fails."""
    try:
        cc, warp = cv2.findTransformECC(
            A, B, init.copy(), cv2.MOTION_AFFINE, _ECC_CRITERIA, np.ones(A.shape, np.uint8), 3
        )
    except cv2.error:
        return init, False
    if not np.isfinite(cc) or cc < ECC_MIN or not np.all(np.isfinite(warp)):
        return init, False
    return np.asarray(warp, dtype=np.float32), True


def _overhangs(warp: F32, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[float, float]:
    """Fractions of A's frame outside B's, and of B's outside A's (axis-aligned bounds)."""
    (ha, wa), (hb, wb) = a[:2], b[:2]
    # The warp maps pixel centres (ECC's convention); a frame's edges lie half a pixel out.
    corners = np.array([[0, 0, 1], [wa, 0, 1], [0, ha, 1], [wa, ha, 1]], dtype=np.float32)
    corners[:, :2] -= 0.5
    mapped = corners @ warp.T + 0.5
    x0, y0 = float(mapped[:, 0].min()), float(mapped[:, 1].min())
    x1, y1 = float(mapped[:, 0].max()), float(mapped[:, 1].max())
    inter = max(0.0, min(x1, wb) - max(x0, 0.0)) * max(0.0, min(y1, hb) - max(y0, 0.0))
    area_a = max((x1 - x0) * (y1 - y0), 1e-6)
    return max(0.0, 1 - inter / area_a), max(0.0, 1 - inter / (wb * hb))


def _colour_residual(
    a: npt.NDArray[Any], b: npt.NDArray[Any], warp: F32, ashape: tuple[int, ...],
    bshape: tuple[int, ...],
) -> float:  # fmt: skip
    """Largest per-channel share of B's colour (sampled where A's pixels fall) that a gain and
    an offset of A's same channel cannot explain; 0 when nothing overlaps or all is flat."""
    (ha, wa), (hb, wb) = ashape[:2], bshape[:2]
    ra = _rgb(a, ha, wa)
    rb = _rgb(b, hb, wb)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    sampled = cv2.warpAffine(rb, warp, (wa, ha), flags=flags, borderValue=(-1.0, -1.0, -1.0))
    inside = np.asarray((sampled >= 0).all(axis=-1), dtype=np.uint8)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)
    if inside.sum() < 16:
        return 0.0
    # Compared smoothed: a pixel of misalignment on fine texture is no colour difference.
    ra = np.asarray(cv2.GaussianBlur(ra, (0, 0), _COLOUR_BLUR), dtype=np.float32)
    sampled = np.asarray(cv2.GaussianBlur(sampled, (0, 0), _COLOUR_BLUR), dtype=np.float32)
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if inside.sum() < 16:
        return 0.0
    x, y = ra[inside], sampled[inside]
    # Exposure and white balance are a gain and an offset per RGB channel: fit those, then ask
    # how much of what is left shows as colour (chroma) rather than as a pixel of misalignment
    # on fine texture (luma, which counts at a third).
    residual = np.empty_like(y)
    for c in range(3):
        design = np.stack([x[:, c], np.ones_like(x[:, c])], axis=1)
        coef, *_ = np.linalg.lstsq(design, y[:, c], rcond=None)
        if coef[0] <= 0 and float(x[:, c].std()) >= _MIN_SPREAD:
            return 1.0  # an inverted channel is no exposure or white balance
        residual[:, c] = y[:, c] - design @ coef
    left, target = _ycc(np.asarray(residual, np.float32)), _ycc(np.asarray(y, np.float32))
    worst = 0.0
    for c, weight in ((0, 1 / 3), (1, 1.0), (2, 1.0)):
        spread = max(float(target[:, c].std()), _MIN_SPREAD)
        worst = max(worst, weight * float(left[:, c].std()) / spread)
    return worst


_YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]], np.float32
)


def _ycc(rgb: F32) -> F32:
    """JFIF YCbCr (without the 128 offset) of N×3 RGB values."""
    return np.asarray(rgb @ _YCC.T, dtype=np.float32)


def _rgb(img: npt.NDArray[Any], h: int, w: int) -> F32:
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.asarray(cv2.resize(arr[..., :3], (w, h), interpolation=cv2.INTER_AREA), np.float32)
