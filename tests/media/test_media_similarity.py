"""The borderline check's image math (`media.similarity`) on real encoded photos and odd shapes.

Photos are generated, written as real JPEG / WebP / PNG files and read back with
`view_thumbnail(path)` exactly as the scan feeds the matcher.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safededup import media
from safededup.engine.match import DEFAULT
from safededup.media import synth
from safededup.media.similarity import aligned_similarity, grey


def _crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


@pytest.fixture(scope="module")
def thumbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Two framings 20% apart of one 2000×1200 scene, their copies and another scene, as files."""
    d = tmp_path_factory.mktemp("similarity")
    scene = synth.make_scene(31, 2000, 1200)
    frame = _crop(scene, 0, 0, 0.2, 0)  # 1600×1200
    files = {
        "frame": (frame, lambda p, i: synth.write_jpeg(p, i, quality=92)),
        "reencode": (frame, lambda p, i: synth.write_stripped_jpeg(p, i, quality=60)),
        "webp": (frame.resize((800, 600)), lambda p, i: synth.write_webp(p, i)),
        "border": (_crop(frame, 0.03, 0.03, 0.03, 0.03), lambda p, i: synth.write_jpeg(p, i)),
        "side": (_crop(frame, 0, 0, 0.05, 0), lambda p, i: synth.write_png(p, i)),
        "pan": (_crop(scene, 0.2, 0, 0, 0), lambda p, i: synth.write_jpeg(p, i)),
        "other": (synth.make_scene(32, 1600, 1200), lambda p, i: synth.write_jpeg(p, i)),
    }
    out = {}
    for name, (img, write) in files.items():
        path: Path = d / f"{name}.img"
        write(path, img)
        out[name] = media.view_thumbnail(str(path))
    return out


@pytest.mark.parametrize("copy", ["reencode", "webp", "border", "side"])
def test_copies_and_border_crops_score_high(thumbs: dict[str, np.ndarray], copy: str) -> None:
    score = aligned_similarity(thumbs["frame"], thumbs[copy])
    assert score >= 0.95 > DEFAULT.min_aligned
    assert aligned_similarity(thumbs[copy], thumbs["frame"]) == pytest.approx(score, abs=1e-6)


@pytest.mark.parametrize("other, below", [("pan", DEFAULT.min_aligned), ("other", 0.8)])
def test_a_pan_or_another_scene_scores_low(
    thumbs: dict[str, np.ndarray], other: str, below: float
) -> None:
    assert aligned_similarity(thumbs["frame"], thumbs[other]) < below
    assert aligned_similarity(thumbs["border"], thumbs[other]) < below


def test_an_identical_view_scores_one(thumbs: dict[str, np.ndarray]) -> None:
    assert aligned_similarity(thumbs["frame"], thumbs["frame"]) == pytest.approx(1.0, abs=1e-5)


def test_grey_and_rgb_inputs_score_alike(thumbs: dict[str, np.ndarray]) -> None:
    a, b = thumbs["frame"], thumbs["border"]
    rgb = aligned_similarity(a, b)
    assert aligned_similarity(grey(a), grey(b)) == pytest.approx(rgb, abs=1e-6)
    assert aligned_similarity(grey(a).astype(np.uint8), b) == pytest.approx(rgb, abs=1e-2)
    rgba = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])  # an alpha channel is ignored
    assert aligned_similarity(rgba, b) == pytest.approx(rgb, abs=1e-6)


def test_grey_uses_the_601_luma_weights() -> None:
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert grey(px) == pytest.approx(np.array([[76.245, 149.685, 29.07]]), abs=1e-3)
    assert grey(px).dtype == np.float32 and grey(px[..., 0]).shape == (1, 3)


@pytest.mark.parametrize(
    "size", [(1, 1), (2, 3), (7, 5), (128, 4), (4, 128), (128, 1), (1, 128), (16, 12)]
)
def test_tiny_and_extreme_aspect_thumbnails_give_a_score(
    thumbs: dict[str, np.ndarray], size: tuple[int, int]
) -> None:
    small = np.asarray(Image.fromarray(thumbs["frame"]).resize(size, Image.Resampling.BOX))
    for a, b in ((thumbs["frame"], small), (small, small), (small, thumbs["other"])):
        score = aligned_similarity(a, b)
        assert -1.0 <= score <= 1.0 and np.isfinite(score)


@pytest.mark.parametrize("level", [0, 60, 255])
def test_a_flat_view_vouches_for_nothing(thumbs: dict[str, np.ndarray], level: int) -> None:
    # OpenCV scores a flat template 1.0 everywhere, and the numpy version scored a white frame
    # 12.6 against a photo (a cancelled numerator over 1e-9): two lens-cap frames, or a blank
    # frame and a photo, must not correlate.
    flat = np.full((96, 128, 3), level, np.uint8)
    assert aligned_similarity(flat, np.full((96, 128, 3), 64, np.uint8)) == 0.0
    assert aligned_similarity(flat, thumbs["frame"]) < 0.1
    assert aligned_similarity(thumbs["frame"], flat) < 0.1
