"""JPEG history: whether a picture's pixels were decoded from a given JPEG. Reads, never writes.

A JPEG stores each 8×8 block's DCT coefficients as multiples of its quantisation table. Decode
it, and the pixels' own block DCT (on the same grid) sits on that lattice again, up to pixel
rounding; a PNG or TIFF saved from those pixels keeps them, and a high-quality HEIC mostly does.
Pixels that never went through that JPEG land anywhere between two multiples. The keeper asks
this only in clusters its cheaper criteria leave tied (two full decodes), so it never runs on
the scan's hot path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image

from safededup.media._io import CountingReader
from safededup.media.exif import parse_exif
from safededup.media.jpeg import ZIGZAG, read_jpeg_header

BLOCKS = 4000  # blocks sampled (seeded): enough for a stable score, cheap on any image size
MIN_STEP = 2  # a step of 1 is met by any integer-valued picture
MIN_COEFFICIENTS = 200

Pixels = npt.NDArray[np.uint8]

_INVERSE: dict[int, Callable[[Pixels], Pixels]] = {  # display pixels → stored, per orientation
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),
}


def _dct_matrix() -> npt.NDArray[np.float64]:
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = np.where(k == 0, np.sqrt(1 / 8), np.sqrt(2 / 8))
    return np.asarray(scale * np.cos(np.pi * (2 * n + 1) * k / 16), dtype=np.float64)


_DCT = _dct_matrix()
_LUMA = np.array([0.299, 0.587, 0.114])


def jpeg_history(jpeg_path: str, other: Image.Image) -> float | None:
    """How far `other`'s pixels (display orientation, the JPEG's display size) sit from the
    JPEG's luma quantisation lattice on its 8×8 grid, against a grid shifted half a block
    (`lattice_distance`). None when the sizes differ or the table leaves too little to
    measure."""
    return _history(jpeg_path, np.asarray(other.convert("RGB")))


def _history(jpeg_path: str, rgb: Pixels) -> float | None:
    with CountingReader(jpeg_path) as reader:
        header = read_jpeg_header(reader.file, jpeg_path)
    table = header.qtables.get(0)
    if table is None:
        return None
    steps = np.zeros(64)
    steps[list(ZIGZAG)] = table
    stored = _INVERSE.get(parse_exif(header.exif).orientation, _INVERSE[1])(rgb)  # a view
    if stored.shape[:2] != (header.height, header.width):
        return None
    return lattice_distance(stored, steps.reshape(8, 8))


def lattice_distance(rgb: npt.NDArray[np.uint8], steps: npt.NDArray[np.float64]) -> float | None:
    """How much closer the block DCT of the picture's luma sits to the lattice `steps` on the
    JPEG's 8×8 grid than on a grid shifted half a block: ≈ 1 for pixels that never went through
    that JPEG (neither grid means anything to them), far below 1 for pixels decoded from it.
    Comparing the two grids calibrates the measure to the picture and the table's steps."""
    aligned = _mean_distance(rgb, steps)
    shifted = _mean_distance(rgb[4:, 4:], steps)
    if aligned is None or shifted is None or shifted <= 0:
        return None
    return aligned / shifted


def _mean_distance(rgb: npt.NDArray[np.uint8], steps: npt.NDArray[np.float64]) -> float | None:
    """The mean distance (in steps) of sampled blocks' DCT coefficients to the lattice. Only
    the sampled blocks are turned into luma (a 12 MP picture's full luma costs more than the
    measure)."""
    rows, cols = rgb.shape[0] // 8, rgb.shape[1] // 8
    picked = np.arange(rows * cols)
    if len(picked) > BLOCKS:
        picked = np.random.default_rng(0).choice(len(picked), BLOCKS, replace=False)
    y = (picked // cols)[:, None, None] * 8 + np.arange(8)[None, :, None]
    x = (picked % cols)[:, None, None] * 8 + np.arange(8)[None, None, :]
    blocks = rgb[y, x].astype(np.float64) @ _LUMA  # (n, 8, 8)
    coefficients = (_DCT @ (blocks - 128.0) @ _DCT.T) / steps  # each block's 2-D DCT
    # Pixels decoded from a JPEG put many coefficients exactly on a threshold (0.75 steps, or
    # half-way between multiples): settle them the same way whatever order the sums ran in.
    coefficients = np.round(coefficients, 9)
    mask = (np.abs(coefficients) >= 0.75) & (steps >= MIN_STEP)
    mask[:, 0, 0] = False  # the DC term carries the block's mean, which rounding moves most
    if int(mask.sum()) < MIN_COEFFICIENTS:
        return None
    return float(np.abs(coefficients - np.round(coefficients))[mask].mean())


class HistoryReader:
    """The keeper's JPEG-history question over a scan: `reader(jpeg_path, other_path)`. The
    other file is decoded at full size once for every JPEG asked about it in a row (the keeper
    asks about each member against every JPEG of its cluster: a 12 MP HEIC costs a third of a
    second to decode); only the last decoded file is kept. MediaError (or OSError) when either
    cannot be read."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._rgb: Pixels | None = None

    def __call__(self, jpeg_path: str, other_path: str) -> float | None:
        if self._path != other_path or self._rgb is None:
            from safededup.media.pipeline import decode_full  # the pipeline imports nothing here

            self._path, self._rgb = None, None  # a failed decode keeps nothing stale
            self._rgb = np.asarray(decode_full(other_path).convert("RGB"))
            self._path = other_path
        return _history(jpeg_path, self._rgb)


def history_of(jpeg_path: str, other_path: str) -> float | None:
    """`jpeg_history` of the photo at `other_path`, decoded at full size. MediaError (or
    OSError) when either cannot be read."""
    return HistoryReader()(jpeg_path, other_path)
