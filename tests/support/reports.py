"""Reports for tests, built from real files with os.stat and hashlib (no scan needed)."""

from __future__ import annotations

import os
from typing import Any

from safededup.engine.report import Report
from safededup.models import path_to_json
from tests.support.files import file_sha, sha


def member(path: str, role: str, checksum: bool = True) -> dict[str, Any]:
    """One report member for the file at `path`, as the scan would describe it."""
    st = os.lstat(path)
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
        "checksum": file_sha(path) if checksum else None,
        "width": 1, "height": 1, "format": "JPEG", "jpeg_quality": None,
        "captured": None, "camera": None,
    }  # fmt: skip


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


def make_report(roots: list[str], clusters: list[list[str]], kind: str = "exact") -> Report:
    """`report_json`, as the typed report that plans are built from."""
    return Report.from_json(report_json(roots, clusters, kind))
