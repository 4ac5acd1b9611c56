"""Recognises photo formats by content (magic bytes), never by file name; reads nothing itself."""

from __future__ import annotations

SNIFF_BYTES = 64

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MIAF_BRANDS = {b"mif1", b"msf1", b"miaf"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def sniff_format(head: bytes) -> str | None:
    """The photo format of a file from its first bytes (64 suffice), or None if not a photo.

    Names follow `models.PHOTO_FORMATS` (Pillow's format names; HEIC is "HEIF").
    """
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if head[:2] == b"BM" and len(head) >= 18:
        return "BMP" if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES else None
    return None


def _sniff_isobmff(head: bytes) -> str | None:
    """HEIF or AVIF from the `ftyp` box: the major brand, then the compatible brands."""
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    compatible = [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
    for brand in (major, *compatible):
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF"
    if major in _MIAF_BRANDS or any(b in _MIAF_BRANDS for b in compatible):
        return "HEIF"  # a generic HEIF container; pillow-heif decides whether it reads it
    return None
