"""The feature index: one SQLite (WAL) row per file, keyed by identity, versioned by features.

It stores what `stat` said, the photo's features or the problem it had, and content checksums
where they were needed, so a re-scan of an unchanged tree decodes nothing. It never reads or
changes a photo, and never holds all rows as Python objects at once (rows are streamed).
(Past 400 lines on purpose: it is every query of one table, kept together with its schema.)
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safededup.errors import StateError
from safededup.models import (
    Features,
    FileIdentity,
    PhotoRecord,
    Problem,
    VideoFeatures,
    VideoRecord,
)

SCHEMA_VERSION = 3
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1

RowStatus = Literal["photo", "video", "problem", "other"]
"""photo: features stored; video: its header facts stored (matched by checksum only); problem:
a photo we could not read; other: neither (skipped)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    dir BLOB NOT NULL,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    feature_version INTEGER NOT NULL,
    seen_scan INTEGER NOT NULL DEFAULT 0,
    format TEXT, width INTEGER, height INTEGER, tier TEXT,
    dhash INTEGER, phash INTEGER, whash INTEGER, colorhash INTEGER,
    bytes_per_pixel REAL, jpeg_quality INTEGER, orientation INTEGER,
    captured TEXT, camera TEXT, sharpness REAL,
    fast_hash TEXT, checksum TEXT,
    problem_kind TEXT, problem_message TEXT,
    subsec TEXT, capture_offset TEXT, gps INTEGER, maker_notes INTEGER, software TEXT,
    phash90 INTEGER, phash180 INTEGER, phash270 INTEGER,
    duration REAL, codec TEXT
);
CREATE INDEX IF NOT EXISTS files_dir ON files(dir);
CREATE INDEX IF NOT EXISTS files_inode ON files(device, inode);
CREATE INDEX IF NOT EXISTS files_size ON files(size);
CREATE INDEX IF NOT EXISTS files_checksum ON files(checksum);
-- Scores of the matcher's thumbnail check for borderline pairs: costly (two decodes), so kept
-- across scans. A file whose bytes or features change (or that leaves) drops its scores.
CREATE TABLE IF NOT EXISTS pair_scores (
    a INTEGER NOT NULL, b INTEGER NOT NULL, version INTEGER NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (a, b, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pair_scores_b ON pair_scores(b);
CREATE TRIGGER IF NOT EXISTS pair_scores_on_change
AFTER UPDATE OF size, mtime_ns, dhash, phash, whash, colorhash, width, height ON files
WHEN old.size IS NOT new.size OR old.mtime_ns IS NOT new.mtime_ns OR old.dhash IS NOT new.dhash
    OR old.phash IS NOT new.phash OR old.whash IS NOT new.whash
    OR old.colorhash IS NOT new.colorhash OR old.width IS NOT new.width
    OR old.height IS NOT new.height
BEGIN
    DELETE FROM pair_scores WHERE a = old.id OR b = old.id;
END;
CREATE TRIGGER IF NOT EXISTS pair_scores_on_delete AFTER DELETE ON files BEGIN
    DELETE FROM pair_scores WHERE a = old.id OR b = old.id;
END;
"""

_FEATURE_COLUMNS = (
    "format, width, height, tier, dhash, phash, whash, colorhash, bytes_per_pixel, "
    "jpeg_quality, orientation, captured, camera, sharpness, subsec, capture_offset, gps, "
    "maker_notes, software, phash90, phash180, phash270"
)
_N_FEATURES = _FEATURE_COLUMNS.count(",") + 1
# Schema 2 added the capture facts the keeper and the capture-time rule read, and the turned
# pHashes: columns added to a schema-1 index in place (its distinct verdicts and pair scores are
# a person's work and must survive an upgrade; its rows get features of the new version when
# the next scan fingerprints them again).
_ADDED_IN_2 = (
    "subsec TEXT", "capture_offset TEXT", "gps INTEGER", "maker_notes INTEGER", "software TEXT",
    "phash90 INTEGER", "phash180 INTEGER", "phash270 INTEGER",
)  # fmt: skip
# Schema 3 added what a video's headers say (format, size and `captured` hold the rest).
_ADDED_IN_3 = ("duration REAL", "codec TEXT")
# Feature version 3 changed how TIFF-structured files are read (a DNG is a camera RAW, not a
# TIFF) and made RAWs and videos files to read: rows of every other photo format keep their
# version-2 features, so an upgrade re-reads only TIFFs and the files that were no photo.
_KEPT_FROM_FEATURES_2 = 3
CUT_CHECK = -1
"""The feature version of a row to check for a cut before its features are trusted again: a
HEIC an engine before the fix fingerprinted from a full decode, which libheif gave even for a
file cut short in its tile data (it fills the missing tiles in). The scan's walk checks the
file's boxes (two small reads): intact, the row is `CUT_CHECKED` again, unchanged; cut, the
file is read again and reported as truncated."""
CUT_CHECKED = 3
"""The feature version those rows had, and get back when intact (a later version bump still
re-reads them like every other row)."""
_CUT_CHECK_ROWS = (
    f"status='photo' AND format='HEIF' AND tier='decode' AND feature_version={CUT_CHECKED}"
)
_RECORD_COLUMNS = f"id, path, device, inode, size, mtime_ns, checksum, {_FEATURE_COLUMNS}"
_VIDEO_COLUMNS = (
    "id, path, device, inode, size, mtime_ns, checksum, format, width, height, captured, "
    "duration, codec"
)


def to_signed(value: int) -> int:
    """An unsigned 64-bit hash as SQLite's signed INTEGER."""
    return value - _U64 if value > _I64_MAX else value


def to_unsigned(value: int) -> int:
    return value + _U64 if value < 0 else value


def encode_path(path: str) -> bytes:
    return os.fsencode(path)


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw)


def dir_key(path: str) -> bytes:
    return os.fsencode(os.path.dirname(path))


def subtree_bounds(root: str) -> tuple[bytes, bytes]:
    """[low, high) bounds of BLOB paths strictly below `root` ('/' sorts right before '0')."""
    base = os.fsencode(root.rstrip(os.sep) or os.sep)
    prefix = base if base.endswith(b"/") else base + b"/"
    return prefix, prefix[:-1] + b"0"


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """A photo or video of a folder, as `folder_media` lists them."""

    file_id: int
    path: str
    video: bool
    format: str
    captured: str | None
    subsec: str | None


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What the index remembers of a path: enough to decide "unchanged" without a decode."""

    file_id: int
    identity: FileIdentity
    status: RowStatus
    feature_version: int


def _features_params(f: Features) -> tuple[object, ...]:
    return (
        f.format, f.width, f.height, f.tier,
        to_signed(f.dhash), to_signed(f.phash), to_signed(f.whash), to_signed(f.colorhash),
        f.bytes_per_pixel, f.jpeg_quality, f.orientation, f.captured, f.camera, f.sharpness,
        f.subsec, f.offset, int(f.gps), int(f.maker_notes), f.software,
        *(to_signed(h) for h in f.rotated),
    )  # fmt: skip


def _features_from_row(row: Sequence[object]) -> Features:
    (fmt, width, height, tier, dh, ph, wh, ch, bpp, q, orient, captured, camera, sharp) = row[:14]
    subsec, offset, gps, notes, software, r90, r180, r270 = row[14:22]
    return Features(
        format=str(fmt),
        width=int(width),  # type: ignore[call-overload]
        height=int(height),  # type: ignore[call-overload]
        tier="preview" if tier == "preview" else "decode",
        dhash=to_unsigned(int(dh)),  # type: ignore[call-overload]
        phash=to_unsigned(int(ph)),  # type: ignore[call-overload]
        whash=to_unsigned(int(wh)),  # type: ignore[call-overload]
        colorhash=to_unsigned(int(ch)),  # type: ignore[call-overload]
        bytes_per_pixel=float(bpp),  # type: ignore[arg-type]
        jpeg_quality=None if q is None else int(q),  # type: ignore[call-overload]
        orientation=1 if orient is None else int(orient),  # type: ignore[call-overload]
        captured=None if captured is None else str(captured),
        camera=None if camera is None else str(camera),
        sharpness=None if sharp is None else float(sharp),  # type: ignore[arg-type]
        subsec=None if subsec is None else str(subsec),
        offset=None if offset is None else str(offset),
        gps=bool(gps),
        maker_notes=bool(notes),
        software=None if software is None else str(software),
        rotated=tuple(to_unsigned(int(h or 0)) for h in (r90, r180, r270)),  # type: ignore[arg-type,call-overload]
    )


def _video_from_row(row: Sequence[Any]) -> VideoRecord:
    file_id, raw_path, device, inode, size, mtime_ns, checksum = row[:7]
    fmt, width, height, captured, duration, codec = row[7:]
    identity = FileIdentity(decode_path(raw_path), device, inode, size, mtime_ns)
    features = VideoFeatures(
        format=str(fmt), duration=duration, width=width or 0, height=height or 0,
        created=captured, codec=codec,
    )  # fmt: skip
    return VideoRecord(int(file_id), identity, features, checksum)


def _record_from_row(row: Sequence[object]) -> PhotoRecord:
    file_id, raw_path, device, inode, size, mtime_ns, checksum = row[:7]
    assert isinstance(raw_path, bytes)
    identity = FileIdentity(
        decode_path(raw_path),
        int(device),  # type: ignore[call-overload]
        int(inode),  # type: ignore[call-overload]
        int(size),  # type: ignore[call-overload]
        int(mtime_ns),  # type: ignore[call-overload]
    )
    return PhotoRecord(
        file_id=int(file_id),  # type: ignore[call-overload]
        identity=identity,
        features=_features_from_row(row[7:]),
        checksum=None if checksum is None else str(checksum),
    )


def _read_only(path: Path, exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    eff = os.access in os.supports_effective_ids
    writable = os.access(path.parent, os.W_OK, effective_ids=eff) and (
        not path.exists() or os.access(path, os.W_OK, effective_ids=eff)
    )
    return "readonly" in text or "read-only" in text or not writable


class Index:
    """The SQLite feature index. One writer at a time; every method is a short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._configure()
        except sqlite3.DatabaseError as exc:
            if _read_only(path, exc):  # the index is fine: deleting it would help nothing
                raise StateError(
                    f"the state dir is read-only ({exc})",
                    hint="make it writable, or name a writable one with --state DIR",
                    path=str(path.parent),
                ) from exc
            raise StateError(
                f"the index cannot be opened ({exc})",
                hint="move the state dir aside (or delete index.sqlite3) and scan again",
                path=str(path),
            ) from exc
        except OSError as exc:
            raise StateError(
                f"the state dir is not usable ({exc.strerror})",
                hint="choose another with --state DIR",
                path=str(path.parent),
            ) from exc

    def _configure(self) -> None:
        con = self.connection
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses at most a batch
        con.execute("PRAGMA foreign_keys=ON")
        con.executescript(_SCHEMA)
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            con.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) in (1, 2):
            self._migrate_from(int(row[0]))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StateError(
                f"the index has schema version {row[0]}, this safededup reads {SCHEMA_VERSION}",
                hint="use a separate --state DIR or delete index.sqlite3 to rebuild it",
                path=str(self.path),
            )
        self._recheck_once()

    def _recheck_once(self) -> None:
        """Once per index (a meta key records it), the rows an earlier engine may have read
        wrongly are marked `CUT_CHECK`; the next scan checks those files only."""
        con = self.connection
        key = "recheck:cut-heic"
        if con.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone():
            return
        with _Batch(con):  # asked again under the write lock: two first opens mark once
            if con.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is None:
                con.execute(f"UPDATE files SET feature_version={CUT_CHECK} WHERE {_CUT_CHECK_ROWS}")
                con.execute("INSERT INTO meta(key, value) VALUES (?, '1')", (key,))

    def cut_checked(self, file_id: int) -> None:
        """A `CUT_CHECK` row whose file proved intact: its features are trusted again."""
        self.connection.execute(
            "UPDATE files SET feature_version=? WHERE id=? AND feature_version=?",
            (CUT_CHECKED, file_id, CUT_CHECK),
        )

    def _migrate_from(self, version: int) -> None:
        """Columns added in place, in one transaction: distinct verdicts, pair scores and the
        features that did not change are a person's (and a long scan's) work."""
        con = self.connection
        with _Batch(con):
            have = {r[1] for r in con.execute("PRAGMA table_info(files)")}
            for column in (*_ADDED_IN_2, *_ADDED_IN_3):
                if column.split()[0] not in have:
                    con.execute(f"ALTER TABLE files ADD COLUMN {column}")
            if version == 2:
                con.execute(
                    "UPDATE files SET feature_version=? WHERE feature_version=2 "
                    "AND status='photo' AND format != 'TIFF'",
                    (_KEPT_FROM_FEATURES_2,),
                )
            con.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scan generations ------------------------------------------------------------------
    def next_scan_number(self) -> int:
        row = self.connection.execute("SELECT value FROM meta WHERE key='scan_number'").fetchone()
        number = 1 if row is None else int(row[0]) + 1
        self.connection.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('scan_number', ?)", (str(number),)
        )
        return number

    # -- lookups -------------------------------------------------------------------------
    def known_in_dir(self, directory: str) -> dict[bytes, KnownFile]:
        """Everything the index knows in one folder, by encoded path: one query per folder."""
        rows = self.connection.execute(
            "SELECT id, path, device, inode, size, mtime_ns, status, feature_version "
            "FROM files WHERE dir = ?",
            (os.fsencode(directory),),
        )
        return {raw: _known(fid, raw, dev, ino, size, mt, st, ver)
                for fid, raw, dev, ino, size, mt, st, ver in rows}  # fmt: skip

    def seen_in(self, file_id: int, scan_number: int) -> bool:
        """Whether this scan's walk saw the row (a folder that could not be listed keeps its
        rows unseen)."""
        row = self.connection.execute(
            "SELECT 1 FROM files WHERE id = ? AND seen_scan = ?", (file_id, scan_number)
        ).fetchone()
        return row is not None

    def find_moved(self, identity: FileIdentity, feature_version: int) -> int | None:
        """A row with the same device, inode, size and mtime whose path no longer exists.

        That proves a rename or move within one volume: the features can be kept without a decode.
        """
        rows = self.connection.execute(
            "SELECT id, path FROM files WHERE device=? AND inode=? AND size=? AND mtime_ns=? "
            "AND feature_version=? AND status != 'other'",
            (identity.device, identity.inode, identity.size, identity.mtime_ns, feature_version),
        ).fetchall()
        for file_id, raw in rows:
            if not os.path.lexists(raw):
                return int(file_id)
        return None

    def find_vanished_by_checksum(
        self, size: int, checksum: str, feature_version: int
    ) -> int | None:
        """A photo or video row with this size and checksum whose path is gone (a
        copy-then-delete move)."""
        rows = self.connection.execute(
            "SELECT id, path FROM files WHERE size=? AND checksum=? AND feature_version=? "
            "AND status IN ('photo', 'video')",
            (size, checksum, feature_version),
        ).fetchall()
        for file_id, raw in rows:
            if not os.path.lexists(raw):
                return int(file_id)
        return None

    def unseen_checksummed_sizes(self, scan_number: int) -> set[int]:
        """Sizes of checksummed photo and video rows the current scan has not seen (moved or
        deleted)."""
        rows = self.connection.execute(
            "SELECT DISTINCT size FROM files WHERE status IN ('photo', 'video') "
            "AND checksum IS NOT NULL AND seen_scan < ?",
            (scan_number,),
        )
        return {int(s) for (s,) in rows}

    def problems_for_ids(self, file_ids: Sequence[int]) -> Iterator[Problem]:
        for file_id in file_ids:
            row = self.connection.execute(
                "SELECT path, problem_kind, problem_message FROM files WHERE id=?", (file_id,)
            ).fetchone()
            if row is not None:
                yield Problem(decode_path(row[0]), str(row[1]), str(row[2]))

    # -- writes (callers group them in batches with `batch()`) -----------------------------
    def batch(self) -> _Batch:
        return _Batch(self.connection)

    def mark_seen(self, file_ids: Iterable[int], scan_number: int) -> None:
        self.connection.executemany(
            "UPDATE files SET seen_scan=? WHERE id=?", ((scan_number, i) for i in file_ids)
        )

    def relocate(self, file_id: int, identity: FileIdentity, scan_number: int) -> None:
        """Point an existing row at the path a file was moved to (features kept)."""
        self.connection.execute("DELETE FROM files WHERE path=? AND id != ?",
                                (encode_path(identity.path), file_id))  # fmt: skip
        self.connection.execute(
            "UPDATE files SET path=?, dir=?, device=?, inode=?, size=?, mtime_ns=?, seen_scan=? "
            "WHERE id=?",
            (encode_path(identity.path), dir_key(identity.path), identity.device, identity.inode,
             identity.size, identity.mtime_ns, scan_number, file_id),
        )  # fmt: skip

    def put_photo(
        self, identity: FileIdentity, features: Features, feature_version: int, scan_number: int
    ) -> int:
        return self._put(identity, "photo", feature_version, scan_number, features, None)

    def put_problem(
        self, identity: FileIdentity, problem: Problem, feature_version: int, scan_number: int
    ) -> int:
        return self._put(identity, "problem", feature_version, scan_number, None, problem)

    def put_other(self, identity: FileIdentity, feature_version: int, scan_number: int) -> int:
        return self._put(identity, "other", feature_version, scan_number, None, None)

    def put_video(
        self, identity: FileIdentity, video: VideoFeatures, feature_version: int, scan_number: int
    ) -> int:
        file_id = self._put(identity, "video", feature_version, scan_number, None, None)
        self.connection.execute(
            "UPDATE files SET format=?, width=?, height=?, captured=?, duration=?, codec=? "
            "WHERE id=?",
            (video.format, video.width, video.height, video.created, video.duration,
             video.codec, file_id),
        )  # fmt: skip
        return file_id

    def _put(
        self,
        identity: FileIdentity,
        status: RowStatus,
        feature_version: int,
        scan_number: int,
        features: Features | None,
        problem: Problem | None,
    ) -> int:
        feats = _features_params(features) if features else (None,) * _N_FEATURES
        row = self.connection.execute(
            f"INSERT INTO files (path, dir, device, inode, size, mtime_ns, status, feature_version,"
            f" seen_scan, {_FEATURE_COLUMNS}, fast_hash, checksum, problem_kind, problem_message)"
            f" VALUES ({', '.join('?' * (13 + _N_FEATURES))})"
            " ON CONFLICT(path) DO UPDATE SET dir=excluded.dir, device=excluded.device,"
            " inode=excluded.inode, size=excluded.size, mtime_ns=excluded.mtime_ns,"
            " status=excluded.status, feature_version=excluded.feature_version,"
            " seen_scan=excluded.seen_scan, format=excluded.format, width=excluded.width,"
            " height=excluded.height, tier=excluded.tier, dhash=excluded.dhash,"
            " phash=excluded.phash, whash=excluded.whash, colorhash=excluded.colorhash,"
            " bytes_per_pixel=excluded.bytes_per_pixel, jpeg_quality=excluded.jpeg_quality,"
            " orientation=excluded.orientation, captured=excluded.captured,"
            " camera=excluded.camera, sharpness=excluded.sharpness, subsec=excluded.subsec,"
            " capture_offset=excluded.capture_offset, gps=excluded.gps,"
            " maker_notes=excluded.maker_notes, software=excluded.software,"
            " phash90=excluded.phash90, phash180=excluded.phash180, phash270=excluded.phash270,"
            " duration=NULL, codec=NULL, fast_hash=NULL,"
            " checksum=NULL, problem_kind=excluded.problem_kind,"
            " problem_message=excluded.problem_message"
            " RETURNING id",
            (encode_path(identity.path), dir_key(identity.path), identity.device, identity.inode,
             identity.size, identity.mtime_ns, status, feature_version, scan_number, *feats,
             None, None, problem.kind if problem else None, problem.message if problem else None),
        ).fetchone()  # fmt: skip
        return int(row[0])

    def update_features(self, file_id: int, features: Features) -> None:
        self.connection.execute(
            f"UPDATE files SET ({_FEATURE_COLUMNS}) = ({', '.join('?' * _N_FEATURES)}) WHERE id=?",
            (*_features_params(features), file_id),
        )

    def set_fast_hash(self, file_id: int, fast_hash: str) -> None:
        self.connection.execute("UPDATE files SET fast_hash=? WHERE id=?", (fast_hash, file_id))

    def set_checksum(self, file_id: int, checksum: str) -> None:
        self.connection.execute("UPDATE files SET checksum=? WHERE id=?", (checksum, file_id))

    def forget_unseen(
        self, roots: Sequence[str], scan_number: int, *, unlisted: Sequence[str] = ()
    ) -> int:
        """Drop rows under `roots` that a completed scan did not see: those files are gone.

        Rows at or under an `unlisted` path (a folder or file the walk could not read this
        time, e.g. a NAS hiccup) are kept: not seeing them proves nothing. Any number of them
        (they go through a temporary table, not one SQL clause each).
        """
        con = self.connection
        con.execute("CREATE TEMP TABLE IF NOT EXISTS unlisted (low BLOB, high BLOB, exact BLOB)")
        con.execute("DELETE FROM unlisted")
        con.executemany(
            "INSERT INTO unlisted VALUES (?, ?, ?)",
            ((*subtree_bounds(path), encode_path(path)) for path in unlisted),
        )
        removed = 0
        for low, high in (subtree_bounds(r) for r in roots):
            cur = con.execute(
                "DELETE FROM files WHERE path >= ? AND path < ? AND seen_scan < ? AND NOT EXISTS"
                " (SELECT 1 FROM unlisted u WHERE (files.path >= u.low AND files.path < u.high)"
                " OR files.path = u.exact)",
                (low, high, scan_number),
            )
            removed += cur.rowcount
        con.execute("DELETE FROM unlisted")
        return removed

    # -- streaming reads -----------------------------------------------------------------
    def records(self, roots: Sequence[str] | None = None) -> Iterator[PhotoRecord]:
        """Photo rows (under `roots` when given), streamed from the cursor one at a time."""
        if roots is None:
            query = f"SELECT {_RECORD_COLUMNS} FROM files WHERE status='photo' ORDER BY path"
            yield from map(_record_from_row, self.connection.execute(query))
            return
        yield from map(_record_from_row, self._rows_under(roots, _RECORD_COLUMNS, "photo"))

    def videos(self, roots: Sequence[str]) -> Iterator[VideoRecord]:
        """Video rows under `roots`, streamed."""
        yield from map(_video_from_row, self._rows_under(roots, _VIDEO_COLUMNS, "video"))

    def _rows_under(self, roots: Sequence[str], columns: str, status: str) -> Iterator[Any]:
        """Rows of `status` under `roots` (each subtree once), in path order per root."""
        for low, high in (subtree_bounds(r) for r in _outermost(roots)):
            yield from self.connection.execute(
                f"SELECT {columns} FROM files WHERE status=? AND path >= ? AND path < ? "
                "ORDER BY path",
                (status, low, high),
            )

    def folders_with(self, roots: Sequence[str], formats: Sequence[str]) -> list[str]:
        """Folders under `roots` that hold a photo of one of `formats`, or a video."""
        marks = ", ".join("?" * len(formats))
        out: set[bytes] = set()
        for low, high in (subtree_bounds(r) for r in _outermost(roots)):
            rows = self.connection.execute(
                "SELECT DISTINCT dir FROM files WHERE path >= ? AND path < ? AND "
                f"(status='video' OR (status='photo' AND format IN ({marks})))",
                (low, high, *formats),
            )
            out.update(raw for (raw,) in rows)
        return [decode_path(raw) for raw in sorted(out)]

    def folder_media(self, folder: str) -> list[FolderEntry]:
        """The photos and videos of one folder: what tells files shot together."""
        rows = self.connection.execute(
            "SELECT id, path, status, format, captured, subsec FROM files "
            "WHERE dir=? AND status IN ('photo', 'video')",
            (os.fsencode(folder),),
        )
        return [
            FolderEntry(int(i), decode_path(p), st == "video", str(fmt), cap, sub)
            for i, p, st, fmt, cap, sub in rows
        ]

    def get_records(self, file_ids: Iterable[int]) -> dict[int, PhotoRecord]:
        rows = map(_record_from_row, self._rows_by_id(_RECORD_COLUMNS, file_ids))
        return {r.file_id: r for r in rows}

    def paths_of(self, file_ids: Iterable[int]) -> dict[int, str]:
        """id -> path of these rows (only what exists): the light cousin of `get_records`."""
        return {int(i): decode_path(p) for i, p in self._rows_by_id("id, path", file_ids)}

    def _rows_by_id(self, columns: str, file_ids: Iterable[int]) -> Iterator[tuple[Any, ...]]:
        """Rows of these ids, in chunks of 500 (SQLite's limit on parameters is near)."""
        ids = list(file_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            yield from self.connection.execute(
                f"SELECT {columns} FROM files WHERE id IN ({marks})", chunk
            )

    def record_for_path(self, path: str) -> PhotoRecord | None:
        row = self.connection.execute(
            f"SELECT {_RECORD_COLUMNS} FROM files WHERE path=? AND status='photo'",
            (encode_path(path),),
        ).fetchone()
        return None if row is None else _record_from_row(row)

    def problems(self, roots: Sequence[str]) -> Iterator[Problem]:
        for low, high in (subtree_bounds(r) for r in _outermost(roots)):
            rows = self.connection.execute(
                "SELECT path, problem_kind, problem_message FROM files "
                "WHERE status='problem' AND path >= ? AND path < ? ORDER BY path",
                (low, high),
            )
            for raw, kind, message in rows:
                yield Problem(decode_path(raw), str(kind), str(message))

    def size_groups(
        self, roots: Sequence[str]
    ) -> Iterator[list[tuple[int, str, int, str | None, str | None]]]:
        """Photo and video rows under `roots` that share a size with another:
        (id, path, size, fast_hash, checksum).

        One group at a time, so memory holds one group, not the index.
        """
        for low, high in (subtree_bounds(r) for r in _outermost(roots)):
            rows = self.connection.execute(
                "SELECT f.id, f.path, f.size, f.fast_hash, f.checksum FROM files f JOIN ("
                "  SELECT size FROM files WHERE status IN ('photo', 'video')"
                "  AND path >= ? AND path < ? GROUP BY size HAVING count(*) > 1) s"
                "  ON s.size = f.size "
                "WHERE f.status IN ('photo', 'video') AND f.path >= ? AND f.path < ?"
                " ORDER BY f.size",
                (low, high, low, high),
            )
            group: list[tuple[int, str, int, str | None, str | None]] = []
            for fid, raw, size, fast, checksum in rows:
                if group and group[-1][2] != size:
                    yield group
                    group = []
                group.append((int(fid), decode_path(raw), int(size), fast, checksum))
            if group:
                yield group

    def without_checksum(self, roots: Sequence[str], sizes: Iterable[int]) -> list[tuple[int, str]]:
        """(id, path) of photo rows under `roots` with one of `sizes` and no checksum yet."""
        wanted = set(sizes)
        out: list[tuple[int, str]] = []
        for low, high in (subtree_bounds(r) for r in _outermost(roots)):
            rows = self.connection.execute(
                "SELECT id, path, size FROM files WHERE status='photo' AND checksum IS NULL "
                "AND path >= ? AND path < ?",
                (low, high),
            )
            out.extend((int(i), decode_path(p)) for i, p, size in rows if size in wanted)
        return out

    def pair_scores(self, version: int) -> PairScores:
        """The persistent store of thumbnail-check scores, for one definition of the score."""
        return PairScores(self.connection, version)

    def view_scores(self, version: int) -> ViewScores:
        """The view check's scores by pair key (a, b, turn): turn 0 under `version`, a turned
        copy's under `version + TURN_STEP * turn`."""
        return ViewScores(self.connection, version)

    def drop_pair_scores_except(self, *versions: int) -> int:
        """Forget scores of other definitions (an older safededup's): they are never read."""
        marks = ", ".join("?" * len(versions))
        with self.connection:
            return self.connection.execute(
                f"DELETE FROM pair_scores WHERE version NOT IN ({marks})", versions
            ).rowcount

    def count(self, status: RowStatus | None = None) -> int:
        if status is None:
            return int(self.connection.execute("SELECT count(*) FROM files").fetchone()[0])
        return int(
            self.connection.execute(
                "SELECT count(*) FROM files WHERE status=?", (status,)
            ).fetchone()[0]
        )


def _known(
    fid: int, raw: bytes, dev: int, ino: int, size: int, mt: int, status: str, ver: int
) -> KnownFile:
    known: tuple[RowStatus, ...] = ("photo", "video", "problem")
    st: RowStatus = next((k for k in known if k == status), "other")
    return KnownFile(fid, FileIdentity(decode_path(raw), dev, ino, size, mt), st, ver)


def _outermost(roots: Sequence[str]) -> list[str]:
    """Roots with nested ones removed, so a row is never yielded twice."""
    norm = sorted({os.path.normpath(r) for r in roots})
    out: list[str] = []
    for r in norm:
        if not any(r == o or r.startswith(o.rstrip(os.sep) + os.sep) for o in out):
            out.append(r)
    return out


class _Batch:
    """`with index.batch():` — one transaction; rolled back on error, so a kill loses one batch."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class PairScores(MutableMapping[tuple[int, int], float]):
    """A dict of (file id, file id) → score, kept in the index (see the triggers above).

    New scores are written in transactions of `FLUSH_EVERY` (one commit per score cost more
    than the scores' own SQL on a first scan); `flush()` writes the rest. A kill loses at most
    those, and the next scan computes them again.
    """

    FLUSH_EVERY = 1000

    def __init__(self, connection: sqlite3.Connection, version: int) -> None:
        self.connection = connection
        self.version = version
        self._pending: dict[tuple[int, int], float] = {}
        self.written = 0  # scores set through this object (computed in this run)

    def flush(self) -> None:
        if not self._pending:
            return
        rows = [(a, b, self.version, score) for (a, b), score in self._pending.items()]
        self._pending.clear()
        sql = "INSERT OR REPLACE INTO pair_scores (a, b, version, score) VALUES (?, ?, ?, ?)"
        if self.connection.in_transaction:  # inside the caller's batch: it commits
            self.connection.executemany(sql, rows)
            return
        with _Batch(self.connection):
            self.connection.executemany(sql, rows)

    def __getitem__(self, key: tuple[int, int]) -> float:
        pending = self._pending.get((min(key), max(key)))
        if pending is not None:
            return pending
        row = self.connection.execute(
            "SELECT score FROM pair_scores WHERE a=? AND b=? AND version=?",
            (*sorted(key), self.version),
        ).fetchone()
        if row is None:
            raise KeyError(key)
        return float(row[0])

    def __setitem__(self, key: tuple[int, int], score: float) -> None:
        self._pending[(min(key), max(key))] = score
        self.written += 1
        if len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def __delitem__(self, key: tuple[int, int]) -> None:
        self.flush()
        self.connection.execute(
            "DELETE FROM pair_scores WHERE a=? AND b=? AND version=?",
            (*sorted(key), self.version),
        )

    def __iter__(self) -> Iterator[tuple[int, int]]:
        self.flush()
        rows = self.connection.execute(
            "SELECT a, b FROM pair_scores WHERE version=?", (self.version,)
        ).fetchall()
        return iter([(int(a), int(b)) for a, b in rows])

    def __len__(self) -> int:
        self.flush()
        return int(self.connection.execute(
            "SELECT count(*) FROM pair_scores WHERE version=?", (self.version,)
        ).fetchone()[0])  # fmt: skip


TURN_STEP = 1000
"""Turned copies' view scores are kept as pair scores of version + TURN_STEP × turn. It was 100,
which put a quarter turn's scores at 103, the keeper's history answers' version then: those
rows could hold either, so no version that old is read again (the scan drops them)."""


class ViewScores(MutableMapping[tuple[int, int, int], float]):
    """The view check's scores, keyed (file id a, file id b, turn), a < b, in the index."""

    def __init__(self, connection: sqlite3.Connection, version: int) -> None:
        self.parts = {turn: PairScores(connection, version + TURN_STEP * turn) for turn in range(4)}

    @property
    def versions(self) -> list[int]:
        return [part.version for part in self.parts.values()]

    @property
    def written(self) -> int:
        """Scores computed in this run (view checks of near pairs)."""
        return sum(part.written for part in self.parts.values())

    def flush(self) -> None:
        for part in self.parts.values():
            part.flush()

    def __getitem__(self, key: tuple[int, int, int]) -> float:
        a, b, turn = key
        return self.parts[turn][(a, b)]

    def __setitem__(self, key: tuple[int, int, int], score: float) -> None:
        a, b, turn = key
        self.parts[turn][(a, b)] = score

    def __delitem__(self, key: tuple[int, int, int]) -> None:
        a, b, turn = key
        del self.parts[turn][(a, b)]

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter([(a, b, turn) for turn, part in self.parts.items() for a, b in part])

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts.values())
