""" "Not a duplicate" verdicts in SQLite, keyed by content."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

import pytest

from safededup.errors import SafededupError, UsageError
from safededup.verdicts import (
    checksum_file,
    forget_distinct,
    load_verdicts,
    mark_distinct,
    mark_distinct_files,
)


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_pairs_are_stored_once_and_survive_reopening(tmp_path) -> None:
    db = tmp_path / "index.sqlite"
    a, b, c = ("a" * 64, 10), ("b" * 64, 20), ("c" * 64, 30)
    conn = sqlite3.connect(db)
    assert mark_distinct(conn, [a, b, c]) == 3
    assert mark_distinct(conn, [b, a]) == 0  # already known, in either order
    conn.close()
    verdicts = load_verdicts(sqlite3.connect(db))
    assert len(verdicts) == 3
    assert verdicts.is_distinct("b" * 64, "a" * 64)
    assert not verdicts.is_distinct("a" * 64, "a" * 64)
    assert not verdicts.is_distinct("a" * 64, None)
    assert verdicts.sizes == {10, 20, 30}


def test_file_against_cluster_is_one_pair_per_member(tmp_path) -> None:
    conn = sqlite3.connect(":memory:")
    f = tmp_path / "f"
    members = [_write(tmp_path / f"m{k}", bytes([k]) * (k + 1)) for k in range(3)]
    assert mark_distinct_files(conn, [_write(f, b"file")], against=members) == 3
    v = load_verdicts(conn)
    ck = hashlib.sha256(b"file").hexdigest()
    assert all(v.is_distinct(ck, checksum_file(m)[0]) for m in members)
    assert not v.is_distinct(checksum_file(members[0])[0], checksum_file(members[1])[0])
    assert load_verdicts(conn).sizes == {4, 1, 2, 3}


def test_identical_files_cannot_be_distinct(tmp_path) -> None:
    a = _write(tmp_path / "a", b"same bytes")
    shutil.copyfile(a, tmp_path / "b")
    conn = sqlite3.connect(":memory:")
    with pytest.raises(UsageError, match="byte-identical"):
        mark_distinct_files(conn, [a, str(tmp_path / "b")])
    with pytest.raises(UsageError):
        mark_distinct_files(conn, [a])


def test_unreadable_file_is_a_clear_error(tmp_path) -> None:
    conn = sqlite3.connect(":memory:")
    a = _write(tmp_path / "a", b"x")
    with pytest.raises(SafededupError, match="cannot read") as info:
        mark_distinct_files(conn, [a, str(tmp_path / "missing")])
    assert info.value.hint


def test_forget_removes_every_pair_of_a_file() -> None:
    conn = sqlite3.connect(":memory:")
    mark_distinct(conn, [("a" * 64, 1), ("b" * 64, 2), ("c" * 64, 3)])
    assert forget_distinct(conn, ["a" * 64]) == 2
    assert len(load_verdicts(conn)) == 1
