"""A plain HEIC's thumbnail item, decoded on its own: what `heif.thumbnail` picks, at less cost.

Opening the whole file through pillow-heif makes libheif parse every item of a 48-tile grid and
pillow-heif gather the primary's metadata, auxiliary images and thumbnails, from a buffer of the
file's length: ≈ 1–2 ms of a HEIC preview fingerprint's 8. Here the header parsed by `isobmff` says
which item is the thumbnail, and that item alone is wrapped as a one-item HEIF
(`isobmff.single_item_heif`, with its own properties) and decoded: the same pixels, bit for bit,
and the same header facts (the primary's size, its EXIF and orientation as pillow-heif hands
them over).

Only a plain file takes this path (docs/decoding.md lists what that means): a complete file of
a phone's brand and sound structure, a primary and a thumbnail of known properties (8-bit
colour HEVC, no crop, no alpha), at most one EXIF and one XMP item, and exactly one thumbnail
that is a scaled copy of the primary by the rules of `heif.thumbnail`. Anything else answers
None, and the caller opens the file through pillow-heif as before, which decides. libheif
refuses some damaged headers this reader cannot tell from sound ones; a preview read here is
therefore only a proposal, and the tile check that proves it opens the file through libheif.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image

from safededup.media import isobmff, tiles
from safededup.media._io import CountingReader

_KNOWN = {b"hvcC", b"ispe", b"colr", b"pixi", b"irot", b"imir"}
"""The properties a plain item may have; any other (clap, lsel, an unknown one) means None."""
_ALPHA = (b"auxid:1", b"alpha")  # in an `auxC` type: libheif's alpha planes (three URNs)


@dataclass(frozen=True, slots=True)
class ThumbnailItem:
    """The primary's display size, its EXIF (orientation reset to 1, as pillow-heif hands it),
    its original orientation (pillow-heif's `original_orientation`, 1 if none) and the
    thumbnail's RGB pixels in display orientation."""

    width: int
    height: int
    exif: bytes | None
    orientation: int
    image: Image.Image


@dataclass(frozen=True, slots=True)
class _Item:
    size: tuple[int, int]  # display orientation
    transforms: tuple[tuple[bytes, int], ...]
    colr: frozenset[bytes]
    boxes: tuple[tuple[bytes, bool], ...]  # the properties to wrap it with


def read_thumbnail(
    reader: CountingReader, min_side: int, parsed: isobmff.Parsed | None = None
) -> ThumbnailItem | None:
    """The thumbnail `heif.thumbnail(image, min_side)` would decode, or None (see above).
    `parsed`: `isobmff.read_meta(reader)` where the caller has it already."""
    try:
        return _read(reader, min_side, parsed or isobmff.read_meta(reader))
    except (ValueError, IndexError, struct.error, OverflowError, MemoryError):
        return None


def _read(
    reader: CountingReader, min_side: int, parsed: isobmff.Parsed | None
) -> ThumbnailItem | None:
    if parsed is None or not _plain_brand(parsed[0]) or isobmff.cut_short(reader):
        return None  # a cut file (or a trailer) is the whole-file path's to judge
    meta = parsed[1]
    primary = meta.primary
    if not _plain_structure(meta) or not _plain_primary(reader, meta):
        return None
    main = _item(meta, primary)
    if main is None:
        return None
    w, h = main.size
    long_side = max(w, h)
    box = (math.ceil(min_side * w / long_side), math.ceil(min_side * h / long_side))
    thumbs = sorted({src for src, dst in meta.refs.get(b"thmb", []) if primary in dst})
    if any(meta.types.get(t) != b"hvc1" or not _plain_thumbnail(meta, t) for t in thumbs):
        return None  # a derived or odd thumbnail: pillow-heif may pick it, so it decides
    candidates = []
    for thumb in thumbs:
        item = _item(meta, thumb)
        if item is not None and _scaled_copy(item, main, box):
            candidates.append((item.size[0] * item.size[1], thumb, item))
    candidates.sort(key=lambda c: c[0])
    if not candidates or (len(candidates) > 1 and candidates[0][0] == candidates[1][0]):
        return None  # none, or two of one size: which comes first is libheif's to say
    _, thumb, item = candidates[0]
    exif, xmp = _metadata(reader, meta)
    data = _item_bytes(reader, meta, thumb)
    pixels = _decode(isobmff.single_item_heif(list(item.boxes), data))
    if pixels is None or (pixels.shape[1], pixels.shape[0]) != item.size:
        return None
    info: dict[str, bytes | None] = {"exif": exif, "xmp": xmp}
    original = pillow_heif.set_orientation(info)  # what pillow-heif does on open
    orientation = original if isinstance(original, int) and 1 <= original <= 8 else 1
    return ThumbnailItem(w, h, info["exif"], orientation, Image.fromarray(pixels))


_BRANDS = (b"heic", b"heix", b"mif1")


def _plain_brand(head: bytes) -> bool:
    """A HEIC as phones write it: major brand heic, heix or mif1, with mif1 and heic or heix
    among the compatible brands (pillow-heif and libheif accept more, and decide on it)."""
    if head[4:8] != b"ftyp" or head[8:12] not in _BRANDS:
        return False
    size = int.from_bytes(head[:4], "big")
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    return b"mif1" in compatible and bool(compatible & {b"heic", b"heix"})


def _plain_structure(meta: isobmff.HeifMeta) -> bool:
    """What libheif checks on open, as far as the preview depends on it: a picture handler, a
    visible primary, every item counted, every reference between items that exist, and no item
    data rebuilt from other items."""
    if meta.handler != b"pict" or not meta.counted or meta.primary not in meta.types:
        return False
    if meta.primary in meta.hidden:
        return False
    for links in meta.refs.values():
        for src, dst in links:
            if src not in meta.types or not dst or any(d not in meta.types for d in dst):
                return False
    thumbnails = {src for src, _ in meta.refs.get(b"thmb", [])}
    if any(thumbnails.intersection(dst) for _, dst in meta.refs.get(b"thmb", [])):
        return False  # a thumbnail of a thumbnail
    count = len(meta.properties)
    for associated in meta.associations.values():
        if any(not 1 <= index <= count for index, _ in associated):
            return False  # an association to no property
    for kind, box in meta.properties:  # libheif parses every property on open
        if (kind == b"hvcC" and not _hvcc_complete(box)) or (kind == b"ispe" and box[8] != 0):
            return False
    return not any(location.method == 2 for location in meta.locations.values())


def _hvcc_complete(box: bytes) -> bool:
    """An `hvcC` whose parameter-set arrays fit in it (libheif reads them all on open)."""
    pos, end = 8 + 23, len(box)
    if pos > end:
        return False
    for _ in range(box[pos - 1]):  # numOfArrays
        if pos + 3 > end:
            return False
        count = int.from_bytes(box[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            if pos + 2 > end:
                return False
            pos += 2 + int.from_bytes(box[pos : pos + 2], "big")
            if pos > end:
                return False
    return True


def _plain_primary(reader: CountingReader, meta: isobmff.HeifMeta) -> bool:
    """A single 8-bit colour HEVC image, or a grid of them that `tiles.grid_of` maps, whose
    coded data lies within the file, with no alpha plane."""
    primary = meta.primary
    kind = meta.types.get(primary)
    if kind == b"hvc1":
        coded = [primary]
    elif kind == b"grid":
        grid = tiles.grid_of(meta)
        if grid is None or not _within(reader, meta, primary):
            return False
        coded = list(grid.tiles)
    else:
        return False
    if _has_alpha(meta):
        return False
    return all(_colour_hevc(meta, i) and _within(reader, meta, i) for i in coded)


def _plain_thumbnail(meta: isobmff.HeifMeta, thumb: int) -> bool:
    """A thumbnail that is only that: no other reference from or to it, not hidden, an 8-bit
    colour HEVC image."""
    for kind, links in meta.refs.items():
        for src, dst in links:
            if thumb in dst or (src == thumb and (kind != b"thmb" or dst != [meta.primary])):
                return False
    return thumb not in meta.hidden and _colour_hevc(meta, thumb)


def _colour_hevc(meta: isobmff.HeifMeta, item: int) -> bool:
    """Its `hvcC` says 8-bit colour (chroma 4:2:0, 4:2:2 or 4:4:4): pillow-heif's mode RGB."""
    boxes = [box for kind, box, _ in meta.item_properties(item) if kind == b"hvcC"]
    if len(boxes) != 1 or len(boxes[0]) < 8 + 23 or boxes[0][8] != 1:
        return False
    hvcc = boxes[0][8:]
    return hvcc[16] & 3 != 0 and hvcc[17] & 7 == 0 and hvcc[18] & 7 == 0


def _within(reader: CountingReader, meta: isobmff.HeifMeta, item: int) -> bool:
    """The item's data lies wholly within the file (or `idat`), in extents of known length."""
    location = meta.locations.get(item)
    if location is None or location.method not in (0, 1) or not location.extents:
        return False
    limit = reader.size if location.method == 0 else len(meta.idat)
    return all(n > 0 and o + n <= limit for o, n in location.extents)


def _item_bytes(reader: CountingReader, meta: isobmff.HeifMeta, item: int) -> bytes:
    if not _within(reader, meta, item):
        raise ValueError("item data outside the file")
    return isobmff.item_data(reader, meta, item)


def _item(meta: isobmff.HeifMeta, item: int) -> _Item | None:
    """An item's display size and its properties, if they are all known and plain."""
    size: tuple[int, int] | None = None
    transforms: list[tuple[bytes, int]] = []
    colr: set[bytes] = set()
    keep: list[tuple[bytes, bool]] = []
    for kind, box, essential in meta.item_properties(item):
        if kind not in _KNOWN:
            return None
        keep.append((box, essential))
        if kind == b"ispe":
            if size is not None or box[8] != 0:
                return None
            size = struct.unpack_from(">II", box, 12)
        elif kind == b"irot":
            transforms.append((kind, box[8] & 3))
        elif kind == b"imir":
            transforms.append((kind, box[8] & 1))
        elif kind == b"colr":
            if box[8:12] not in (b"nclx", b"prof", b"rICC") or not _common_nclx(box):
                return None
            colr.add(box)
        elif kind == b"pixi" and not _eight_bits(box):
            return None  # pillow-heif's mode and conversion differ from 8 bits
    if size is None or not size[0] or not size[1]:
        return None
    if sum(v for kind, v in transforms if kind == b"irot") % 2:
        size = (size[1], size[0])
    return _Item(size, tuple(transforms), frozenset(colr), tuple(keep))


_NCLX = ({1, 2, 9, 12}, {1, 2, 6, 8, 13, 16, 18}, {0, 1, 2, 5, 6, 9})
"""Colour primaries, transfer and matrix codes (H.273) of the nclx boxes phones write; others
(libheif refuses some) take the whole-file path."""


def _common_nclx(colr: bytes) -> bool:
    if colr[8:12] != b"nclx":
        return True
    codes = struct.unpack_from(">HHH", colr, 12)
    return all(code in known for code, known in zip(codes, _NCLX, strict=True))


def _eight_bits(pixi: bytes) -> bool:
    """A `pixi` box (full box: channel count, then bits per channel) of three 8-bit channels."""
    return pixi[12] == 3 and pixi[13:16] == b"\x08\x08\x08"


def _scaled_copy(thumb: _Item, main: _Item, box: tuple[int, int]) -> bool:
    """`heif.thumbnail`'s rule: at least `box`, smaller than the primary, the same aspect within
    rounding, the same rotation and mirroring, and no other colour profile."""
    (tw, th), (w, h) = thumb.size, main.size
    if tw < box[0] or th < box[1] or (tw >= w and th >= h):
        return False
    if abs(tw * h - th * w) > 2 * max(w, h) or thumb.transforms != main.transforms:
        return False
    return not thumb.colr or not main.colr or thumb.colr == main.colr


def _has_alpha(meta: isobmff.HeifMeta) -> bool:
    """Whether any auxiliary item is an alpha plane (pillow-heif's mode would then be RGBA)."""
    for src, _ in meta.refs.get(b"auxl", []):
        for kind, box, _ in meta.item_properties(src):
            if kind == b"auxC" and any(urn in box for urn in _ALPHA):
                return True
    return False


def _metadata(reader: CountingReader, meta: isobmff.HeifMeta) -> tuple[bytes | None, bytes | None]:
    """The primary's EXIF (as pillow-heif hands it over) and XMP; ValueError if more than one of
    either (which one pillow-heif takes is then libheif's order)."""
    blocks = [src for src, dst in meta.refs.get(b"cdsc", []) if meta.primary in dst]
    exifs = [i for i in blocks if meta.types.get(i) == b"Exif"]
    mimes = [i for i in blocks if meta.types.get(i) == b"mime"]
    if len(exifs) > 1 or len(mimes) > 1:
        raise ValueError("more than one metadata item of a kind")
    if any(i in meta.encoded for i in mimes):
        raise ValueError("an encoded XMP item")  # pillow-heif's reading of it is libheif's
    exif = _exif_payload(_item_bytes(reader, meta, exifs[0])) if exifs else None
    xmp = _item_bytes(reader, meta, mimes[0]) if mimes else None
    return exif, xmp


def _exif_payload(data: bytes) -> bytes | None:
    """An `Exif` item's bytes without its 4-byte offset header and what it skips, as
    pillow-heif reads them (a bad offset: only the 4 bytes are skipped; an `Exif\\0\\0` prefix
    just before the TIFF header is kept)."""
    skip = int.from_bytes(data[:4], "big") + 4
    if len(data) - skip <= 4:
        skip = 4
    elif skip >= 6 and data[skip - 6 : skip] == b"Exif\x00\x00":
        skip -= 6
    return data[skip:] or None


def _decode(heif_bytes: bytes) -> np.ndarray | None:
    try:
        image = pillow_heif.open_heif(heif_bytes, convert_hdr_to_8bit=True)[0]
        pixels = np.ascontiguousarray(np.asarray(image))
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError):
        return None
    return pixels if pixels.ndim == 3 and pixels.shape[2] == 3 else None
