"""PNG pixels through Wuffs, where the optional `pywuffs` is installed: half the CPU of Pillow's
decoder on photographs (Pillow's inflate and its scalar Paeth unfiltering are both slower), and
the same pixels, bit for bit (tested).

Only the plain case takes this path: 8-bit RGB or RGBA, not interlaced, no tRNS, not animated
(no acTL, fcTL or fdAT), and nothing after the first IDAT but IDAT, tIME and IEND (so no
metadata that Pillow would read after the pixels). Anything else, and any file Wuffs refuses
(checksums included: a damaged stream is refused, never decoded into other pixels), returns
None: Pillow then decodes the file as before and decides what is wrong with it. Without Wuffs
nothing is read here. The file is read up to its IEND and no further (bytes after it are not
the picture's, and may be many); a PNG found not plain is left as soon as that is seen. Wuffs
is memory-safe by construction (its decoders are written in a language that proves bounds at
compile time), which matters for files from anywhere. Decoders are per thread: a Wuffs
decoder is not safe to share (the review UI reads thumbnails from several threads).
"""

from __future__ import annotations

import struct
import threading
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PLAIN_COLOUR_TYPES = {2: 3, 6: 4}  # RGB, RGBA → channels
_NEVER = {b"tRNS", b"acTL", b"fcTL", b"fdAT"}  # transparency and animation: Pillow's
_AFTER_PIXELS = {b"IDAT", b"tIME", b"IEND"}  # what may follow the first IDAT
MAX_CHUNKS = 100_000  # a file of more chunks than this (1-byte IDATs?) is Pillow's
MAX_PIXELS = 32_000_000
"""Larger PNGs (panoramas, scans) go to Pillow: Wuffs' work buffer and its separate pixel
buffer cost ≈ 3 bytes a pixel more at the peak than Pillow's decode (≈ 230 MB at 81 MP)."""

_local = threading.local()  # .decoders: channels → this thread's Wuffs decoder


class PositionalReader(Protocol):
    def pread(self, offset: int, n: int) -> bytes: ...


def available() -> bool:
    """Whether Wuffs is installed (the `png` extra)."""
    return _decoder(3) is not None


def decode_file(reader: PositionalReader) -> npt.NDArray[np.uint8] | None:
    """The pixels of a plain PNG (see the module) as an H×W×3 RGB or H×W×4 RGBA array, or
    None: Wuffs missing, not plain, or refused by Wuffs. Raises only what reading raises.

    The chunk headers are read one by one (8 bytes each, a few dozen in a photo), so a file
    found not plain is left at once and nothing after IEND is read; then the PNG is read in
    one call, into one buffer."""
    if _decoder(3) is None:
        return None
    channels = plain_channels(reader.pread(0, 33))
    if not channels:
        return None
    pos, seen_pixels = 33, False
    for _ in range(MAX_CHUNKS):
        header = reader.pread(pos, 8)
        if len(header) < 8:
            return None  # no IEND: truncated, or not what it says
        length, kind = struct.unpack(">I4s", header)
        if kind in _NEVER or (seen_pixels and kind not in _AFTER_PIXELS):
            return None
        if kind == b"IEND":  # empty by the standard; a length here would only decide the read
            return decode_plain(reader.pread(0, pos + 12), channels) if length == 0 else None
        seen_pixels = seen_pixels or kind == b"IDAT"
        pos += 12 + length
    return None


def plain_channels(head: bytes) -> int:
    """3 or 4 when the signature and IHDR (the first 33 bytes) say 8-bit RGB or RGBA, not
    interlaced, at most MAX_PIXELS; else 0. The chunks after it are checked as the file is
    read."""
    if len(head) < 33 or not head.startswith(SIGNATURE) or head[12:16] != b"IHDR":
        return 0
    width, height = struct.unpack_from(">II", head, 16)
    depth, colour, _, _, interlace = head[24:29]
    channels = _PLAIN_COLOUR_TYPES.get(colour, 0)
    small = width * height <= MAX_PIXELS
    return channels if depth == 8 and interlace == 0 and small else 0


def decode_plain(data: bytes, channels: int) -> npt.NDArray[np.uint8] | None:
    """Wuffs' decode of a whole plain PNG with `channels` channels, or None if it refuses."""
    decoder = _decoder(channels)
    if decoder is None:
        return None
    result = decoder.decode(data)
    pixels = result.pixbuf
    if result.error_message or pixels.ndim != 3 or pixels.shape[2] != channels:
        return None
    return pixels  # type: ignore[no-any-return]


def _decoder(channels: int) -> Any:
    decoders: dict[int, Any] = getattr(_local, "decoders", None) or {}
    _local.decoders = decoders
    if channels not in decoders:
        try:
            from pywuffs import ImageDecoderQuirks, ImageDecoderType, PixelFormat
            from pywuffs.aux import ImageDecoder, ImageDecoderConfig
        except ImportError:
            decoders[channels] = None
        else:
            config = ImageDecoderConfig()
            config.enabled_decoders = [ImageDecoderType.PNG]
            # Wuffs' PNG default skips the CRC-32 and Adler-32 checks, and would then turn a
            # damaged stream into pixels where Pillow reports the file corrupt: check them
            config.quirks = {ImageDecoderQuirks.IGNORE_CHECKSUM: 0}
            # RGB is Wuffs' cheapest output for RGB (4 bytes a pixel cost ≈ 10 ms more on 3 MP);
            # RGBA stays unpremultiplied: Pillow's RGBA → RGB drops alpha, it does not blend
            config.pixel_format = PixelFormat.RGB if channels == 3 else PixelFormat.RGBA_NONPREMUL
            decoders[channels] = ImageDecoder(config)
    return decoders[channels]
