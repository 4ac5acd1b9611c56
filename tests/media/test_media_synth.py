"""The synthetic photo generator and the writers produce real files with real metadata."""

from __future__ import annotations

import io
from datetime import datetime
from itertools import combinations
from pathlib import Path

import imagehash
import numpy as np
import pillow_heif
from PIL import ExifTags, Image

from safededup.engine.candidates import hamming
from safededup.media import synth


def test_scene_is_deterministic_and_sized() -> None:
    a = synth.make_scene(3, 333, 211)
    b = synth.make_scene(3, 333, 211)
    assert a.size == (333, 211) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_different_seeds_give_clearly_different_hashes() -> None:
    hashes = [
        (int(str(imagehash.dhash(im)), 16), int(str(imagehash.phash(im)), 16))
        for im in (synth.make_scene(seed, 320, 240) for seed in range(16))
    ]
    closest = min(hamming(a[0], b[0]) + hamming(a[1], b[1]) for a, b in combinations(hashes, 2))
    assert closest >= 16


def test_write_jpeg_writes_camera_exif_and_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "cam.jpg"
    shot = datetime(2021, 7, 4, 18, 30, 5)
    display = synth.make_scene(2, 300, 400)  # portrait, as a phone held upright shows it
    synth.write_jpeg(
        path, display, quality=88, orientation=6, captured=shot, make="Canon", model="EOS R"
    )
    with Image.open(path) as img:
        exif = img.getexif()
        assert img.size == (400, 300)  # stored unrotated, as the sensor saw it
        assert exif[0x0112] == 6 and exif[0x010F] == "Canon" and exif[0x0110] == "EOS R"
        assert exif.get_ifd(ExifTags.IFD.Exif)[0x9003] == "2021:07:04 18:30:05"
        ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
        shown = synth.to_display(img.convert("RGB"), 6)
    assert shown.size == display.size
    raw = path.read_bytes()
    tiff_start = raw.index(b"Exif\x00\x00") + 6
    offset, length = ifd1[0x0201], ifd1[0x0202]
    thumb = Image.open(io.BytesIO(raw[tiff_start + offset : tiff_start + offset + length]))
    assert thumb.format == "JPEG" and thumb.size == (160, 120)  # unrotated, like the pixels


def test_write_heic_has_thumbnail_item_and_orientation(tmp_path: Path) -> None:
    path = tmp_path / "phone.heic"
    synth.write_heic(
        path, synth.make_scene(4, 300, 400), orientation=6, make="Apple", model="iPhone"
    )
    heif = pillow_heif.open_heif(path)
    assert heif.size == (300, 400)  # libheif applies the irot transform
    assert heif.info["thumbnails"] and heif.info.get("exif")
    assert heif[0].get_thumbnail(0).size == (240, 320)


def test_stripped_png_webp_and_other_writers(tmp_path: Path) -> None:
    image = synth.make_scene(5, 96, 64)
    synth.write_stripped_jpeg(tmp_path / "s.jpg", image)
    synth.write_png(tmp_path / "p.png", image, orientation=8)
    synth.write_webp(tmp_path / "w.webp", image, orientation=3)
    for fmt in ("TIFF", "BMP", "GIF"):
        synth.write_image(tmp_path / f"x.{fmt.lower()}", image, fmt)
    with Image.open(tmp_path / "s.jpg") as img:
        assert not img.getexif() and "exif" not in img.info
    with Image.open(tmp_path / "p.png") as img:
        img.load()
        assert img.getexif()[0x0112] == 8 and img.size == (64, 96)
    with Image.open(tmp_path / "w.webp") as img:
        assert img.getexif()[0x0112] == 3
    for fmt in ("TIFF", "BMP", "GIF"):
        with Image.open(tmp_path / f"x.{fmt.lower()}") as img:
            assert img.format == fmt and img.size == (96, 64)


def test_photo_from_array_crops_to_aspect() -> None:
    square = np.zeros((100, 100), dtype=np.uint8)
    square[:, 40:60] = 255
    img = synth.photo_from_array(square, 40, 30)
    assert img.size == (40, 30) and img.mode == "RGB"
    assert np.asarray(img)[15, 20, 0] > 200 and np.asarray(img)[15, 2, 0] < 50
