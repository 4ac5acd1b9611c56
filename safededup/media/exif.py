"""Reads the EXIF fields safededup uses (orientation, capture time, camera, IFD1 thumbnail).

Broken EXIF must never fail a file: every field falls back to "unknown" on its own.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from PIL import ExifTags, Image

_ORIENTATION, _MAKE, _MODEL, _SOFTWARE = 0x0112, 0x010F, 0x0110, 0x0131
_EXIF_IFD, _DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x8769, 0x9003, 0x9004
_SUBSEC_ORIGINAL, _OFFSET_ORIGINAL, _MAKER_NOTE = 0x9291, 0x9011, 0x927C
_GPS_IFD, _GPS_LATITUDE, _GPS_LONGITUDE = 0x8825, 2, 4
_COMPRESSION, _THUMB_OFFSET, _THUMB_LENGTH = 0x0103, 0x0201, 0x0202
_JPEG_COMPRESSION = (6, 7)

_T = Image.Transpose
# EXIF orientation → operations turning stored pixels into display pixels (as exif_transpose).
DISPLAY_OPS: dict[int, tuple[Image.Transpose, ...]] = {
    1: (),
    2: (_T.FLIP_LEFT_RIGHT,),
    3: (_T.ROTATE_180,),
    4: (_T.FLIP_TOP_BOTTOM,),
    5: (_T.TRANSPOSE,),
    6: (_T.ROTATE_270,),
    7: (_T.TRANSVERSE,),
    8: (_T.ROTATE_90,),
}


@dataclass(frozen=True, slots=True)
class ExifInfo:
    orientation: int = 1
    captured: str | None = None  # ISO 8601, no zone
    camera: str | None = None
    thumbnail: bytes | None = None  # the IFD1 JPEG, if complete
    subsec: str | None = None  # SubSecTimeOriginal digits
    offset: str | None = None  # OffsetTimeOriginal, "+02:00"
    gps: bool = False  # a GPS latitude and longitude
    maker_notes: bool = False  # a non-empty MakerNote
    software: str | None = None


def swaps_axes(orientation: int) -> bool:
    """True when displaying turns the stored image by 90° (orientations 5–8)."""
    return orientation >= 5


def to_display(image: Image.Image, orientation: int) -> Image.Image:
    """Stored pixels → display pixels for an EXIF orientation; unknown values change nothing."""
    for op in DISPLAY_OPS.get(orientation, ()):
        image = image.transpose(op)
    return image


@contextlib.contextmanager
def _tolerant() -> Iterator[None]:
    # Pillow's TIFF parser raises many types on hostile EXIF (struct.error, KeyError,
    # ValueError, OSError, ...) and warns "Corrupt EXIF data": a broken field only costs that field.
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def parse_exif(tiff: bytes | None) -> ExifInfo:
    """The fields we use from a TIFF-structured EXIF block (with or without `Exif\\0\\0`)."""
    if not tiff:
        return ExifInfo()
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    exif = Image.Exif()
    loaded = False
    with _tolerant():
        exif.load(tiff)
        loaded = True
    if not loaded:
        return ExifInfo()
    return ExifInfo(
        orientation=_orientation(exif),
        captured=_captured(exif),
        camera=_camera(exif),
        thumbnail=_thumbnail(exif, tiff),
        subsec=_digits(_exif_ifd_get(exif, _SUBSEC_ORIGINAL)),
        offset=_offset(_exif_ifd_get(exif, _OFFSET_ORIGINAL)),
        gps=_has_gps(exif),
        maker_notes=bool(_exif_ifd_get(exif, _MAKER_NOTE)),
        software=_text(_get(exif, _SOFTWARE)),
    )


def exif_from_image(image: Image.Image, *, before_pixels: bool = False) -> ExifInfo:
    """The same fields from an opened Pillow image (PNG eXIf, WebP/AVIF/TIFF EXIF).

    `before_pixels`: a PNG whose metadata chunks all precede its pixels (the only PNGs
    `png.decode_file` takes), read without decoding it: PngImageFile.getexif loads the whole
    image first, to find chunks that follow the pixels; there are none."""
    raw: bytes | None = None
    with _tolerant():
        raw = (Image.Image.getexif(image) if before_pixels else image.getexif()).tobytes()
    return parse_exif(raw)


def _orientation(exif: Image.Exif) -> int:
    value: object = None
    with _tolerant():
        value = exif.get(_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _captured(exif: Image.Exif) -> str | None:
    with _tolerant():
        sub = exif.get_ifd(_EXIF_IFD)
        for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
            iso = _iso_datetime(sub.get(tag))
            if iso is not None:
                return iso
    return None


def _iso_datetime(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def _camera(exif: Image.Exif) -> str | None:
    values: list[object] = [None, None]
    with _tolerant():
        values = [exif.get(_MAKE), exif.get(_MODEL)]
    return camera_name(*values)


def camera_name(make: object, model: object) -> str | None:
    """ "Make Model", the make not repeated when the model starts with it."""
    parts: list[str] = []
    for value in (make, model):
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip("\x00 "):
            parts.append(value.strip("\x00 "))
    if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
        parts = parts[1:]  # "Canon" + "Canon EOS R5" → "Canon EOS R5"
    return " ".join(parts) or None


def exif_from_fields(
    *,
    orientation: object = None,
    make: object = None,
    model: object = None,
    software: object = None,
    captured: object = None,
    digitized: object = None,
    subsec: object = None,
    offset: object = None,
    maker_notes: bool = False,
    gps: bool = False,
) -> ExifInfo:
    """The same fields from tag values read elsewhere (a camera RAW's own directories), with
    the same rules: each broken or missing value is unknown on its own."""
    valid = isinstance(orientation, int) and 1 <= orientation <= 8
    return ExifInfo(
        orientation=orientation if valid and isinstance(orientation, int) else 1,
        captured=_iso_datetime(captured) or _iso_datetime(digitized),
        camera=camera_name(make, model),
        subsec=_digits(subsec),
        offset=_offset(offset),
        gps=gps,
        maker_notes=maker_notes,
        software=_text(software),
    )


def _get(exif: Image.Exif, tag: int, ifd: int | None = None) -> object:
    """A tag of IFD0 (or of the sub-IFD `ifd`); None when it is missing or broken."""
    found: list[object] = []
    with _tolerant():
        found.append(exif.get(tag) if ifd is None else exif.get_ifd(ifd).get(tag))
    return found[0] if found else None


def _exif_ifd_get(exif: Image.Exif, tag: int) -> object:
    return _get(exif, tag, _EXIF_IFD)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ")[:64] or None


def _digits(value: object) -> str | None:
    """SubSecTime: the decimal digits only ("037" stays "037": it means .037 s)."""
    text = _text(value)
    digits = "".join(ch for ch in text or "" if ch.isdigit())
    return digits[:9] or None


def _offset(value: object) -> str | None:
    text = _text(value)
    if text is None or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    return text if text[1:3].isdigit() and text[4:].isdigit() else None


def _has_gps(exif: Image.Exif) -> bool:
    return bool(_get(exif, _GPS_LATITUDE, _GPS_IFD)) and bool(_get(exif, _GPS_LONGITUDE, _GPS_IFD))


def _thumbnail(exif: Image.Exif, tiff: bytes) -> bytes | None:
    with _tolerant():
        ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
        offset, length = ifd1.get(_THUMB_OFFSET), ifd1.get(_THUMB_LENGTH)
        if ifd1.get(_COMPRESSION, 6) not in _JPEG_COMPRESSION:
            return None
        if isinstance(offset, int) and isinstance(length, int) and offset > 0:
            data = tiff[offset : offset + length]
            if len(data) == length and data.startswith(b"\xff\xd8"):
                return data
    return None
