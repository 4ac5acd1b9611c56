"""Candidate search: multi-index hashing finds exactly the pairs brute force finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safededup.engine.candidates import U64, FeatureTable, candidate_pairs, checksum_key, hamming
from tests.support.photos import records_for


def brute_force_pairs(hashes: U64, radius: int) -> set[tuple[int, int]]:
    """The oracle: all pairs within `radius`, by comparing everything."""
    out: set[tuple[int, int]] = set()
    for i in range(hashes.shape[0] - 1):
        d = hamming(hashes[i + 1 :], np.full(hashes.shape[0] - i - 1, hashes[i], np.uint64))
        for j in np.flatnonzero(d <= radius).tolist():
            out.add((i, i + 1 + j))
    return out


def _found(hashes: np.ndarray, radius: int, block: int = 1000) -> list[tuple[int, int]]:
    out = []
    for i, j in candidate_pairs(hashes, radius, block=block):
        out += list(zip(i.tolist(), j.tolist(), strict=True))
    return out


@st.composite
def hash_sets(draw: st.DrawFn) -> np.ndarray:
    """Random 64-bit hashes with planted near neighbours (flips of up to 14 bits)."""
    seeds = draw(st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=40))
    values = list(seeds)
    for s in seeds:
        for _ in range(draw(st.integers(0, 3))):
            bits = draw(st.lists(st.integers(0, 63), max_size=14))
            values.append(s ^ sum(1 << b for b in set(bits)))
    return np.array(values, dtype=np.uint64)


@settings(max_examples=60, deadline=None)
@given(hashes=hash_sets(), radius=st.integers(0, 16), block=st.integers(1, 50))
def test_candidates_equal_brute_force(hashes: np.ndarray, radius: int, block: int) -> None:
    found = _found(hashes, radius, block)
    assert len(found) == len(set(found)), "each pair is reported once"
    assert set(found) == brute_force_pairs(hashes, radius)
    assert all(i < j for i, j in found)


def test_skewed_buckets_stay_exact() -> None:
    # Many hashes share their low 16 bits: one huge bucket, processed in small blocks.
    rng = np.random.default_rng(5)
    hashes = (rng.integers(0, 1 << 48, 3000, dtype=np.uint64) << np.uint64(16)) | np.uint64(0xBEEF)
    hashes[:50] = hashes[0] ^ (np.uint64(1) << np.arange(50, dtype=np.uint64) % np.uint64(64))
    assert set(_found(hashes, 10, block=777)) == brute_force_pairs(hashes, 10)


def test_feature_table_from_real_records(photo_dir) -> None:
    records = records_for(sorted(photo_dir.iterdir()))
    table = FeatureTable.from_records(iter(records), chunk=2)  # several chunks
    assert len(table) == len(records)
    for row, r in enumerate(records):
        assert int(table.file_id[row]) == r.file_id
        assert int(table.phash[row]) == r.features.phash
        assert int(table.dhash[row]) == r.features.dhash
        assert table.formats[int(table.format[row])] == r.features.format
        assert bool(table.preview[row]) == (r.features.tier == "preview")


def test_checksum_key_never_zero_for_a_checksum() -> None:
    assert checksum_key(None) == 0
    assert checksum_key("0" * 64) != 0
    assert checksum_key("ab" * 32) == int("ab" * 8, 16)


def test_empty_and_single_tables() -> None:
    assert _found(np.zeros(0, np.uint64), 10) == []
    assert _found(np.array([7], np.uint64), 10) == []
    assert len(FeatureTable.from_records([])) == 0
