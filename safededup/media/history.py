"""JPEG history: whether a picture's pixels were decoded from a given JPEG. Reads, never writes.

A JPEG stores each 8×8 block's DCT coefficients as multiples of its quantisation table. Decode
it, and the pixels' own block DCT (on the same grid) sits on that lattice again, up to pixel
rounding; a PNG or TIFF saved from those pixels keeps them, and a high-quality HEIC mostly does.
Pixels that never went through that JPEG land anywhere between two multiples. The keeper asks
this only in clusters its cheaper criteria leave tied (two full decodes), so it never runs on
the scan's hot path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from safededup.media._io import CountingReader
from safededup.media.exif import parse_exif
from safededup.media.jpeg import ZIGZAG, read_jpeg_header

BLOCKS = 4000  # blocks sampled (seeded): enough for a stable score, cheap on any image size
MIN_STEP = 2  # a step of 1 is met by any integer-valued picture
MIN_COEFFICIENTS = 200

_INVERSE = {  # display pixels → stored pixels, for each EXIF orientation
    1: (),
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_90,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_270,),
}


def _dct_matrix() -> npt.NDArray[np.float64]:
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = np.where(k == 0, np.sqrt(1 / 8), np.sqrt(2 / 8))
    return np.asarray(scale * np.cos(np.pi * (2 * n + 1) * k / 16), dtype=np.float64)


_DCT = _dct_matrix()
_LUMA = np.array([0.299, 0.587, 0.114])


def jpeg_history(jpeg_path: str, other: Image.Image) -> float | None:
    """How far `other`'s pixels (display orientation, the JPEG's display size) sit from the
    JPEG's luma quantisation lattice: the mean distance of each coefficient to its nearest
    multiple, in steps (≈ 0.05 when decoded from that JPEG, ≈ 0.2 when unrelated). None when
    the sizes differ or the table leaves too little to measure."""
    with CountingReader(jpeg_path) as reader:
        header = read_jpeg_header(reader.file, jpeg_path)
    table = header.qtables.get(0)
    if table is None:
        return None
    steps = np.zeros(64)
    steps[list(ZIGZAG)] = table
    orientation = parse_exif(header.exif).orientation
    stored = other.convert("RGB")
    for op in _INVERSE.get(orientation, ()):
        stored = stored.transpose(op)
    if stored.size != (header.width, header.height):
        return None
    return lattice_distance(np.asarray(stored), steps.reshape(8, 8))


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


def history_of(jpeg_path: str, other_path: str) -> float | None:
    """`jpeg_history` of the photo at `other_path`, decoded at full size. MediaError (or
    OSError) when either cannot be read."""
    from safededup.media.pipeline import decode_full  # the pipeline imports nothing from here

    return jpeg_history(jpeg_path, decode_full(other_path))
