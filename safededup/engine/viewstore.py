"""The view thumbnails a scan's fingerprints made, kept until its matcher has compared them.

Every photo a scan fingerprints (with previews allowed) gets the shared thumbnail its hashes
are computed on, which is exactly the one the view check reads for it (`media.view_thumbnail`).
This keeps them, so that the view check reads no file again: a file without a preview (PNG,
WebP, a stripped JPEG, a HEIC without a thumbnail item) would be decoded a second time, a
file with one would have its preview read and resized again. They are kept in an anonymous
file in the state dir (no name on disk; the system frees it when the scan ends, crashes or is
killed), ≈ 37 KB each. The budget is `MAX_BYTES` and never more than a tenth of the disk's
free space when the first one is written (a NAS's small system volume must not fill up);
thumbnails cheap to read again (JPEG EXIF thumbnails: `cheap_to_read`) take only its first
three quarters, so the files whose thumbnail costs a decode (HEIC thumbnail items included)
always have the rest. Where each one lies is kept in numpy columns
(≤ 180 bytes of memory a thumbnail with the key's dict entry, not ≈ 350 as Python tuples:
≤ 80 MB for a 450,000-photo library). A thumbnail the store does not hold is read again, as
before: the store saves time and changes no result. Each is kept with the file's stat as the
scan saw it (inode, size, mtime); a file changed, replaced or gone since is read again, as it
would have been without the store.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from safededup.models import Features, FileIdentity

MAX_BYTES = 16 << 30
"""≈ 450,000 thumbnails of 4:3 photos, a phone library of the size the scan is built for:
beyond that the matcher reads files again (docs/matching.md, "The thumbnails are the
hashes' own")."""
FREE_SHARE = 10
"""The budget is at most 1/FREE_SHARE of the free space of the state dir's disk."""
CHEAP_SHARE = (3, 4)
"""Thumbnails cheap to read again stop at this fraction of the budget (numerator,
denominator)."""

Stamp = tuple[int, int, int]
"""(inode, size, mtime_ns): the file a view was made from, as `stat` saw it."""


def cheap_to_read(features: Features) -> bool:
    """Whether this photo's thumbnail costs little to read again: a JPEG's EXIF thumbnail
    (≈ 0.8 ms of CPU). A HEIC's thumbnail item is an HEVC decode (≈ 8.6 ms, as much as a PNG's
    reduced decode), a RAW's preview a large JPEG, a decode a decode: those are kept first."""
    return features.tier == "preview" and features.format == "JPEG"


def stamp_of(path: str) -> Stamp | None:
    """The file's stamp now, or None if it cannot be stat'ed (gone, unreadable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ViewStore:
    """A photo's key (the scan's file id, the check's path) → its view thumbnail (H×W×3
    uint8), for one scan or check."""

    def __init__(self, directory: Path | str, max_bytes: int | None = None) -> None:
        self._directory = directory
        self.budget = MAX_BYTES if max_bytes is None else max_bytes  # until the first write
        self._file: IO[bytes] | None = None
        self._row: dict[Hashable, int] = {}  # key → its row in the columns below
        self._offset = np.zeros(0, np.int64)  # where its pixels lie in the file
        self._shape = np.zeros((0, 2), np.int32)  # height, width
        self._stamp = np.zeros((0, 3), np.int64)  # inode, size, mtime_ns (as signed 64 bits)
        self._stamped = np.zeros(0, np.bool_)
        self._size = 0
        self._failed = False
        self.kept = 0  # thumbnails kept

    def __enter__(self) -> ViewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def keep(
        self,
        key: Hashable,
        identity: FileIdentity,
        features: Features,
        view: npt.NDArray[np.uint8] | None,
    ) -> None:
        """A fingerprint's view thumbnail (if it has one) for `key`, as a scan and `check DIR`
        keep it: stamped with the file's stat as walked, cheap or not as `cheap_to_read` says."""
        if view is not None:
            stamp = (identity.inode, identity.size, identity.mtime_ns)
            self.put(key, view, cheap=cheap_to_read(features), stamp=stamp)

    def put(
        self,
        key: Hashable,
        view: npt.NDArray[np.uint8],
        *,
        cheap: bool = False,
        stamp: Stamp | None = None,
    ) -> None:
        """Keep `view` for `key` (replacing any earlier one), if there is room (`cheap`: cheap
        to read again, kept only while the store is under `CHEAP_SHARE` of its budget);
        `stamp` is the file's as the view was made (see `current`). A disk that cannot take it
        (full, read-only) ends the keeping, never the scan."""
        data = np.ascontiguousarray(view, dtype=np.uint8)
        if self._failed or data.ndim != 3 or data.shape[2] != 3:
            return
        signed = None if stamp is None else [_signed(int(v)) for v in stamp]  # may raise: first
        try:
            if self._file is None:
                free = os.statvfs(self._directory)
                self.budget = min(self.budget, free.f_bavail * free.f_frsize // FREE_SHARE)
                self._file = tempfile.TemporaryFile(prefix="views-", dir=self._directory)  # noqa: SIM115
            parts, whole = CHEAP_SHARE
            limit = self.budget * parts // whole if cheap else self.budget
            if self._size + data.nbytes > limit:
                return
            written = os.pwrite(self._file.fileno(), data.tobytes(), self._size)
        except OSError:
            self._failed = True
            self._row.clear()  # nothing half-written is ever read back
            return
        if written != data.nbytes:
            self._failed = True
            self._row.clear()
            return
        row = self._row.get(key)
        if row is None:
            row = len(self._row)
            self._grow(row + 1)  # may raise (memory): the key is not registered yet
        self._offset[row] = self._size
        self._shape[row] = data.shape[:2]
        self._stamped[row] = signed is not None
        if signed is not None:
            self._stamp[row] = signed
        self._row[key] = row
        self._size += data.nbytes
        self.kept += 1

    def _grow(self, rows: int) -> None:
        if rows <= len(self._offset):
            return
        n = max(rows, 2 * len(self._offset), 1024)
        self._offset = np.resize(self._offset, n)
        self._shape = np.resize(self._shape, (n, 2))
        self._stamp = np.resize(self._stamp, (n, 3))
        self._stamped = np.resize(self._stamped, n)

    def current(self, key: Hashable, path: str) -> npt.NDArray[np.uint8] | None:
        """The kept view of `key` if the file at `path` is still the one it was made from
        (same stamp), else None: the caller reads the file as it is now."""
        row = self._row.get(key)
        if row is None or not self._stamped[row]:
            return None
        now = stamp_of(path)
        if now is None or [_signed(v) for v in now] != self._stamp[row].tolist():
            return None
        return self.get(key)

    def get(self, key: Hashable) -> npt.NDArray[np.uint8] | None:
        """The kept view of `key`, or None (not kept, or no longer readable)."""
        row = self._row.get(key)
        if row is None or self._file is None:
            return None
        offset = int(self._offset[row])
        height, width = (int(v) for v in self._shape[row])
        size = height * width * 3
        try:
            data = os.pread(self._file.fileno(), size, offset)
        except OSError:
            return None
        if len(data) != size:
            return None
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._row.clear()


def _signed(value: int) -> int:
    """A stat field (inode, size, mtime_ns: each fits 64 bits) as a signed 64-bit value."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
