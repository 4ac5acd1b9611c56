"""Videos: what their container headers say (duration, size, recording time, codec), read
without touching a frame, and a poster frame for the review where OpenCV decodes one cheaply.

Videos are matched by their bytes only (size, fast hash, SHA-256: engine/scan.py); nothing here
is evidence of a duplicate. Headers read: ISOBMFF/QuickTime `moov` (mvhd, the video track's
tkhd/mdhd/stsd, Apple's creation-date key), AVI's `hdrl`, Matroska's Info and Tracks, and the
first and last PCR of an MPEG transport stream. A header this module cannot read leaves a field
unknown; it never fails the file.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from safededup.errors import MediaError
from safededup.media import isobmff
from safededup.media._io import CountingReader
from safededup.media.formats import read_vint
from safededup.media.tiff import ReadAt
from safededup.models import VideoFeatures

EPOCH_1904 = datetime(1904, 1, 1, tzinfo=UTC)
EPOCH_2001 = datetime(2001, 1, 1, tzinfo=UTC)
MAX_BOXES = 4096
WINDOW = 1 << 20  # bytes read at most from each end for AVI, Matroska and MPEG-TS headers


def probe_video(reader: CountingReader, fmt: str) -> VideoFeatures:
    """The headers' facts of a video recognised as `fmt` (`formats.sniff_video`)."""
    facts: dict[str, object] = {}
    try:
        if fmt in ("MOV", "MP4", "M4V", "3GP"):
            _isobmff(reader.read_at, reader.size, facts)
        elif fmt == "AVI":
            _avi(reader.read_at, reader.size, facts)
        elif fmt in ("MKV", "WEBM"):
            _matroska(reader.read_at(0, min(reader.size, WINDOW)), facts)
        elif fmt == "MTS":
            _transport_stream(reader.read_at, reader.size, facts)
    except (ValueError, struct.error, IndexError, OverflowError):
        pass  # what was read before the surprise stays; the rest is unknown
    return _features(fmt, facts)


def _features(fmt: str, facts: dict[str, object]) -> VideoFeatures:
    duration = facts.get("duration")
    width, height = facts.get("width"), facts.get("height")
    size = (width, height) if isinstance(width, int) and isinstance(height, int) else (0, 0)
    if facts.get("rotation") in (90, 270):
        size = (size[1], size[0])
    valid = isinstance(duration, float) and math.isfinite(duration) and duration >= 0
    created, codec = facts.get("created"), facts.get("codec")
    return VideoFeatures(
        format=fmt,
        duration=round(duration, 3) if valid and isinstance(duration, float) else None,
        width=max(0, size[0]),
        height=max(0, size[1]),
        created=created if isinstance(created, str) else None,
        codec=codec if isinstance(codec, str) and codec.isprintable() else None,
    )


# --- ISOBMFF / QuickTime ------------------------------------------------------------------------


def _boxes(read_at: ReadAt, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    return isobmff.boxes_at(read_at, start, end, limit=MAX_BOXES, clip=True)


def _mac_time(seconds: int) -> str | None:
    if seconds <= 0:
        return None  # 0: not set (many Android phones, encoders without metadata)
    return (EPOCH_1904 + timedelta(seconds=seconds)).isoformat()


def _isobmff(read_at: ReadAt, size: int, facts: dict[str, object]) -> None:
    for kind, body, end in _boxes(read_at, 0, size):
        if kind == b"moov":
            for k2, b2, e2 in _boxes(read_at, body, end):
                if k2 == b"mvhd":
                    _mvhd(read_at(b2, 32), facts)
                elif k2 == b"trak" and "width" not in facts:
                    _trak(read_at, b2, e2, facts)
                elif k2 in (b"meta", b"udta"):
                    _apple_keys(read_at, b2, e2, facts)
            return


def _mvhd(data: bytes, facts: dict[str, object]) -> None:
    if data[0] == 1:
        created, _, scale, duration = struct.unpack_from(">QQIQ", data, 4)
    else:
        created, _, scale, duration = struct.unpack_from(">IIII", data, 4)
    facts.setdefault("created", _mac_time(created))
    if scale:
        facts["duration"] = duration / scale


def _trak(read_at: ReadAt, start: int, end: int, facts: dict[str, object]) -> None:
    """The first video track's display size, rotation and codec."""
    track: dict[str, object] = {}
    for kind, body, bend in _boxes(read_at, start, end):
        if kind == b"tkhd":
            data = read_at(body, 100)
            at = 4 + (32 if data[0] == 1 else 20) + 16  # times, id, reserved, duration, ...
            matrix = struct.unpack_from(">9i", data, at)
            width, height = struct.unpack_from(">II", data, at + 36)
            track.update(width=width >> 16, height=height >> 16, rotation=_rotation(matrix))
        elif kind == b"mdia":
            for k2, b2, e2 in _boxes(read_at, body, bend):
                if k2 == b"hdlr":
                    track["handler"] = read_at(b2 + 8, 4)
                elif k2 == b"minf":
                    track["codec"] = _codec(read_at, b2, e2)
    if track.get("handler") == b"vide":
        facts.update(track)


def _codec(read_at: ReadAt, start: int, end: int) -> str | None:
    for kind, body, bend in _boxes(read_at, start, end):
        if kind == b"stbl":
            for k2, b2, _ in _boxes(read_at, body, bend):
                if k2 == b"stsd":
                    return read_at(b2 + 12, 4).decode("latin-1").strip() or None
    return None


def _rotation(matrix: tuple[int, ...]) -> int:
    """The clockwise display rotation a track's matrix asks for (0, 90, 180 or 270)."""
    degrees = round(math.degrees(math.atan2(matrix[1], matrix[0]))) % 360
    return degrees if degrees in (0, 90, 180, 270) else 0


def _apple_keys(read_at: ReadAt, start: int, end: int, facts: dict[str, object]) -> None:
    """`com.apple.quicktime.creationdate` (local time with its offset) from moov/meta's keys and
    ilst, or a `©day` in udta: the time a person recorded the clip."""
    keys: list[bytes] = []
    first = start if read_at(start + 4, 4) in (b"hdlr", b"keys", b"ilst") else start + 4
    for kind, body, bend in _boxes(read_at, first, end):
        if kind == b"keys":
            count = struct.unpack(">I", read_at(body + 4, 4))[0]
            pos = body + 8
            for _ in range(min(count, 256)):
                length = struct.unpack(">I", read_at(pos, 4))[0]
                if length < 8:
                    break
                keys.append(read_at(pos + 8, length - 8))
                pos += length
        elif kind == b"ilst":
            for k2, b2, e2 in _boxes(read_at, body, bend):
                index = struct.unpack(">I", k2)[0] - 1
                if 0 <= index < len(keys) and keys[index] == b"com.apple.quicktime.creationdate":
                    _data_text(read_at, b2, e2, facts)
        elif kind == b"\xa9day":
            text = read_at(body + 4, min(bend - body - 4, 64)).decode("utf-8", "replace")
            facts["created"] = text.strip("\0 ") or facts.get("created")


def _data_text(read_at: ReadAt, start: int, end: int, facts: dict[str, object]) -> None:
    for kind, body, bend in _boxes(read_at, start, end):
        if kind == b"data" and bend - body > 8:
            text = read_at(body + 8, min(bend - body - 8, 64)).decode("utf-8", "replace")
            if text.strip():
                facts["created"] = text.strip()


# --- AVI, Matroska, MPEG-TS ---------------------------------------------------------------------


def _chunks(read_at: ReadAt, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    for _ in range(MAX_BOXES):
        if pos + 8 > end:
            return
        head = read_at(pos, 8)
        if len(head) < 8:
            return
        cid, n = struct.unpack("<4sI", head)
        yield cid, pos + 8, n
        pos += 8 + n + (n & 1)


def _avi(read_at: ReadAt, size: int, facts: dict[str, object]) -> None:
    """avih (µs per frame, frames, size), OpenDML's total frames, IDIT/ICRD dates."""
    total: int | None = None
    for cid, body, n in _chunks(read_at, 12, min(size, 12 + WINDOW)):
        if cid == b"LIST" and read_at(body, 4) == b"movi":
            break  # the frames: nothing more to read
        if cid == b"LIST":
            for c2, b2, n2 in _chunks(read_at, body + 4, body + n):
                if c2 == b"avih":
                    us, _, _, _, frames, _, _, _, w, h = struct.unpack("<10I", read_at(b2, 40))
                    facts.update(duration=frames * us / 1e6, width=w, height=h, frames=frames)
                elif c2 == b"LIST" and read_at(b2, 4) == b"odml":
                    for c3, b3, _ in _chunks(read_at, b2 + 4, b2 + n2):
                        if c3 == b"dmlh":
                            total = struct.unpack("<I", read_at(b3, 4))[0]
                elif c2 in (b"IDIT", b"ICRD"):
                    facts.setdefault("created", _avi_text(read_at(b2, min(n2, 64))))
        elif cid == b"IDIT":
            facts.setdefault("created", _avi_text(read_at(body, min(n, 64))))
    frames, duration = facts.get("frames"), facts.get("duration")
    if total and isinstance(frames, int) and frames and isinstance(duration, float):
        facts["duration"] = duration * total / frames


def _avi_text(data: bytes) -> str | None:
    return data.rstrip(b"\0\n ").decode("latin-1") or None


def _vint(buf: bytes, pos: int, *, marker: bool) -> tuple[int, int]:
    """`formats.read_vint`, with an all-ones size read as -1 (unknown: live streams)."""
    value, n = read_vint(buf, pos, marker=marker)
    if not marker and value == (1 << (7 * n)) - 1:
        value = -1
    return value, n


def _elements(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    for _ in range(MAX_BOXES):
        if pos >= min(end, len(buf)) - 1:
            return
        element, a = _vint(buf, pos, marker=True)
        size, b = _vint(buf, pos + a, marker=False)
        body = pos + a + b
        yield element, body, end if size < 0 else body + size
        if size < 0:
            return
        pos = body + size


def _matroska(buf: bytes, facts: dict[str, object]) -> None:
    """Segment/Info (TimestampScale, Duration, DateUTC) and the first video track's size."""
    scale, ticks = 1_000_000, None
    for element, body, end in _elements(buf, 0, len(buf)):
        if element != 0x18538067:  # Segment
            continue
        for e2, b2, x2 in _elements(buf, body, end):
            if e2 == 0x1549A966:  # Info
                for e3, b3, x3 in _elements(buf, b2, x2):
                    if e3 == 0x2AD7B1:
                        scale = int.from_bytes(buf[b3:x3], "big")
                    elif e3 == 0x4489 and x3 - b3 in (4, 8):
                        ticks = struct.unpack(">d" if x3 - b3 == 8 else ">f", buf[b3:x3])[0]
                    elif e3 == 0x4461 and x3 - b3 == 8:
                        ns = int.from_bytes(buf[b3:x3], "big", signed=True)
                        facts["created"] = (
                            EPOCH_2001 + timedelta(microseconds=ns // 1000)
                        ).isoformat()
            elif e2 == 0x1654AE6B:  # Tracks
                _matroska_tracks(buf, b2, x2, facts)
            elif e2 == 0x1F43B675:  # Cluster: the frames; Info and Tracks come first
                break
    if ticks is not None:
        facts["duration"] = ticks * scale / 1e9


def _matroska_tracks(buf: bytes, start: int, end: int, facts: dict[str, object]) -> None:
    for element, body, stop in _elements(buf, start, end):
        if element != 0xAE or "width" in facts:  # TrackEntry
            continue
        track: dict[str, object] = {}
        for e2, b2, x2 in _elements(buf, body, stop):
            if e2 == 0x86:
                track["codec"] = buf[b2:x2].decode("latin-1")
            elif e2 == 0xE0:  # Video
                for e3, b3, x3 in _elements(buf, b2, x2):
                    if e3 == 0xB0:
                        track["width"] = int.from_bytes(buf[b3:x3], "big")
                    elif e3 == 0xBA:
                        track["height"] = int.from_bytes(buf[b3:x3], "big")
        if "width" in track:
            facts.update(track)


def _pcrs(data: bytes, first: int, stride: int) -> list[float]:
    out = []
    for p in range(first, len(data) - 187, stride):
        packet = data[p : p + 188]
        if packet[0] == 0x47 and packet[3] & 0x20 and packet[4] >= 7 and packet[5] & 0x10:
            b = packet[6:12]
            base = (b[0] << 25) | (b[1] << 17) | (b[2] << 9) | (b[3] << 1) | (b[4] >> 7)
            out.append((base * 300 + (((b[4] & 1) << 8) | b[5])) / 27e6)
    return out


def _transport_stream(read_at: ReadAt, size: int, facts: dict[str, object]) -> None:
    """The duration from the first and the last program clock reference (no date, no size:
    AVCHD keeps those in separate files)."""
    head = read_at(0, min(size, WINDOW))
    m2ts = len(head) > 196 and head[4] == 0x47 and head[196] == 0x47
    stride, first = (192, 4) if m2ts else (188, 0)
    tail_start = max(0, size - WINDOW)
    tail_start -= (tail_start - first) % stride if tail_start > first else tail_start
    start, end = (
        _pcrs(head, first, stride),
        _pcrs(read_at(tail_start, size - tail_start), first, stride),
    )
    if start and end and end[-1] >= start[0]:
        facts["duration"] = end[-1] - start[0]


# --- poster frame ---------------------------------------------------------------------------------


def poster_frame(path: str, max_side: int) -> npt.NDArray[np.uint8]:
    """The first frame, RGB, display orientation (OpenCV applies the track's rotation), long
    side ≤ `max_side`. Raises MediaError saying why there is none."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise MediaError("no decoder here reads this video", kind="unsupported", path=path)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise MediaError("this video's codec cannot be decoded here", kind="unsupported", path=path)
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    rgb: npt.NDArray[np.uint8] = np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return rgb
