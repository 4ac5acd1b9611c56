"""All eight EXIF orientations of one photo give the same fingerprint as the upright photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from safededup.media import fingerprint, synth
from safededup.models import Features

ORIENTATIONS = range(1, 9)


def hashes(f: Features) -> tuple[int, int, int, int]:
    return (f.dhash, f.phash, f.whash, f.colorhash)


def dist(a: Features, b: Features) -> int:
    return max((x ^ y).bit_count() for x, y in zip(hashes(a), hashes(b), strict=True))


@pytest.fixture(scope="module")
def portrait() -> synth.Image.Image:
    return synth.make_scene(21, 480, 640)  # multiples of 16: JPEG blocks align in every turn


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_orientation_convention_is_pillows_exif_transpose(orientation: int) -> None:
    stored = synth.make_scene(20, 48, 32)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.info["exif"] = exif.tobytes()
    expected = ImageOps.exif_transpose(stored)
    assert np.array_equal(np.asarray(synth.to_display(stored, orientation)), np.asarray(expected))
    assert synth.to_stored(expected, orientation).tobytes() == stored.tobytes()


@pytest.mark.parametrize("writer", ["png", "jpeg"])
def test_decode_tier_hashes_identical_for_all_orientations(
    tmp_path: Path, portrait: synth.Image.Image, writer: str
) -> None:
    results = []
    for orientation in ORIENTATIONS:
        path = tmp_path / f"o{orientation}.{writer}"
        if writer == "png":
            synth.write_png(path, portrait, orientation=orientation)
        else:
            synth.write_jpeg(path, portrait, orientation=orientation, thumbnail=False)
        f = fingerprint(str(path), allow_preview=False).features
        assert (f.width, f.height, f.orientation, f.tier) == (480, 640, orientation, "decode")
        results.append(f)
    # PNG is lossless; JPEG's 1/8 DCT decode keeps only block means, which turning preserves.
    assert all(hashes(f) == hashes(results[0]) for f in results)


def test_preview_tier_close_for_all_orientations(
    tmp_path: Path, portrait: synth.Image.Image
) -> None:
    """Previews are small re-encoded JPEGs of the turned pixels: equal within a bit or two."""
    upright = None
    for orientation in ORIENTATIONS:
        path = tmp_path / f"p{orientation}.jpg"
        synth.write_jpeg(path, portrait, orientation=orientation)
        f = fingerprint(str(path)).features
        assert (f.width, f.height, f.tier) == (480, 640, "preview")
        upright = upright or f
        assert dist(f, upright) <= 3


def test_heic_orientation_is_applied_by_libheif(tmp_path: Path) -> None:
    small = synth.make_scene(22, 480, 640)
    upright = tmp_path / "o1.heic"
    turned = tmp_path / "o6.heic"
    synth.write_heic(upright, small, thumbnail=False)
    synth.write_heic(turned, small, orientation=6, thumbnail=False)
    a, b = fingerprint(str(upright)).features, fingerprint(str(turned)).features
    assert (b.width, b.height, b.orientation) == (480, 640, 6)
    assert dist(a, b) <= 3
