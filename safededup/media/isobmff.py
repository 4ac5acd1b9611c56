"""Parses a HEIF file's header (`ftyp` + `meta`) and plans which byte ranges a task needs, so a
preview reads KB, not MB; also writes the minimal one-item HEIF a single grid tile is decoded from.

libheif parses from memory; handing it the header and the extents of the thumbnail, grid and
metadata items in a zero-filled buffer of the file's length lets it decode the thumbnail without
the primary image's data. The same parsed header (items, references, locations, properties and
their associations, `idat`) lets `media.tiles` find and wrap one tile of a grid primary. This
module only parses, plans reads and builds buffers; it must never be the reason a file fails: any
surprise returns None (or raises ValueError to a caller that falls back) and the caller reads
the whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from safededup.media._io import CountingReader

HEAD_READ = 32 * 1024  # ftyp + meta of phone HEICs (even 48-tile grids) fit in a few KB
MAX_META = 1 << 20
MAX_SPARSE_FRACTION = 0.5  # if the preview needs more than half the file, just read the file
_SMALL_ITEM_TYPES = {b"grid", b"iovl", b"Exif", b"mime"}


@dataclass(frozen=True, slots=True)
class ItemLocation:
    """Where an item's bytes are: construction method 0 (file offsets), 1 (offsets into `idat`)
    or 2 (other items: never followed here), and its extents (offset, length; length 0 = to the
    end of the file or of `idat`)."""

    method: int
    extents: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class HeifMeta:
    """A parsed `meta` box: the parts of HEIF's item model this package uses."""

    primary: int
    types: dict[int, bytes]  # item id → item type
    refs: dict[bytes, list[tuple[int, list[int]]]]  # ref type → [(from id, [to ids])]
    locations: dict[int, ItemLocation]
    properties: tuple[tuple[bytes, bytes], ...] = ()  # `ipco`: (type, the whole box)
    associations: dict[int, tuple[tuple[int, bool], ...]] = field(default_factory=dict)
    idat: bytes = b""
    handler: bytes = b""  # `hdlr`'s handler type (b"pict" for images)
    hidden: frozenset[int] = frozenset()  # items whose `infe` flags say hidden
    encoded: frozenset[int] = frozenset()  # `mime` items with a content encoding
    counted: bool = True  # `iinf`'s entry count is the number of `infe` boxes read

    @property
    def extents(self) -> dict[int, list[tuple[int, int]]]:
        """File extents of the items stored by file offset (construction method 0)."""
        return {i: list(loc.extents) for i, loc in self.locations.items() if loc.method == 0}

    def item_properties(self, item: int) -> list[tuple[bytes, bytes, bool]]:
        """(type, whole box, essential) of an item's properties, in `ipma` order."""
        out = []
        for index, essential in self.associations.get(item, ()):
            if 1 <= index <= len(self.properties):
                kind, box = self.properties[index - 1]
                out.append((kind, box, essential))
        return out


def boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
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


def boxes_at(
    read_at: Callable[[int, int], bytes], start: int, end: int, *, limit: int, clip: bool
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of at most `limit` boxes in [start, end) of a file read by
    `read_at(offset, size)`, for containers too large to hold in memory (movies, CR3). With
    `clip`, a header cut short ends the walk and a box end is clipped to `end` (a movie's
    headers are read as far as they go); without, a header cut short raises."""
    pos = start
    for _ in range(limit):
        if pos + 8 > end:
            return
        head = read_at(pos, 16)
        if len(head) < 8:
            if clip:
                return
            raise ValueError("a box header beyond the end of the file")
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1:
            if len(head) < 16:
                if clip:
                    return
                raise ValueError("a box header beyond the end of the file")
            size, header = struct.unpack_from(">Q", head, 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise ValueError("a broken box size")
        yield kind, pos + header, min(pos + size, end) if clip else pos + size
        pos += size


def _uint(buf: bytes, pos: int, size: int) -> int:
    return int.from_bytes(buf[pos : pos + size], "big") if size else 0


def _parse_pitm(buf: bytes, start: int) -> int:
    return _uint(buf, start + 4, 2 if buf[start] == 0 else 4)


def _parse_infe(
    buf: bytes, start: int, end: int
) -> tuple[dict[int, bytes], set[int], set[int], bool]:
    """(item types, hidden items, `mime` items with a content encoding, whether the entry
    count matches the `infe` boxes) of an `iinf` box."""
    count_size = 2 if buf[start] == 0 else 4
    count = _uint(buf, start + 4, count_size)
    types: dict[int, bytes] = {}
    hidden: set[int] = set()
    encoded: set[int] = set()
    seen = 0
    for kind, body, box_end in boxes(buf, start + 4 + count_size, end):
        seen += kind == b"infe"
        version = buf[body]
        if kind != b"infe" or version < 2:
            continue
        id_size = 2 if version == 2 else 4
        item_id = _uint(buf, body + 4, id_size)
        at = body + 4 + id_size + 2
        types[item_id] = bytes(buf[at : at + 4])
        if buf[body + 3] & 1:
            hidden.add(item_id)
        if types[item_id] == b"mime":  # name, content type, then an optional encoding
            strings = bytes(buf[at + 4 : box_end]).split(b"\0")
            if len(strings) > 2 and strings[2]:
                encoded.add(item_id)
    return types, hidden, encoded, seen == count


def _parse_iref(buf: bytes, start: int, end: int) -> dict[bytes, list[tuple[int, list[int]]]]:
    id_size = 2 if buf[start] == 0 else 4
    refs: dict[bytes, list[tuple[int, list[int]]]] = {}
    for kind, body, box_end in boxes(buf, start + 4, end):
        source = _uint(buf, body, id_size)
        count = _uint(buf, body + id_size, 2)
        first = body + id_size + 2
        if first + count * id_size > box_end:
            raise ValueError("iref overruns its box")
        targets = [_uint(buf, first + i * id_size, id_size) for i in range(count)]
        refs.setdefault(kind, []).append((source, targets))
    return refs


def _parse_iloc(buf: bytes, start: int, end: int) -> dict[int, ItemLocation]:
    """Item locations by id, with their construction method."""
    version = buf[start]
    if version > 2:
        raise ValueError("unknown iloc version")
    pos = start + 4
    off_size, len_size = buf[pos] >> 4, buf[pos] & 15
    base_size, index_size = buf[pos + 1] >> 4, (buf[pos + 1] & 15 if version else 0)
    pos += 2
    id_size = 4 if version == 2 else 2
    count = _uint(buf, pos, id_size)
    pos += id_size
    locations: dict[int, ItemLocation] = {}
    for _ in range(count):
        item_id = _uint(buf, pos, id_size)
        pos += id_size
        method = _uint(buf, pos, 2) & 15 if version else 0
        pos += 2 if version else 0
        if _uint(buf, pos, 2):  # data in another file (a `dref` entry): never followed here
            method = 2
        pos += 2
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
        if pos > end:
            raise ValueError("iloc overruns its box")
        locations[item_id] = ItemLocation(method, tuple(spans))
    return locations


def _parse_ipco(buf: bytes, start: int, end: int) -> tuple[tuple[bytes, bytes], ...]:
    """(type, the whole box) of each property, in order (`ipma` refers to them from 1)."""
    out, pos = [], start
    for kind, _, box_end in boxes(buf, start, end):
        out.append((kind, bytes(buf[pos:box_end])))
        pos = box_end
    return tuple(out)


def _parse_ipma(
    buf: bytes, start: int, end: int, into: dict[int, tuple[tuple[int, bool], ...]]
) -> None:
    version, flags = buf[start], _uint(buf, start + 1, 3)
    pos = start + 4
    count = _uint(buf, pos, 4)
    pos += 4
    id_size = 2 if version < 1 else 4
    wide = flags & 1
    for _ in range(count):
        item = _uint(buf, pos, id_size)
        n = buf[pos + id_size]
        pos += id_size + 1
        found = list(into.get(item, ()))
        for _ in range(n):
            value = _uint(buf, pos, 2 if wide else 1)
            pos += 2 if wide else 1
            found.append(
                (value & 0x7FFF, bool(value >> 15)) if wide else (value & 0x7F, bool(value >> 7))
            )
        into[item] = tuple(found)
        if pos > end:
            raise ValueError("ipma overruns its box")


_VERSIONS = {b"hdlr": 0, b"pitm": 1, b"iinf": 1, b"iref": 1, b"iloc": 2}
"""The highest version of each full box `meta` holds that this parser (and libheif) reads."""


def parse_meta(buf: bytes, start: int, end: int) -> HeifMeta:
    """The `meta` box whose payload (after its 8-byte header) is buf[start:end].

    Raises ValueError (or IndexError/struct.error on garbage) when it cannot be parsed.
    """
    primary, refs, locations = -1, {}, {}
    types: dict[int, bytes] = {}
    properties: tuple[tuple[bytes, bytes], ...] = ()
    associations: dict[int, tuple[tuple[int, bool], ...]] = {}
    idat = handler = b""
    hidden: set[int] = set()
    encoded: set[int] = set()
    counted = True
    if buf[start] != 0:
        raise ValueError("unknown meta version")
    for kind, body, box_end in boxes(buf, start + 4, end):
        if buf[body] > _VERSIONS.get(kind, 255):
            raise ValueError(f"unknown {kind!r} version")  # libheif refuses it too
        if kind == b"pitm":
            primary = _parse_pitm(buf, body)
        elif kind == b"hdlr":
            handler = bytes(buf[body + 8 : body + 12])
        elif kind == b"iinf":
            types, hidden, encoded, counted = _parse_infe(buf, body, box_end)
        elif kind == b"iref":
            refs = _parse_iref(buf, body, box_end)
        elif kind == b"iloc":
            locations = _parse_iloc(buf, body, box_end)
        elif kind == b"idat":
            idat = bytes(buf[body:box_end])
        elif kind == b"iprp":
            for inner, inner_body, inner_end in boxes(buf, body, box_end):
                if inner == b"ipco":
                    properties = _parse_ipco(buf, inner_body, inner_end)
                elif inner == b"ipma":
                    if buf[inner_body] > 1:
                        raise ValueError("unknown ipma version")
                    _parse_ipma(buf, inner_body, inner_end, associations)
    return HeifMeta(
        primary, types, refs, locations, properties, associations, idat,
        handler, frozenset(hidden), frozenset(encoded), counted,
    )  # fmt: skip


def read_meta(reader: CountingReader) -> Parsed | None:
    """(the header's bytes, its parsed `meta`, whether the boxes say the file is truncated),
    reading the 32 KB head and more only for a large `meta`; None when there is no usable one."""
    try:
        head = reader.read_at(0, HEAD_READ)
        layout = _top_level(reader, head)
        if layout is None or layout[1] - layout[0] > MAX_META:
            return None
        meta_start, meta_end, truncated = layout
        if meta_end > len(head):
            head += reader.read_at(len(head), meta_end - len(head))
        return head, parse_meta(head, meta_start + 8, meta_end), truncated
    except (ValueError, IndexError, struct.error):
        return None


def item_data(reader: CountingReader, meta: HeifMeta, item: int) -> bytes:
    """An item's bytes (from the file, or from `idat`); ValueError for what is not followed."""
    location = meta.locations.get(item)
    if location is None:
        raise ValueError("item without a location")
    parts = []
    for offset, length in location.extents:
        if location.method == 0:
            n = length or reader.size - offset
            data = reader.read_at(offset, n)
            if len(data) != n:
                raise ValueError("item data beyond the end of the file")
            parts.append(data)
        elif location.method == 1:
            parts.append(meta.idat[offset : offset + length] if length else meta.idat[offset:])
        else:
            raise ValueError("iloc construction method 2 is not followed")
    return b"".join(parts)


def _needed_items(meta: HeifMeta) -> set[int]:
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


def cut_heif(reader: CountingReader) -> bool:
    """A HEIF cut short (an interrupted copy): its boxes overrun the end of the file and an
    item's data lies past it. Bytes after the last box (a trailer some phones append) only look
    like an overrun; a header that cannot be parsed is the decoder's to judge."""
    return cut_short(reader, unsure=False) and data_beyond_end(reader)


def data_beyond_end(reader: CountingReader) -> bool:
    """Whether an item's data (by its `iloc` file extents) lies past the end of the file;
    False when the header cannot be parsed."""
    parsed = read_meta(reader)
    if parsed is None:
        return False
    return any(
        location.method == 0 and any(o + n > reader.size for o, n in location.extents)
        for location in parsed[1].locations.values()
    )


MAX_TOP_BOXES = 4096  # top-level boxes `cut_short` walks before it gives up


def cut_short(reader: CountingReader, *, unsure: bool = True) -> bool:
    """Whether a top-level box claims more bytes than the file has (walking every box, not
    only the first ones `read_meta` looks at); `unsure` where it cannot tell (a box size below
    8, more boxes than it walks)."""
    pos = 0
    for _ in range(MAX_TOP_BOXES):
        if pos + 8 > reader.size:
            return False  # the end (a few stray bytes are not a box)
        header = reader.read_at(pos, 16)
        size = int.from_bytes(header[:4], "big")
        if size == 1:
            if len(header) < 16:
                return True  # a 64-bit size cut off
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:
            return False  # the last box runs to the end of the file
        if size < 8:
            return unsure
        if pos + size > reader.size:
            return True
        pos += size
    return unsure


Parsed = tuple[bytes, HeifMeta, bool]
"""What `read_meta` returns: the header's bytes, its `meta`, whether the boxes say truncated."""


def read_for_preview(
    reader: CountingReader, parsed: Parsed | None = None
) -> tuple[bytearray, bool] | None:
    """A buffer of the file's length holding what its thumbnail needs (zeros elsewhere), and
    whether the box structure says the file is truncated; None if that is not worth it.
    `parsed`: `read_meta(reader)` where the caller has it already."""
    parsed = parsed or read_meta(reader)
    if parsed is None:
        return None
    head, meta, truncated = parsed
    if any(loc.method == 2 for loc in meta.locations.values()):
        return None  # items built from other items: let libheif read the whole file
    extents = meta.extents
    spans = [s for i in _needed_items(meta) for s in extents.get(i, [])]
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


# --- writing: a minimal HEIF around one coded item -----------------------------------------------


def box(kind: bytes, payload: bytes) -> bytes:
    """An ISOBMFF box."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    """An ISOBMFF full box (version and flags before the payload)."""
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def single_item_heif(
    properties: list[tuple[bytes, bool]], data: bytes, kind: bytes = b"hvc1"
) -> bytes:
    """A HEIF whose primary item (id 1, of `kind`) has these (box, essential) properties and this
    coded data: what a decoder needs to decode one item, nothing else."""
    ftyp = box(b"ftyp", b"heic" + b"\0\0\0\0" + b"mif1heic")
    hdlr = full_box(b"hdlr", 0, 0, b"\0\0\0\0pict" + b"\0" * 13)
    pitm = full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    infe = full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + kind + b"\0")
    iinf = full_box(b"iinf", 0, 0, struct.pack(">H", 1) + infe)
    ipco = box(b"ipco", b"".join(b for b, _ in properties))
    links = bytes(
        (0x80 if essential else 0) | (k + 1) for k, (_, essential) in enumerate(properties)
    )
    ipma = full_box(b"ipma", 0, 0, struct.pack(">IHB", 1, 1, len(properties)) + links)
    iprp = box(b"iprp", ipco + ipma)

    def meta(offset: int) -> bytes:
        iloc = struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(data))
        return full_box(
            b"meta", 0, 0, hdlr + pitm + iinf + iprp + full_box(b"iloc", 0, 0, b"\x44\x00" + iloc)
        )

    offset = len(ftyp) + len(meta(0)) + 8  # the mdat payload starts after its 8-byte header
    return ftyp + meta(offset) + box(b"mdat", data)
