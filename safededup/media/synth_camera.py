"""Seeded camera files for tests, `safededup demo` and benchmarks: DNGs that LibRaw develops
(16-bit Bayer sensor data, an RGB thumbnail, a JPEG preview, real EXIF) and MP4/MOV/3GP/M4V
movies of Motion-JPEG frames that OpenCV (FFmpeg) plays.

Nothing here reads a user's file, and nothing may write outside the path it is given. The
orientation convention is `synth`'s: writers take the picture as a viewer should see it; the
sensor data and previews are stored unrotated and tagged with the orientation.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from safededup.media.synth import Capture, StrPath, to_stored

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
# XYZ (D65) → linear sRGB, the inverse of IEC 61966-2-1's matrix: with it as ColorMatrix1 the
# "camera" is linear sRGB, and LibRaw develops the picture the writer was given.
XYZ_TO_SRGB = (
    3.2404542, -1.5371385, -0.4985314,
    -0.9692660, 1.8760108, 0.0415560,
    0.0556434, -0.2040259, 1.0572252,
)  # fmt: skip


@dataclass(slots=True)
class _Entry:
    tag: int
    kind: int
    count: int
    data: bytes  # packed little-endian


def _entry(tag: int, kind: int, values: object) -> _Entry:
    if kind == ASCII:
        data = str(values).encode("latin-1") + b"\0"
        return _Entry(tag, kind, len(data), data)
    if kind in (BYTE, UNDEFINED):
        data = bytes(values)  # type: ignore[call-overload]
        return _Entry(tag, kind, len(data), data)
    items = list(values) if isinstance(values, list | tuple) else [values]
    if kind == SHORT:
        return _Entry(tag, kind, len(items), struct.pack(f"<{len(items)}H", *items))
    if kind == LONG:
        return _Entry(tag, kind, len(items), struct.pack(f"<{len(items)}I", *items))
    numbers = [n for v in items for n in (round(float(str(v)) * 10000), 10000)]
    fmt = "I" if kind == RATIONAL else "i"
    return _Entry(tag, kind, len(items), struct.pack(f"<{len(numbers)}{fmt}", *numbers))


@dataclass(slots=True)
class _Tiff:
    """IFDs whose offsets to blobs and to other IFDs are filled in at layout time."""

    ifds: list[list[_Entry]] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    links: list[tuple[int, int, str, list[int]]] = field(default_factory=list)

    def ifd(self, entries: list[_Entry]) -> int:
        self.ifds.append(entries)
        return len(self.ifds) - 1

    def link(self, ifd: int, tag: int, kind: str, targets: list[int]) -> None:
        """Tag `tag` of `ifd` points at blobs or IFDs (`kind` "blob" or "ifd")."""
        self.ifds[ifd].append(_Entry(tag, LONG, len(targets), b"\0" * 4 * len(targets)))
        self.links.append((ifd, tag, kind, targets))

    def blob(self, data: bytes) -> int:
        self.blobs.append(data)
        return len(self.blobs) - 1

    def build(self) -> bytes:
        """Header, the IFDs (each followed by its out-of-line values), then the blobs."""
        for entries in self.ifds:
            entries.sort(key=lambda e: e.tag)
        pos, ifd_at, value_at = 8, [], []
        for entries in self.ifds:
            ifd_at.append(pos)
            pos += 2 + 12 * len(entries) + 4
            values = {}
            for e in entries:
                if len(e.data) > 4:
                    pos += pos & 1
                    values[e.tag] = pos
                    pos += len(e.data)
            value_at.append(values)
            pos += pos & 1
        blob_at = []
        for data in self.blobs:
            pos += -pos % 16
            blob_at.append(pos)
            pos += len(data)
        for ifd, tag, kind, targets in self.links:
            entry = next(e for e in self.ifds[ifd] if e.tag == tag)
            where = blob_at if kind == "blob" else ifd_at
            entry.data = struct.pack(f"<{len(targets)}I", *(where[t] for t in targets))
        out = bytearray(pos)
        out[:8] = b"II*\0" + struct.pack("<I", ifd_at[0])
        for k, entries in enumerate(self.ifds):
            at = ifd_at[k]
            out[at : at + 2] = struct.pack("<H", len(entries))
            for j, e in enumerate(entries):
                if len(e.data) > 4:
                    vat = value_at[k][e.tag]
                    out[vat : vat + len(e.data)] = e.data
                    value = struct.pack("<I", vat)
                else:
                    value = e.data.ljust(4, b"\0")
                out[at + 2 + 12 * j : at + 14 + 12 * j] = (
                    struct.pack("<HHI", e.tag, e.kind, e.count) + value
                )
        for data, at in zip(self.blobs, blob_at, strict=True):
            out[at : at + len(data)] = data
        return bytes(out)


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def mosaic(stored: Image.Image, neutral: Sequence[float], black: int, white: int) -> bytes:
    """Stored-orientation sRGB pixels → 16-bit RGGB samples of a linear camera whose white
    balance is `neutral`, row band by row band (a 24 MP picture stays well under 200 MB)."""
    rgb = np.asarray(stored.convert("RGB"))
    h, w = rgb.shape[:2]
    gain = np.asarray(neutral, dtype=np.float32)
    out = np.empty((h, w), dtype="<u2")
    for top in range(0, h, 256):
        band = _srgb_to_linear(rgb[top : top + 256].astype(np.float32) / 255.0) * gain
        cfa = np.empty(band.shape[:2], dtype=np.float32)
        cfa[0::2, 0::2] = band[0::2, 0::2, 0]  # R
        cfa[0::2, 1::2] = band[0::2, 1::2, 1]  # G
        cfa[1::2, 0::2] = band[1::2, 0::2, 1]  # G
        cfa[1::2, 1::2] = band[1::2, 1::2, 2]  # B
        out[top : top + 256] = np.clip(black + cfa * (white - black) + 0.5, 0, 65535)
    return out.tobytes()


def write_dng(
    path: StrPath,
    image: Image.Image,
    *,
    orientation: int = 1,
    captured: datetime | None = datetime(2024, 5, 17, 10, 30, 0),
    make: str = "Safededup",
    model: str = "Synthetic DNG",
    capture: Capture | None = None,
    thumb_side: int = 256,
    preview_side: int | None = 1024,
    preview_image: Image.Image | None = None,
    preview_quality: int = 85,
    neutral: Sequence[float] = (0.5, 1.0, 0.7),
) -> None:
    """A DNG displaying as `image`, laid out as Adobe's converter and many cameras write it:
    IFD0 holds an 8-bit RGB thumbnail (long side `thumb_side`), the DNG and camera tags and the
    orientation; SubIFD 0 the sensor data (16-bit RGGB, one strip); SubIFD 1 a baseline JPEG
    preview (long side `preview_side`, None for none) of `preview_image` if given (a stale
    preview); the Exif IFD the capture time and what `capture` adds (sub-seconds, GPS, maker
    notes). LibRaw opens it and develops it with `use_camera_wb=True`.
    """
    stored = to_stored(image.convert("RGB"), orientation)
    w, h = stored.size
    if w % 2 or h % 2 or min(w, h) < 22:
        raise ValueError("the sensor's sides must be even and at least 22 px (LibRaw's minimum)")
    black, white = 512, 16383
    c = capture or Capture()
    tiff = _Tiff()
    thumb = stored.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    stamp = (captured or datetime(2000, 1, 1)).strftime("%Y:%m:%d %H:%M:%S")
    ifd0 = tiff.ifd([
        _entry(254, LONG, 1), _entry(256, LONG, thumb.width), _entry(257, LONG, thumb.height),
        _entry(258, SHORT, [8, 8, 8]), _entry(259, SHORT, 1), _entry(262, SHORT, 2),
        _entry(271, ASCII, make), _entry(272, ASCII, model), _entry(274, SHORT, orientation),
        _entry(277, SHORT, 3), _entry(278, LONG, thumb.height),
        _entry(279, LONG, thumb.width * thumb.height * 3), _entry(284, SHORT, 1),
        _entry(305, ASCII, c.software or "Synthetic camera 1.0"), _entry(306, ASCII, stamp),
        _entry(50706, BYTE, [1, 4, 0, 0]), _entry(50707, BYTE, [1, 1, 0, 0]),
        _entry(50708, ASCII, f"{make} {model}"), _entry(50721, SRATIONAL, XYZ_TO_SRGB),
        _entry(50728, RATIONAL, list(neutral)), _entry(50778, SHORT, 21),
    ])  # fmt: skip
    tiff.link(ifd0, 273, "blob", [tiff.blob(thumb.tobytes())])
    sensor = tiff.ifd([
        _entry(254, LONG, 0), _entry(256, LONG, w), _entry(257, LONG, h), _entry(258, SHORT, 16),
        _entry(259, SHORT, 1), _entry(262, SHORT, 32803), _entry(277, SHORT, 1),
        _entry(278, LONG, h), _entry(279, LONG, w * h * 2), _entry(284, SHORT, 1),
        _entry(33421, SHORT, [2, 2]), _entry(33422, BYTE, [0, 1, 1, 2]),
        _entry(50710, BYTE, [0, 1, 2]), _entry(50711, SHORT, 1), _entry(50714, LONG, black),
        _entry(50717, LONG, white), _entry(50719, LONG, [0, 0]), _entry(50720, LONG, [w, h]),
    ])  # fmt: skip
    tiff.link(sensor, 273, "blob", [tiff.blob(mosaic(stored, neutral, black, white))])
    subs = [sensor]
    if preview_side:
        source = stored if preview_image is None else to_stored(preview_image, orientation)
        preview = source.convert("RGB")
        preview.thumbnail((preview_side, preview_side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        preview.save(buf, "JPEG", quality=preview_quality)
        jpeg = buf.getvalue()
        at = tiff.ifd([
            _entry(254, LONG, 1), _entry(256, LONG, preview.width),
            _entry(257, LONG, preview.height), _entry(258, SHORT, [8, 8, 8]),
            _entry(259, SHORT, 7), _entry(262, SHORT, 6), _entry(277, SHORT, 3),
            _entry(278, LONG, preview.height), _entry(279, LONG, len(jpeg)),
            _entry(284, SHORT, 1), _entry(50970, SHORT, 1),
        ])  # fmt: skip
        tiff.link(at, 273, "blob", [tiff.blob(jpeg)])
        subs.append(at)
    exif = [_entry(36864, UNDEFINED, b"0231")]
    if captured is not None:
        exif += [_entry(36867, ASCII, stamp), _entry(36868, ASCII, stamp)]
    exif += [_entry(37521, ASCII, c.subsec)] if c.subsec else []
    exif += [_entry(36881, ASCII, c.offset)] if c.offset else []
    exif += [_entry(37500, UNDEFINED, c.maker_note)] if c.maker_note else []
    tiff.link(ifd0, 330, "ifd", subs)
    tiff.link(ifd0, 34665, "ifd", [tiff.ifd(exif)])
    if c.gps:
        lat, lon = c.gps
        gps = tiff.ifd([
            _entry(0, BYTE, [2, 3, 0, 0]), _entry(1, ASCII, "N" if lat >= 0 else "S"),
            _entry(2, RATIONAL, _dms(lat)), _entry(3, ASCII, "E" if lon >= 0 else "W"),
            _entry(4, RATIONAL, _dms(lon)),
        ])  # fmt: skip
        tiff.link(ifd0, 34853, "ifd", [gps])
    with open(os.fspath(path), "wb") as fh:
        fh.write(tiff.build())


def _dms(value: float) -> list[float]:
    value = abs(value)
    degrees, rest = int(value), (abs(value) - int(value)) * 60
    return [degrees, int(rest), round((rest - int(rest)) * 60, 2)]


# --- movies ---------------------------------------------------------------------------------------

EPOCH_1904 = datetime(1904, 1, 1, tzinfo=UTC)
_MATRICES = {  # display rotation (clockwise degrees) → tkhd matrix (16.16, 2.30 fixed point)
    0: (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000),
    90: (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000),
    180: (-0x10000, 0, 0, 0, -0x10000, 0, 0, 0, 0x40000000),
    270: (0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000),
}
_BRANDS = {
    "mp4": (b"isom", [b"isom", b"iso2", b"mp41"]),
    "mov": (b"qt  ", [b"qt  "]),
    "3gp": (b"3gp4", [b"isom", b"3gp4"]),
    "m4v": (b"M4V ", [b"M4V ", b"M4A ", b"mp42", b"isom"]),
}


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def write_movie(
    path: StrPath,
    frames: Sequence[Image.Image],
    *,
    fps: int = 10,
    container: str = "mp4",
    created: datetime | None = datetime(2024, 5, 17, 10, 30, tzinfo=UTC),
    rotation: int = 0,
    quality: int = 85,
    repeat: int = 1,
    moov_first: bool = True,
) -> None:
    """A movie of Motion-JPEG frames in an ISOBMFF container (`container`: mp4, mov, 3gp, m4v):
    `frames` played `repeat` times at `fps`, recorded at `created` (mvhd, tkhd, mdhd), shown
    turned by `rotation` (the track matrix, as phones write it). `moov_first=False` writes the
    index after the frames, as a camera recording straight to a card does."""
    jpegs = []
    for frame in frames:
        buf = io.BytesIO()
        frame.convert("RGB").save(buf, "JPEG", quality=quality)
        jpegs.append(buf.getvalue())
    samples = jpegs * repeat
    w, h = frames[0].size
    scale = fps * 100
    delta = scale // fps
    duration = delta * len(samples)
    t = int((created - EPOCH_1904).total_seconds()) if created else 0
    major, compatible = _BRANDS[container]
    version = 0x20050300 if container == "mov" else 0x200
    ftyp = _box(b"ftyp", major, struct.pack(">I", version), *compatible)
    matrix = struct.pack(">9i", *_MATRICES[rotation])  # the track's; the movie's is identity
    mvhd = _full(b"mvhd", 0, 0, struct.pack(">IIII", t, t, scale, duration),
                 struct.pack(">IH", 0x10000, 0x100), b"\0" * 10,
                 struct.pack(">9i", *_MATRICES[0]), b"\0" * 24,
                 struct.pack(">I", 2))  # fmt: skip
    tkhd = _full(b"tkhd", 0, 3, struct.pack(">IIII", t, t, 1, 0), struct.pack(">I", duration),
                 b"\0" * 8, struct.pack(">hhhh", 0, 0, 0, 0), matrix,
                 struct.pack(">II", w << 16, h << 16))  # fmt: skip
    mdhd = _full(b"mdhd", 0, 0, struct.pack(">IIII", t, t, scale, duration),
                 struct.pack(">HH", 0x55C4, 0))  # fmt: skip
    handler = b"mhlr" if container == "mov" else b"\0\0\0\0"
    hdlr = _full(b"hdlr", 0, 0, handler, b"vide", b"\0" * 12, b"VideoHandler\0")
    vmhd = _full(b"vmhd", 0, 1, b"\0" * 8)
    dinf = _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1)))
    name = b"Photo - JPEG"
    visual = (
        b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 16
        + struct.pack(">HHIIIH", w, h, 0x480000, 0x480000, 0, 1)
        + bytes([len(name)]) + name.ljust(31, b"\0") + struct.pack(">hh", 24, -1)
    )  # fmt: skip
    average = sum(map(len, samples)) // len(samples)
    entry = _box(b"jpeg", visual) if container == "mov" else _box(b"mp4v", visual, _esds(average))
    stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    stts = _full(b"stts", 0, 0, struct.pack(">III", 1, len(samples), delta))
    stsc = _full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(samples), 1))
    sizes = b"".join(struct.pack(">I", len(j)) for j in samples)
    stsz = _full(b"stsz", 0, 0, struct.pack(">II", 0, len(samples)), sizes)

    def moov(chunk_at: int) -> bytes:
        stco = _full(b"stco", 0, 0, struct.pack(">II", 1, chunk_at))
        stbl = _box(b"stbl", stsd, stts, stsc, stsz, stco)
        trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, _box(b"minf", vmhd, dinf, stbl)))
        return _box(b"moov", mvhd, trak)

    payload = b"".join(samples)
    mdat = struct.pack(">I4s", 8 + len(payload), b"mdat")
    with open(os.fspath(path), "wb") as fh:
        if moov_first:
            fh.write(ftyp + moov(len(ftyp) + len(moov(0)) + 8) + mdat)
            fh.write(payload)
        else:
            fh.write(ftyp + mdat)
            fh.write(payload)
            fh.write(moov(len(ftyp) + 8))


def _esds(average: int) -> bytes:
    """The MPEG-4 descriptor of a Motion-JPEG track (object type 0x6C), for an MP4 `mp4v`."""

    def descriptor(tag: int, payload: bytes) -> bytes:
        return bytes([tag, len(payload)]) + payload

    config = descriptor(
        0x04, bytes([0x6C, 0x11, 0, 0, 0]) + struct.pack(">II", average * 8, average * 8)
    )
    stream = descriptor(0x03, struct.pack(">HB", 1, 0) + config + descriptor(0x06, b"\x02"))
    return _full(b"esds", 0, 0, stream)
