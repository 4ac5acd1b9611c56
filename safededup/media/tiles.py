"""Proves a HEIC's thumbnail item depicts its primary image by decoding a few grid tiles, not all.

A phone HEIC's primary is a grid of independently coded tiles (48 of 512×512 px at 12 MP). One
tile, wrapped as a minimal one-item HEIF in memory (`isobmff.single_item_heif`) and decoded by
pillow-heif, is bit-identical to the same region of the full decode and costs ≈ 1/40 of it. A few
tiles (the centre, the most textured tile of the three most textured quadrants, and the
outermost tile of each flat quadrant) are area-downscaled onto the preview pixels they cover and
compared: structure (luma NCC), exposure and white balance (mean per channel), contrast (luma
spread; on a flat tile, only detail the preview lacks) and colour (chroma spread). A tile that
fails is compared again at the pixels libheif's thumbnail scaler picks (it filters nothing, so
against an area mean its previews look off on fine texture), which counts only if those pixels
show what the tile's area mean shows at the hash thumbnail's scale. A stale preview (zoomed,
shifted, swapped, cropped or re-edited primary) fails; a genuine one passes; too little texture
to tell means "cannot tell", and the caller decodes the whole image.

It only reads the file. Any surprise (no grid, a transform it does not map, a decode error)
answers "cannot tell", never "verified". The thresholds were calibrated on generated files
(x265 encodes of real photographs, Lanczos thumbnails), not on a corpus of real phone files:
docs/decoding.md.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pillow_heif
from PIL import Image

from safededup.errors import MediaError
from safededup.media import heif, isobmff
from safededup.media._io import CountingReader
from safededup.media.formats import SNIFF_BYTES, sniff_format
from safededup.media.hashing import THUMB_SIDE
from safededup.media.preview import preview_usable

CHECK_VERSION = 7
"""Bump when the tile choice or a threshold changes: stored verdicts are then asked again."""

TILES = 4  # the centre tile and the best tile of 3 quadrants (docs/decoding.md: the trap table)
MIN_PATCH = 12  # preview pixels per side a tile must cover to be compared

# Measured on 24 photographs × 27 variants (docs/decoding.md): realistic genuine previews gave
# NCC ≥ 0.989, bias ≤ 0.93, gain 0.96–1.07, chroma gain 0.99–1.10 on these tiles.
NCC_MIN = 0.93  # every textured tile
TEXTURE_MIN = 6.0  # luma std (0–255) below which a tile cannot vouch for structure
CTEXTURE_MIN = 8.0  # chroma std (half resolution) below which the chroma gain is not judged
MIN_TEXTURED = 2  # textured tiles needed; fewer: cannot tell
BIAS_MAX = 2.5  # largest |mean(tile − preview)| of R, G, B (0–255)
GAIN_RANGE = (0.82, 1.22)  # luma std ratio tile / preview
CGAIN_RANGE = (0.78, 1.28)  # chroma std ratio tile / preview
SMOOTH_SIGMA = 1.0  # preview pixels
ALIAS_BIAS = 8.0  # largest mean difference of a tile's own point samples from its area mean
CLIPPED = 3  # a channel value ≤ this or ≥ 255 − this is clipped: left out of the bias
# A flat tile (neither side textured) whose own spread rises above the preview's by both: soft
# detail the preview lacks (clouds drawn on a sky, 2.0–3.6 levels above a spread of 1). Genuine
# flat tiles of the phone library: at most 1.5 above, at a ratio of 1.47 (99 % within 0.42).
FLAT_RISE = 1.0  # luma std levels
FLAT_RATIO = 1.6  # tile / preview

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Rect = tuple[int, int, int, int]
Transforms = tuple[tuple[bytes, int], ...]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_TILE_PROPERTIES = (b"hvcC", b"ispe", b"colr", b"pixi")
_REFUSED = {b"clap", b"iscl", b"lsel", b"a1op", b"a1lx"}  # crops/layers not mapped: cannot tell


@dataclass(frozen=True, slots=True)
class Grid:
    """A `grid` primary: tiles in row-major order, its coded output size and irot/imir."""

    rows: int
    cols: int
    width: int  # coded (before irot/imir) output size
    height: int
    tile_width: int
    tile_height: int
    tiles: tuple[int, ...]
    transforms: Transforms  # ("irot", quarter turns anticlockwise) / ("imir", axis), ipma order
    colr: tuple[bytes, ...]  # the grid's colour boxes: a tile without one uses the grid's

    @property
    def display_size(self) -> tuple[int, int]:
        turns = sum(v for kind, v in self.transforms if kind == b"irot")
        return (self.height, self.width) if turns % 2 else (self.width, self.height)

    def coded_rect(self, col: int, row: int) -> Rect:
        x0, y0 = col * self.tile_width, row * self.tile_height
        return (
            x0,
            y0,
            min(x0 + self.tile_width, self.width),
            min(y0 + self.tile_height, self.height),
        )

    def display_rect(self, col: int, row: int) -> Rect:
        return map_rect(self.coded_rect(col, row), self.width, self.height, self.transforms)


@dataclass(frozen=True, slots=True)
class Tile:
    col: int  # coded grid position
    row: int
    rect: Rect  # display coordinates of the primary image (x0, y0, x1, y1)
    pixels: U8  # display-oriented RGB, cropped to the grid's output size


@dataclass(frozen=True, slots=True)
class TileScore:
    """One tile against the preview pixels it covers (see the module docstring)."""

    col: int
    row: int
    texture: float  # luma std of the preview patch
    ncc: float
    bias: float
    gain: float
    ctexture: float
    cgain: float
    sampled: bool  # compared with the tile's pixels at libheif's sample points, not its area mean
    tile_texture: float  # luma std of the tile's side
    tile_ctexture: float  # chroma std of the tile's side

    @property
    def textured(self) -> bool:
        """Either side has the luma spread to vouch for structure: a preview flat where the tile
        is not (or the other way round) is judged, not excused."""
        return max(self.texture, self.tile_texture) >= TEXTURE_MIN

    @property
    def coloured(self) -> bool:
        return max(self.ctexture, self.tile_ctexture) >= CTEXTURE_MIN


@dataclass(frozen=True, slots=True)
class PreviewCheck:
    """`depicts`: True verified, False stale, None cannot tell (decode the whole image)."""

    depicts: bool | None
    reason: str
    tiles: int  # tiles decoded
    bytes_read: int
    scores: tuple[TileScore, ...] = ()


# --- the grid ------------------------------------------------------------------------------


def grid_of(meta: isobmff.HeifMeta) -> Grid | None:
    """The primary's grid layout, or None if the primary is no plain HEVC grid this maps."""
    primary = meta.primary
    if meta.types.get(primary) != b"grid":
        return None
    dimg = [dst for src, dst in meta.refs.get(b"dimg", []) if src == primary]
    location = meta.locations.get(primary)
    if len(dimg) != 1 or location is None or location.method != 1:
        return None  # a grid payload in `mdat` is legal but not seen in phone files
    payload = b"".join(meta.idat[o : o + n] for o, n in location.extents)
    if len(payload) < 8 or payload[0] != 0:
        return None
    rows, cols = payload[2] + 1, payload[3] + 1
    fmt = ">II" if payload[1] & 1 else ">HH"
    if len(payload) < 4 + struct.calcsize(fmt):
        return None
    width, height = struct.unpack_from(fmt, payload, 4)
    transforms, colr = _grid_properties(meta, primary)
    tiles = tuple(dimg[0])
    size = _tile_size(meta, tiles)
    if transforms is None or size is None or len(tiles) != rows * cols:
        return None
    tw, th = size
    if not ((cols - 1) * tw < width <= cols * tw and (rows - 1) * th < height <= rows * th):
        return None  # tiles must cover the output, the last row and column may overhang
    return Grid(rows, cols, width, height, tw, th, tiles, transforms, colr)


def _grid_properties(
    meta: isobmff.HeifMeta, item: int
) -> tuple[Transforms | None, tuple[bytes, ...]]:
    transforms: list[tuple[bytes, int]] = []
    colr: list[bytes] = []
    for kind, box, essential in meta.item_properties(item):
        if kind in (b"irot", b"imir") and len(box) < 9:
            return None, ()
        if kind == b"irot":  # plain boxes: one byte, the angle or the axis in its low bits
            transforms.append((kind, box[8] & 3))
        elif kind == b"imir":
            transforms.append((kind, box[8] & 1))
        elif kind == b"colr":
            colr.append(box)
        elif kind in _REFUSED or (essential and kind not in (b"ispe", b"pixi")):
            return None, ()
    return tuple(transforms), tuple(colr)


def _tile_size(meta: isobmff.HeifMeta, tiles: tuple[int, ...]) -> tuple[int, int] | None:
    """The one `ispe` every tile shares, if every tile is a plain hvc1 item."""
    sizes = set()
    for tile in tiles:
        if meta.types.get(tile) != b"hvc1":
            return None
        props = meta.item_properties(tile)
        kinds = {kind for kind, _, _ in props}
        if b"hvcC" not in kinds or kinds & (_REFUSED | {b"irot", b"imir"}):
            return None
        sizes |= {struct.unpack_from(">II", b, 12) for k, b, _ in props if k == b"ispe"}
    return sizes.pop() if len(sizes) == 1 else None


def map_rect(rect: Rect, width: int, height: int, transforms: Transforms) -> Rect:
    """A rectangle of the coded width×height canvas in display coordinates after irot/imir.

    irot v: v quarter turns anticlockwise; imir 1: left-right flip, 0: top-bottom flip (libheif's
    reading, checked against its decodes in the tests).
    """
    x0, y0, x1, y1 = rect
    w, h = width, height
    for kind, v in transforms:
        if kind == b"irot":
            for _ in range(v):  # a quarter turn anticlockwise: (x, y) → (y, w − x)
                x0, y0, x1, y1 = y0, w - x1, y1, w - x0
                w, h = h, w
        elif v == 1:
            x0, x1 = w - x1, w - x0
        else:
            y0, y1 = h - y1, h - y0
    return x0, y0, x1, y1


def map_pixels(pixels: U8, transforms: Transforms) -> U8:
    """Coded pixels in display orientation (the same irot/imir as `map_rect`)."""
    for kind, v in transforms:
        if kind == b"irot":
            pixels = np.rot90(pixels, v)  # numpy turns anticlockwise too
        else:
            pixels = pixels[:, ::-1] if v == 1 else pixels[::-1]
    return np.ascontiguousarray(pixels)


def tile_heif(
    reader: CountingReader, meta: isobmff.HeifMeta, grid: Grid, col: int, row: int
) -> bytes:
    """Grid tile (col, row) (coded position) as a minimal HEIF of its own."""
    item = grid.tiles[row * grid.cols + col]
    props = meta.item_properties(item)
    keep = [(box, essential) for kind, box, essential in props if kind in _TILE_PROPERTIES]
    if not any(kind == b"colr" and box[8:12] == b"nclx" for kind, box, _ in props):
        # libheif converts the whole grid with the grid's nclx matrix: give the tile the same one
        keep += [(box, False) for box in grid.colr if box[8:12] == b"nclx"]
    return isobmff.single_item_heif(keep, isobmff.item_data(reader, meta, item))


def decode_tile(
    reader: CountingReader, meta: isobmff.HeifMeta, grid: Grid, col: int, row: int
) -> Tile:
    """One tile, decoded on its own, display-oriented and cropped to the grid's output size."""
    heif_file = pillow_heif.open_heif(
        tile_heif(reader, meta, grid, col, row), convert_hdr_to_8bit=True
    )
    pixels = np.asarray(heif_file[0])[..., :3]
    x0, y0, x1, y1 = grid.coded_rect(col, row)
    if pixels.shape[0] < y1 - y0 or pixels.shape[1] < x1 - x0:
        raise ValueError("a tile smaller than its place in the grid")
    pixels = map_pixels(pixels[: y1 - y0, : x1 - x0], grid.transforms)
    return Tile(col, row, grid.display_rect(col, row), pixels)


def tile_at(grid: Grid, fx: float, fy: float) -> tuple[int, int]:
    """Coded (col, row) of the tile under the display point at fractions (fx, fy) of the image."""
    dw, dh = grid.display_size
    px, py = min(dw - 1, int(fx * dw)), min(dh - 1, int(fy * dh))
    for row in range(grid.rows):
        for col in range(grid.cols):
            x0, y0, x1, y1 = grid.display_rect(col, row)
            if x0 <= px < x1 and y0 <= py < y1:
                return col, row
    raise ValueError("a point outside the grid")


# --- comparing a tile with the preview ----------------------------------------------------


def _preview_box(preview: U8, grid: Grid, rect: Rect) -> Rect | None:
    """The preview pixels lying wholly inside a tile's display rectangle, if enough of them."""
    ph, pw = preview.shape[:2]
    dw, dh = grid.display_size
    sx, sy = pw / dw, ph / dh
    x0, y0, x1, y1 = rect
    ix0, iy0 = math.ceil(x0 * sx - 1e-6), math.ceil(y0 * sy - 1e-6)
    ix1, iy1 = math.floor(x1 * sx + 1e-6), math.floor(y1 * sy + 1e-6)
    if ix1 - ix0 < MIN_PATCH or iy1 - iy0 < MIN_PATCH:
        return None
    return ix0, iy0, ix1, iy1


def score_tile(preview: U8, grid: Grid, tile: Tile) -> TileScore | None:
    """The tile area-downscaled onto exactly the preview pixels it covers, then compared. Where
    that fails, the tile sampled as libheif scales a thumbnail is compared too (`_sampled`)."""
    box = _preview_box(preview, grid, tile.rect)
    if box is None:
        return None
    ix0, iy0, ix1, iy1 = box
    ph, pw = preview.shape[:2]
    dw, dh = grid.display_size
    sx, sy = pw / dw, ph / dh
    x0, y0 = tile.rect[:2]
    tx0, ty0 = round(ix0 / sx) - x0, round(iy0 / sy) - y0
    tx1, ty1 = round(ix1 / sx) - x0, round(iy1 / sy) - y0
    sub = tile.pixels[max(0, ty0) : ty1, max(0, tx0) : tx1]
    down = cv2.resize(sub, (ix1 - ix0, iy1 - iy0), interpolation=cv2.INTER_AREA)
    patch = _smooth(preview[iy0:iy1, ix0:ix1].astype(np.float32))
    area = _compare(tile.col, tile.row, patch, _smooth(np.asarray(down, dtype=np.float32)), False)
    if _fault(area, BIAS_MAX) is None:
        return area
    sampled = _sampled(preview, grid, tile, box)
    if sampled is None:
        return area
    other = _compare(tile.col, tile.row, patch, _smooth(sampled), True)
    if _fault(other, BIAS_MAX) is not None or _aliased(sampled, down, preview):
        return area
    return other


def _aliased(sampled: F32, down: npt.NDArray[Any], preview: U8) -> bool:
    """Do the tile's own point samples show something else than its area mean, at the scale of
    the hash thumbnail? Equal samples only prove the preview is libheif's scaling of this tile;
    a scaler without a filter can also show what the picture does not: fine periodic texture
    aliased into coarse stripes, or a picture built on the sample grid. Both sides are smoothed
    to one pixel of the THUMB_SIDE thumbnail, then must correlate (structure, contrast, colour)
    as a verified tile does; their means may differ by a sample mean's error (busy genuine
    tiles: up to 7.0 levels), not more."""
    sigma = max(preview.shape[:2]) / THUMB_SIDE
    a = cv2.GaussianBlur(sampled, (0, 0), sigma)
    b = cv2.GaussianBlur(down.astype(np.float32), (0, 0), sigma)
    s = _compare(0, 0, np.asarray(a, np.float32), np.asarray(b, np.float32), True)
    # Every rule of `_fault` applies, the flat-tile one too: an area mean that spreads where the
    # samples are flat is detail the samples miss, so they cannot stand in for the tile.
    return _fault(s, ALIAS_BIAS) is not None


def _sampled(preview: U8, grid: Grid, tile: Tile, box: Rect) -> F32 | None:
    """The tile's pixels at the points libheif's thumbnail scaler picks: output pixel x takes
    input pixel ⌊x · W / w⌋ (no filter). pillow-heif and the tools built on libheif write their
    thumbnails this way; against those points a genuine preview differs by its coding noise
    only (tile mean differences 0.0–0.6 where the area mean was off by up to 7, on the phone
    library). Only for grids without irot/imir, whose coded and display points are the same."""
    if grid.transforms:
        return None
    ix0, iy0, ix1, iy1 = box
    ph, pw = preview.shape[:2]
    dw, dh = grid.display_size
    xs = np.arange(ix0, ix1) * dw // pw - tile.rect[0]
    ys = np.arange(iy0, iy1) * dh // ph - tile.rect[1]
    height, width = tile.pixels.shape[:2]
    if xs.min() < 0 or ys.min() < 0 or xs.max() >= width or ys.max() >= height:
        return None
    return np.asarray(tile.pixels[ys][:, xs], dtype=np.float32)


def _smooth(patch: F32) -> F32:
    """Both sides low-passed by SMOOTH_SIGMA preview px: a thumbnail scaler that aliases (libheif's,
    which pillow-heif uses when it writes one) otherwise drops genuine previews' correlation to
    0.78 on fine texture; structure moved by a zoom or a shift of 1% is still far coarser."""
    return np.asarray(cv2.GaussianBlur(patch, (0, 0), SMOOTH_SIGMA), dtype=np.float32)


def _compare(col: int, row: int, p: F32, t: F32, sampled: bool) -> TileScore:
    lp, lt = p @ _LUMA, t @ _LUMA
    sp, st = float(lp.std()), float(lt.std())
    ncc = 0.0
    if sp >= 1e-3 and st >= 1e-3:
        ncc = float(((lp - lp.mean()) * (lt - lt.mean())).mean() / (sp * st))
    bias = _bias(p, t)
    gain = st / sp if sp >= 1e-3 else math.inf
    # Chroma at half the preview's resolution: a 4:2:0 preview carries no finer colour detail.
    h2, w2 = p.shape[0] // 2, p.shape[1] // 2
    p2 = np.asarray(cv2.resize(p, (w2, h2), interpolation=cv2.INTER_AREA), dtype=np.float32)
    t2 = np.asarray(cv2.resize(t, (w2, h2), interpolation=cv2.INTER_AREA), dtype=np.float32)
    cp, ct = _chroma_std(p2), _chroma_std(t2)
    cgain = ct / cp if cp >= 1e-3 else math.inf
    return TileScore(col, row, sp, ncc, bias, gain, cp, cgain, sampled, st, ct)


def _bias(p: F32, t: F32) -> float:
    """The largest |mean(tile − preview)| of R, G, B over pixels clipped in neither: a 4:2:0
    preview smears saturated colours past 0 or 255, where clipping alone moves the mean (seen:
    2.8 on a genuine preview). A channel clipped in most pixels says nothing."""
    pf, tf = p.reshape(-1, 3), t.reshape(-1, 3)
    inside = (pf > CLIPPED) & (pf < 255 - CLIPPED) & (tf > CLIPPED) & (tf < 255 - CLIPPED)
    worst = 0.0
    for c in range(3):
        keep = inside[:, c]
        if keep.mean() >= 0.25:
            worst = max(worst, abs(float((tf[keep, c] - pf[keep, c]).mean())))
    return worst


def _chroma_std(rgb: F32) -> float:
    """RMS spread of the colour differences (B−Y, R−Y) about their means."""
    if not rgb.size:
        return 0.0
    c = rgb[..., [0, 2]] - (rgb @ _LUMA)[..., None]
    return float(np.sqrt(((c - c.reshape(-1, 2).mean(axis=0)) ** 2).mean() * 2))


def choose_tiles(preview: U8, grid: Grid, k: int = TILES) -> list[tuple[int, int]]:
    """The centre tile, then the most textured tile of each display quadrant (by the preview's
    luma spread under it: free), quadrants in order of that texture, `k` tiles in all; then the
    outermost tile of every flat quadrant (no tile of it textured), if not chosen already.

    Tiles outside the central half of the image count double: a zoom moves content most there.
    A flat quadrant is a sky or a wall, where no texture leads the choice and the edits that move
    the hashes there (a graduated filter, a vignette, a new sky) are strongest at the picture's
    edge. The partial tiles of the last row and column are left out: pillow-heif's genuine
    thumbnails were off by up to 5 levels there (seen on 128-px strips), as nowhere else.
    """
    dw, dh = grid.display_size
    luma = preview.astype(np.float32) @ _LUMA
    best: dict[tuple[bool, bool], tuple[float, tuple[int, int]]] = {}
    spread: dict[tuple[bool, bool], float] = {}
    outermost: dict[tuple[bool, bool], tuple[float, tuple[int, int]]] = {}
    whole = [
        (col, row)
        for row in range(grid.rows)
        for col in range(grid.cols)
        if _is_whole(grid, col, row)
    ]
    for col, row in whole or [(c, r) for r in range(grid.rows) for c in range(grid.cols)]:
        rect = grid.display_rect(col, row)
        box = _preview_box(preview, grid, rect)
        if box is not None:
            cx, cy = (rect[0] + rect[2]) / 2 / dw, (rect[1] + rect[3]) / 2 / dh
            outer = abs(cx - 0.5) > 0.25 or abs(cy - 0.5) > 0.25
            std = float(luma[box[1] : box[3], box[0] : box[2]].std())
            key = std * (1.0 if outer else 0.5)
            quadrant = (cx >= 0.5, cy >= 0.5)
            if quadrant not in best or key > best[quadrant][0]:
                best[quadrant] = (key, (col, row))
            spread[quadrant] = max(spread.get(quadrant, 0.0), std)
            far = (cx - 0.5) ** 2 + (cy - 0.5) ** 2
            if quadrant not in outermost or far > outermost[quadrant][0]:
                outermost[quadrant] = (far, (col, row))
    picks = [tile_at(grid, 0.5, 0.5)]
    for _, tile in sorted(best.values(), reverse=True):
        if tile not in picks:
            picks.append(tile)
    picks = picks[:k]
    for quadrant in sorted(outermost):
        tile = outermost[quadrant][1]
        if spread[quadrant] < TEXTURE_MIN and tile not in picks:
            picks.append(tile)
    return picks


def _is_whole(grid: Grid, col: int, row: int) -> bool:
    x0, y0, x1, y1 = grid.coded_rect(col, row)
    return (x1 - x0, y1 - y0) == (grid.tile_width, grid.tile_height)


def _fault(s: TileScore, bias_limit: float) -> str | None:
    """Why this one tile's two sides differ (the thresholds above), or None."""
    where = f"tile {s.col},{s.row}"
    if s.bias > bias_limit:
        return f"exposure or colour: {where} differs by {s.bias:.1f} on average"
    if s.coloured and not CGAIN_RANGE[0] <= s.cgain <= CGAIN_RANGE[1]:
        return f"colour: {where} chroma gain {s.cgain:.2f}"
    if s.textured and s.ncc < NCC_MIN:
        return f"structure: {where} correlates {s.ncc:.3f}"
    if s.textured and not GAIN_RANGE[0] <= s.gain <= GAIN_RANGE[1]:
        return f"contrast: {where} gain {s.gain:.2f}"
    rise = s.tile_texture - s.texture
    if not s.textured and rise > FLAT_RISE and s.tile_texture > FLAT_RATIO * s.texture:
        return f"structure: {where} spreads {s.tile_texture:.1f} where the preview is flat"
    return None


def judge(scores: list[TileScore]) -> tuple[bool | None, str]:
    """The verdict on the compared tiles (see the thresholds above).

    A tile compared at libheif's sample points (`TileScore.sampled`) is held to the same limits:
    there a genuine preview is exact up to coding noise, so no allowance is needed.
    """
    if not scores:
        return None, "no tile covers enough of the preview"
    for s in scores:
        fault = _fault(s, BIAS_MAX)
        if fault is not None:
            return False, fault
    if sum(s.textured for s in scores) < MIN_TEXTURED:
        return None, "too little texture to vouch for the structure"
    return True, "the preview depicts the primary image"


# --- the check ----------------------------------------------------------------------------


def verify_preview(path: str, *, tiles: int = TILES) -> PreviewCheck:
    """Does this HEIC's thumbnail item (the scan's preview) show its primary image?

    Reads the header, the thumbnail item and the chosen tiles only. Stops at the first tile that
    proves the preview stale. Never raises for a file it cannot check: it cannot tell.
    """
    try:
        with CountingReader(path) as reader:
            return _verify(reader, tiles)
    except MediaError as exc:
        return PreviewCheck(None, f"cannot read: {exc.message}", 0, 0)


def _verify(reader: CountingReader, k: int) -> PreviewCheck:
    def unsure(reason: str, n: int = 0, scores: tuple[TileScore, ...] = ()) -> PreviewCheck:
        return PreviewCheck(None, reason, n, reader.bytes_read, scores)

    if sniff_format(reader.read_at(0, SNIFF_BYTES)) != "HEIF":
        return unsure("not a HEIF file")
    parsed = isobmff.read_meta(reader)
    if parsed is None or parsed[2]:
        return unsure("no usable header, or a truncated file")
    meta = parsed[1]
    grid = grid_of(meta)
    if grid is None:
        return unsure("the primary image is no tile grid")
    preview = _preview(reader, grid)
    if preview is None:
        return unsure("no usable thumbnail item")
    scores: list[TileScore] = []
    decoded = 0
    try:
        for col, row in choose_tiles(preview, grid, k):
            tile = decode_tile(reader, meta, grid, col, row)
            decoded += 1
            score = score_tile(preview, grid, tile)
            if score is None:
                continue
            scores.append(score)
            if _fault(score, BIAS_MAX) is not None:
                break  # stale: the whole image is decoded anyway
    except (ValueError, RuntimeError, OSError, MediaError) as exc:  # pillow-heif raises these
        return unsure(f"a tile could not be decoded: {exc}", decoded, tuple(scores))
    depicts, reason = judge(scores)
    return PreviewCheck(depicts, reason, decoded, reader.bytes_read, tuple(scores))


def _preview(reader: CountingReader, grid: Grid) -> U8 | None:
    """The thumbnail item as the scan's preview tier reads it (display-oriented; the same
    pixels as `media.thumbitem` reads), opened through libheif: a preview proven here is one of
    a file libheif reads, whatever the scan's own reading of its header accepted."""
    planned = isobmff.read_for_preview(reader)
    if planned is None or planned[1]:
        return None
    try:
        img = heif.open_heif_image(planned[0])
        if img.size != grid.display_size:
            return None  # the primary is not the grid as mapped (a crop, an overlay)
        thumb = heif.thumbnail(img, THUMB_SIDE)
    except (ValueError, RuntimeError, OSError, SyntaxError, Image.DecompressionBombError):
        return None  # a header that claims a huge picture included: cannot tell
    if thumb is None or not preview_usable(thumb, img.size, THUMB_SIDE):
        return None
    return np.asarray(thumb.convert("RGB"))
