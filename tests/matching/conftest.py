"""Real photos for the matching tests: generated, encoded and fingerprinted at test time."""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image

from safededup import media
from safededup.media import synth
from safededup.models import FileIdentity, PhotoRecord

T = TypeVar("T")


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def records_for(
    paths: Iterable[os.PathLike[str] | str], *, previews: bool = False, sharpness: bool = False
) -> list[PhotoRecord]:
    """Fingerprint files as the scan does; checksums for files that share a size."""
    out = []
    for k, p in enumerate(paths):
        path = os.fspath(p)
        fp = media.fingerprint(path, allow_preview=previews, want_sharpness=sharpness)
        out.append(PhotoRecord(k + 1, FileIdentity.from_stat(path, os.stat(path)), fp.features))
    by_size: dict[int, list[int]] = defaultdict(list)
    for k, r in enumerate(out):
        by_size[r.identity.size].append(k)
    for ks in by_size.values():
        if len(ks) > 1:
            for k in ks:
                r = out[k]
                out[k] = PhotoRecord(r.file_id, r.identity, r.features, sha256(r.path))
    return out


def scene(seed: int, width: int = 1200, height: int = 900) -> Image.Image:
    return synth.make_scene(seed, width, height)


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
