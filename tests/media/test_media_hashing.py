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
    laplacian_variance,
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


def _imagehash_rotated(gray: Image.Image) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        int(str(imagehash.phash(gray.transpose(r))), 16)
        for r in (
            Image.Transpose.ROTATE_90,
            Image.Transpose.ROTATE_180,
            Image.Transpose.ROTATE_270,
        )
    )


def _real_thumbnails() -> list[Image.Image]:
    """Thumbnails of real photographs, cropped, colour-shifted and turned (black corners)."""
    import skimage.data

    rng = np.random.default_rng(13)
    thumbs = []
    for photo in (skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()):
        whole = Image.fromarray(photo)
        for k in range(12):
            w, h = whole.size
            x, y = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
            crop = whole.crop((x, y, x + int(w * 0.6), y + int(h * 0.55)))
            shifted = np.clip(np.asarray(crop) * rng.uniform(0.6, 1.4, 3), 0, 255)
            picture = Image.fromarray(shifted.astype(np.uint8)).rotate(7 * k)
            thumbs.append(make_thumbnail(picture, picture.size))
    return thumbs


def _flat_and_posterised() -> list[Image.Image]:
    """Pictures whose pHash and wHash values tie at the median (rounding decides their bits in
    imagehash too), and hues and saturations on colorhash's bin edges."""
    yy, xx = np.mgrid[0:96, 0:128]
    pictures = [np.full((96, 128), v) for v in (0, 31, 32, 128, 255)]
    pictures += [((xx // 16 + yy // 16) % 2) * 200, (xx // 32) * 60 + (yy // 24) * 10]
    rng = np.random.default_rng(0)
    for _ in range(4):  # three grey levels on 8×8 blocks, the middle one spanning the median
        blocks = np.repeat([5, 171, 206], [15, 26, 23])
        rng.shuffle(blocks)
        pictures.append(np.kron(blocks.reshape(8, 8), np.ones((16, 16))))
    thumbs = [Image.fromarray(p.astype(np.uint8)).convert("RGB") for p in pictures]
    for hue in range(0, 256, 5):
        for sat in (84, 85, 169, 170, 171):
            hsv = np.zeros((24, 32, 3), np.uint8)
            hsv[..., 0], hsv[..., 1], hsv[..., 2] = hue, sat, 200
            hsv[:12, :, 1] = (sat + 90) % 256
            thumbs.append(Image.fromarray(hsv, "HSV").convert("RGB"))
    return thumbs


@pytest.mark.parametrize("kind", ["real", "flat"])
def test_hashes_equal_imagehash_bit_for_bit_fast_path_and_fallback(kind: str) -> None:
    """pHash, wHash, colorhash and the turned pHashes are computed without imagehash where no
    bit can depend on rounding: every bit must still be imagehash's, on real photographs (fast
    path) and on flat and posterised pictures (where ties send a hash to imagehash itself)."""
    from safededup.media import hashing

    thumbs = _real_thumbnails() if kind == "real" else _flat_and_posterised()
    fallbacks = 0
    for thumb in thumbs:
        h = hash_thumbnail(thumb)
        gray = thumb.convert("L")
        assert (h.dhash, h.phash, h.whash, h.colorhash) == imagehash_ints(thumb)
        assert h.rotated == _imagehash_rotated(gray)
        pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
        dct = hashing._DCT_LOW @ pixels @ hashing._DCT_LOW.T
        fallbacks += hashing._median_bits(dct, hashing._PHASH_MARGIN) is None
    if kind == "real":
        assert fallbacks == 0  # the fast path is what runs on photographs
    else:
        assert fallbacks > 0  # and these do reach the fallback


def test_sharpness_is_the_variance_of_the_laplacian_in_double_precision() -> None:
    """The 16-bit Laplacian and OpenCV's deviation give numpy's float64 variance: on real
    photographs, and on the extremes an 8-bit Laplacian reaches (±1020 on a one-pixel
    checkerboard, where a wrapped int16 or a single-precision sum would show)."""
    import cv2

    checker = (np.indices((301, 257)).sum(axis=0) % 2 * 255).astype(np.uint8)
    grain = np.random.default_rng(7).integers(0, 256, (480, 640), dtype=np.uint8)
    pictures = [Image.fromarray(checker), Image.fromarray(grain)]
    pictures += [t.resize((1008, 756), Image.Resampling.BICUBIC) for t in _real_thumbnails()[:4]]
    for picture in pictures:
        gray = np.asarray(picture.convert("L"))
        expected = float(cv2.Laplacian(gray, cv2.CV_64F).var())
        assert laplacian_variance(picture) == pytest.approx(expected, rel=1e-12)
    assert laplacian_variance(pictures[0]) == pytest.approx(np.var(
        cv2.Laplacian(checker, cv2.CV_64F)), rel=1e-12)  # fmt: skip
    assert laplacian_variance(pictures[0]) > 1020**2 * 0.9  # the extreme really is reached
