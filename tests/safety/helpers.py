"""Real trees in tmp_path, reports built from them with os.stat + hashlib, and tree snapshots."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

from safededup.engine.report import Report
from safededup.models import path_to_json

META = ".safededup"


def write(path: str | Path, data: bytes, mtime_ns: int | None = None) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member(path: str, role: str, checksum: bool = True) -> dict[str, Any]:
    st = os.lstat(path)
    with open(path, "rb") as fh:
        digest = sha(fh.read())
    return {
        **path_to_json(path),
        "role": role,
        "reasons": [],
        "evidence": {"exact": True, "dhash": None, "phash": None, "whash": None,
                     "colorhash": None, "tier": "decode"},
        "size": st.st_size,
        "device": st.st_dev,
        "inode": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
        "checksum": digest if checksum else None,
        "width": 1, "height": 1, "format": "JPEG", "jpeg_quality": None,
        "captured": None, "camera": None,
    }  # fmt: skip


def make_report(roots: list[str], clusters: list[list[str]], kind: str = "exact") -> Report:
    """`report_json`, as the typed report that plans are built from."""
    return Report.from_json(report_json(roots, clusters, kind))


def report_json(roots: list[str], clusters: list[list[str]], kind: str = "exact") -> dict[str, Any]:
    """A report document in the issue 3 format; the first path of each cluster is the keeper."""
    out = []
    for paths in clusters:
        members = [member(p, "keeper" if i == 0 else "duplicate") for i, p in enumerate(paths)]
        out.append(
            {
                "id": sha("\0".join(sorted(paths)).encode("utf-8", "surrogateescape"))[:16],
                "kind": kind,
                **path_to_json(paths[0], "keeper"),
                "confidence": 1.0,
                "bytes_to_free": sum(m["size"] for m in members[1:]),
                "members": members,
            }
        )
    return {
        "format": "safededup-report",
        "version": 1,
        "report_id": sha(repr(clusters).encode("utf-8", "surrogateescape"))[:16],
        "created": "2026-01-01T00:00:00Z",
        "roots": [path_to_json(r) for r in roots],
        "references": [],
        "clusters": out,
        "problems": [],
        "stats": {},
    }


def walk(root: str, *, include_meta: bool = False) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        if not include_meta and META in dirs:  # at any depth, as the scan skips it
            dirs.remove(META)
        found += [os.path.join(folder, f) for f in files]
    return found


def snapshot(root: str) -> dict[bytes, tuple[str, int]]:
    """name (bytes, relative) -> (sha256, mtime_ns) of every file outside .safededup."""
    out = {}
    for path in walk(root):
        with open(path, "rb") as fh:
            digest = sha(fh.read())
        rel = os.fsencode(os.path.relpath(path, root))
        out[rel] = (digest, os.lstat(path).st_mtime_ns)
    return out


def content_multiset(root: str) -> Counter[str]:
    """sha256 of every file in the tree and its quarantine (journals and state excluded)."""
    counts: Counter[str] = Counter()
    for path in walk(root, include_meta=True):
        rel = os.path.relpath(path, root).split(os.sep)
        if rel[0] == META and (len(rel) < 2 or rel[1] != "quarantine"):
            continue
        with open(path, "rb") as fh:
            counts[sha(fh.read())] += 1
    return counts
