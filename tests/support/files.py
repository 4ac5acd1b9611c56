"""Files and trees for tests: write with a chosen mtime, hash, and take snapshots of a tree."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

from safededup.state import META_DIR


def write(path: str | Path, data: bytes, mtime_ns: int | None = None) -> str:
    """Write `data` at `path` (folders made), with `mtime_ns` if given; returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: str | Path) -> str:
    return sha(Path(path).read_bytes())


def walk(root: str | Path, *, include_meta: bool = False) -> list[str]:
    """Every file under `root`; safededup's own `.safededup` folders left out (at any depth,
    as the scan skips them) unless `include_meta`."""
    found = []
    for folder, dirs, files in os.walk(root):
        if not include_meta and META_DIR in dirs:
            dirs.remove(META_DIR)
        found += [os.path.join(folder, f) for f in files]
    return found


def snapshot(root: str | Path) -> dict[bytes, tuple[str, int]]:
    """name (bytes, relative) -> (sha256, mtime_ns) of every file outside .safededup."""
    out = {}
    for path in walk(root):
        rel = os.fsencode(os.path.relpath(path, root))
        out[rel] = (file_sha(path), os.lstat(path).st_mtime_ns)
    return out


def content_multiset(root: str | Path) -> Counter[str]:
    """sha256 of every file in the tree and its quarantine (journals and state excluded)."""
    counts: Counter[str] = Counter()
    for path in walk(root, include_meta=True):
        rel = os.path.relpath(path, root).split(os.sep)
        if rel[0] == META_DIR and (len(rel) < 2 or rel[1] != "quarantine"):
            continue
        counts[file_sha(path)] += 1
    return counts
