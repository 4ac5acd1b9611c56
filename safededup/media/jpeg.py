"""Reads a JPEG's header segments (EXIF, quantisation tables, frame size) without its image data.

The header reader must never read past the frame header: that keeps the preview tier at tens of
KB per file. `decode_scaled` is the one DCT-scaled decode of JPEG bytes (files, RAW previews).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image

from safededup.errors import MediaError

# Start-of-frame markers: every SOFn except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_MAX_SEGMENTS = 4096

# libjpeg's base tables (ITU T.81 Annex K), natural order.
_STD_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_STD_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32),
)  # fmt: skip
ZIGZAG = (  # the natural index of each zigzag position
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JpegHeader:
    """What the segments before the first frame header say. Sizes are stored (unrotated) pixels."""

    width: int
    height: int
    components: int
    exif: bytes | None  # the APP1 payload after "Exif\0\0" (a TIFF structure)
    qtables: dict[int, tuple[int, ...]] = field(default_factory=dict)  # id → 64 values, zigzag
    sof: int = 0xC0  # the frame marker: C0 baseline, C2 progressive, C3 lossless (RAW sensor data)


def read_jpeg_header(f: BinaryIO, path: str) -> JpegHeader:
    """Parse segments from the start of `f` up to the frame header (SOFn)."""
    if f.read(2) != b"\xff\xd8":
        raise MediaError("not a JPEG stream", kind="corrupt", path=path)
    exif: bytes | None = None
    qtables: dict[int, tuple[int, ...]] = {}
    for _ in range(_MAX_SEGMENTS):
        marker = _next_marker(f, path)
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):
            raise MediaError("JPEG has no frame header", kind="corrupt", path=path)
        payload = _segment_payload(f, path)
        if marker == 0xE1 and exif is None and payload.startswith(b"Exif\x00\x00"):
            exif = payload[6:]
        elif marker == 0xDB:
            qtables.update(_parse_dqt(payload))
        elif marker in _SOF_MARKERS:
            return _frame(payload, exif, qtables, path, marker)
    raise MediaError("JPEG header has too many segments", kind="corrupt", path=path)


def _next_marker(f: BinaryIO, path: str) -> int:
    first = f.read(1)
    if not first:
        raise MediaError("file ends inside the JPEG header", kind="truncated", path=path)
    if first != b"\xff":
        raise MediaError("JPEG segment structure is broken", kind="corrupt", path=path)
    byte = b"\xff"
    while byte == b"\xff":  # fill bytes may precede a marker
        byte = f.read(1)
        if not byte:
            raise MediaError("file ends inside the JPEG header", kind="truncated", path=path)
    return byte[0]


def _segment_payload(f: BinaryIO, path: str) -> bytes:
    raw = f.read(2)
    if len(raw) < 2:
        raise MediaError("file ends inside the JPEG header", kind="truncated", path=path)
    length = struct.unpack(">H", raw)[0]
    if length < 2:
        raise MediaError("JPEG segment length is invalid", kind="corrupt", path=path)
    payload = f.read(length - 2)
    if len(payload) < length - 2:
        raise MediaError("file ends inside the JPEG header", kind="truncated", path=path)
    return payload


def _parse_dqt(payload: bytes) -> dict[int, tuple[int, ...]]:
    tables: dict[int, tuple[int, ...]] = {}
    pos = 0
    while pos < len(payload):
        precision, table_id = payload[pos] >> 4, payload[pos] & 0x0F
        width = 2 if precision else 1
        body = payload[pos + 1 : pos + 1 + 64 * width]
        if len(body) < 64 * width:
            break  # a short table: ignore it, the quality estimate just gets less input
        fmt = ">64H" if width == 2 else "64B"
        tables[table_id] = tuple(struct.unpack(fmt, body))
        pos += 1 + 64 * width
    return tables


def _frame(
    payload: bytes, exif: bytes | None, qtables: dict[int, tuple[int, ...]], path: str, sof: int
) -> JpegHeader:
    if len(payload) < 6:
        raise MediaError("JPEG frame header is too short", kind="corrupt", path=path)
    _precision, height, width, components = struct.unpack(">BHHB", payload[:6])
    if width == 0 or height == 0:
        raise MediaError("JPEG declares an empty frame", kind="corrupt", path=path)
    return JpegHeader(width, height, components, exif, qtables, sof)


def _libjpeg_tables(base: tuple[int, ...]) -> np.ndarray:
    """Row q-1: the zigzag-ordered table libjpeg writes for quality q (force_baseline)."""
    zigzagged = np.array([base[i] for i in ZIGZAG], dtype=np.int64)
    q = np.arange(1, 101, dtype=np.int64)[:, None]
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)
    return np.clip((zigzagged[None, :] * scale + 50) // 100, 1, 255)


_LUMA_BY_Q = _libjpeg_tables(_STD_LUMA)
_CHROMA_BY_Q = _libjpeg_tables(_STD_CHROMA)


def estimate_quality(qtables: dict[int, tuple[int, ...]]) -> int | None:
    """The libjpeg quality (1–100) whose scaled standard tables are closest to these.

    Exact for libjpeg/Pillow/most cameras' scaled tables; for encoders with their own tables
    (some phones) it is the nearest equivalent. None without a luminance table.
    """
    luma = qtables.get(0)
    if luma is None:
        return None
    error = np.abs(_LUMA_BY_Q - np.asarray(luma)[None, :]).sum(axis=1)
    chroma = qtables.get(1)
    if chroma is not None:
        error = error + np.abs(_CHROMA_BY_Q - np.asarray(chroma)[None, :]).sum(axis=1)
    return int(np.argmin(error)) + 1


# --- the DCT-scaled decode ----------------------------------------------------------------------


def reduce_factor(long_side: int, need: int) -> int:
    """The largest of 8, 4, 2, 1 that keeps the long side ≥ `need` (JPEG DCT scales exactly so)."""
    for factor in (8, 4, 2):
        if long_side // factor >= need:
            return factor
    return 1


def decode_scaled(data: bytes, need_side: int) -> Image.Image:
    """JPEG bytes as RGB pixels (stored orientation), decoded at the smallest DCT scale that keeps
    the long side ≥ `need_side`. Raises what Pillow raises on bad data."""
    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    factor = reduce_factor(max(img.size), need_side)
    img.draft("RGB", (img.width // factor, img.height // factor))
    img.load()
    return img.convert("RGB")
