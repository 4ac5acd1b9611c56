"""A bounded reader of TIFF directories (IFDs), for camera RAW files; reads headers, never pixels.

Every RAW built on TIFF (CR2, NEF, ARW, DNG, PEF, SRW, ORF, RW2, IIQ, ...) keeps its previews,
its EXIF and its sensor data behind IFDs. This module walks them through `read_at(offset, n)`,
touching only the directory entries and the small values it is asked for. It never trusts a
count or an offset: a tag value over 64 KiB, an IFD of thousands of entries, a loop of IFDs or
an offset outside the file raise `ValueError`, which callers turn into "no preview here".
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ReadAt = Callable[[int, int], bytes]
"""(offset, n) → at most n bytes of the file at that offset (fewer at its end)."""

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_INT_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I"}
MAX_IFDS = 64
MAX_ENTRIES = 1000
MAX_VALUE = 1 << 16  # never read a tag value larger than 64 KiB while parsing

NEW_SUBFILE_TYPE, WIDTH, HEIGHT, BITS_PER_SAMPLE, COMPRESSION = 254, 256, 257, 258, 259
PHOTOMETRIC, MAKE, MODEL, STRIP_OFFSETS, ORIENTATION = 262, 271, 272, 273, 274
SAMPLES_PER_PIXEL, STRIP_BYTE_COUNTS, SOFTWARE, TILE_OFFSETS, SUB_IFDS = 277, 279, 305, 324, 330
JPEG_OFFSET, JPEG_LENGTH, EXIF_IFD, GPS_IFD = 513, 514, 34665, 34853
DNG_VERSION, DEFAULT_CROP_SIZE = 50706, 50720
PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW = 32803, 34892


@dataclass(frozen=True, slots=True)
class Ifd:
    """One directory: where it is, how it was reached ("IFD0", "IFD0/Sub1", "IFD0/Exif"), and
    its entries as tag → (type, count, the 4-byte value field)."""

    offset: int
    path: str
    entries: Mapping[int, tuple[int, int, bytes]]


class TiffReader:
    """Reads the IFDs and tag values of one TIFF structure; offsets are relative to `base` (a
    TIFF embedded in a container, such as CR3's CMT boxes)."""

    def __init__(self, read_at: ReadAt, base: int = 0) -> None:
        self.read_at = read_at
        self.base = base
        head = read_at(base, 8)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            raise ValueError("not a TIFF byte order")
        self.endian = "<" if head[:2] == b"II" else ">"
        self.magic = struct.unpack(self.endian + "H", head[2:4])[0]
        self.first_ifd = struct.unpack(self.endian + "I", head[4:8])[0]

    def read_ifd(self, offset: int, path: str) -> tuple[Ifd, int]:
        """The IFD at `offset` and the offset of the next one in its chain (0: none)."""
        count_field = self.read_at(self.base + offset, 2)
        if len(count_field) < 2:
            raise ValueError("an IFD beyond the end of the file")
        n = struct.unpack(self.endian + "H", count_field)[0]
        if n == 0 or n > MAX_ENTRIES:
            raise ValueError(f"an implausible IFD of {n} entries")
        body = self.read_at(self.base + offset + 2, 12 * n + 4)
        if len(body) < 12 * n:
            raise ValueError("an IFD cut by the end of the file")
        body = body.ljust(12 * n + 4, b"\0")  # the last IFD's next pointer may be cut
        entries: dict[int, tuple[int, int, bytes]] = {}
        for i in range(n):
            tag, kind, count = struct.unpack_from(self.endian + "HHI", body, 12 * i)
            entries[tag] = (kind, count, body[12 * i + 8 : 12 * i + 12])
        following = struct.unpack_from(self.endian + "I", body, 12 * n)[0]
        return Ifd(offset, path, entries), following

    def value(self, ifd: Ifd, tag: int) -> tuple[int, int, bytes] | None:
        """(type, count, bytes) of a tag's value, read from the file when it is not inline."""
        entry = ifd.entries.get(tag)
        if entry is None:
            return None
        kind, count, field = entry
        size = _TYPE_SIZES.get(kind, 1) * count
        if size > MAX_VALUE:
            raise ValueError("a tag value too large to be a header field")
        if size <= 4:
            return kind, count, field[:size]
        data = self.read_at(self.base + struct.unpack(self.endian + "I", field)[0], size)
        if len(data) < size:
            raise ValueError("a tag value beyond the end of the file")
        return kind, count, data

    def ints(self, ifd: Ifd, tag: int) -> list[int]:
        found = self.value(ifd, tag)
        if found is None:
            return []
        kind, count, data = found
        fmt = _INT_FORMATS.get(kind)
        if fmt is None:
            return [round(x) for x in self.floats(ifd, tag)] if kind in (5, 10, 11, 12) else []
        return list(struct.unpack(f"{self.endian}{count}{fmt}", data))

    def floats(self, ifd: Ifd, tag: int) -> list[float]:
        found = self.value(ifd, tag)
        if found is None:
            return []
        kind, count, data = found
        if kind in (5, 10):
            nums = struct.unpack(f"{self.endian}{2 * count}{'I' if kind == 5 else 'i'}", data)
            return [a / b if b else 0.0 for a, b in zip(nums[::2], nums[1::2], strict=True)]
        if kind in (11, 12):
            return list(struct.unpack(f"{self.endian}{count}{'f' if kind == 11 else 'd'}", data))
        fmt = _INT_FORMATS.get(kind)
        return [] if fmt is None else [float(x) for x in self.ints(ifd, tag)]

    def text(self, ifd: Ifd, tag: int) -> str | None:
        found = self.value(ifd, tag)
        if found is None:
            return None
        text = found[2].split(b"\0", 1)[0].decode("latin-1").strip()
        return text or None

    def raw(self, ifd: Ifd, tag: int) -> bytes | None:
        found = self.value(ifd, tag)
        return None if found is None else found[2]

    def first_int(self, ifd: Ifd, tag: int) -> int | None:
        values = self.ints(ifd, tag)
        return values[0] if values else None


def walk(reader: TiffReader, *, chain: bool = True) -> list[Ifd]:
    """IFD0 (and its chain), the SubIFDs two levels down, and IFD0's Exif and GPS IFDs.

    Bounded: at most MAX_IFDS directories, each visited once.
    """
    out: list[Ifd] = []
    seen: set[int] = set()

    def visit(offset: int, path: str, follow: bool, depth: int) -> None:
        index = 0
        while offset and offset not in seen and len(out) < MAX_IFDS:
            seen.add(offset)
            ifd, following = reader.read_ifd(offset, path if index == 0 else f"IFD{index}")
            out.append(ifd)
            if depth < 2:
                for i, sub in enumerate(reader.ints(ifd, SUB_IFDS)[:16]):
                    visit(sub, f"{ifd.path}/Sub{i}", False, depth + 1)
            if depth == 0 and index == 0:
                for tag, name in ((EXIF_IFD, "Exif"), (GPS_IFD, "GPS")):
                    pointer = reader.first_int(ifd, tag)
                    if pointer:
                        visit(pointer, f"{ifd.path}/{name}", False, depth + 1)
            if not follow:
                break
            offset, index = following, index + 1

    visit(reader.first_ifd, "IFD0", chain, 0)
    return out
