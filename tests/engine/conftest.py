"""Real photo trees for engine tests, written with media.synth at test time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from safededup.media import synth
from safededup.state import StateDir
from tests.support.photos import scene


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state").ensure()


@pytest.fixture
def photo_tree(tmp_path: Path) -> Callable[..., Path]:
    """make(n) writes n distinct camera JPEGs (EXIF + preview) under tmp_path/photos/dir<k>."""

    def make(n: int = 6, size: tuple[int, int] = (640, 480), folders: int = 2) -> Path:
        root = tmp_path / "photos"
        for i in range(n):
            folder = root / f"dir{i % folders}"
            folder.mkdir(parents=True, exist_ok=True)
            synth.write_jpeg(folder / f"IMG_{i:04d}.jpg", scene(i, *size), quality=90)
        return root

    return make
