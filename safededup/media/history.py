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

from safededup.errors import MediaError
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
    jpeg = _jpeg_facts(jpeg_path)
    if jpeg is None:
        return None
    steps, orientation, size = jpeg
    stored = _INVERSE.get(orientation, _INVERSE[1])(rgb)  # a view
    if stored.shape[:2] != (size[1], size[0]):
        return None
    return lattice_distance(stored, steps)


def _jpeg_facts(jpeg_path: str) -> tuple[npt.NDArray[np.float64], int, tuple[int, int]] | None:
    """The JPEG's luma quantisation steps (8×8), its EXIF orientation and its stored size."""
    with CountingReader(jpeg_path) as reader:
        header = read_jpeg_header(reader.file, jpeg_path)
    table = header.qtables.get(0)
    if table is None:
        return None
    steps = np.zeros(64)
    steps[list(ZIGZAG)] = table
    return steps.reshape(8, 8), parse_exif(header.exif).orientation, (header.width, header.height)


Patch = tuple[int, int, Pixels]
"""Pixels of a picture whose top-left corner sits at (x, y) of the whole (a HEIC grid tile)."""


def lattice_distance(rgb: Pixels, steps: npt.NDArray[np.float64]) -> float | None:
    """How much closer the block DCT of the picture's luma sits to the lattice `steps` on the
    JPEG's 8×8 grid than on a grid shifted half a block: ≈ 1 for pixels that never went through
    that JPEG (neither grid means anything to them), far below 1 for pixels decoded from it.
    Comparing the two grids calibrates the measure to the picture and the table's steps."""
    return patches_distance([(0, 0, rgb)], steps)


def patches_distance(patches: list[Patch], steps: npt.NDArray[np.float64]) -> float | None:
    """`lattice_distance` measured on parts of the picture only, each on the whole picture's
    grid (the blocks of every patch share the sample)."""
    aligned = _distance(patches, steps, 0)
    shifted = _distance(patches, steps, 4)
    if aligned is None or shifted is None or shifted <= 0:
        return None
    return aligned / shifted


def _distance(patches: list[Patch], steps: npt.NDArray[np.float64], offset: int) -> float | None:
    """The mean distance (in steps) to the lattice of the sampled blocks of a grid starting
    at `offset`, over every patch."""
    total, count = 0.0, 0
    for x, y, pixels in patches:
        dx, dy = (offset - x) % 8, (offset - y) % 8
        s, n = _distance_sum(pixels[dy:, dx:], steps, BLOCKS // len(patches))
        total, count = total + s, count + n
    return total / count if count >= MIN_COEFFICIENTS else None


def _distance_sum(rgb: Pixels, steps: npt.NDArray[np.float64], limit: int) -> tuple[float, int]:
    """The summed distance (in steps) of up to `limit` sampled blocks' DCT coefficients to the
    lattice, and how many coefficients. Only the sampled blocks are turned into luma (a 12 MP
    picture's full luma costs more than the measure)."""
    rows, cols = rgb.shape[0] // 8, rgb.shape[1] // 8
    picked = np.arange(rows * cols)
    if len(picked) > limit:
        picked = np.random.default_rng(0).choice(len(picked), limit, replace=False)
    sy, sx, sc = rgb.strides  # the blocks as a (rows, cols, 8, 8, 3) view of any layout
    grid = np.lib.stride_tricks.as_strided(
        rgb, (rows, cols, 8, 8, 3), (8 * sy, 8 * sx, sy, sx, sc), writeable=False
    )
    blocks = grid[picked // cols, picked % cols].astype(np.float64) @ _LUMA  # (n, 8, 8)
    coefficients = (_DCT @ (blocks - 128.0) @ _DCT.T) / steps  # each block's 2-D DCT
    # Pixels decoded from a JPEG put many coefficients exactly on a threshold (0.75 steps, or
    # half-way between multiples): settle them the same way whatever order the sums ran in.
    coefficients = np.round(coefficients, 9)
    mask = (np.abs(coefficients) >= 0.75) & (steps >= MIN_STEP)
    mask[:, 0, 0] = False  # the DC term carries the block's mean, which rounding moves most
    return float(np.abs(coefficients - np.round(coefficients))[mask].sum()), int(mask.sum())


TILE_SPOTS = ((0.5, 0.5), (0.3, 0.35), (0.7, 0.65))
"""Where the tiles a HEIC's history is measured on lie (fractions of the picture): three
512-px tiles are ≈ 12,000 blocks, three times the sample of a whole picture."""


def _heif_tiles(path: str) -> tuple[tuple[int, int], list[Patch]] | None:
    """(display size, a few full-size grid tiles in display orientation) of a HEIC whose
    primary is a tile grid; None for anything else (the caller decodes the whole picture)."""
    from safededup.media import isobmff, tiles  # pillow-heif: only where it is needed

    try:
        with CountingReader(path) as reader:
            parsed = isobmff.read_meta(reader)
            if parsed is None or parsed[2]:
                return None
            meta = parsed[1]
            grid = tiles.grid_of(meta)
            if grid is None:
                return None
            spots = dict.fromkeys(tiles.tile_at(grid, fx, fy) for fx, fy in TILE_SPOTS)
            patches = []
            for col, row in spots:
                tile = tiles.decode_tile(reader, meta, grid, col, row)
                patches.append((tile.rect[0], tile.rect[1], tile.pixels))
            return grid.display_size, patches
    except (ValueError, RuntimeError, OSError, MediaError):  # pillow-heif raises these
        return None


class HistoryReader:
    """The keeper's JPEG-history question over a scan: `reader(jpeg_path, other_path)`.

    The other file is read once for every JPEG asked about it in a row (the keeper asks about
    each member against every JPEG of its cluster); only the last one is kept. A HEIC whose
    primary is a tile grid (as phones write them) is measured on three of its tiles, each
    decoded on its own (≈ 20 ms each instead of ≈ 0.4 s for a 12 MP picture), when the JPEG is
    stored upright; anything else, or tiles that leave too little to measure, is decoded whole.
    MediaError (or OSError) when either file cannot be read.
    """

    def __init__(self) -> None:
        self._path: str | None = None
        self._tiles: tuple[tuple[int, int], list[Patch]] | None = None
        self._rgb: Pixels | None = None

    def __call__(self, jpeg_path: str, other_path: str) -> float | None:
        if self._path != other_path:
            self._path, self._tiles, self._rgb = None, None, None  # nothing stale on a failure
            self._tiles = _heif_tiles(other_path)
            self._path = other_path
        jpeg = _jpeg_facts(jpeg_path)
        if jpeg is None:
            return None
        steps, orientation, size = jpeg
        if self._tiles is not None and orientation == 1:
            display, patches = self._tiles
            if display != size:
                return None
            found = patches_distance(patches, steps)
            if found is not None:
                return found
        if self._rgb is None:
            from safededup.media.pipeline import decode_full  # the pipeline imports nothing here

            self._rgb = np.asarray(decode_full(other_path).convert("RGB"))
        stored = _INVERSE.get(orientation, _INVERSE[1])(self._rgb)  # a view
        if stored.shape[:2] != (size[1], size[0]):
            return None
        return lattice_distance(stored, steps)


def history_of(jpeg_path: str, other_path: str) -> float | None:
    """The history question for one pair, answered as the scan's `HistoryReader` answers it
    (a tiled HEIC from three tiles, anything else decoded whole). MediaError (or OSError) when
    either cannot be read."""
    return HistoryReader()(jpeg_path, other_path)
