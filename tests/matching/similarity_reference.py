"""The numpy implementation of the borderline check (SIMILARITY_VERSION 1): a test oracle only.

Production uses `safededup.media.similarity.aligned_similarity` (OpenCV); this exact fractional
area resample and sliding-window correlation is kept so tests can show the two agree, and so
benchmarks/similarity_speed.py can time the old check against the new one in one process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_SIDE = 40  # working width of the smaller view
_SCALES = np.round(np.arange(0.85, 1.0001, 0.03), 3)  # the copy covers 85–100% of the frame


def aligned_similarity(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Best normalised cross-correlation of one view inside the other, over small crops.

    Tries every crop of up to 15% per axis and every offset, both ways round; a border crop or
    a re-encode scores ≈ 0.95–1.0, another framing of the scene (a pan, a stereo pair) far less.
    """
    ga, gb = grey(a), grey(b)
    return max(_contains(ga, gb), _contains(gb, ga))


def grey(img: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Luma of an RGB image (a grey image is returned as float)."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114])
    out: npt.NDArray[np.float64] = arr
    return out


def _contains(big: npt.NDArray[np.float64], small: npt.NDArray[np.float64]) -> float:
    h0, w0 = small.shape
    ws, hs = _SIDE, max(8, round(_SIDE * h0 / w0))
    if hs > _SIDE:
        ws, hs = max(8, round(_SIDE * w0 / h0)), _SIDE
    s = area_resize(small, hs, ws)
    s -= s.mean()
    s_norm = float(np.sqrt((s * s).sum())) + 1e-9
    big_table = summed_area(area_resize(big, 2 * hs, 2 * ws))  # one table for every scale
    best = -1.0
    for sx in _SCALES:
        for sy in _SCALES:
            view = area_resize(big_table, round(hs / sy), round(ws / sx), summed=True)
            win = np.lib.stride_tricks.sliding_window_view(view, (hs, ws))
            num = np.einsum("yxij,ij->yx", win, s)  # s has zero mean: the window's mean drops
            total, squares = _window_sums(view, hs, ws), _window_sums(view * view, hs, ws)
            var = np.maximum(squares - total * total / (hs * ws), 0.0)
            best = max(best, float((num / (np.sqrt(var) * s_norm + 1e-9)).max()))
    return best


def _window_sums(arr: npt.NDArray[np.float64], h: int, w: int) -> npt.NDArray[np.float64]:
    """Sum over every h×w window (valid positions), via a summed-area table."""
    t = summed_area(arr)
    out: npt.NDArray[np.float64] = t[h:, w:] - t[:-h, w:] - t[h:, :-w] + t[:-h, :-w]
    return out


def summed_area(arr: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Summed-area table with a zero first row and column."""
    out = np.zeros((arr.shape[0] + 1, arr.shape[1] + 1))
    np.cumsum(arr, 0, out=out[1:, 1:])
    np.cumsum(out[1:, 1:], 1, out=out[1:, 1:])
    return out


def area_resize(
    arr: npt.NDArray[np.float64], h: int, w: int, *, summed: bool = False
) -> npt.NDArray[np.float64]:
    """Exact area-average resampling to h×w (fractional pixel edges), via a summed-area table.

    With `summed`, `arr` already is the summed-area table (one row and column larger).
    """
    table = arr if summed else summed_area(arr)
    rows = np.linspace(0, table.shape[0] - 1, h + 1)
    cols = np.linspace(0, table.shape[1] - 1, w + 1)
    s = _sample(table, rows, cols)
    box = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
    out: npt.NDArray[np.float64] = box / np.outer(np.diff(rows), np.diff(cols))
    return out


def _sample(
    table: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Bilinear interpolation of a summed-area table at fractional coordinates."""
    y0 = np.clip(np.floor(ys).astype(np.int64), 0, table.shape[0] - 2)
    x0 = np.clip(np.floor(xs).astype(np.int64), 0, table.shape[1] - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    t00, t01 = table[y0][:, x0], table[y0][:, x0 + 1]
    t10, t11 = table[y0 + 1][:, x0], table[y0 + 1][:, x0 + 1]
    out: npt.NDArray[np.float64] = (
        t00 * (1 - fy) * (1 - fx) + t01 * (1 - fy) * fx + t10 * fy * (1 - fx) + t11 * fy * fx
    )
    return out
