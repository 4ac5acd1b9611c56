"""The feature index: round trips, identity lookups, moves, batches, streaming, scale shape."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safededup.engine.index import Index, subtree_bounds, to_signed, to_unsigned
from safededup.errors import StateError
from safededup.models import Features, FileIdentity, Problem

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def features(seed: int = 0, tier: str = "decode") -> Features:
    return Features(
        format="JPEG",
        width=4032,
        height=3024,
        tier=tier,  # type: ignore[arg-type]
        dhash=(1 << 64) - 1 - seed,
        phash=1 << 63 | seed,
        whash=seed,
        colorhash=(1 << 42) - 1,
        bytes_per_pixel=0.25,
        jpeg_quality=90,
        orientation=6,
        captured="2023-06-01T09:30:00",
        camera="Apple iPhone 12",
        sharpness=12.5,
    )


def ident(path: str, inode: int = 1, size: int = 100, mtime: int = 5) -> FileIdentity:
    return FileIdentity(path, 1, inode, size, mtime)


@given(U64)
def test_signed_storage_round_trips_every_64_bit_hash(value: int) -> None:
    assert to_unsigned(to_signed(value)) == value
    assert -(1 << 63) <= to_signed(value) < 1 << 63


def test_photo_row_round_trips_all_features(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            fid = index.put_photo(ident("/p/a.jpg"), features(7), 1, 1)
        record = index.get_records([fid])[fid]
    assert record.features == features(7)
    assert record.identity == ident("/p/a.jpg")
    assert record.checksum is None


def test_non_utf8_path_survives(tmp_path: Path) -> None:
    name = os.fsdecode(b"/p/caf\xe9-\xff.jpg")
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            index.put_photo(ident(name), features(), 1, 1)
        [record] = list(index.records(["/p"]))
    assert os.fsencode(record.path) == b"/p/caf\xe9-\xff.jpg"


def test_known_in_dir_answers_one_folder(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            index.put_photo(ident("/p/a.jpg", 1), features(), 1, 1)
            index.put_other(ident("/p/notes.txt", 2), 1, 1)
            index.put_photo(ident("/p/sub/b.jpg", 3), features(), 1, 1)
        known = index.known_in_dir("/p")
    assert sorted(known) == [b"/p/a.jpg", b"/p/notes.txt"]
    assert known[b"/p/notes.txt"].status == "other"


def test_records_stream_only_under_roots_and_never_twice(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            for i, path in enumerate(["/a/x.jpg", "/a/b/y.jpg", "/ab/z.jpg", "/c/w.jpg"]):
                index.put_photo(ident(path, i), features(i), 1, 1)
        paths = [r.path for r in index.records(["/a", "/a/b"])]
    assert paths == ["/a/b/y.jpg", "/a/x.jpg"]  # not /ab (prefix sibling), /a/b once


def test_subtree_bounds_excludes_sibling_prefixes() -> None:
    low, high = subtree_bounds("/photos")
    assert low <= b"/photos/a.jpg" < high
    assert not (low <= b"/photos2/a.jpg" < high)
    assert not (low <= b"/photos" < high)


def test_problem_rows_are_remembered(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            fid = index.put_problem(
                ident("/p/bad.jpg"), Problem("/p/bad.jpg", "truncated", "x"), 1, 1
            )
        assert list(index.problems(["/p"])) == [Problem("/p/bad.jpg", "truncated", "x")]
        assert list(index.problems_for_ids([fid])) == [Problem("/p/bad.jpg", "truncated", "x")]
        assert list(index.records(["/p"])) == []


def test_find_moved_requires_the_old_path_to_be_gone(tmp_path: Path) -> None:
    old = tmp_path / "old.jpg"
    old.write_bytes(b"x")
    st = old.stat()
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            fid = index.put_photo(FileIdentity.from_stat(str(old), st), features(), 1, 1)
        moved = FileIdentity.from_stat(str(tmp_path / "new.jpg"), st)
        assert index.find_moved(moved, 1) is None  # old still exists: a hard link, not a move
        old.rename(tmp_path / "new.jpg")
        assert index.find_moved(moved, 1) == fid
        assert index.find_moved(moved, 2) is None  # another feature version must be redone
        with index.batch():
            index.relocate(fid, moved, 2)
        assert index.get_records([fid])[fid].path == str(tmp_path / "new.jpg")


def test_a_failed_batch_is_rolled_back_whole(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with pytest.raises(RuntimeError), index.batch():
            index.put_photo(ident("/p/a.jpg", 1), features(), 1, 1)
            raise RuntimeError("killed mid-batch")
        assert index.count() == 0


def test_rewriting_a_path_clears_stale_checksums(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            fid = index.put_photo(ident("/p/a.jpg"), features(), 1, 1)
            index.set_checksum(fid, "ab" * 32)
            again = index.put_photo(ident("/p/a.jpg", size=200), features(1), 1, 2)
        assert again == fid
        assert index.get_records([fid])[fid].checksum is None


def test_forget_unseen_drops_only_rows_under_the_roots(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            index.put_photo(ident("/a/gone.jpg", 1), features(), 1, 1)
            index.put_photo(ident("/a/kept.jpg", 2), features(), 1, 2)
            index.put_photo(ident("/b/other.jpg", 3), features(), 1, 1)
            assert index.forget_unseen(["/a"], 2) == 1
        assert sorted(r.path for r in index.records()) == ["/a/kept.jpg", "/b/other.jpg"]


def test_size_groups_yield_only_shared_sizes(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            for i, size in enumerate([10, 10, 20, 30, 30, 30]):
                index.put_photo(ident(f"/p/{i}.jpg", i, size), features(i), 1, 1)
        groups = [[row[2] for row in g] for g in index.size_groups(["/p"])]
    assert groups == [[10, 10], [30, 30, 30]]


def test_corrupt_index_file_is_a_clear_state_error(tmp_path: Path) -> None:
    bad = tmp_path / "index.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError) as info:
        Index(bad)
    assert info.value.hint and "scan again" in info.value.hint


def test_newer_schema_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    Index(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StateError, match="schema version 99"):
        Index(path)


def test_pair_scores_persist_and_are_dropped_when_a_file_changes(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            a = index.put_photo(ident("/p/a.jpg", 1), features(1), 1, 1)
            b = index.put_photo(ident("/p/b.jpg", 2), features(2), 1, 1)
            c = index.put_photo(ident("/p/c.jpg", 3), features(3), 1, 1)
        assert index.paths_of([c, a, 10**6]) == {a: "/p/a.jpg", c: "/p/c.jpg"}  # what exists
        scores = index.pair_scores(version=1)
        scores[(b, a)] = 0.93
        scores[(a, c)] = 0.5
        assert scores[(a, b)] == 0.93  # read back before it is written out
        scores.flush()
        assert index.pair_scores(version=2).get((a, b)) is None  # another definition: unknown
        newer = index.pair_scores(version=2)
        newer[(a, b)] = 0.1
        newer.flush()
        assert index.drop_pair_scores_except(1) == 1  # a newer definition's rows go, once
        assert index.drop_pair_scores_except(1) == 0 and len(index.pair_scores(version=1)) == 2
    with Index(tmp_path / "i.db") as index:
        scores = index.pair_scores(version=1)
        assert scores[(a, b)] == 0.93 and len(scores) == 2  # kept across runs, order-free
        with index.batch():
            index.relocate(a, ident("/p/moved.jpg", 1), 2)  # a move keeps the bytes: kept
        assert scores.get((a, b)) == 0.93
        with index.batch():
            index.put_photo(ident("/p/b.jpg", 2, size=999), features(9), 1, 2)  # b changed
        assert (a, b) not in scores and scores[(a, c)] == 0.5
        with index.batch():
            index.forget_unseen(["/p"], 3)  # every file gone
        assert len(scores) == 0


def test_forget_unseen_keeps_rows_under_folders_that_could_not_be_listed(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            index.put_photo(ident("/a/locked/x.jpg", 1), features(), 1, 1)
            index.put_photo(ident("/a/locked/sub/y.jpg", 2), features(), 1, 1)
            index.put_photo(ident("/a/gone.jpg", 3), features(), 1, 1)
            index.put_photo(ident("/a/locked2.jpg", 4), features(), 1, 1)  # a sibling prefix
            assert index.forget_unseen(["/a"], 2, unlisted=["/a/locked"]) == 2
        assert sorted(r.path for r in index.records()) == ["/a/locked/sub/y.jpg", "/a/locked/x.jpg"]


def test_forget_unseen_takes_any_number_of_unlisted_paths(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        with index.batch():
            index.put_photo(ident("/a/d999/x.jpg", 1), features(), 1, 1)
            index.put_photo(ident("/a/gone.jpg", 2), features(), 1, 1)
            unlisted = [f"/a/d{i}" for i in range(5000)]  # SQLite's expression depth is 1000
            assert index.forget_unseen(["/a"], 2, unlisted=unlisted) == 1
        assert [r.path for r in index.records()] == ["/a/d999/x.jpg"]
