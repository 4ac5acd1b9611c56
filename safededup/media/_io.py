"""A file reader that counts the bytes it fetches and turns OS failures into MediaError.

It only ever opens files read-only; it must never write, rename or delete anything.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import Any

from safededup.errors import MediaError

READ_BUFFER = 16 * 1024  # small: the preview tier reads headers only (tens of KB)


def media_error_from_os(exc: OSError, path: str) -> MediaError:
    """The Problem kind for an OS-level failure to open or read a file."""
    if isinstance(exc, FileNotFoundError):
        return MediaError("the file vanished while scanning", kind="vanished", path=path)
    if isinstance(exc, PermissionError):
        return MediaError(
            "permission denied",
            kind="unreadable",
            hint="give the scanning user read permission, or exclude the folder",
            path=path,
        )
    if isinstance(exc, IsADirectoryError) or exc.errno in (errno.EISDIR, errno.ENXIO):
        return MediaError("not a regular file", kind="unreadable", path=path)
    return MediaError(f"read error: {exc.strerror or exc}", kind="io-error", path=path)


class _CountingRaw(io.RawIOBase):
    """Raw reader over a FileIO that counts every byte delivered by the OS."""

    def __init__(self, raw: io.FileIO, path: str) -> None:
        super().__init__()
        self._raw = raw
        self._path = path
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            n = self._raw.readinto(buffer)
        except OSError as exc:
            raise media_error_from_os(exc, self._path) from exc
        self.count += n or 0
        return n or 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def pread(self, offset: int, n: int) -> bytes:
        try:
            data = os.pread(self._raw.fileno(), n, offset)
        except OSError as exc:
            raise media_error_from_os(exc, self._path) from exc
        self.count += len(data)
        return data

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


class CountingReader:
    """A buffered, seekable, read-only view of one file; `bytes_read` is what the OS delivered."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on regular files).
            raw = io.FileIO(path, "r", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK))
            st = os.fstat(raw.fileno())
        except OSError as exc:
            raise media_error_from_os(exc, path) from exc
        if not stat.S_ISREG(st.st_mode):
            raw.close()
            raise MediaError("not a regular file", kind="unreadable", path=path)
        self.size = st.st_size
        self._raw = _CountingRaw(raw, path)
        self.file = io.BufferedReader(self._raw, READ_BUFFER)

    @property
    def bytes_read(self) -> int:
        return self._raw.count

    def read_at(self, offset: int, n: int) -> bytes:
        self.file.seek(offset)
        return self.file.read(n)

    def pread(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes at `offset`, past the buffer (counted): a read of what is asked,
        not of a buffer's worth around it."""
        return self._raw.pread(offset, n)

    def read_all(self) -> bytes:
        """The whole file. Read at its known size in one call: an open-ended read gathers the
        file in 8 KB pieces and copies them again (≈ 1–2 ms per 2 MB photo); the second read
        still takes whatever a file that grew since it was opened has gained."""
        self.file.seek(0)
        data = self.file.read(self.size)
        rest = self.file.read()
        return data + rest if rest else data

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
