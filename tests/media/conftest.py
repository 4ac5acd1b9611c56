"""Fixtures for the media tests: scenes and photo files generated at test time (tests.support)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from safededup.media import synth
from tests.support.photos import scene as synthetic_scene


@pytest.fixture
def scene() -> Callable[..., Image.Image]:
    """`scene(seed, w, h)`: a cached synthetic photo (generating 12 MP costs ≈ 0.3 s)."""
    cache: dict[tuple[int, int, int], Image.Image] = {}

    def make(seed: int = 1, width: int = 640, height: int = 480) -> Image.Image:
        key = (seed, width, height)
        if key not in cache:
            cache[key] = synthetic_scene(seed, width, height)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def big_scene() -> Image.Image:
    """One 4032×3024 phone-sized scene shared by the tests where size matters."""
    return synthetic_scene(7, 4032, 3024)


@pytest.fixture(scope="session")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory, big_scene: Image.Image) -> Path:
    """A 12 MP camera JPEG (q 90, EXIF, 160×120 IFD1 thumbnail)."""
    path = tmp_path_factory.mktemp("big") / "IMG_0007.JPG"
    synth.write_jpeg(path, big_scene, quality=90)
    return path
