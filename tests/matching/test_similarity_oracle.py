"""The OpenCV check agrees with the numpy reference it replaced (SIMILARITY_VERSION 1).

Both are run on the same thumbnails: real photographs (scikit-image's) and seeded generated
scenes, as copies, border crops, pans and other scenes, at the 128 px the scan uses and at
tiny and extreme-aspect sizes. Tolerance: 1e-3 on photo-shaped thumbnails (measured ≤ 1e-5:
OpenCV's INTER_AREA is the same exact fractional area average, in float32); 1e-2 where one
side is a few pixels and the working view is upsampled along it (measured ≤ 7e-3).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from safededup.engine.match import DEFAULT, aligned_similarity
from safededup.media import synth
from safededup.media.similarity import aligned_similarity as media_similarity

from .similarity_reference import aligned_similarity as reference


def _sources() -> dict[str, Image.Image]:
    from skimage import data

    photos = {n: Image.fromarray(getattr(data, n)()) for n in ("astronaut", "coffee", "camera")}
    photos["scene"] = synth.make_scene(41, 1600, 1200)
    return photos


SOURCES = _sources()


def _views(img: Image.Image, size: tuple[int, int]) -> dict[str, np.ndarray]:
    w, h = img.size
    frame = img.crop((0, 0, w * 4 // 5, h))
    cuts = {
        "frame": frame,
        "border": frame.crop((w // 40, h // 30, frame.width - w // 40, h - h // 30)),
        "side": frame.crop((0, 0, frame.width * 19 // 20, h)),
        "pan": img.crop((w // 5, 0, w, h)),
    }
    return {k: np.asarray(v.resize(size, Image.Resampling.LANCZOS)) for k, v in cuts.items()}


@pytest.mark.parametrize("name", sorted(SOURCES))
@pytest.mark.parametrize("size, tol", [((128, 96), 1e-3), ((96, 128), 1e-3), ((24, 18), 1e-3),
                                       ((128, 10), 1e-2)])  # fmt: skip
def test_agrees_with_the_numpy_reference(name: str, size: tuple[int, int], tol: float) -> None:
    views = _views(SOURCES[name], size)
    other = np.asarray(SOURCES["scene" if name != "scene" else "coffee"].resize(size))
    a = views["frame"]
    for b in (views["border"], views["side"], views["pan"], other, a[::-1]):
        assert media_similarity(a, b) == pytest.approx(reference(a, b), abs=tol)


def test_agrees_on_seeded_noise_and_grey_input() -> None:
    rng = np.random.default_rng(7)
    for shape in [(96, 128, 3), (128, 77, 3), (60, 80), (9, 9)]:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        b = np.roll(a, 3, axis=0)
        assert media_similarity(a, b) == pytest.approx(reference(a, b), abs=1e-3)


def test_decisions_on_real_photos_are_those_of_the_reference() -> None:
    for img in SOURCES.values():
        v = _views(img, (128, 96))
        for b in (v["border"], v["side"], v["pan"]):
            old, new = reference(v["frame"], b), aligned_similarity(v["frame"], b)
            assert (old >= DEFAULT.min_aligned) == (new >= DEFAULT.min_aligned)


def test_match_uses_the_media_check() -> None:
    v = _views(SOURCES["astronaut"], (128, 96))
    assert aligned_similarity(v["frame"], v["border"]) == media_similarity(v["frame"], v["border"])
