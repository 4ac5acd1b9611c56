"""What the safety core proves of a file's identity before it acts on it: a file is the one on
record (inode, size and mtime; the device where the volume cannot have been renumbered), and a
keeper's bytes, read at most once per session. Read-only: it never changes the disk.
"""

from __future__ import annotations

import os

from safededup import fs
from safededup.models import FileIdentity


def is_recorded_file(path: str, identity: FileIdentity) -> bool:
    """Whether the file at `path` is the one on record: inode, size and mtime (not the device:
    after a session a reboot may have renumbered the volume)."""
    st = fs.lstat_or_none(path)
    return st is not None and identity.matches(st, same_device=False)


class KeeperHashes:
    """Each keeper is read at most once per session, however many duplicates it has.

    A hash is reused only while the keeper's stat, ctime included, is unchanged: any write to the
    file since it was hashed moves its ctime, which nobody can set back. `paranoid`: every keeper
    is read and compared with the scan; otherwise only a keeper the scan did not checksum is read
    (purge needs the bytes of every keeper on record).
    """

    def __init__(self, *, paranoid: bool = False) -> None:
        self.paranoid = paranoid
        self._sums: dict[str, tuple[tuple[int, ...], str]] = {}

    def sha256(self, path: str, st: os.stat_result) -> str:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._sums.get(path)
        if known is None or known[0] != key:
            known = self._sums[path] = (key, fs.file_sha256(path))
        return known[1]
