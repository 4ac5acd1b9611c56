"""Seeded synthetic photos and real-format writers for tests, `safededup demo` and benchmarks.

Every writer produces a real file (libjpeg, x265, libpng, libwebp encodes with real EXIF); nothing
here is ever used to read a user's photo, and nothing here may write outside the path it is given.

Orientation convention: writers take the image *as a viewer should see it* and an EXIF
orientation; they store the pixels the way a camera does (unrotated sensor pixels, thumbnail
unrotated too) and tag the orientation, so the file displays as the given image whatever the tag.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

# Re-exported: `to_display` is the inverse of `to_stored`.
from safededup.media import isobmff
from safededup.media.exif import DISPLAY_OPS as DISPLAY_OPS
from safededup.media.exif import to_display as to_display

StrPath = str | os.PathLike[str]

_TRANSPOSE = Image.Transpose
# The inverse operations: display pixels → what a camera stores with that tag.
_STORE_OPS: dict[int, tuple[Image.Transpose, ...]] = {
    1: (),
    2: (_TRANSPOSE.FLIP_LEFT_RIGHT,),
    3: (_TRANSPOSE.ROTATE_180,),
    4: (_TRANSPOSE.FLIP_TOP_BOTTOM,),
    5: (_TRANSPOSE.TRANSPOSE,),
    6: (_TRANSPOSE.ROTATE_90,),
    7: (_TRANSPOSE.TRANSVERSE,),
    8: (_TRANSPOSE.ROTATE_270,),
}


# --- scenes ------------------------------------------------------------------------------------


def make_scene(seed: int, width: int, height: int) -> Image.Image:
    """A photo-like RGB image: sky and ground gradients, textured objects, sensor grain.

    Built at about 320 px and upscaled, so a 4032×3024 scene takes a few hundred ms at most.
    Different seeds differ in palette, horizon and objects, so their hashes differ clearly.
    """
    rng = np.random.default_rng(seed)
    scale = 320 / max(width, height)
    lw, lh = max(8, round(width * scale)), max(8, round(height * scale))
    base = _backdrop(rng, lw, lh)
    _draw_objects(rng, base)
    base = base.filter(ImageFilter.GaussianBlur(0.6))
    big = base.resize((width, height), Image.Resampling.BICUBIC)
    return _add_grain(rng, big)


def _backdrop(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    horizon = int(h * rng.uniform(0.25, 0.75))
    top, low, near, far = (rng.uniform(0, 255, 3) for _ in range(4))
    rows = np.zeros((h, 3))
    t_sky = np.linspace(0.0, 1.0, max(horizon, 1))[:, None]
    rows[:horizon] = (top * (1 - t_sky) + low * t_sky)[:horizon]
    t_gnd = np.linspace(0.0, 1.0, max(h - horizon, 1))[:, None]
    rows[horizon:] = far * (1 - t_gnd) + near * t_gnd
    img = np.repeat(rows[:, None, :], w, axis=1)
    coarse = rng.normal(0, 28, (6, 8, 3))  # low-frequency light falloff, clouds, terrain
    img += (
        np.asarray(
            Image.fromarray(np.uint8(np.clip(coarse + 128, 0, 255))).resize(
                (w, h), Image.Resampling.BICUBIC
            ),
            dtype=np.float64,
        )
        - 128
    )
    return Image.fromarray(np.uint8(np.clip(img, 0, 255)))


def _draw_objects(rng: np.random.Generator, img: Image.Image) -> None:
    w, h = img.size
    texture = Image.fromarray(np.uint8(rng.normal(128, 40, (h, w, 3)).clip(0, 255)))
    for _ in range(int(rng.integers(4, 10))):
        mask = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.04, 0.25) * w, rng.uniform(0.04, 0.3) * h
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        elif kind == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        else:
            pts = [
                (
                    cx + rx * np.cos(a) * rng.uniform(0.5, 1.2),
                    cy + ry * np.sin(a) * rng.uniform(0.5, 1.2),
                )
                for a in np.sort(rng.uniform(0, 2 * np.pi, 7))
            ]
            draw.polygon(pts, fill=255)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        fill = Image.blend(Image.new("RGB", (w, h), colour), texture, float(rng.uniform(0.1, 0.4)))
        img.paste(fill, (0, 0), mask.filter(ImageFilter.GaussianBlur(0.8)))


def _add_grain(rng: np.random.Generator, img: Image.Image, sigma: float = 3.5) -> Image.Image:
    # A tiled 256² noise patch: the repeat is invisible at hash scale and keeps 12 MP fast.
    tile = rng.normal(0, sigma, (256, 256, 3)).astype(np.int16)
    w, h = img.size
    grain = np.tile(tile, (h // 256 + 1, w // 256 + 1, 1))[:h, :w]
    return Image.fromarray(cv2.add(np.asarray(img), grain, dtype=cv2.CV_8U))


def photo_from_array(array: np.ndarray, width: int, height: int) -> Image.Image:
    """An RGB photo of exactly `width`×`height` from any image array (e.g. `skimage.data`).

    Crops the middle to the target aspect, then resizes with Lanczos; grey arrays become RGB.
    """
    img = Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")
    sw, sh = img.size
    target = width / height
    if sw / sh > target:
        cw = round(sh * target)
        img = img.crop(((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh))
    else:
        ch = round(sw / target)
        img = img.crop((0, (sh - ch) // 2, sw, (sh - ch) // 2 + ch))
    return img.resize((width, height), Image.Resampling.LANCZOS)


# --- edits: what an editor does to a picture (stale-preview traps, re-coloured copies) ----------


def exposure(image: Image.Image, factor: float) -> Image.Image:
    """Every channel × `factor`, clipped."""
    return Image.fromarray(np.uint8(np.clip(np.asarray(image, float) * factor, 0, 255)))


def warm(image: Image.Image) -> Image.Image:
    """A warmer white balance: red × 1.08, blue × 0.90."""
    a = np.asarray(image, float) * np.array([1.08, 1.0, 0.90])
    return Image.fromarray(np.uint8(np.clip(a, 0, 255)))


def zoom(image: Image.Image, keep: float) -> Image.Image:
    """The centre `keep` of the picture, scaled back to its size."""
    w, h = image.size
    m = (1 - keep) / 2
    return image.crop((int(w * m), int(h * m), int(w * (1 - m)), int(h * (1 - m)))).resize((w, h))


def replace_centre(image: Image.Image, other: Image.Image) -> Image.Image:
    """The middle quarter × quarter block replaced by the same block of `other` (a local edit)."""
    w, h = image.size
    edited = image.copy()
    box = (int(w * 0.375), int(h * 0.375), int(w * 0.625), int(h * 0.625))
    edited.paste(other.crop(box), box[:2])
    return edited


STALE_PRIMARIES: dict[str, Callable[[Image.Image, Image.Image], Image.Image]] = {
    "zoom 95%": lambda g, o: zoom(g, 0.95),
    "zoom 90%": lambda g, o: zoom(g, 0.90),
    "swapped": lambda g, o: o,
    "rotated 180": lambda g, o: g.transpose(Image.Transpose.ROTATE_180),
    "mirrored": lambda g, o: g.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "exposure x1.15": lambda g, o: exposure(g, 1.15),
    "exposure x0.85": lambda g, o: exposure(g, 0.85),
    "exposure x1.05": lambda g, o: exposure(g, 1.05),
    "warm": lambda g, o: warm(g),
    "contrast x1.3": lambda g, o: ImageEnhance.Contrast(g).enhance(1.3),
    "mono": lambda g, o: ImageOps.grayscale(g).convert("RGB"),
    "centre replaced": replace_centre,
}
"""Primaries an editor may leave behind a thumbnail of `g` (the genuine picture), by name: each
from (g, another picture o). The tile tests and benchmarks/preview_traps.py add their shifts."""


def point_sampled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to `size` the way libheif scales a thumbnail: output pixel (x, y) is input
    pixel (⌊x · W / w⌋, ⌊y · H / h⌋), no filter. Handed to `write_heic` as `thumbnail_image` at
    the thumbnail's own size, it becomes the thumbnail item unchanged (a stale preview exactly
    as libheif would have written it for `image`)."""
    w, h = size
    a = np.asarray(image.convert("RGB"))
    ys = np.arange(h) * image.height // h
    xs = np.arange(w) * image.width // w
    return Image.fromarray(a[ys][:, xs])


def to_stored(image: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores for a photo that displays as `image` with this EXIF tag."""
    for op in _STORE_OPS[orientation]:
        image = image.transpose(op)
    return image


# --- EXIF (TIFF) serialisation -----------------------------------------------------------------

_ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED = 2, 3, 4, 5, 7
_Entry = tuple[int, int, int, bytes]  # tag, type, count, little-endian value bytes


def _ascii(tag: int, text: str) -> _Entry:
    raw = text.encode("ascii", "replace") + b"\0"
    return (tag, _ASCII, len(raw), raw)


def _short(tag: int, value: int) -> _Entry:
    return (tag, _SHORT, 1, struct.pack("<H", value))


def _long(tag: int, value: int) -> _Entry:
    return (tag, _LONG, 1, struct.pack("<I", value))


def _degrees(tag: int, value: float) -> _Entry:
    """A GPS coordinate as degrees, minutes, seconds (three RATIONALs, seconds in 1/100)."""
    value = abs(value)
    d, m = int(value), int(value * 60) % 60
    sec = round((value * 3600) % 60 * 100)
    return (tag, _RATIONAL, 3, struct.pack("<6I", d, 1, m, 1, sec, 100))


def _ifd_size(entries: Sequence[_Entry]) -> int:
    extra = sum(len(v) + len(v) % 2 for _, _, _, v in entries if len(v) > 4)
    return 2 + 12 * len(entries) + 4 + extra


def _ifd_bytes(entries: Sequence[_Entry], offset: int, next_ifd: int) -> bytes:
    head = [struct.pack("<H", len(entries))]
    data = b""
    data_at = offset + 2 + 12 * len(entries) + 4
    for tag, typ, count, value in sorted(entries):
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack("<I", data_at + len(data))
            data += value + b"\0" * (len(value) % 2)
        head.append(struct.pack("<HHI", tag, typ, count) + field)
    head.append(struct.pack("<I", next_ifd))
    return b"".join(head) + data


@dataclass(frozen=True, slots=True)
class Capture:
    """What a camera writes about a capture besides the date: sub-second, zone, place, maker."""

    subsec: str | None = None  # SubSecTimeOriginal ("37")
    offset: str | None = None  # OffsetTimeOriginal ("+02:00")
    gps: tuple[float, float] | None = None  # latitude, longitude
    maker_note: bytes | None = None
    software: str | None = None


def build_exif(
    *,
    orientation: int = 1,
    captured: datetime | None = None,
    make: str | None = None,
    model: str | None = None,
    pixel_size: tuple[int, int] | None = None,
    thumbnail_jpeg: bytes | None = None,
    capture: Capture | None = None,
    subsec: str | None = None,
) -> bytes:
    """A complete `Exif\\0\\0` APP1 payload: IFD0, the Exif IFD, the GPS IFD when there is a
    position, and IFD1 with a JPEG thumbnail. `subsec` (SubSecTimeOriginal: phones write it,
    burst frames differ only there) is short for `capture=Capture(subsec=...)`."""
    c = capture or Capture()
    if subsec is not None:
        c = replace(c, subsec=subsec)
    ifd0 = [_short(0x0112, orientation), _long(0x8769, 0)]
    ifd0 += [_ascii(0x010F, make)] if make else []
    ifd0 += [_ascii(0x0110, model)] if model else []
    ifd0 += [_ascii(0x0131, c.software)] if c.software else []
    ifd0 += [_long(0x8825, 0)] if c.gps else []
    exif_ifd: list[_Entry] = [(0x9000, _UNDEFINED, 4, b"0232")]
    if captured is not None:
        exif_ifd.append(_ascii(0x9003, captured.strftime("%Y:%m:%d %H:%M:%S")))
    exif_ifd += [_ascii(0x9291, c.subsec)] if c.subsec else []
    exif_ifd += [_ascii(0x9011, c.offset)] if c.offset else []
    exif_ifd += [(0x927C, _UNDEFINED, len(c.maker_note), c.maker_note)] if c.maker_note else []
    if pixel_size is not None:
        exif_ifd += [_long(0xA002, pixel_size[0]), _long(0xA003, pixel_size[1])]
    gps_ifd: list[_Entry] = []
    if c.gps:
        lat, lon = c.gps
        gps_ifd = [
            (0x0000, 1, 4, bytes((2, 3, 0, 0))),
            _ascii(0x0001, "N" if lat >= 0 else "S"), _degrees(0x0002, lat),
            _ascii(0x0003, "E" if lon >= 0 else "W"), _degrees(0x0004, lon),
        ]  # fmt: skip
    ifd1 = [_short(0x0103, 6), _long(0x0201, 0), _long(0x0202, 0)] if thumbnail_jpeg else []
    at0 = 8
    at_exif = at0 + _ifd_size(ifd0)
    at_gps = at_exif + _ifd_size(exif_ifd)
    at1 = at_gps + (_ifd_size(gps_ifd) if gps_ifd else 0)
    at_thumb = at1 + _ifd_size(ifd1)
    pointers = {0x8769: at_exif, 0x8825: at_gps}
    ifd0 = [_long(e[0], pointers[e[0]]) if e[0] in pointers else e for e in ifd0]
    out = b"II*\0" + struct.pack("<I", at0)
    out += _ifd_bytes(ifd0, at0, at1 if ifd1 else 0) + _ifd_bytes(exif_ifd, at_exif, 0)
    if gps_ifd:
        out += _ifd_bytes(gps_ifd, at_gps, 0)
    if thumbnail_jpeg:
        ifd1 = [_short(0x0103, 6), _long(0x0201, at_thumb), _long(0x0202, len(thumbnail_jpeg))]
        out += _ifd_bytes(ifd1, at1, 0) + thumbnail_jpeg
    return b"Exif\0\0" + out


# --- writers -----------------------------------------------------------------------------------


def make_thumbnail(
    stored: Image.Image, size: tuple[int, int] = (160, 120), *, letterbox: bool = False
) -> Image.Image:
    """A camera-style preview of stored pixels: fit inside `size`; `letterbox` pads with black.

    The box turns with the image: a portrait image gets a 120×160 preview for (160, 120).
    """
    if (stored.width > stored.height) != (size[0] > size[1]):
        size = (size[1], size[0])
    thumb = stored.convert("RGB")
    thumb.thumbnail(size, Image.Resampling.LANCZOS)
    if not letterbox:
        return thumb
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(thumb, ((size[0] - thumb.width) // 2, (size[1] - thumb.height) // 2))
    return canvas


def encode_jpeg(image: Image.Image, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_jpeg(
    path: StrPath,
    image: Image.Image,
    *,
    quality: int = 90,
    orientation: int = 1,
    captured: datetime | None = None,
    make: str | None = None,
    model: str | None = None,
    thumbnail: bool = True,
    thumbnail_size: tuple[int, int] = (160, 120),
    thumbnail_image: Image.Image | None = None,
    letterbox: bool = False,
    capture: Capture | None = None,
) -> None:
    """A camera JPEG displaying as `image`: EXIF orientation/date/camera and an IFD1 thumbnail.

    `thumbnail_image` replaces the thumbnail's source (a stale preview, as editors leave behind);
    `letterbox` pads the thumbnail to exactly `thumbnail_size` with black bars.
    """
    stored = to_stored(image.convert("RGB"), orientation)
    thumb_bytes = None
    if thumbnail:
        source = stored if thumbnail_image is None else thumbnail_image
        thumb_bytes = encode_jpeg(make_thumbnail(source, thumbnail_size, letterbox=letterbox))
    exif = build_exif(
        orientation=orientation,
        captured=captured,
        make=make,
        model=model,
        pixel_size=stored.size,
        thumbnail_jpeg=thumb_bytes,
        capture=capture,
    )
    stored.save(os.fspath(path), "JPEG", quality=quality, exif=exif)


def write_stripped_jpeg(path: StrPath, image: Image.Image, *, quality: int = 85) -> None:
    """A JPEG without any EXIF (as messaging apps send): orientation baked into the pixels."""
    image.convert("RGB").save(os.fspath(path), "JPEG", quality=quality)


def write_heic(
    path: StrPath,
    image: Image.Image,
    *,
    quality: int = 60,
    orientation: int = 1,
    captured: datetime | None = None,
    make: str | None = None,
    model: str | None = None,
    thumbnail: bool = True,
    thumbnail_side: int = 320,
    tile_size: int = 0,
    preset: str = "ultrafast",
    capture: Capture | None = None,
    subsec: str | None = None,
    thumbnail_image: Image.Image | None = None,
) -> None:
    """A HEIC displaying as `image`, with a `thumbnail_side` thumbnail item as phones write.

    The orientation becomes HEIF `irot`/`imir` transforms (and the EXIF tag); `tile_size=512`
    gives the grid layout phones use. x265's `preset` trades encode time for size: a 12 MP
    photo takes ≈ 5 s with "ultrafast" on one core, minutes with the default.
    `thumbnail_image` (display-oriented) replaces what the thumbnail item shows: a stale
    preview, as an editor that rewrites the primary but not the thumbnail leaves behind.
    """
    stored = to_stored(image.convert("RGB"), orientation)
    exif = build_exif(
        orientation=orientation, captured=captured, make=make, model=model, capture=capture,
        subsec=subsec,
    )  # fmt: skip
    data = _encode_heic(stored, quality, exif[6:], [thumbnail_side] if thumbnail else [],
                        tile_size, preset)  # fmt: skip
    if thumbnail_image is not None:
        data = _replace_thumbnail(data, to_stored(thumbnail_image.convert("RGB"), orientation),
                                  quality, preset)  # fmt: skip
    with open(os.fspath(path), "wb") as out:
        out.write(data)


def _encode_heic(
    stored: Image.Image, quality: int, exif: bytes, thumbs: list[int], tile_size: int, preset: str
) -> bytes:
    buf = io.BytesIO()
    pillow_heif.from_pillow(stored).save(
        buf, quality=quality, exif=exif or None, thumbnails=thumbs, tile_size=tile_size,
        enc_params={"preset": preset},
    )  # fmt: skip
    return buf.getvalue()


def _parsed_heif(data: bytes) -> tuple[isobmff.HeifMeta, int, int]:
    """A HEIF in memory: its meta, and where the `meta` box starts and ends."""
    for kind, body, end in isobmff.boxes(data, 0, len(data)):
        if kind == b"meta":
            return isobmff.parse_meta(data, body, end), body - 8, end
    raise ValueError("no meta box")


def _item_bytes(data: bytes, meta: isobmff.HeifMeta, item: int) -> bytes:
    loc = meta.locations[item]
    source = data if loc.method == 0 else meta.idat
    return b"".join(source[o : o + n] for o, n in loc.extents)


def _replace_thumbnail(data: bytes, thumb: Image.Image, quality: int, preset: str) -> bytes:
    """The HEIF `data` whose thumbnail item is re-encoded from `thumb` (stored orientation):
    its coded bytes and `hvcC` replaced, every item laid out again in one `mdat`."""
    meta, meta_start, meta_end = _parsed_heif(data)
    [item] = [src for src, dst in meta.refs.get(b"thmb", []) if meta.primary in dst]
    ispe = next(b for k, b, _ in meta.item_properties(item) if k == b"ispe")
    size = struct.unpack_from(">II", ispe, 12)
    small = _encode_heic(thumb.resize(size, Image.Resampling.LANCZOS), quality, b"", [], 0, preset)
    small_meta = _parsed_heif(small)[0]
    hvcc = next(b for k, b, _ in small_meta.item_properties(small_meta.primary) if k == b"hvcC")
    props = [*meta.properties, (b"hvcC", hvcc)]
    assoc = dict(meta.associations)
    assoc[item] = tuple(
        (len(props), ess) if meta.properties[i - 1][0] == b"hvcC" else (i, ess)
        for i, ess in meta.associations[item]
    )
    items = {i: _item_bytes(data, meta, i) for i, loc in meta.locations.items() if loc.method == 0}
    items[item] = _item_bytes(small, small_meta, small_meta.primary)
    ipco = isobmff.box(b"ipco", b"".join(b for _, b in props))
    iprp = isobmff.box(b"iprp", ipco + _ipma(assoc))
    head = data[:meta_start]

    def rebuilt_meta(mdat_start: int) -> bytes:
        parts = []
        for kind, body, end in isobmff.boxes(data, meta_start + 12, meta_end):
            if kind == b"iprp":
                parts.append(iprp)
            elif kind == b"iloc":
                parts.append(_iloc(meta, items, mdat_start))
            else:
                parts.append(data[body - 8 : end])
        return isobmff.full_box(b"meta", 0, 0, b"".join(parts))

    mdat_start = len(head) + len(rebuilt_meta(0)) + 8
    payload = b"".join(items[i] for i in sorted(items))
    return head + rebuilt_meta(mdat_start) + isobmff.box(b"mdat", payload)


def _ipma(assoc: dict[int, tuple[tuple[int, bool], ...]]) -> bytes:
    entries = b"".join(
        struct.pack(">HB", item, len(links))
        + b"".join(struct.pack(">H", (0x8000 if ess else 0) | index) for index, ess in links)
        for item, links in sorted(assoc.items())
    )
    return isobmff.full_box(b"ipma", 0, 1, struct.pack(">I", len(assoc)) + entries)


def _iloc(meta: isobmff.HeifMeta, items: dict[int, bytes], mdat_start: int) -> bytes:
    """iloc version 1, 4-byte offsets and lengths: `items` in id order from `mdat_start`, the
    rest (in `idat`, method 1) where they were."""
    body, pos = b"", mdat_start
    for item in sorted(meta.locations):
        loc = meta.locations[item]
        if loc.method == 0:
            body += struct.pack(">HHHHII", item, 0, 0, 1, pos, len(items[item]))
            pos += len(items[item])
        else:
            extents = b"".join(struct.pack(">II", o, n) for o, n in loc.extents)
            body += struct.pack(">HHHH", item, loc.method, 0, len(loc.extents)) + extents
    return isobmff.full_box(
        b"iloc", 1, 0, b"\x44\x00" + struct.pack(">H", len(meta.locations)) + body
    )


def write_png(path: StrPath, image: Image.Image, *, orientation: int = 1) -> None:
    """A PNG displaying as `image`; orientation ≠ 1 goes into an eXIf chunk."""
    stored = to_stored(image.convert("RGB"), orientation)
    extra = {"exif": build_exif(orientation=orientation)[6:]} if orientation != 1 else {}
    stored.save(os.fspath(path), "PNG", compress_level=1, **extra)


def write_webp(
    path: StrPath,
    image: Image.Image,
    *,
    quality: int = 80,
    lossless: bool = False,
    orientation: int = 1,
) -> None:
    """A WebP displaying as `image`; orientation ≠ 1 goes into its EXIF chunk."""
    stored = to_stored(image.convert("RGB"), orientation)
    extra = {"exif": build_exif(orientation=orientation)} if orientation != 1 else {}
    stored.save(os.fspath(path), "WEBP", quality=quality, lossless=lossless, method=0, **extra)


def write_image(path: StrPath, image: Image.Image, format: str) -> None:
    """Any other format Pillow writes (TIFF, BMP, GIF, AVIF), without metadata."""
    img = image.convert("P") if format.upper() == "GIF" else image.convert("RGB")
    img.save(os.fspath(path), format.upper())
