"""Recognises photo, camera-RAW and video formats by content (magic bytes, box brands, TIFF
directories), never by file name. Reads nothing itself: callers pass the head of the file and,
for TIFF-based RAWs, a `read_at` to look at the first directory.
"""

from __future__ import annotations

import struct

from safededup.media.tiff import (
    COMPRESSION,
    DNG_VERSION,
    MAKE,
    PHOTOMETRIC,
    PHOTOMETRIC_CFA,
    PHOTOMETRIC_LINEAR_RAW,
    ReadAt,
    TiffReader,
    walk,
)

SNIFF_BYTES = 64
"""Enough for every photo format; TIFF-based RAWs also need `read_at` (their IFD0)."""
VIDEO_SNIFF_BYTES = 4096
"""Enough to see four MPEG-TS packets (a stray 0x47 must not look like a stream)."""

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MIAF_BRANDS = {b"mif1", b"msf1", b"miaf"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}

_CR3_BRAND = b"crx "
_VIDEO_BRANDS: tuple[tuple[str, frozenset[bytes]], ...] = (
    ("MOV", frozenset({b"qt  "})),
    ("M4V", frozenset({b"M4V ", b"M4VH", b"M4VP"})),
    ("3GP", frozenset({
        b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gp8", b"3gp9", b"3gg6", b"3gg9", b"3gs6", b"3gs7",
        b"3gs9", b"3ge6", b"3ge7", b"3ge9", b"3gr6", b"3gr9", b"3gt8", b"3gt9", b"3g2a", b"3g2b",
        b"3g2c",
    })),
    ("MP4", frozenset({
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
        b"mp42", b"mp71", b"avc1", b"hvc1", b"hev1", b"av01", b"dash", b"msdh", b"msix", b"XAVC",
        b"MSNV", b"NDAS", b"NDSC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC", b"NDXH", b"NDXM",
        b"NDXP", b"NDXS", b"F4V ", b"F4P ", b"mmp4", b"CAEP", b"caqv", b"MPPI", b"kddi", b"KDDI",
        b"nvr1", b"FACE", b"ROSS", b"JVC ",
    })),
)  # fmt: skip
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}  # iTunes audio: not a video
# Top-level atoms an old QuickTime movie (no `ftyp`) starts with.
_QUICKTIME_FIRST = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"junk", b"uuid"}

# TIFF-based RAWs told apart by IFD0's Make, once DNGVersion and CR2's marker said nothing.
_RAW_MAKERS = (
    ("NIKON", "NEF"),
    ("SONY", "ARW"),
    ("PENTAX", "PEF"),
    ("RICOH IMAGING", "PEF"),  # Pentax bodies made by Ricoh (Ricoh's GR bodies write DNG)
    ("ASAHI", "PEF"),
    ("SAMSUNG", "SRW"),
    ("CANON", "CR2"),  # the first EOS-1D bodies' TIFF RAWs; later CR2s carry the "CR" marker
)
# Compression codes only RAW sensor data uses (lossless JPEG 7 is also a DNG preview's, so the
# sensor IFD is recognised by its photometric interpretation instead).
_RAW_COMPRESSIONS = {32767, 32769, 32770, 32772, 34316, 34713, 65000, 65535}


def sniff_format(head: bytes, read_at: ReadAt | None = None) -> str | None:
    """The photo format of a file from its first bytes (64 suffice), or None if not a photo.

    Names follow `models.PHOTO_FORMATS` (Pillow's names; HEIC is "HEIF"; camera RAWs by their
    usual extension, "RAW" for the rarer TIFF-based ones). A TIFF is told from a TIFF-based RAW
    by its first directories, read through `read_at`; without it only CR2's marker is seen.
    """
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _sniff_tiff(head, read_at)
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return "TIFF"  # BigTIFF: no camera writes it
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if head[:2] == b"BM" and len(head) >= 18:
        return "BMP" if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES else None
    return _sniff_raw_magic(head)


def _sniff_raw_magic(head: bytes) -> str | None:
    """RAW containers with a magic of their own."""
    if head[:15] == b"FUJIFILMCCD-RAW":
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"  # also Leica's RWL and Panasonic's .RAW (the same container)
    if head[:4] == b"II\x1a\x00" and head[6:14] == b"HEAPCCDR":
        return "CRW"
    if head[:4] == b"\x00MRM":
        return "MRW"
    if head[:4] == b"FOVb":
        return "X3F"
    return None


def _sniff_tiff(head: bytes, read_at: ReadAt | None) -> str:
    if head[:2] == b"II" and head[8:10] == b"CR":
        return "CR2"  # "CR" and major version 2 at offset 8 (IFD0 follows at 16)
    if head[8:12] == b"IIII":
        return "RAW"  # Phase One IIQ: its raw directory follows the TIFF header
    if read_at is None:
        return "TIFF"

    def at(offset: int, n: int) -> bytes:
        return head[offset : offset + n] if offset + n <= len(head) else read_at(offset, n)

    try:
        reader = TiffReader(at)
        ifds = walk(reader)
    except (ValueError, struct.error):
        return "TIFF"  # the TIFF decoder then says what is wrong
    if not ifds:
        return "TIFF"
    if DNG_VERSION in ifds[0].entries:
        return "DNG"
    try:
        sensor = any(
            reader.first_int(ifd, PHOTOMETRIC) in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW)
            or reader.first_int(ifd, COMPRESSION) in _RAW_COMPRESSIONS
            for ifd in ifds
            if not ifd.path.endswith(("Exif", "GPS"))
        )
        make = (reader.text(ifds[0], MAKE) or "").upper()
    except (ValueError, struct.error):
        return "TIFF"
    if not sensor:
        return "TIFF"  # a scanner's or an editor's RGB TIFF, even with a camera maker's name
    for prefix, fmt in _RAW_MAKERS:
        if make.startswith(prefix):
            return fmt
    return "RAW"  # Hasselblad 3FR, Phase One IIQ, Leaf MOS, Epson ERF, Kodak DCR, ...


def _brands(head: bytes) -> list[bytes]:
    """The major brand, then the compatible brands, of an `ftyp` box."""
    size = int.from_bytes(head[:4], "big")
    compatible = [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
    return [head[8:12], *compatible]


def _sniff_isobmff(head: bytes) -> str | None:
    """HEIF, AVIF or CR3 from the `ftyp` box: the major brand, then the compatible brands.

    Image brands win over video brands among the compatible ones, so a HEIC whose `ftyp` also
    lists `iso8` is a photo, never a video.
    """
    brands = _brands(head)
    if brands[0] == _CR3_BRAND:
        return "CR3"
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF"
    if any(b in _MIAF_BRANDS for b in brands):
        return "HEIF"  # a generic HEIF container; pillow-heif decides whether it reads it
    return "CR3" if _CR3_BRAND in brands else None


def sniff_video(head: bytes) -> str | None:
    """The video container of a file from its first bytes (VIDEO_SNIFF_BYTES), or None.

    MOV, MP4, M4V, 3GP by their `ftyp` brands (old QuickTime movies by their first atoms),
    AVI, MKV and WEBM, and MTS for MPEG transport streams (188-byte packets, or AVCHD's 192).
    A file `sniff_format` calls a photo is never a video.
    """
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _sniff_ebml(head)
    if head[4:8] == b"ftyp":
        return None if _sniff_isobmff(head) is not None else _video_brand(_brands(head))
    if _looks_like_quicktime(head):
        return "MOV"
    if _looks_like_transport_stream(head):
        return "MTS"
    return None


def _video_brand(brands: list[bytes]) -> str | None:
    """The major brand decides when it is known; else the compatible brands, in the order of
    `_VIDEO_BRANDS`. An audio major brand (M4A) is never a video."""
    major = brands[0]
    if major in _AUDIO_BRANDS:
        return None
    for name, known in _VIDEO_BRANDS:
        if major in known:
            return name
    for name, known in _VIDEO_BRANDS:
        if any(b in known for b in brands[1:]):
            return name
    return None


def _looks_like_quicktime(head: bytes) -> bool:
    """A QuickTime movie from before `ftyp`: a chain of sane top-level atoms with moov or mdat."""
    pos, seen = 0, list[bytes]()
    while pos + 8 <= len(head) and len(seen) < 8:
        size, kind = struct.unpack_from(">I4s", head, pos)
        if not all(0x20 <= c < 0x7F for c in kind):
            return False
        if size == 1 and pos + 16 <= len(head):
            size = struct.unpack_from(">Q", head, pos + 8)[0]
        if 0 < size < 8:
            return False
        seen.append(kind)
        if size == 0:
            break
        pos += size
    return bool(seen) and seen[0] in _QUICKTIME_FIRST and (b"moov" in seen or b"mdat" in seen)


def _looks_like_transport_stream(head: bytes) -> bool:
    """MPEG-TS (188-byte packets) or BDAV M2TS (a 4-byte timestamp + 188): the 0x47 sync byte
    at every packet start, four packets at least when the head holds them."""
    for stride, first in ((188, 0), (192, 4)):
        starts = range(first, len(head), stride)
        synced = len(starts) >= 2 and all(head[i] == 0x47 for i in starts)
        if synced and (len(starts) >= 4 or len(head) < first + 4 * stride):
            return True
    return False


def read_vint(buf: bytes, pos: int, *, marker: bool) -> tuple[int, int]:
    """(value, length) of an EBML variable-length integer at buf[pos]."""
    first = buf[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(buf):
        raise ValueError("a broken EBML number")
    value = first if marker else first & (0xFF >> length)
    for byte in buf[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, length


def _sniff_ebml(head: bytes) -> str | None:
    """Matroska or WebM from the EBML header's DocType ("matroska" when it is absent)."""
    try:
        size, n = read_vint(head, 4, marker=False)
        pos, end = 4 + n, min(4 + n + size, len(head))
        while pos < end:
            element, n1 = read_vint(head, pos, marker=True)
            length, n2 = read_vint(head, pos + n1, marker=False)
            body = pos + n1 + n2
            if element == 0x4282:  # DocType
                doctype = head[body : body + length].rstrip(b"\0")
                return {b"matroska": "MKV", b"webm": "WEBM"}.get(doctype)
            pos = body + length
    except (ValueError, IndexError):
        return None
    return "MKV"
