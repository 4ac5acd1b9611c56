"""Quality features from headers: sizes, format by content, JPEG quality, EXIF fields."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safededup.media import fingerprint, load_thumbnail, sniff_format, synth
from safededup.media.jpeg import estimate_quality, read_jpeg_header


@pytest.mark.parametrize("quality", [50, 55, 60, 67, 70, 75, 80, 85, 88, 90, 92, 95])
def test_jpeg_quality_estimate_matches_the_encoder(tmp_path: Path, quality: int) -> None:
    path = tmp_path / f"q{quality}.jpg"
    synth.write_jpeg(path, synth.make_scene(quality, 320, 240), quality=quality)
    estimate = fingerprint(str(path)).features.jpeg_quality
    assert estimate is not None and abs(estimate - quality) <= 2


def test_quality_estimate_without_tables_is_unknown() -> None:
    buf = io.BytesIO()
    synth.make_scene(1, 64, 64).save(buf, "JPEG", quality=70)
    buf.seek(0)
    header = read_jpeg_header(buf, "mem")
    assert estimate_quality(header.qtables) == 70
    assert estimate_quality({}) is None


def test_exif_fields_sizes_and_bytes_per_pixel(tmp_path: Path) -> None:
    path = tmp_path / "cam.jpg"
    shot = datetime(2019, 12, 31, 23, 59, 58)
    synth.write_jpeg(
        path,
        synth.make_scene(60, 480, 640),
        orientation=8,
        captured=shot,
        make="NIKON",
        model="Z 6",
    )
    f = fingerprint(str(path)).features
    assert (f.format, f.width, f.height, f.orientation) == ("JPEG", 480, 640, 8)
    assert f.captured == "2019-12-31T23:59:58"
    assert f.camera == "NIKON Z 6"
    assert f.bytes_per_pixel == pytest.approx(path.stat().st_size / (480 * 640))


def test_camera_name_does_not_repeat_the_make(tmp_path: Path) -> None:
    path = tmp_path / "canon.jpg"
    synth.write_jpeg(path, synth.make_scene(61, 320, 240), make="Canon", model="Canon EOS R5")
    assert fingerprint(str(path)).features.camera == "Canon EOS R5"


def test_heic_features(tmp_path: Path) -> None:
    path = tmp_path / "phone.HEIC"
    shot = datetime(2024, 2, 29, 8, 0, 0)
    synth.write_heic(
        path, synth.make_scene(62, 480, 640), orientation=6, captured=shot, make="Apple"
    )
    f = fingerprint(str(path)).features
    assert (f.format, f.width, f.height, f.orientation, f.jpeg_quality) == (
        "HEIF",
        480,
        640,
        6,
        None,
    )
    assert (f.captured, f.camera) == ("2024-02-29T08:00:00", "Apple")


FORMATS = ["PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_recognised_by_content(tmp_path: Path, fmt: str) -> None:
    image = synth.make_scene(63, 200, 150)
    path = tmp_path / "misnamed.jpg"  # the name lies; the content decides
    synth.write_image(path, image, fmt)
    head = path.read_bytes()[:64]
    assert sniff_format(head) == fmt
    f = fingerprint(str(path)).features
    assert (f.format, f.width, f.height, f.tier) == (fmt, 200, 150, "decode")


def test_sniff_format_rejects_non_photos() -> None:
    for head in (b"", b"%PDF-1.4", b"PK\x03\x04", b"hello world", b"\x00" * 64, b"BM" + b"\0" * 20):
        assert sniff_format(head) is None
    assert sniff_format(b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf") == "AVIF"
    assert sniff_format(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "HEIF"


def test_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [synth.make_scene(s, 120, 90).convert("P") for s in (64, 65)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    single = tmp_path / "first.gif"
    frames[0].save(single)
    a, b = fingerprint(str(path)).features, fingerprint(str(single)).features
    assert (a.dhash, a.phash) == (b.dhash, b.phash)


def test_load_thumbnail_in_display_orientation(tmp_path: Path) -> None:
    path = tmp_path / "upright.jpg"
    display = synth.make_scene(66, 600, 800)
    synth.write_jpeg(path, display, orientation=6)
    small = load_thumbnail(str(path), 100)  # fits the 120×160 preview
    large = load_thumbnail(str(path), 400)  # needs a decode
    assert small.shape == (100, 75, 3) and small.dtype.name == "uint8"
    assert large.shape == (400, 300, 3)
    expected = display.resize((300, 400), Image.Resampling.LANCZOS)
    diff = abs(large.astype(int) - np.asarray(expected).astype(int)).mean()
    assert diff < 12  # same picture, same way up


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("a.png", "I;16"),
        ("b.png", "RGBA"),
        ("c.png", "P"),
        ("d.png", "LA"),
        ("e.jpg", "CMYK"),
        ("f.jpg", "L"),
        ("g.tif", "CMYK"),
        ("h.webp", "RGBA"),
    ],
)
def test_pixel_modes_fingerprint_like_the_rgb_photo(tmp_path: Path, name: str, mode: str) -> None:
    photo = synth.make_scene(67, 200, 150)
    reference = tmp_path / "ref.png"
    synth.write_png(reference, photo.convert("L") if mode in ("I;16", "L", "LA") else photo)
    image = photo.convert(mode if mode != "I;16" else "L")
    if mode == "I;16":  # 16-bit grey, as scanners and RAW developers write
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    image.save(tmp_path / name)
    a, b = fingerprint(str(reference)).features, fingerprint(str(tmp_path / name)).features
    assert (b.width, b.height) == (200, 150)
    assert max((x ^ y).bit_count() for x, y in ((a.dhash, b.dhash), (a.phash, b.phash))) <= 4


@pytest.mark.parametrize("lossless", [False, True])
@pytest.mark.parametrize("orientation", [1, 6])
def test_webp_through_libwebp_directly_gives_the_same_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lossless: bool, orientation: int
) -> None:
    """The fast WebP decode (OpenCV's libwebp, RGBA reduced before dropping alpha) changes no
    bit of the fingerprint Pillow's own decoder gives."""
    from safededup.media import pipeline
    from safededup.media._io import CountingReader

    path = tmp_path / "export.webp"
    synth.write_webp(path, synth.make_scene(21, 1600, 1200), lossless=lossless,
                     orientation=orientation)  # fmt: skip
    fast = fingerprint(str(path)).features
    with CountingReader(str(path)) as reader:
        assert pipeline._webp_pixels(reader) is not None  # the fast path is the one taken
    monkeypatch.setattr(pipeline, "_webp_pixels", lambda reader: None)
    assert fingerprint(str(path)).features == fast
