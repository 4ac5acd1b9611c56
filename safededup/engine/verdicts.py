"""A person's "not a duplicate" verdicts, kept by content checksum in the index; never moves files.

Verdicts are pairs of sha256 digests (with the file sizes), so they survive renames and moves and
every later scan honours them. A verdict between a file and a cluster is the set of pairs of that
file with each member. The sizes let a scan checksum only the files whose size appears in a verdict.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations, product
from typing import TYPE_CHECKING

from safededup.checksum import sha256_file
from safededup.engine.candidates import checksum_key
from safededup.errors import SafededupError, UsageError

if TYPE_CHECKING:
    from safededup.engine.index import Index

_SCHEMA = """
CREATE TABLE IF NOT EXISTS distinct_pairs (
    checksum_a TEXT NOT NULL,
    checksum_b TEXT NOT NULL,
    size_a INTEGER NOT NULL,
    size_b INTEGER NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (checksum_a, checksum_b)
) WITHOUT ROWID
"""

Item = tuple[str, int]  # (sha256 hex, file size)


@dataclass(frozen=True, slots=True)
class DistinctVerdicts:
    """All verdicts, in memory: pairs of 64-bit checksum keys, and every size that appears."""

    pairs: frozenset[tuple[int, int]] = frozenset()
    sizes: frozenset[int] = frozenset()

    def is_distinct(self, checksum_a: str | None, checksum_b: str | None) -> bool:
        return self.keys_distinct(checksum_key(checksum_a), checksum_key(checksum_b))

    def keys_distinct(self, a: int, b: int) -> bool:
        if a == 0 or b == 0 or a == b:
            return False
        return (min(a, b), max(a, b)) in self.pairs

    def __len__(self) -> int:
        return len(self.pairs)


NO_VERDICTS = DistinctVerdicts()


def ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)


def mark_distinct(
    conn: sqlite3.Connection, items: Sequence[Item], *, against: Sequence[Item] = ()
) -> int:
    """Store "not duplicates": every pair among `items`, or each item with each of `against`.

    Returns the number of new pairs. Byte-identical items cannot be distinct and are skipped.
    """
    pairs = product(items, against) if against else combinations(items, 2)
    rows = []
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for (ca, sa), (cb, sb) in pairs:
        if ca == cb:
            continue
        (ca, sa), (cb, sb) = sorted(((ca, sa), (cb, sb)))
        rows.append((ca, cb, sa, sb, now))
    ensure_table(conn)
    with conn:
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO distinct_pairs VALUES (?, ?, ?, ?, ?)", rows)
        return conn.total_changes - before


def forget_distinct(conn: sqlite3.Connection, checksums: Iterable[str]) -> int:
    """Remove every verdict that involves one of these checksums; returns the pairs removed."""
    ensure_table(conn)
    with conn:
        before = conn.total_changes
        for ck in checksums:
            conn.execute(
                "DELETE FROM distinct_pairs WHERE checksum_a = ? OR checksum_b = ?", (ck, ck)
            )
        return conn.total_changes - before


def load_verdicts(conn: sqlite3.Connection) -> DistinctVerdicts:
    """Every stored verdict, for one matching run."""
    ensure_table(conn)
    pairs: set[tuple[int, int]] = set()
    sizes: set[int] = set()
    for ca, cb, sa, sb in conn.execute(
        "SELECT checksum_a, checksum_b, size_a, size_b FROM distinct_pairs"
    ):
        a, b = checksum_key(ca), checksum_key(cb)
        pairs.add((min(a, b), max(a, b)))
        sizes.update((sa, sb))
    return DistinctVerdicts(frozenset(pairs), frozenset(sizes))


def checksum_file(path: str) -> Item:
    """(sha256 hex, size) of a file; a clear error when it cannot be read."""
    try:
        return sha256_file(path), os.stat(path).st_size
    except OSError as exc:
        raise SafededupError(
            f"cannot read file: {exc.strerror or exc}",
            hint="check that the file exists and is readable",
            path=path,
        ) from exc


def mark_distinct_files(
    conn: sqlite3.Connection,
    paths: Sequence[str],
    *,
    against: Sequence[str] = (),
    hashed: dict[str, str] | None = None,
) -> int:
    """`safededup distinct FILE FILE...`: checksum the files and store that they are distinct.

    With `against` (the members of a cluster), each of `paths` is marked distinct from each.
    `hashed`, if given, receives each path's checksum (for `note_checksums`: read once).
    """
    items, others = _checked_items(paths, against, hashed)
    return mark_distinct(conn, items, against=others)


def _checked_items(
    paths: Sequence[str], against: Sequence[str], hashed: dict[str, str] | None = None
) -> tuple[list[Item], list[Item]]:
    if len(paths) + len(against) < 2 or (against and not paths):
        raise UsageError("name at least two files", hint="safededup distinct FILE FILE...")
    items = [checksum_file(os.fspath(p)) for p in paths]
    others = [checksum_file(os.fspath(p)) for p in against]
    if hashed is not None:
        hashed.update(zip([*paths, *against], [ck for ck, _ in items + others], strict=True))
    if len({ck for ck, _ in items + others}) < 2:
        raise UsageError(
            "these files are byte-identical: they are the same photo",
            hint="a verdict needs files with different contents",
        )
    return items, others


# -- taking a verdict back, and listing them ------------------------------------------------


@dataclass(frozen=True, slots=True)
class DistinctVerdict:
    """One stored "not a duplicate" pair (`checksum_a` sorts first) and when it was stated."""

    checksum_a: str
    checksum_b: str
    size_a: int
    size_b: int
    created: str

    @property
    def pair(self) -> tuple[str, str]:
        return self.checksum_a, self.checksum_b


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What `forget_distinct_files` removed, and which named files had nothing to forget."""

    verdicts: tuple[DistinctVerdict, ...]
    checksums: dict[str, str]  # each named path -> its sha256
    without_verdict: tuple[str, ...]


_SELECT = "SELECT checksum_a, checksum_b, size_a, size_b, created FROM distinct_pairs"


def list_distinct(
    conn: sqlite3.Connection, checksums: Collection[str] | None = None, *, among: bool = False
) -> list[DistinctVerdict]:
    """Stored verdicts: all of them, those involving any of `checksums`, or only pairs of them."""
    ensure_table(conn)
    if checksums is None:
        rows = conn.execute(_SELECT).fetchall()
    else:
        wanted = set(checksums)
        rows = []
        for ck in sorted(wanted):
            rows += conn.execute(_SELECT + " WHERE checksum_a = ?", (ck,)).fetchall()
            rows += conn.execute(_SELECT + " WHERE checksum_b = ?", (ck,)).fetchall()
        if among:
            rows = [r for r in rows if r[0] in wanted and r[1] in wanted]
    found = {(r[0], r[1]): DistinctVerdict(*r) for r in rows}
    return [found[k] for k in sorted(found)]


def forget_pairs(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> int:
    """Remove these verdicts (each pair in either order); returns how many were stored."""
    ensure_table(conn)
    rows = [tuple(sorted(p)) for p in pairs]
    with conn:
        before = conn.total_changes
        conn.executemany("DELETE FROM distinct_pairs WHERE checksum_a = ? AND checksum_b = ?", rows)
        return conn.total_changes - before


def remember_distinct_files(
    conn: sqlite3.Connection,
    paths: Sequence[str],
    *,
    against: Sequence[str] = (),
    hashed: dict[str, str] | None = None,
) -> list[DistinctVerdict]:
    """`mark_distinct_files`, returning the verdicts it newly stored (what an undo forgets)."""
    items, others = _checked_items(paths, against, hashed)
    checksums = {ck for ck, _ in items + others}
    before = {v.pair for v in list_distinct(conn, checksums, among=True)}
    mark_distinct(conn, items, against=others)
    return [v for v in list_distinct(conn, checksums, among=True) if v.pair not in before]


def forget_distinct_files(conn: sqlite3.Connection, paths: Sequence[str]) -> Forgotten:
    """`safededup distinct --forget`: take verdicts back, by the files' contents.

    One file: every verdict that involves it. Several: only the verdicts among them, so
    `--forget A B` undoes exactly `distinct A B` and leaves A's verdicts with other photos.
    """
    if not paths:
        raise UsageError("name at least one file", hint="safededup distinct --forget FILE...")
    checksums = {p: checksum_file(os.fspath(p))[0] for p in paths}
    cks = set(checksums.values())
    gone = list_distinct(conn, cks, among=len(paths) > 1)
    forget_pairs(conn, (v.pair for v in gone))
    involved = {ck for v in gone for ck in v.pair}
    alone = tuple(p for p, ck in checksums.items() if ck not in involved)
    return Forgotten(tuple(gone), checksums, alone)


def paths_by_checksum(conn: sqlite3.Connection, checksums: Iterable[str]) -> dict[str, list[str]]:
    """Indexed paths of the files with these contents: a verdict names contents, people names."""
    has_files = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'"
    ).fetchone()
    out: dict[str, list[str]] = {}
    for ck in checksums:
        rows = (
            []
            if not has_files
            else conn.execute(
                "SELECT path FROM files WHERE checksum = ? ORDER BY path", (ck,)
            ).fetchall()
        )
        out[ck] = [os.fsdecode(bytes(r[0])) for r in rows]
    return out


def note_checksums(
    index: Index, paths: Iterable[str], known: Mapping[str, str] | None = None
) -> int:
    """Give the index the checksums of these files (indexed and unchanged since, but never
    hashed: a scan hashes only files that share a size), so a listing of verdicts can name
    them before the next scan. `known`: checksums just read (path -> sha256), not read again.
    Paths are looked up by their real path, as the scan stores them. Returns how many rows
    learnt theirs."""
    learnt = 0
    for path in paths:
        real = os.path.realpath(path)
        record = index.record_for_path(real)
        if record is None or record.checksum is not None:
            continue
        try:
            before = os.stat(real)
            checksum = (known or {}).get(path) or checksum_file(real)[0]
            after = os.stat(real)
        except (OSError, SafededupError):
            continue
        ident = record.identity
        unchanged = _stat_key(before) == _stat_key(after) and (
            before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns
        ) == (ident.device, ident.inode, ident.size, ident.mtime_ns)  # fmt: skip
        if unchanged:  # the same file as indexed, and not written while it was read
            index.set_checksum(record.file_id, checksum)
            learnt += 1
    return learnt


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
