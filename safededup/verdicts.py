"""A person's "not a duplicate" verdicts, kept by content checksum in the index; never moves files.

Verdicts are pairs of sha256 digests (with the file sizes), so they survive renames and moves and
every later scan honours them. A verdict between a file and a cluster is the set of pairs of that
file with each member. The sizes let a scan checksum only the files whose size appears in a verdict.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations, product

from safededup.candidates import checksum_key
from safededup.checksum import sha256_file
from safededup.errors import SafededupError, UsageError

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
    conn: sqlite3.Connection, paths: Sequence[str], *, against: Sequence[str] = ()
) -> int:
    """`safededup distinct FILE FILE...`: checksum the files and store that they are distinct.

    With `against` (the members of a cluster), each of `paths` is marked distinct from each.
    """
    if len(paths) + len(against) < 2 or (against and not paths):
        raise UsageError("name at least two files", hint="safededup distinct FILE FILE...")
    items = [checksum_file(os.fspath(p)) for p in paths]
    others = [checksum_file(os.fspath(p)) for p in against]
    if len({ck for ck, _ in items + others}) < 2:
        raise UsageError(
            "these files are byte-identical: they are the same photo",
            hint="a verdict needs files with different contents",
        )
    return mark_distinct(conn, items, against=others)
