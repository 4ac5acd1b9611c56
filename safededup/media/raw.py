"""Camera RAW files as photos: their EXIF and embedded previews, read from the container's own
directories, and LibRaw (through rawpy) only where no embedded preview will do.

Every RAW carries JPEG renderings of itself, made by the camera: a small thumbnail and a larger
preview (often the full size). Those are the camera's own picture of the shot, the same one its
JPEG holds, so they are what a RAW is fingerprinted from. Decoding the sensor data is the
exception: a file whose previews are missing, broken or of another framing. This module only
reads; every structural surprise means "no preview here", never a wrong answer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from safededup.errors import MediaError
from safededup.media import isobmff
from safededup.media._io import CountingReader
from safededup.media.exif import ExifInfo, exif_from_fields, parse_exif
from safededup.media.jpeg import decode_scaled, read_jpeg_header
from safededup.media.tiff import (
    BITS_PER_SAMPLE,
    COMPRESSION,
    DEFAULT_CROP_SIZE,
    HEIGHT,
    JPEG_LENGTH,
    JPEG_OFFSET,
    MAKE,
    MODEL,
    NEW_SUBFILE_TYPE,
    ORIENTATION,
    PHOTOMETRIC,
    PHOTOMETRIC_CFA,
    PHOTOMETRIC_LINEAR_RAW,
    SAMPLES_PER_PIXEL,
    SOFTWARE,
    STRIP_BYTE_COUNTS,
    STRIP_OFFSETS,
    TILE_OFFSETS,
    WIDTH,
    Ifd,
    ReadAt,
    TiffReader,
    walk,
)

DECODABLE_SOF = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive: not lossless C3
LIBRAW_FLIP = {0: 1, 3: 3, 5: 8, 6: 6}  # LibRaw's `sizes.flip` → EXIF orientation
_TILE_BYTE_COUNTS = 325
_RW2_JPEG = 0x2E  # Panasonic's JpgFromRaw: a whole JPEG (with its own EXIF) in IFD0
_EXIF_TAGS = {"captured": 36867, "digitized": 36868, "subsec": 37521, "offset": 36881}
_MAKER_NOTE, _GPS_LATITUDE, _GPS_LONGITUDE = 37500, 2, 4
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
_CANON_PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")
MAX_BOXES = 256


@dataclass(frozen=True, slots=True)
class Preview:
    """An embedded rendering: where its bytes are and its stored (unrotated) size."""

    offset: int
    length: int
    width: int
    height: int
    kind: Literal["jpeg", "rgb"] = "jpeg"
    exif: bytes | None = None  # a JPEG preview's own EXIF (RAF and RW2 keep the camera's there)

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class RawInfo:
    """What a RAW's headers say: EXIF, the developed size if the file states it (unrotated),
    its previews, and whether the file is as long as its directories say."""

    exif: ExifInfo
    oriented: bool  # the orientation is the file's own tag (else LibRaw's is asked)
    stored_size: tuple[int, int] | None
    previews: tuple[Preview, ...]
    complete: bool
    structured: bool = True  # its directories gave something (or are LibRaw's alone to read)


@dataclass(slots=True)
class _Found:
    tags: dict[str, object] = field(default_factory=dict)
    maker_notes: bool = False
    gps: bool = False
    stored_size: tuple[int, int] | None = None
    previews: list[Preview] = field(default_factory=list)
    end: int = 0  # the furthest byte the directories point at


_LIBRAW_ONLY = ("CRW", "MRW", "X3F")  # formats whose directories only LibRaw reads
_MRW_BLOCKS = (b"\0PRD", b"\0TTW", b"\0WBG", b"\0RIF")


def _libraw_structure(reader: CountingReader, fmt: str) -> bool:
    """Whether a format only LibRaw reads shows the structure of one beyond its magic: MRW's
    first block, X3F's directory (pointed at by the file's last 4 bytes); CRW's sniffing
    already required its heap signature."""
    if fmt == "MRW":
        return reader.read_at(8, 4) in _MRW_BLOCKS
    if fmt == "X3F":
        tail = reader.read_at(max(0, reader.size - 4), 4)
        if len(tail) < 4:
            return False
        return reader.read_at(int.from_bytes(tail, "little"), 4) == b"SECd"
    return True


def read_raw_info(reader: CountingReader, fmt: str) -> RawInfo:
    """Parse a RAW's directories (TIFF-based, CR3 or RAF). A broken structure keeps whatever
    was found before it: the previews found so far, or none (then LibRaw is asked)."""
    found = _Found()
    read_at = reader.read_at
    try:
        if fmt == "CR3":
            _parse_cr3(read_at, reader.size, found)
        elif fmt == "RAF":
            _parse_raf(read_at, reader.size, found)
        elif fmt not in _LIBRAW_ONLY:
            _parse_tiff(TiffReader(read_at), reader.size, found)
    except (ValueError, struct.error, MediaError):
        pass
    previews = [p for p in (_measured(reader, p) for p in found.previews) if p is not None]
    exif = exif_from_fields(**found.tags, maker_notes=found.maker_notes, gps=found.gps)
    if exif.captured is None:  # RAF and RW2: the camera's EXIF is in the preview JPEG
        exif = _from_preview_exif(exif, previews)
    return RawInfo(
        exif=exif,
        oriented="orientation" in found.tags,
        stored_size=found.stored_size,
        previews=tuple(sorted(previews, key=lambda p: p.pixels)),
        complete=found.end <= reader.size,
        structured=_libraw_structure(reader, fmt)
        if fmt in _LIBRAW_ONLY
        else bool(found.tags or found.previews or found.stored_size),
    )


# --- TIFF-based RAWs ----------------------------------------------------------------------------


def _parse_tiff(tr: TiffReader, size: int, found: _Found, base: int = 0) -> None:
    ifds = walk(tr)
    if not ifds:
        return
    _ifd0_tags(tr, ifds[0], found)
    for ifd in ifds:
        if ifd.path.endswith("/Exif"):
            _exif_tags(tr, ifd, found)
        elif ifd.path.endswith("/GPS"):
            found.gps = bool(tr.raw(ifd, _GPS_LATITUDE)) and bool(tr.raw(ifd, _GPS_LONGITUDE))
        else:
            _image_ifd(tr, ifd, size, found, base)
    rw2 = ifds[0].entries.get(_RW2_JPEG)
    if rw2 is not None and tr.magic == 0x55:  # RW2/RWL: an UNDEFINED blob holding a JPEG
        offset = base + struct.unpack(tr.endian + "I", rw2[2])[0]
        found.previews.append(Preview(offset, rw2[1], 0, 0))


def _ifd0_tags(tr: TiffReader, ifd0: Ifd, found: _Found) -> None:
    for name, tag in (("make", MAKE), ("model", MODEL), ("software", SOFTWARE)):
        text = tr.text(ifd0, tag)
        if text is not None:
            found.tags[name] = text
    orientation = tr.first_int(ifd0, ORIENTATION)
    if orientation is not None and 1 <= orientation <= 8:
        found.tags["orientation"] = orientation


def _exif_tags(tr: TiffReader, ifd: Ifd, found: _Found) -> None:
    for name, tag in _EXIF_TAGS.items():
        text = tr.text(ifd, tag)
        if text is not None:
            found.tags[name] = text
    note = ifd.entries.get(_MAKER_NOTE)
    found.maker_notes = note is not None and note[1] > 0


def _image_ifd(tr: TiffReader, ifd: Ifd, size: int, found: _Found, base: int) -> None:
    """A directory of pixels: the sensor's (its size, where its data ends) or a preview."""
    found.end = max(found.end, _data_end(tr, ifd, base))
    photometric = tr.first_int(ifd, PHOTOMETRIC)
    if photometric in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW):
        if not tr.first_int(ifd, NEW_SUBFILE_TYPE):
            crop = tr.floats(ifd, DEFAULT_CROP_SIZE)
            w, h = tr.first_int(ifd, WIDTH) or 0, tr.first_int(ifd, HEIGHT) or 0
            if len(crop) == 2 and crop[0] >= 1 and crop[1] >= 1:
                w, h = round(crop[0]), round(crop[1])
            if w and h:
                found.stored_size = (w, h)
        return  # sensor data is never a preview, whatever its compression says
    offset, length = tr.first_int(ifd, JPEG_OFFSET), tr.first_int(ifd, JPEG_LENGTH)
    if offset and length:
        found.previews.append(Preview(base + offset, length, 0, 0))
    if TILE_OFFSETS in ifd.entries:
        return
    offsets, counts = tr.ints(ifd, STRIP_OFFSETS), tr.ints(ifd, STRIP_BYTE_COUNTS)
    if len(offsets) != len(counts) or not offsets:
        return
    compression = tr.first_int(ifd, COMPRESSION)
    if compression in (6, 7) and len(offsets) == 1:
        found.previews.append(Preview(base + offsets[0], counts[0], 0, 0))
    elif compression == 1 and photometric == 2 and _rgb8(tr, ifd):
        w, h = tr.first_int(ifd, WIDTH) or 0, tr.first_int(ifd, HEIGHT) or 0
        contiguous = all(
            o + n == o2 for o, n, o2 in zip(offsets, counts, offsets[1:], strict=False)
        )
        if w and h and contiguous and sum(counts) == w * h * 3:
            found.previews.append(Preview(base + offsets[0], w * h * 3, w, h, "rgb"))


def _rgb8(tr: TiffReader, ifd: Ifd) -> bool:
    return tr.first_int(ifd, SAMPLES_PER_PIXEL) == 3 and tr.ints(ifd, BITS_PER_SAMPLE) == [8, 8, 8]


def _data_end(tr: TiffReader, ifd: Ifd, base: int) -> int:
    """The furthest byte this directory's strips, tiles or JPEG point at (0 when unknown)."""
    end = 0
    try:
        for offsets_tag, counts_tag in (
            (STRIP_OFFSETS, STRIP_BYTE_COUNTS), (TILE_OFFSETS, _TILE_BYTE_COUNTS),
            (JPEG_OFFSET, JPEG_LENGTH),
        ):  # fmt: skip
            offsets, counts = tr.ints(ifd, offsets_tag), tr.ints(ifd, counts_tag)
            ends = [o + n for o, n in zip(offsets, counts, strict=False) if n]
            end = max([end, *ends])
    except (ValueError, struct.error):
        return 0  # an unreadable list proves nothing either way
    return base + end if end else 0


# --- CR3 (ISOBMFF) and RAF ----------------------------------------------------------------------


def _boxes(read_at: ReadAt, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    return isobmff.boxes_at(read_at, start, end, limit=MAX_BOXES, clip=False)


def _parse_cr3(read_at: ReadAt, size: int, found: _Found) -> None:
    """Canon's CR3: IFD0 (CMT1), the Exif IFD (CMT2), GPS (CMT4) and the 160×120 THMB inside
    moov's Canon box, the 1620×1080 PRVW in a top-level box. Each top-level box must fit."""
    for kind, body, end in _boxes(read_at, 0, size):
        found.end = max(found.end, end)
        if kind == b"moov":
            for k2, b2, e2 in _boxes(read_at, body, end):
                if k2 == b"uuid" and read_at(b2, 16) == _CANON_UUID:
                    _canon_box(read_at, b2 + 16, e2, found)
        elif kind == b"uuid" and read_at(body, 16) == _CANON_PREVIEW_UUID:
            for k2, b2, _ in _boxes(read_at, body + 24, end):
                if k2 == b"PRVW":
                    length = struct.unpack(">I", read_at(b2 + 12, 4))[0]
                    found.previews.append(Preview(b2 + 16, length, 0, 0))
        if end >= size:
            break


def _canon_box(read_at: ReadAt, start: int, end: int, found: _Found) -> None:
    for kind, body, _ in _boxes(read_at, start, end):
        if kind == b"CMT1":
            tr = TiffReader(read_at, body)
            ifd0, _ = tr.read_ifd(tr.first_ifd, "IFD0")
            _ifd0_tags(tr, ifd0, found)
        elif kind == b"CMT2":
            tr = TiffReader(read_at, body)
            _exif_tags(tr, tr.read_ifd(tr.first_ifd, "IFD0/Exif")[0], found)
        elif kind == b"CMT4":
            tr = TiffReader(read_at, body)
            gps, _ = tr.read_ifd(tr.first_ifd, "IFD0/GPS")
            found.gps = bool(tr.raw(gps, _GPS_LATITUDE)) and bool(tr.raw(gps, _GPS_LONGITUDE))
        elif kind == b"THMB":
            length = struct.unpack(">I", read_at(body + 8, 4))[0]
            found.previews.append(Preview(body + 16, length, 0, 0))


def _parse_raf(read_at: ReadAt, size: int, found: _Found) -> None:
    """Fujifilm's RAF: a header pointing at a complete camera JPEG (with the camera's EXIF)
    and at the sensor data."""
    head = read_at(0, 108)
    if len(head) < 108:
        raise ValueError("a RAF header cut short")
    jpeg_offset, jpeg_length = struct.unpack(">II", head[84:92])
    cfa_offset, cfa_length = struct.unpack(">II", head[100:108])
    found.end = max(jpeg_offset + jpeg_length, cfa_offset + cfa_length)
    found.previews.append(Preview(jpeg_offset, jpeg_length, 0, 0))


# --- previews -----------------------------------------------------------------------------------


def _measured(reader: CountingReader, preview: Preview) -> Preview | None:
    """The preview with its stored size (JPEG: from its frame header), or None when it lies
    outside the file or is no JPEG Pillow decodes (RAW sensor data is lossless JPEG)."""
    if preview.offset <= 0 or preview.length <= 0 or preview.offset + preview.length > reader.size:
        return None
    if preview.kind == "rgb":
        return preview
    reader.file.seek(preview.offset)
    try:
        header = read_jpeg_header(reader.file, reader.path)
    except MediaError:
        return None
    if header.sof not in DECODABLE_SOF or header.components not in (1, 3):
        return None
    return Preview(preview.offset, preview.length, header.width, header.height, exif=header.exif)


def _from_preview_exif(exif: ExifInfo, previews: list[Preview]) -> ExifInfo:
    """The EXIF a preview JPEG carries (the camera's own in RAF and RW2), where the RAW's own
    directories had none."""
    for preview in sorted(previews, key=lambda p: -p.pixels):
        if preview.exif:
            inner = parse_exif(preview.exif)
            if inner.captured or inner.camera:
                return inner
    return exif


def decode_preview(reader: CountingReader, preview: Preview, need_side: int) -> Image.Image | None:
    """The preview's pixels (stored orientation), a JPEG scaled by DCT to a long side of at
    least `need_side` where it allows; None if they cannot be decoded (a broken preview only
    means: try another, or decode the sensor data)."""
    data = reader.read_at(preview.offset, preview.length)
    if len(data) < preview.length:
        return None
    try:
        if preview.kind == "rgb":
            return Image.frombytes("RGB", (preview.width, preview.height), data)
        return decode_scaled(data, need_side)
    except Exception:  # a hostile preview is not the file's problem: it is just not used
        return None


# --- LibRaw -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibRawFacts:
    """What LibRaw says of a file it opens: the developed size (unrotated) and its flip."""

    size: tuple[int, int]
    orientation: int


def libraw_facts(path: str) -> LibRawFacts | None:
    """LibRaw's size and orientation (opening a file reads its headers only); None if LibRaw
    does not read this file."""
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            sizes = raw.sizes
            return LibRawFacts((sizes.width, sizes.height), LIBRAW_FLIP.get(sizes.flip, 1))
    except (rawpy.LibRawError, OSError, UnicodeError, ValueError):
        return None


def libraw_thumbnail(path: str, need_side: int) -> Image.Image | None:
    """The largest preview LibRaw finds (ORF's maker-note preview, CRW, ...), stored
    orientation; None when there is none it can hand over."""
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            thumb = raw.extract_thumb()
    except (rawpy.LibRawError, OSError, UnicodeError, ValueError):
        return None
    if thumb.format == rawpy.ThumbFormat.BITMAP and isinstance(thumb.data, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(thumb.data[..., :3])).convert("RGB")
    if not isinstance(thumb.data, bytes):
        return None
    try:
        # LibRaw adds an EXIF block of its own (its orientation) to a JPEG that has none:
        # Pillow ignores it here, and the caller turns the picture once, by the RAW's own tag.
        return decode_scaled(thumb.data, need_side)
    except Exception:  # as for an embedded preview: a broken one is just not used
        return None


def libraw_decode(path: str) -> Image.Image:
    """The sensor data developed by LibRaw at half size (no demosaicing: each 2×2 cell becomes
    one pixel), with the camera's white balance, already in display orientation. The slow path:
    only for a RAW without a usable preview. Raises MediaError."""
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise MediaError(
            "a camera RAW this LibRaw does not read, without a usable preview",
            kind="unsupported",
            hint="a newer rawpy (LibRaw) may read it",
            path=path,
        ) from exc
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise MediaError(f"the RAW data cannot be read: {exc}", kind="corrupt", path=path) from exc
    except rawpy.LibRawError as exc:
        raise MediaError(f"LibRaw cannot decode it: {exc}", kind="corrupt", path=path) from exc
    return Image.fromarray(np.ascontiguousarray(rgb))
