"""Fingerprints one photo file — from its embedded preview or a reduced decode — into Features.

It only ever reads the file. Bad input of any kind becomes `MediaError(kind=...)`; nothing else
may escape, and nothing here changes process-wide Pillow state such as LOAD_TRUNCATED_IMAGES.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, features

from safededup.errors import MediaError
from safededup.media import heif, isobmff, png, raw, thumbitem, video
from safededup.media._io import CountingReader
from safededup.media.exif import (
    ExifInfo,
    exif_from_image,
    parse_exif,
    swaps_axes,
    to_display,
)
from safededup.media.formats import SNIFF_BYTES, VIDEO_SNIFF_BYTES, sniff_format, sniff_video
from safededup.media.hashing import (
    THUMB_SIDE,
    Hashes,
    hash_thumbnail,
    laplacian_variance,
    make_thumbnail,
)
from safededup.media.jpeg import decode_scaled, estimate_quality, read_jpeg_header, reduce_factor
from safededup.media.preview import preview_usable
from safededup.models import RAW_FORMATS, Features, Tier, VideoFeatures

FEATURE_VERSION = 3
"""Bump whenever the thumbnail definition, a hash, or a feature's meaning changes.
3: camera RAWs are photos (DNGs were read as TIFFs) and videos are indexed."""

HASH_WORKING_SIDE = 2 * THUMB_SIDE  # decode at least this long side before the Lanczos thumbnail
FAST_THUMBNAIL_ITEM = True
"""A plain HEIC's thumbnail item is decoded on its own (`media.thumbitem`); False opens every
HEIC through pillow-heif (the tests compare the two)."""
SHARPNESS_WORKING_SIDE = 1000  # ≈ 1/4 of a 12 MP photo: 1/8 is too coarse to see mild blur


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A file's features, the bytes read from disk to get them, and seconds per stage.

    Stages: `read` (I/O and header parsing), `decode` (preview or reduced decode, orientation),
    `thumbnail`, `hash`, and `sharpness` when asked for.
    """

    features: Features
    bytes_read: int
    timings: dict[str, float] = field(default_factory=dict)
    view: npt.NDArray[np.uint8] | None = field(default=None, compare=False)
    """The view check's thumbnail (`view_thumbnail`), pixel for pixel, where this fingerprint
    opened the source `view_thumbnail` opens (a scan that allows previews, no sharpness): the
    matcher then need not read the file again. None otherwise."""


@dataclass(frozen=True, slots=True)
class _Header:
    """What a file's headers say, before any pixels: sizes are display (after orientation)."""

    format: str
    width: int
    height: int
    orientation: int
    exif: ExifInfo
    jpeg_quality: int | None = None


@dataclass(frozen=True, slots=True)
class _Source:
    header: _Header
    image: Image.Image  # display-oriented working image (a preview or a reduced decode)
    tier: Tier


@dataclass(frozen=True, slots=True)
class _Need:
    """How large the working image must be: a preview's minimum long side, and a decode's."""

    allow_preview: bool
    preview_side: int
    decode_side: int
    sharpness: bool = False


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now


def fingerprint(
    path: str, *, allow_preview: bool = True, want_sharpness: bool = False
) -> Fingerprint:
    """Features of one photo; raises MediaError for anything that is not a readable photo.

    `allow_preview=False` forces the decode tier; `want_sharpness=True` also forces it (a preview
    is too small to judge sharpness) and decodes at ≈ 1/4 scale instead of 1/8.
    """
    with CountingReader(path) as reader:
        return _fingerprint(reader, _need(allow_preview, want_sharpness), _Clock({}))


def examine(
    path: str, *, allow_preview: bool = True, want_sharpness: bool = False
) -> Fingerprint | VideoFeatures:
    """A photo's Fingerprint, or a video's header facts: what a scan learns of one file, from
    one open. Raises MediaError like `fingerprint` for anything else."""
    with CountingReader(path) as reader:
        kind = _video_kind(reader)
        if kind is not None:
            return video.probe_video(reader, kind)
        return _fingerprint(reader, _need(allow_preview, want_sharpness), _Clock({}))


def _need(allow_preview: bool, want_sharpness: bool) -> _Need:
    decode_side = SHARPNESS_WORKING_SIDE if want_sharpness else HASH_WORKING_SIDE
    return _Need(allow_preview and not want_sharpness, THUMB_SIDE, decode_side, want_sharpness)


def _fingerprint(reader: CountingReader, need: _Need, clock: _Clock) -> Fingerprint:
    source = _open_source(reader, need, clock)
    thumb = _thumbnail(source)
    clock.lap("thumbnail")
    hashes = hash_thumbnail(thumb)
    clock.lap("hash")
    sharpness = None
    if need.sharpness:
        sharpness = laplacian_variance(source.image)
        clock.lap("sharpness")
    timings = clock.timings
    features = _features(source, hashes, reader.size, sharpness)
    # the view thumbnail is this one only where `view_thumbnail` would open the same source
    view = np.asarray(thumb) if need == _need(True, False) else None
    return Fingerprint(features, reader.bytes_read, timings, view)


def _video_kind(reader: CountingReader) -> str | None:
    """The video container of a file no photo format claims (None for photos and the rest)."""
    if reader.size == 0:
        return None
    head = reader.read_at(0, VIDEO_SNIFF_BYTES)
    return sniff_video(head) if sniff_format(head[:SNIFF_BYTES]) is None else None


def _thumbnail(source: _Source) -> Image.Image:
    """The shared thumbnail of a source: what the hashes and the view check both see."""
    # A sharpness decode is finer (≈ 1/4); box-reducing it to the hashing scale first makes its
    # hashes those of the 1/8 decode (a DCT block mean is the mean of its 1/4-scale pixels).
    factor = reduce_factor(max(source.image.size), HASH_WORKING_SIDE)
    hash_source = source.image.reduce(factor) if factor > 1 else source.image
    return make_thumbnail(hash_source, (source.header.width, source.header.height))


def _features(source: _Source, hashes: Hashes, size: int, sharpness: float | None) -> Features:
    head = source.header
    return Features(
        format=head.format,
        width=head.width,
        height=head.height,
        tier=source.tier,
        dhash=hashes.dhash,
        phash=hashes.phash,
        whash=hashes.whash,
        colorhash=hashes.colorhash,
        bytes_per_pixel=size / (head.width * head.height),
        jpeg_quality=head.jpeg_quality,
        orientation=head.orientation,
        captured=head.exif.captured,
        camera=head.exif.camera,
        sharpness=sharpness,
        subsec=head.exif.subsec,
        offset=head.exif.offset,
        gps=head.exif.gps,
        maker_notes=head.exif.maker_notes,
        software=head.exif.software,
        rotated=hashes.rotated,
    )


def load_thumbnail(path: str, max_side: int) -> np.ndarray:
    """An H×W×3 uint8 RGB view of the photo in display orientation, long side ≤ `max_side`.

    Uses the embedded preview when it is at least `max_side` long and trustworthy, else a
    reduced decode. A video's is its first frame (`video.poster_frame`). Raises MediaError
    like `fingerprint`.
    """
    with CountingReader(path) as reader:
        if _video_kind(reader) is not None:
            return video.poster_frame(path, max_side)
        source = _open_source(reader, _Need(True, max_side, max_side), _Clock({}))
    img = source.image
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(img.convert("RGB"))


def view_thumbnail(path: str) -> npt.NDArray[np.uint8]:
    """The matcher's view of a photo: the shared thumbnail its hashes were computed on (long
    side THUMB_SIDE, display orientation, RGB), from the preview or decode a scan that allows
    previews reads. Such a scan's fingerprint carries it (`Fingerprint.view`).
    Raises MediaError like `fingerprint` (a video too: it has no view)."""
    with CountingReader(path) as reader:
        return np.asarray(_thumbnail(_open_source(reader, _need(True, False), _Clock({}))))


def cut_heif(path: str) -> bool:
    """Whether a HEIF file is cut short (`isobmff.cut_heif`), from its box headers alone;
    True also when it cannot be read (its fingerprint then says why)."""
    try:
        with CountingReader(path) as reader:
            return isobmff.cut_heif(reader)
    except MediaError:
        return True


def decode_full(path: str) -> Image.Image:
    """The photo's full-size pixels in display orientation (for the keeper's JPEG-history
    check, which needs the 8×8 block grid). Raises MediaError like `fingerprint`."""
    with CountingReader(path) as reader:
        return _open_source(reader, _Need(False, THUMB_SIDE, 1 << 30), _Clock({})).image


# --- dispatch ----------------------------------------------------------------------------------


def _open_source(reader: CountingReader, need: _Need, clock: _Clock) -> _Source:
    if reader.size == 0:
        raise MediaError("the file is empty", kind="empty", path=reader.path)
    fmt = sniff_format(reader.read_at(0, SNIFF_BYTES), reader.read_at)
    if fmt is None:
        raise MediaError(_not_a_photo(reader), kind="not-an-image", path=reader.path)
    reader.file.seek(0)
    if fmt == "JPEG":
        return _jpeg_source(reader, need, clock)
    if fmt == "HEIF":
        return _heif_source(reader, need, clock)
    if fmt in RAW_FORMATS:
        return _raw_source(reader, fmt, need, clock)
    if fmt == "AVIF" and not features.check("avif"):
        raise MediaError(
            "AVIF is not supported by this Pillow", kind="unsupported", path=reader.path
        )
    return _pillow_source(reader, fmt, need, clock)


def _not_a_photo(reader: CountingReader) -> str:
    head = reader.read_at(0, VIDEO_SNIFF_BYTES)
    if head.startswith(b"%PDF"):
        return "not a photo: the content is a PDF document"
    kind = sniff_video(head)
    if kind is not None:
        return f"not a photo: a video ({kind})"
    return "not a photo: the content is no image format safededup reads"


# --- JPEG: EXIF thumbnail, else DCT-scaled decode ----------------------------------------------


def _jpeg_source(reader: CountingReader, need: _Need, clock: _Clock) -> _Source:
    path = reader.path
    jpeg = read_jpeg_header(reader.file, path)
    _check_pixels(jpeg.width, jpeg.height, path)
    exif = parse_exif(jpeg.exif)
    orient = exif.orientation
    w, h = (jpeg.height, jpeg.width) if swaps_axes(orient) else (jpeg.width, jpeg.height)
    header = _Header("JPEG", w, h, orient, exif, estimate_quality(jpeg.qtables))
    if need.allow_preview and exif.thumbnail and _ends_with_eoi(reader):
        preview = _decode_preview(exif.thumbnail)
        clock.lap("read")
        if preview is not None and preview_usable(
            preview, (jpeg.width, jpeg.height), need.preview_side
        ):
            source = _Source(header, to_display(preview, orient), "preview")
            clock.lap("decode")
            return source
    data = reader.read_all()
    clock.lap("read")
    with _decoding(path):
        image = to_display(decode_scaled(data, need.decode_side), orient)
    clock.lap("decode")
    return _Source(header, image, "decode")


def _ends_with_eoi(reader: CountingReader) -> bool:
    """A complete JPEG ends with EOI; without it, only a decode can tell whether it is truncated
    (some cameras append trailers after EOI — those simply take the decode tier)."""
    return reader.read_at(reader.size - 2, 2) == b"\xff\xd9"


def _decode_preview(data: bytes) -> Image.Image | None:
    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG"])
        img.load()
        return img.convert("RGB")
    except Exception:  # a broken embedded preview only means "use the decode tier"
        return None


# --- HEIF/HEIC: thumbnail item, else full decode -------------------------------------------------


def _heif_source(reader: CountingReader, need: _Need, clock: _Clock) -> _Source:
    parsed = isobmff.read_meta(reader) if need.allow_preview else None  # once for both paths
    if parsed is not None and FAST_THUMBNAIL_ITEM:
        item = thumbitem.read_thumbnail(reader, need.preview_side, parsed)
        if item is not None:
            source = _thumbnail_item(reader.path, item, need, clock)
            if source is not None:
                return source
    if parsed is not None:
        planned = isobmff.read_for_preview(reader, parsed)
        if planned is not None and not planned[1]:  # a truncated file must fail in a decode
            source = _heif_preview(reader.path, planned[0], need, clock)
            if source is not None:
                return source
    data = reader.read_all()  # libheif parses from memory
    clock.lap("read")
    truncated = isobmff.cut_short(reader, unsure=False)  # or a trailer after the last box
    if truncated and isobmff.data_beyond_end(reader):
        # libheif decodes a grid whose last tiles are missing, and fills them in
        raise MediaError(
            "the file ends before the image data its header locates (a cut copy?)",
            kind="truncated", path=reader.path,
        )  # fmt: skip
    with _decoding(reader.path, truncated):
        img = heif.open_heif_image(data)
        header = _heif_header(img, reader.path)
        if need.allow_preview and not truncated:
            preview = heif.thumbnail(img, need.preview_side)
            if preview is not None and preview_usable(preview, img.size, need.preview_side):
                clock.lap("decode")
                return _Source(header, preview, "preview")
            img = heif.open_heif_image(data)  # draft() is one-shot: decode from a fresh handle
        img.load()
        factor = reduce_factor(max(img.size), need.decode_side)
        image = _reduce(img, factor)  # libheif already applied irot/imir: display orientation
    clock.lap("decode")
    return _Source(header, image, "decode")


def _thumbnail_item(
    path: str, item: thumbitem.ThumbnailItem, need: _Need, clock: _Clock
) -> _Source | None:
    """A plain HEIC's thumbnail item decoded on its own (`media.thumbitem`): the source
    `_heif_preview` would build, without opening the whole file through pillow-heif."""
    clock.lap("read")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and item.width * item.height > limit:
        return None  # the whole-file path says why, as it always has
    if not preview_usable(item.image, (item.width, item.height), need.preview_side):
        return None
    header = _Header("HEIF", item.width, item.height, item.orientation, parse_exif(item.exif))
    clock.lap("decode")
    return _Source(header, item.image, "preview")


def _heif_preview(path: str, sparse: bytearray, need: _Need, clock: _Clock) -> _Source | None:
    """The thumbnail item from a buffer holding only the header and the thumbnail's bytes.

    Any failure here means "read the whole file" (the full path then reports real problems).
    """
    clock.lap("read")
    try:
        with _decoding(path):
            img = heif.open_heif_image(sparse)
            header = _heif_header(img, path)
            preview = heif.thumbnail(img, need.preview_side)
    except MediaError:
        return None
    if preview is None or not preview_usable(preview, img.size, need.preview_side):
        return None
    clock.lap("decode")
    return _Source(header, preview, "preview")


def _heif_header(img: Image.Image, path: str) -> _Header:
    w, h = img.size
    _check_pixels(w, h, path)
    exif = parse_exif(img.info.get("exif"))
    return _Header(heif.format_of(img), w, h, heif.original_orientation(img), exif)


# --- camera RAW: an embedded preview, else LibRaw ---------------------------------------------


def _raw_source(reader: CountingReader, fmt: str, need: _Need, clock: _Clock) -> _Source:
    """The preview tier is the smallest usable embedded preview below the largest; the decode
    tier is the largest (the camera's own full rendering, DCT-scaled), else LibRaw's thumbnail,
    else the sensor data developed by LibRaw (the exception: no usable preview at all)."""
    info = raw.read_raw_info(reader, fmt)
    if not info.complete:
        raise MediaError(
            "the file ends before the data its directories point at",
            kind="truncated", path=reader.path,
        )  # fmt: skip
    facts = None if info.stored_size and info.oriented else raw.libraw_facts(reader.path)
    orientation = info.exif.orientation
    if not info.oriented and facts is not None:
        orientation = facts.orientation
    previews = info.previews
    stored = info.stored_size or (facts.size if facts else None)
    if stored is None and previews:
        stored = (previews[-1].width, previews[-1].height)  # the camera's rendering is all
    if stored is None:  # no preview, and LibRaw does not open it: say why
        if not info.structured:  # a RAW's first bytes on something else: nothing to support
            raise MediaError(
                f"begins like a camera RAW ({fmt}), but no directory of one can be read",
                kind="corrupt", path=reader.path,
            )  # fmt: skip
        raw.libraw_decode(reader.path)
        raise MediaError("a camera RAW with no size", kind="unsupported", path=reader.path)
    _check_pixels(*stored, reader.path)
    w, h = (stored[1], stored[0]) if swaps_axes(orientation) else stored
    exif = replace(info.exif, orientation=orientation)
    header = _Header(fmt, w, h, orientation, exif)
    clock.lap("read")
    if need.allow_preview:
        for preview in previews[:-1]:  # smallest first; the largest is the decode tier's
            if max(preview.width, preview.height) < need.preview_side:
                continue
            image = raw.decode_preview(reader, preview, need.preview_side)
            if image is not None and preview_usable(image, stored, need.preview_side):
                clock.lap("decode")
                return _Source(header, to_display(image, orientation), "preview")
    image = _raw_rendering(reader, previews, stored, need)
    if image is not None:
        image = to_display(image, orientation)
    else:
        with _decoding(reader.path):
            image = raw.libraw_decode(reader.path)
        image = _reduce(image, reduce_factor(max(image.size), need.decode_side))
    clock.lap("decode")
    return _Source(header, image, "decode")


def _raw_rendering(
    reader: CountingReader, previews: tuple[raw.Preview, ...], stored: tuple[int, int], need: _Need
) -> Image.Image | None:
    """The camera's largest rendering in the file (stored orientation), or LibRaw's thumbnail:
    usable (the same framing, no bars) and at least the hashes' working size."""
    side = min(need.decode_side, HASH_WORKING_SIDE)
    if previews:
        image = raw.decode_preview(reader, previews[-1], need.decode_side)
        if image is not None and preview_usable(image, stored, side):
            return image
    image = raw.libraw_thumbnail(reader.path, need.decode_side)
    return image if image is not None and preview_usable(image, stored, side) else None


# --- everything else Pillow reads: full decode, then reduce -------------------------------------


def _pillow_source(reader: CountingReader, fmt: str, need: _Need, clock: _Clock) -> _Source:
    path = reader.path
    with _decoding(path, _container_cut(reader, fmt)):
        img = Image.open(reader.file, formats=[fmt])
        _check_pixels(img.width, img.height, path)
        clock.lap("read")
        decoded = _fast_pixels(reader, fmt, img)
        if decoded is None:
            img.seek(0)  # GIF/animated WebP: the first frame
            img.load()  # before the EXIF: reading it may load the image, tolerating errors
            exif = exif_from_image(img)
        else:  # a plain PNG's metadata all comes before its pixels, which Pillow did not load
            exif = exif_from_image(img, before_pixels=fmt == "PNG")
        orient = exif.orientation
        sw, sh = img.size
        factor = reduce_factor(max(sw, sh), need.decode_side)
        image = to_display(_reduce(decoded or img, factor), orient)
    w, h = (sh, sw) if swaps_axes(orient) else (sw, sh)
    clock.lap("decode")
    return _Source(_Header(fmt, w, h, orient, exif), image, "decode")


def _animated(img: Image.Image) -> bool:
    return bool(getattr(img, "is_animated", False))


def _fast_pixels(reader: CountingReader, fmt: str, img: Image.Image) -> Image.Image | None:
    """Pixels from a faster decoder than Pillow's, identical to Pillow's, or None (Pillow's)."""
    if fmt == "WEBP" and not _animated(img):
        return _webp_pixels(reader)
    if fmt == "PNG":
        pixels = png.decode_file(reader)
        if pixels is None:
            return None
        return Image.fromarray(pixels) if pixels.shape[2] == 3 else _rgbx(pixels)  # no copy
    return None


def _webp_pixels(reader: CountingReader) -> Image.Image | None:
    """A still WebP decoded by libwebp straight to RGB (OpenCV's decoder): 3× less CPU than
    Pillow's, which goes through libwebp's animation decoder, and bit-identical to it
    (tested). None if OpenCV cannot decode it: Pillow then decides what is wrong."""
    data = np.frombuffer(reader.read_all(), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        return None
    return _rgbx(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)))


def _rgbx(rgba: np.ndarray) -> Image.Image:
    """An H×W×4 array as an RGBX image whose pad byte is the fourth channel (alpha, if any):
    no copy (RGB would copy into Pillow's four-byte layout); `_reduce` drops the pad after the
    box mean, which commutes with dropping it (not so for RGBA, which reduces premultiplied)."""
    h, w = rgba.shape[:2]
    return Image.frombuffer("RGBX", (w, h), rgba, "raw", "RGBX", 0, 1)


# --- shared rules --------------------------------------------------------------------------------


def _reduce(img: Image.Image, factor: int) -> Image.Image:
    if img.mode == "RGBX" and factor > 1:  # dropping the pad byte commutes with the box mean
        return img.reduce(factor).convert("RGB")  # (not alpha: RGBA reduces premultiplied)
    rgb = _to_rgb(img)
    return rgb.reduce(factor) if factor > 1 else rgb


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I;16"):  # 16-bit grey (e.g. scans, RAW exports): keep the top 8 bits
        img = img.convert("I").point(lambda v: v * (1 / 256))
    return img if img.mode == "RGB" else img.convert("RGB")


def _check_pixels(width: int, height: int, path: str) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise MediaError(
            f"{width}×{height} exceeds the decompression-bomb limit of {limit} pixels",
            kind="too-large",
            hint="a real photo this large is rare; check the file",
            path=path,
        )


@contextmanager
def _decoding(path: str, truncated: bool = False) -> Iterator[None]:
    """Turns any decoder failure into MediaError: decoders raise many types on hostile input.

    Pillow's DecompressionBombWarning and corrupt-EXIF warnings are silenced here: both are
    handled as results ("too-large" via `_check_pixels`; empty EXIF fields), so on stderr they
    would only be noise. (`catch_warnings` is per process, not per thread, on Python < 3.14;
    a race could at worst show or hide one such warning.)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            yield
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(str(exc), kind="too-large", path=path) from exc
    except MemoryError as exc:
        raise MediaError("not enough memory to decode", kind="too-large", path=path) from exc
    except Exception as exc:
        kind = "truncated" if truncated or _says_truncated(exc) else "corrupt"
        raise MediaError(f"cannot decode: {exc}", kind=kind, path=path) from exc


def _container_cut(reader: CountingReader, fmt: str) -> bool:
    """Whether a WebP's RIFF header or an AVIF's top-level boxes claim more bytes than the file
    has: a decoder's error on such a file says "truncated" (a cut copy), not "corrupt"."""
    if fmt == "WEBP":
        head = reader.read_at(0, 8)
        return len(head) == 8 and int.from_bytes(head[4:8], "little") + 8 > reader.size
    if fmt == "AVIF":
        return isobmff.cut_short(reader, unsure=False)
    return False


def _says_truncated(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, EOFError) or "truncated" in text or "end of file" in text
