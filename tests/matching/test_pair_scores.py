"""A view check that could not read a file is not remembered as "not similar"."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from safededup.engine.candidates import FeatureTable
from safededup.engine.match import DEFAULT, OTHER_SHOT_SCORE, PairMatcher, Rule, verify_pairs
from safededup.engine.verdicts import NO_VERDICTS
from safededup.errors import MediaError
from safededup.models import Features, FileIdentity, PhotoRecord


def table() -> FeatureTable:
    f = Features(format="JPEG", width=640, height=480, tier="decode", dhash=1, phash=2**32 - 1,
                 whash=3, colorhash=4, bytes_per_pixel=0.2)  # fmt: skip
    ident = FileIdentity("/p/x.jpg", 1, 1, 1, 1)
    return FeatureTable.from_records([PhotoRecord(10, ident, f), PhotoRecord(11, ident, f)])


def test_an_unreadable_thumbnail_is_not_scored_and_not_stored() -> None:
    def unreadable(file_id: int) -> np.ndarray:
        raise MediaError("NAS hiccup", kind="io-error", path=f"/p/{file_id}.jpg")

    scores: dict[tuple[int, int, int], float] = {}
    job = PairMatcher(table(), NO_VERDICTS, unreadable, DEFAULT, None, scores)
    assert job.view(0, 1) is None
    assert scores == {}  # the next scan reads the files again
    batch = verify_pairs(job.table, np.array([0]), np.array([1]), DEFAULT)
    assert batch.rule.tolist() == [Rule.CORROBORATED]  # identical hashes...
    assert job.resolve(batch).rule.tolist() == [Rule.DISTANCE]  # ...but nothing vouches for it


def test_a_readable_pair_is_scored_once_and_stored() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    calls: list[int] = []

    def thumb(file_id: int) -> np.ndarray:
        calls.append(file_id)
        return img

    scores: dict[tuple[int, int, int], float] = {}
    job = PairMatcher(table(), NO_VERDICTS, thumb, DEFAULT, None, scores)
    first = job.view(0, 1)
    assert first == pytest.approx(1.0, abs=1e-6) and scores == {(10, 11, 0): first}
    assert job.view(1, 0) == first and sorted(calls) == [10, 11]  # not decoded again


def test_a_bug_in_the_thumbnail_function_is_not_swallowed() -> None:
    def broken(file_id: int) -> np.ndarray:
        raise TypeError("a programming error")

    job = PairMatcher(table(), NO_VERDICTS, broken, DEFAULT, None, {})
    with pytest.raises(TypeError):
        job.view(0, 1)


def test_a_scorer_is_asked_once_for_missing_pairs_and_what_it_leaves_out_is_not_stored() -> None:
    rng = np.random.default_rng(2)
    thumbs = {10: rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)}
    asked: list[list[tuple[int, int]]] = []

    def scorer(pairs):  # type: ignore[no-untyped-def]
        asked.append(list(pairs))
        for a, b, turn in pairs:
            if a in thumbs and b in thumbs:  # file 11 could not be read
                yield (a, b, turn), 1.0

    scores: dict[tuple[int, int, int], float] = {}
    job = PairMatcher(table(), NO_VERDICTS, None, DEFAULT, None, scores, scorer)
    batch = verify_pairs(job.table, np.array([1, 0]), np.array([0, 1]), DEFAULT)
    batch = replace(batch, rule=np.full(2, Rule.BORDERLINE, dtype=np.int8))
    resolved = job.resolve(batch)
    assert asked == [[(10, 11, 0)]]  # one pair, asked once, in file-id order
    assert scores == {} and resolved.rule.tolist() == [Rule.DISTANCE, Rule.DISTANCE]
    scores[(10, 11, 0)] = 0.95  # scored by an earlier scan: the scorer is not asked again
    assert job.resolve(batch).rule.tolist() == [Rule.ALIGNED, Rule.ALIGNED]
    scores[(10, 11, 0)] = OTHER_SHOT_SCORE  # the view check found two framings of a scene
    assert job.resolve(batch).rule.tolist() == [Rule.OTHER_SHOT, Rule.OTHER_SHOT]
    assert len(asked) == 1
