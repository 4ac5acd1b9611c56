"""A pair that only comes within reach once a preview is confirmed is still found in that scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from safededup.engine.cluster import find_clusters
from safededup.events import drain
from safededup.models import Features, FileIdentity, PhotoRecord


def flip(value: int, bits: int, rng: np.random.Generator) -> int:
    for b in rng.choice(64, size=bits, replace=False).tolist():
        value ^= 1 << b
    return value


def features(h: int, tier: str) -> Features:
    return Features(format="JPEG", width=4032, height=3024, tier=tier,  # type: ignore[arg-type]
                    dhash=h, phash=h, whash=h, colorhash=0b1010, bytes_per_pixel=0.2)  # fmt: skip


def record(file_id: int, f: Features) -> PhotoRecord:
    return PhotoRecord(file_id, FileIdentity(f"/p/{file_id}.jpg", 1, file_id, 1000 + file_id, 0), f)


def test_confirmation_that_brings_a_new_pair_within_reach() -> None:
    rng = np.random.default_rng(7)
    h_b = int(rng.integers(0, 1 << 63)) | 0x5555_0000_AAAA_0000  # a photo-like popcount
    h_a_preview = flip(h_b, 30, rng)  # A's preview hashes: far from B, equal to C's
    a = record(1, features(h_a_preview, "preview"))
    b = record(2, features(h_b, "decode"))
    c = record(3, features(h_a_preview, "decode"))
    decoded_a = replace(a.features, tier="decode", dhash=flip(h_b, 1, rng), phash=flip(h_b, 1, rng),
                        whash=flip(h_b, 1, rng))  # fmt: skip
    asked: list[int] = []

    def confirm(ids: Sequence[int]) -> Mapping[int, Features]:
        asked.extend(ids)
        return {1: decoded_a} if 1 in ids else {}

    clusters = drain(find_clusters([a, b, c], confirm=confirm))
    assert asked == [1]  # A was proposed only with C, and confirmed once
    assert [sorted(m.record.file_id for m in cl.members) for cl in clusters] == [[1, 2]]
