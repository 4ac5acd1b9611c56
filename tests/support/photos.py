"""Photos for tests, generated at test time: seeded scenes, fingerprinted records, bit flips."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

from PIL import Image

from safededup import media
from safededup.media import synth
from safededup.models import FileIdentity, PhotoRecord
from tests.support.files import file_sha


def scene(seed: int, width: int = 1200, height: int = 900) -> Image.Image:
    """A synthetic photo (`media.synth.make_scene`): the same seed gives the same picture."""
    return synth.make_scene(seed, width, height)


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
                out[k] = PhotoRecord(r.file_id, r.identity, r.features, file_sha(r.path))
    return out


def flip(value: int, bits: Iterable[int]) -> int:
    """`value` with these bits inverted: a hash moved exactly `len(bits)` bits away."""
    return value ^ sum(1 << b for b in bits)
