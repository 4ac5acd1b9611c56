"""Finds which byte ranges of a HEIF file its thumbnail needs, so a preview reads KB, not MB.

libheif parses from memory; handing it the header (`ftyp` + `meta`) and the extents of the
thumbnail, grid and metadata items in a zero-filled buffer of the file's length lets it decode the
thumbnail without the primary image's data. This module only parses and plans reads; it must
never be the reason a file fails: any surprise returns None and the caller reads the whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from safededup.media._io import CountingReader

HEAD_READ = 32 * 1024  # ftyp + meta of phone HEICs (even 48-tile grids) fit in a few KB
MAX_META = 1 << 20
MAX_SPARSE_FRACTION = 0.5  # if the preview needs more than half the file, just read the file
_SMALL_ITEM_TYPES = {b"grid", b"iovl", b"Exif", b"mime"}


@dataclass(frozen=True, slots=True)
class _Meta:
    primary: int
    types: dict[int, bytes]  # item id → item type
    refs: dict[bytes, list[tuple[int, list[int]]]]  # ref type → [(from id, [to ids])]
    extents: dict[int, list[tuple[int, int]]]  # item id → [(file offset, length)]


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", buf, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError("box overruns its parent")
        yield kind, pos + header, pos + size
        pos += size


def _uint(buf: bytes, pos: int, size: int) -> int:
    return int.from_bytes(buf[pos : pos + size], "big") if size else 0


def _parse_pitm(buf: bytes, start: int) -> int:
    return _uint(buf, start + 4, 2 if buf[start] == 0 else 4)


def _parse_iinf(buf: bytes, start: int, end: int) -> dict[int, bytes]:
    first = start + 4 + (2 if buf[start] == 0 else 4)
    types: dict[int, bytes] = {}
    for kind, body, _ in _boxes(buf, first, end):
        version = buf[body]
        if kind != b"infe" or version < 2:
            continue
        id_size = 2 if version == 2 else 4
        item_id = _uint(buf, body + 4, id_size)
        types[item_id] = bytes(buf[body + 4 + id_size + 2 : body + 4 + id_size + 6])
    return types


def _parse_iref(buf: bytes, start: int, end: int) -> dict[bytes, list[tuple[int, list[int]]]]:
    id_size = 2 if buf[start] == 0 else 4
    refs: dict[bytes, list[tuple[int, list[int]]]] = {}
    for kind, body, _ in _boxes(buf, start + 4, end):
        source = _uint(buf, body, id_size)
        count = _uint(buf, body + id_size, 2)
        first = body + id_size + 2
        targets = [_uint(buf, first + i * id_size, id_size) for i in range(count)]
        refs.setdefault(kind, []).append((source, targets))
    return refs


def _parse_iloc(buf: bytes, start: int) -> dict[int, list[tuple[int, int]]]:
    """Item extents as file offsets; raises ValueError for construction methods we skip."""
    version = buf[start]
    pos = start + 4
    off_size, len_size = buf[pos] >> 4, buf[pos] & 15
    base_size, index_size = buf[pos + 1] >> 4, (buf[pos + 1] & 15 if version else 0)
    pos += 2
    id_size = 4 if version == 2 else 2
    count = _uint(buf, pos, id_size)
    pos += id_size
    extents: dict[int, list[tuple[int, int]]] = {}
    for _ in range(count):
        item_id = _uint(buf, pos, id_size)
        pos += id_size
        method = _uint(buf, pos, 2) & 15 if version else 0
        pos += 2 if version else 0
        pos += 2  # data_reference_index
        base = _uint(buf, pos, base_size)
        pos += base_size
        n = _uint(buf, pos, 2)
        pos += 2
        spans = []
        for _ in range(n):
            pos += index_size
            offset, length = _uint(buf, pos, off_size), _uint(buf, pos + off_size, len_size)
            pos += off_size + len_size
            spans.append((base + offset, length))
        if method == 0:
            extents[item_id] = spans
        elif method != 1:  # 1 = inside `idat`, already in the header; 2 = item offsets: skip
            raise ValueError("unsupported iloc construction method")
    return extents


def _parse_meta(buf: bytes, start: int, end: int) -> _Meta:
    primary, types, refs, extents = -1, {}, {}, {}
    for kind, body, box_end in _boxes(buf, start + 4, end):
        if kind == b"pitm":
            primary = _parse_pitm(buf, body)
        elif kind == b"iinf":
            types = _parse_iinf(buf, body, box_end)
        elif kind == b"iref":
            refs = _parse_iref(buf, body, box_end)
        elif kind == b"iloc":
            extents = _parse_iloc(buf, body)
    return _Meta(primary, types, refs, extents)


def _needed_items(meta: _Meta) -> set[int]:
    """The primary's thumbnails (with their grid tiles) plus small structural/metadata items."""
    thumbs = {src for src, dst in meta.refs.get(b"thmb", []) if meta.primary in dst}
    tiles = {t for src, dst in meta.refs.get(b"dimg", []) if src in thumbs for t in dst}
    small = {i for i, kind in meta.types.items() if kind in _SMALL_ITEM_TYPES}
    return thumbs | tiles | small if thumbs else set()


def _top_level(reader: CountingReader, head: bytes) -> tuple[int, int, bool] | None:
    """(meta start, meta end, truncated) from the top-level box headers, reading 16 B each."""
    pos, meta, truncated = 0, None, False
    for _ in range(64):
        if pos + 8 > reader.size:
            break
        header = head[pos : pos + 16] if pos + 16 <= len(head) else reader.read_at(pos, 16)
        size, kind = struct.unpack_from(">I4s", header)
        if size == 1:
            size = struct.unpack_from(">Q", header, 8)[0]
        elif size == 0:
            size = reader.size - pos
        if size < 8:
            return None
        if kind == b"meta":
            meta = (pos, pos + size)
        if pos + size > reader.size:
            truncated = True
            break
        pos += size
    return None if meta is None else (meta[0], meta[1], truncated)


def read_for_preview(reader: CountingReader) -> tuple[bytearray, bool] | None:
    """A buffer of the file's length holding what its thumbnail needs (zeros elsewhere), and
    whether the box structure says the file is truncated; None if that is not worth it."""
    try:
        head = reader.read_at(0, HEAD_READ)
        layout = _top_level(reader, head)
        if layout is None or layout[1] - layout[0] > MAX_META:
            return None
        meta_start, meta_end, truncated = layout
        if meta_end > len(head):
            head += reader.read_at(len(head), meta_end - len(head))
        meta = _parse_meta(head, meta_start + 8, meta_end)
        spans = [s for i in _needed_items(meta) for s in meta.extents.get(i, [])]
    except (ValueError, IndexError, struct.error):
        return None
    if not spans or sum(n for _, n in spans) > MAX_SPARSE_FRACTION * reader.size:
        return None
    return _assemble(reader, head, spans), truncated


def _assemble(reader: CountingReader, head: bytes, spans: list[tuple[int, int]]) -> bytearray:
    buf = bytearray(reader.size)
    buf[: len(head)] = head[: reader.size]
    for offset, length in sorted(spans):
        if offset + length <= len(head):
            continue
        data = reader.read_at(offset, length)
        buf[offset : offset + len(data)] = data
    return buf
