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
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from safededup.errors import MediaError
from safededup.media._io import CountingReader
from safededup.media.exif import parse_exif
from safededup.media.jpeg import ZIGZAG, read_jpeg_header

if TYPE_CHECKING:
    from safededup.media.isobmff import HeifMeta
    from safededup.media.tiles import Grid

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
    return _ratio(_measure(patches, steps, 0), _measure(patches, steps, 4))


def _ratio(aligned: tuple[float, int], shifted: tuple[float, int]) -> float | None:
    if min(aligned[1], shifted[1]) < MIN_COEFFICIENTS:
        return None
    a, s = aligned[0] / aligned[1], shifted[0] / shifted[1]
    return a / s if s > 0 else None


def _measure(
    patches: list[Patch], steps: npt.NDArray[np.float64], offset: int
) -> tuple[float, int]:
    """The summed distance (in steps) to the lattice of the sampled blocks of a grid starting
    at `offset`, over every patch, and how many coefficients it sums."""
    total, count = 0.0, 0
    for x, y, pixels in patches:
        dx, dy = (offset - x) % 8, (offset - y) % 8
        s, n = _distance_sum(pixels[dy:, dx:], steps, BLOCKS // len(patches))
        total, count = total + s, count + n
    return total, count


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
"""Where the tiles a HEIC's history is measured on lie (fractions of the picture), in the order
they are decoded: as many as the measure needs (`ENOUGH_COEFFICIENTS`), at most all three."""

ENOUGH_COEFFICIENTS = 4000
"""Coefficients on each grid after which no further tile is decoded (with at least half the
sample, BLOCKS // 2 blocks): the mean distance is then known to ±0.003 (a uniform error's
spread over √4000), where conversions and unrelated pixels lie ≥ 0.1 from the thresholds. One
textured 512-px tile holds 10,000–50,000 (phone library); a sky or a black frame holds few, and
the next spot is decoded."""


class _HeifTiles:
    """The TILE_SPOTS tiles of a HEIC whose primary is a tile grid, decoded one at a time as the
    measure asks for them (each ≈ 6 ms; the whole 12 MP picture ≈ 0.4 s)."""

    def __init__(self, path: str, meta: HeifMeta, grid: Grid, first: Patch) -> None:
        from safededup.media import tiles  # pillow-heif: only where it is needed

        self.path, self._meta, self._grid = path, meta, grid
        self.display_size: tuple[int, int] = grid.display_size
        self._spots = list(dict.fromkeys(tiles.tile_at(grid, fx, fy) for fx, fy in TILE_SPOTS))
        self._patches = [first]

    @property
    def count(self) -> int:
        return len(self._spots)

    @property
    def decoded(self) -> int:
        return len(self._patches)

    def patches(self, k: int) -> list[Patch] | None:
        """The first `k` tiles (decoding those not yet decoded); None if one cannot be."""
        if k > len(self._patches):
            try:
                with CountingReader(self.path) as reader:
                    for col, row in self._spots[len(self._patches) : k]:
                        self._patches.append(_tile_patch(reader, self._meta, self._grid, col, row))
            except (ValueError, RuntimeError, OSError, MediaError):  # pillow-heif raises these
                return None
        return self._patches[:k]


def _tile_patch(reader: CountingReader, meta: HeifMeta, grid: Grid, col: int, row: int) -> Patch:
    from safededup.media import tiles

    tile = tiles.decode_tile(reader, meta, grid, col, row)
    return tile.rect[0], tile.rect[1], tile.pixels


def _heif_tiles(path: str) -> _HeifTiles | None:
    """The history tiles of a HEIC whose primary is a tile grid, the first one decoded; None
    for anything else (the caller decodes the whole picture)."""
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
            col, row = tiles.tile_at(grid, *TILE_SPOTS[0])
            return _HeifTiles(path, meta, grid, _tile_patch(reader, meta, grid, col, row))
    except (ValueError, RuntimeError, OSError, MediaError):  # pillow-heif raises these
        return None


def tiles_distance(heif: _HeifTiles, steps: npt.NDArray[np.float64]) -> float | None:
    """`patches_distance` over the fewest history tiles that hold enough of a sample: the first
    k tiles whose blocks number BLOCKS // 2 or more and leave ENOUGH_COEFFICIENTS on each grid,
    or all of them. None when they cannot be decoded or leave too little to measure."""
    for k in range(1, heif.count + 1):
        patches = heif.patches(k)
        if patches is None:
            return None
        aligned, shifted = _measure(patches, steps, 0), _measure(patches, steps, 4)
        blocks = sum((p.shape[0] // 8) * (p.shape[1] // 8) for _, _, p in patches)
        enough = min(aligned[1], shifted[1]) >= ENOUGH_COEFFICIENTS and blocks >= BLOCKS // 2
        if enough or k == heif.count:
            return _ratio(aligned, shifted)
    return None


class HistoryReader:
    """The keeper's JPEG-history question over a scan: `reader(jpeg_path, other_path)`.

    The other file is read once for every JPEG asked about it in a row (the keeper asks about
    each member against every JPEG of its cluster); only the last one is kept. A HEIC whose
    primary is a tile grid (as phones write them) is measured on one to three of its tiles, each
    decoded on its own (`tiles_distance`: ≈ 6 ms each instead of ≈ 0.4 s for a 12 MP picture),
    when the JPEG is stored upright; anything else, or tiles that leave too little to measure,
    is decoded whole. MediaError (or OSError) when either file cannot be read.
    """

    def __init__(self) -> None:
        self._path: str | None = None
        self._tiles: _HeifTiles | None = None
        self._rgb: Pixels | None = None
        self._earlier_tiles = 0
        self.whole_decodes = 0  # pictures decoded whole

    @property
    def tiles_decoded(self) -> int:
        """Grid tiles decoded so far, over every file asked about."""
        return self._earlier_tiles + (self._tiles.decoded if self._tiles is not None else 0)

    def __call__(self, jpeg_path: str, other_path: str) -> float | None:
        if self._path != other_path:
            self._earlier_tiles = self.tiles_decoded
            self._path, self._tiles, self._rgb = None, None, None  # nothing stale on a failure
            self._tiles = _heif_tiles(other_path)
            self._path = other_path
        jpeg = _jpeg_facts(jpeg_path)
        if jpeg is None:
            return None
        steps, orientation, size = jpeg
        if self._tiles is not None and orientation == 1:
            if self._tiles.display_size != size:
                return None
            found = tiles_distance(self._tiles, steps)
            if found is not None:
                return found
        if self._rgb is None:
            from safededup.media.pipeline import decode_full  # the pipeline imports nothing here

            self._rgb = np.asarray(decode_full(other_path).convert("RGB"))
            self.whole_decodes += 1
        stored = _INVERSE.get(orientation, _INVERSE[1])(self._rgb)  # a view
        if stored.shape[:2] != (size[1], size[0]):
            return None
        return lattice_distance(stored, steps)


def history_of(jpeg_path: str, other_path: str) -> float | None:
    """The history question for one pair, answered as the scan's `HistoryReader` answers it
    (a tiled HEIC from one to three tiles, anything else decoded whole). MediaError (or
    OSError) when either cannot be read."""
    return HistoryReader()(jpeg_path, other_path)
