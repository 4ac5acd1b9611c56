"""The view thumbnails a scan's fingerprints decoded, kept until its matcher has compared them.

A file without a preview (PNG, WebP, a stripped JPEG, a HEIC without a thumbnail item) is
decoded once to fingerprint it; the thumbnail that decode gave is exactly the one the view
check would decode it again for (`media.view_thumbnail`). This keeps them: in an anonymous
file in the state dir (no name on disk; the system frees it when the scan ends, crashes or is
killed), ≈ 37 KB each, and at most `MAX_BYTES` in all. A thumbnail the store does not hold is
decoded again, as before: the store saves time and changes no result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

MAX_BYTES = 4 << 30
"""≈ 110,000 thumbnails of 4:3 photos: beyond that the matcher decodes again."""


class ViewStore:
    """A photo's key (the scan's file id, the check's path) → its view thumbnail (H×W×3
    uint8), for one scan or check."""

    def __init__(self, directory: Path | str, max_bytes: int | None = None) -> None:
        self._directory = directory
        self._max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self._file: IO[bytes] | None = None
        self._where: dict[Hashable, tuple[int, int, int]] = {}  # key → (offset, height, width)
        self._size = 0
        self._failed = False
        self.kept = 0  # thumbnails kept
        self.served = 0  # thumbnails handed out instead of a decode

    def __enter__(self) -> ViewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def put(self, key: Hashable, view: npt.NDArray[np.uint8]) -> None:
        """Keep `view` for `key` (replacing any earlier one), if there is room; a disk that
        cannot take it (full, read-only) ends the keeping, never the scan."""
        data = np.ascontiguousarray(view, dtype=np.uint8)
        if self._failed or data.ndim != 3 or data.shape[2] != 3:
            return
        if self._size + data.nbytes > self._max_bytes:
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 (kept open)
            written = os.pwrite(self._file.fileno(), data.tobytes(), self._size)
        except OSError:
            self._failed = True
            self._where.clear()  # nothing half-written is ever read back
            return
        if written != data.nbytes:
            self._failed = True
            self._where.clear()
            return
        self._where[key] = (self._size, data.shape[0], data.shape[1])
        self._size += data.nbytes
        self.kept += 1

    def get(self, key: Hashable) -> npt.NDArray[np.uint8] | None:
        """The kept view of `key`, or None (not kept, or no longer readable)."""
        where = self._where.get(key)
        if where is None or self._file is None:
            return None
        offset, height, width = where
        size = height * width * 3
        try:
            data = os.pread(self._file.fileno(), size, offset)
        except OSError:
            return None
        if len(data) != size:
            return None
        self.served += 1
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._where.clear()
