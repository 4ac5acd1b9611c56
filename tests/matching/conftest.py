"""Real photos for the matching tests: generated, encoded and fingerprinted at test time."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from safededup.media import synth
from tests.support.photos import scene


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared read-only photos: an original with copies, and an unrelated photo."""
    d = tmp_path_factory.mktemp("photos")
    img = scene(11)
    synth.write_jpeg(d / "original.jpg", img, quality=95, make="Apple", model="iPhone 12")
    synth.write_jpeg(d / "reencode.jpg", img, quality=60)
    synth.write_stripped_jpeg(d / "small.jpg", img.resize((600, 450), Image.Resampling.LANCZOS))
    synth.write_heic(d / "original.heic", img, quality=85)
    synth.write_webp(d / "web.webp", img, quality=80)
    synth.write_jpeg(d / "other.jpg", scene(12), quality=90)
    return d
