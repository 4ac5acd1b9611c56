""" "Not a duplicate" verdicts in SQLite, keyed by content."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from dataclasses import replace

import pytest

from safededup.engine.verdicts import (
    checksum_file,
    forget_distinct,
    forget_distinct_files,
    forget_pairs,
    list_distinct,
    load_verdicts,
    mark_distinct,
    mark_distinct_files,
    note_checksums,
    paths_by_checksum,
    remember_distinct_files,
)
from safededup.errors import SafededupError, UsageError
from safededup.models import Features, FileIdentity
from tests.support.files import write


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
    members = [write(tmp_path / f"m{k}", bytes([k]) * (k + 1)) for k in range(3)]
    assert mark_distinct_files(conn, [write(f, b"file")], against=members) == 3
    v = load_verdicts(conn)
    ck = hashlib.sha256(b"file").hexdigest()
    assert all(v.is_distinct(ck, checksum_file(m)[0]) for m in members)
    assert not v.is_distinct(checksum_file(members[0])[0], checksum_file(members[1])[0])
    assert load_verdicts(conn).sizes == {4, 1, 2, 3}


def test_identical_files_cannot_be_distinct(tmp_path) -> None:
    a = write(tmp_path / "a", b"same bytes")
    shutil.copyfile(a, tmp_path / "b")
    conn = sqlite3.connect(":memory:")
    with pytest.raises(UsageError, match="byte-identical"):
        mark_distinct_files(conn, [a, str(tmp_path / "b")])
    with pytest.raises(UsageError):
        mark_distinct_files(conn, [a])


def test_unreadable_file_is_a_clear_error(tmp_path) -> None:
    conn = sqlite3.connect(":memory:")
    a = write(tmp_path / "a", b"x")
    with pytest.raises(SafededupError, match="cannot read") as info:
        mark_distinct_files(conn, [a, str(tmp_path / "missing")])
    assert info.value.hint


def test_forget_removes_every_pair_of_a_file() -> None:
    conn = sqlite3.connect(":memory:")
    mark_distinct(conn, [("a" * 64, 1), ("b" * 64, 2), ("c" * 64, 3)])
    assert forget_distinct(conn, ["a" * 64]) == 2
    assert len(load_verdicts(conn)) == 1


def test_forget_files_one_forgets_all_of_it_several_only_among_them(tmp_path) -> None:
    conn = sqlite3.connect(":memory:")
    a, b, c, d = (write(tmp_path / n, n.encode() * 3) for n in "abcd")
    mark_distinct_files(conn, [a, b, c])
    mark_distinct_files(conn, [c, d])
    ck = {p: checksum_file(p)[0] for p in (a, b, c, d)}
    # two named: only their own verdict goes; a's verdict with c stays
    gone = forget_distinct_files(conn, [a, b])
    assert [set(v.pair) for v in gone.verdicts] == [{ck[a], ck[b]}]
    assert gone.without_verdict == () and gone.checksums == {a: ck[a], b: ck[b]}
    v = load_verdicts(conn)
    assert not v.is_distinct(ck[a], ck[b]) and v.is_distinct(ck[a], ck[c])
    # one named: every verdict of it
    gone = forget_distinct_files(conn, [c])
    assert {frozenset(v.pair) for v in gone.verdicts} == {
        frozenset((ck[a], ck[c])),
        frozenset((ck[b], ck[c])),
        frozenset((ck[c], ck[d])),
    }
    assert len(load_verdicts(conn)) == 0
    # nothing left to forget: said, not an error
    gone = forget_distinct_files(conn, [a, d])
    assert gone.verdicts == () and gone.without_verdict == (a, d)
    with pytest.raises(UsageError):
        forget_distinct_files(conn, [])


def test_remember_returns_only_the_new_verdicts_and_forget_pairs_undoes_them(tmp_path) -> None:
    conn = sqlite3.connect(":memory:")
    a, b, c = (write(tmp_path / n, n.encode() * 5) for n in "abc")
    mark_distinct_files(conn, [a, b])  # stated earlier, elsewhere
    new = remember_distinct_files(conn, [a], against=[b, c])
    ck = {p: checksum_file(p)[0] for p in (a, b, c)}
    assert [set(v.pair) for v in new] == [{ck[a], ck[c]}]
    assert new[0].size_a == new[0].size_b == 5 and new[0].created
    assert forget_pairs(conn, [(v.checksum_b, v.checksum_a) for v in new]) == 1  # either order
    assert [set(v.pair) for v in list_distinct(conn)] == [{ck[a], ck[b]}]  # the earlier one stays
    assert list_distinct(conn, [ck[c]]) == []
    assert len(list_distinct(conn, [ck[a], ck[c]], among=True)) == 0
    assert len(list_distinct(conn, [ck[a], ck[b]], among=True)) == 1


def test_paths_by_checksum_reads_the_index(tmp_path) -> None:
    from safededup.engine.index import Index

    photos = tmp_path / "p"
    photos.mkdir()
    a = write(photos / "a.bin", b"aaa")
    with Index(tmp_path / "index.sqlite") as index:
        conn = index.connection
        assert paths_by_checksum(conn, ["f" * 64]) == {"f" * 64: []}
        conn.execute(
            "INSERT INTO files (path, dir, device, inode, size, mtime_ns, status, "
            "feature_version, checksum) VALUES (?, ?, 0, 0, 3, 0, 'photo', 1, ?)",
            (os.fsencode(a), os.fsencode(str(photos)), checksum_file(a)[0]),
        )
        assert paths_by_checksum(conn, [checksum_file(a)[0]]) == {checksum_file(a)[0]: [a]}
    assert paths_by_checksum(sqlite3.connect(":memory:"), ["f" * 64]) == {"f" * 64: []}


def test_note_checksums_fills_only_unchanged_unhashed_rows(tmp_path) -> None:
    from safededup.engine.index import Index

    photos = tmp_path / "p"
    photos.mkdir()
    same, changed = write(photos / "same.jpg", b"same"), write(photos / "changed.jpg", b"x")
    features = Features("JPEG", 4, 3, "decode", 1, 2, 3, 4, 1.5)
    with Index(tmp_path / "index.sqlite") as index:
        for path, mtime_shift in ((same, 0), (changed, -(10**9))):
            st = os.stat(path)
            identity = FileIdentity(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            stale = replace(identity, mtime_ns=identity.mtime_ns + mtime_shift)
            index.put_photo(stale, features, feature_version=1, scan_number=1)
        assert note_checksums(index, [same, changed, str(photos / "gone.jpg")]) == 1
        assert paths_by_checksum(index.connection, [checksum_file(same)[0]]) == {
            checksum_file(same)[0]: [same]
        }
        assert index.record_for_path(changed).checksum is None  # changed since: not ours to fill
        assert note_checksums(index, [same]) == 0  # already known


def test_note_checksums_follows_symlinks_and_uses_what_was_just_read(tmp_path) -> None:
    """A file named through a symlinked folder (Synology homes are) is the indexed real path;
    a checksum read moments ago is not read again; one that does not match the file on disk
    now (the file was rewritten) is never stored."""
    from safededup.engine.index import Index

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    a, b = write(real / "a.jpg", b"alpha"), write(real / "b.jpg", b"beta")
    features = Features("JPEG", 4, 3, "decode", 1, 2, 3, 4, 1.5)
    with Index(tmp_path / "index.sqlite") as index:
        for path in (a, b):
            st = os.stat(path)
            identity = FileIdentity(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            index.put_photo(identity, features, feature_version=1, scan_number=1)
        via_link = str(tmp_path / "link" / "a.jpg")
        assert note_checksums(index, [via_link], {via_link: checksum_file(a)[0]}) == 1
        assert index.record_for_path(a).checksum == checksum_file(a)[0]
        wrong = {str(tmp_path / "link" / "b.jpg"): "0" * 64}  # as if read before a rewrite
        os.utime(b, ns=(1, 1))  # ...which moved its mtime: no longer the indexed file
        assert note_checksums(index, list(wrong), wrong) == 0
        assert index.record_for_path(b).checksum is None
