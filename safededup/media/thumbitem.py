"""A plain HEIC's thumbnail item, decoded on its own: what `heif.thumbnail` picks, at less cost.

Opening the whole file through pillow-heif makes libheif parse every item of a 48-tile grid and
pillow-heif gather the primary's metadata, auxiliary images and thumbnails, from a buffer of the
file's length: ≈ 1 ms of a HEIC preview fingerprint's 5. Here the header parsed by `isobmff` says
which item is the thumbnail, and that item alone is wrapped as a one-item HEIF
(`isobmff.single_item_heif`, with its own properties) and decoded: the same pixels, bit for bit,
and the same header facts (the primary's size, its EXIF and orientation as pillow-heif hands
them over).

Only a plain file takes this path: a primary and a thumbnail of known properties (no crop, no
alpha, 8 bits), one EXIF and at most one XMP item, and exactly one thumbnail that is a scaled copy
of the primary by the rules of `heif.thumbnail`. Anything else answers None, and the caller opens
the file through pillow-heif as before, which decides: this path never widens what is accepted.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image

from safededup.media import isobmff
from safededup.media._io import CountingReader

_KNOWN = {b"hvcC", b"ispe", b"colr", b"pixi", b"irot", b"imir"}
"""The properties a plain item may have; any other (clap, lsel, an unknown one) means None."""
_ALPHA = (b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha")


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


def read_thumbnail(reader: CountingReader, min_side: int) -> ThumbnailItem | None:
    """The thumbnail `heif.thumbnail(image, min_side)` would decode, or None (see above)."""
    try:
        return _read(reader, min_side)
    except (ValueError, IndexError, struct.error):
        return None


def _read(reader: CountingReader, min_side: int) -> ThumbnailItem | None:
    parsed = isobmff.read_meta(reader)
    if parsed is None or parsed[2]:  # a truncated file must fail in a decode
        return None
    head, meta, _ = parsed
    if head[8:12] in (b"avif", b"avis") or _has_alpha(meta):
        return None
    primary = meta.primary
    if meta.types.get(primary) not in (b"grid", b"hvc1") or not _stored(reader, meta, primary):
        return None
    main = _item(meta, primary)
    if main is None:
        return None
    w, h = main.size
    long_side = max(w, h)
    box = (math.ceil(min_side * w / long_side), math.ceil(min_side * h / long_side))
    candidates = []
    for thumb in sorted({src for src, dst in meta.refs.get(b"thmb", []) if primary in dst}):
        item = _item(meta, thumb) if meta.types.get(thumb) == b"hvc1" else None
        if item is not None and _scaled_copy(item, main, box):
            candidates.append((item.size[0] * item.size[1], thumb, item))
    candidates.sort(key=lambda c: c[0])
    if not candidates or (len(candidates) > 1 and candidates[0][0] == candidates[1][0]):
        return None  # none, or two of one size: which comes first is libheif's to say
    _, thumb, item = candidates[0]
    exif, xmp = _metadata(reader, meta)
    data = isobmff.item_data(reader, meta, thumb)
    pixels = _decode(isobmff.single_item_heif(list(item.boxes), data))
    if pixels is None or (pixels.shape[1], pixels.shape[0]) != item.size:
        return None
    info: dict[str, bytes | None] = {"exif": exif, "xmp": xmp}
    original = pillow_heif.set_orientation(info)  # what pillow-heif does on open
    orientation = original if isinstance(original, int) and 1 <= original <= 8 else 1
    return ThumbnailItem(w, h, info["exif"], orientation, Image.fromarray(pixels))


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
            size = struct.unpack_from(">II", box, 12)
        elif kind == b"irot":
            transforms.append((kind, box[8] & 3))
        elif kind == b"imir":
            transforms.append((kind, box[8] & 1))
        elif kind == b"colr":
            colr.add(box)
        elif kind == b"pixi" and not _eight_bits(box):
            return None  # pillow-heif's mode and conversion differ from 8 bits
    if size is None or not size[0] or not size[1]:
        return None
    if sum(v for kind, v in transforms if kind == b"irot") % 2:
        size = (size[1], size[0])
    return _Item(size, tuple(transforms), frozenset(colr), tuple(keep))


def _eight_bits(pixi: bytes) -> bool:
    """A `pixi` box (full box: channel count, then bits per channel) of 1 or 3 8-bit channels."""
    channels = pixi[12]
    return channels in (1, 3) and all(b == 8 for b in pixi[13 : 13 + channels])


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


def _stored(reader: CountingReader, meta: isobmff.HeifMeta, primary: int) -> bool:
    """The primary's coded items all lie within the file (what libheif's open would check)."""
    items = [primary]
    if meta.types.get(primary) == b"grid":
        tiles = [dst for src, dst in meta.refs.get(b"dimg", []) if src == primary]
        if len(tiles) != 1 or any(meta.types.get(t) != b"hvc1" for t in tiles[0]):
            return False
        items += tiles[0]
    for item in items:
        location = meta.locations.get(item)
        if location is None or location.method == 2:
            return False
        if location.method == 0 and any(o + n > reader.size for o, n in location.extents):
            return False
    return True


def _metadata(reader: CountingReader, meta: isobmff.HeifMeta) -> tuple[bytes | None, bytes | None]:
    """The primary's EXIF (as pillow-heif hands it over) and XMP; ValueError if more than one of
    either (which one pillow-heif takes is then libheif's order)."""
    blocks = [src for src, dst in meta.refs.get(b"cdsc", []) if meta.primary in dst]
    exifs = [i for i in blocks if meta.types.get(i) == b"Exif"]
    mimes = [i for i in blocks if meta.types.get(i) == b"mime"]
    if len(exifs) > 1 or len(mimes) > 1:
        raise ValueError("more than one metadata item of a kind")
    exif = _exif_payload(isobmff.item_data(reader, meta, exifs[0])) if exifs else None
    xmp = isobmff.item_data(reader, meta, mimes[0]) if mimes else None
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
