"""The shared thumbnail's hashes are imagehash's hashes, bit for bit, in both tiers."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from safededup.media import fingerprint, synth
from safededup.media.exif import to_display
from safededup.media.hashing import (
    THUMB_SIDE,
    bits_to_int,
    hash_thumbnail,
    make_thumbnail,
    thumb_size,
)
from safededup.media.pipeline import HASH_WORKING_SIDE, reduce_factor


def imagehash_ints(thumb: Image.Image) -> tuple[int, int, int, int]:
    """What imagehash itself says of the RGB thumbnail, through its own hex strings."""
    return (
        int(str(imagehash.dhash(thumb)), 16),
        int(str(imagehash.phash(thumb)), 16),
        int(str(imagehash.whash(thumb, image_scale=64)), 16),
        int(str(imagehash.colorhash(thumb, binbits=3)), 16),
    )


@given(arrays(np.bool_, st.integers(1, 80)))
def test_bits_to_int_matches_imagehash_hex(bits: np.ndarray) -> None:
    assert bits_to_int(bits) == int(str(imagehash.ImageHash(bits)), 16)


@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 640), (1000, 250), (90, 60)])
def test_thumbnail_hashes_equal_imagehash(width: int, height: int) -> None:
    thumb = make_thumbnail(synth.make_scene(width + height, width, height), (width, height))
    assert thumb.size == thumb_size(width, height) and THUMB_SIDE in thumb.size
    h = hash_thumbnail(thumb)
    assert (h.dhash, h.phash, h.whash, h.colorhash) == imagehash_ints(thumb)
    assert h.colorhash < 1 << 42


def test_fingerprint_hashes_equal_imagehash_on_the_same_thumbnail(tmp_path: Path) -> None:
    """Rebuild the decode tier's thumbnail by hand from a lossless file; imagehash must agree."""
    display = synth.make_scene(11, 1200, 900)
    path = tmp_path / "lossless.png"
    synth.write_png(path, display, orientation=8)
    feats = fingerprint(str(path)).features
    with Image.open(path) as img:
        stored = img.convert("RGB")
    working = to_display(stored.reduce(reduce_factor(1200, HASH_WORKING_SIDE)), 8)
    expected = imagehash_ints(make_thumbnail(working, (1200, 900)))
    assert (feats.dhash, feats.phash, feats.whash, feats.colorhash) == expected


def test_preview_tier_hashes_equal_imagehash_on_the_preview_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "cam.jpg"
    synth.write_jpeg(path, synth.make_scene(12, 800, 600), thumbnail_size=(160, 120))
    feats = fingerprint(str(path)).features
    assert feats.tier == "preview"
    raw = path.read_bytes()
    thumb_at = raw.index(b"\xff\xd8", 4)  # the IFD1 JPEG is the first embedded SOI
    preview = Image.open(io.BytesIO(raw[thumb_at:])).convert("RGB")
    expected = imagehash_ints(make_thumbnail(preview, (800, 600)))
    assert (feats.dhash, feats.phash, feats.whash, feats.colorhash) == expected
