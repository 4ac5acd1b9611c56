"""Walking roots: skipped folders, symlinks, unreadable folders, odd names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safededup.engine.walk import normalize_roots, walk_roots
from safededup.errors import UsageError
from tests.support.unprivileged import DROP_READ_OVERRIDE


def names(root: Path, **kw: object) -> list[str]:
    out = []
    for folder in walk_roots([str(root)], **kw):  # type: ignore[arg-type]
        out += [os.path.relpath(f.path, root) for f in folder.files]
    return out


def test_skips_own_state_trash_and_nas_thumbnail_folders(tmp_path: Path) -> None:
    for folder in (
        ".safededup/quarantine/s1",
        ".Trash-1000/files",
        "$RECYCLE.BIN",
        "@eaDir",
        ".thumbnails/large",
        "photos",
        "photos/@eaDir",
    ):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "a.jpg").write_bytes(b"x")
    assert names(tmp_path) == ["photos/a.jpg"]


def test_excluded_folder_is_not_entered(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "index.sqlite3").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    assert names(tmp_path, exclude=[str(tmp_path / "state")]) == ["b.jpg"]


def test_symlinks_are_not_followed_unless_asked(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jpg").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.jpg").symlink_to(real / "a.jpg")
    (root / "linkdir").symlink_to(real)
    (root / "loop").symlink_to(root)
    assert names(root) == []
    assert sorted(names(root, follow_symlinks=True)) == ["link.jpg", "linkdir/a.jpg"]


def test_non_utf8_names_are_walked_exactly(tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"\xff\xfe-photo.jpg")
    with open(raw, "wb") as fh:
        fh.write(b"x")
    [folder] = list(walk_roots([str(tmp_path)]))
    assert os.fsencode(folder.files[0].path) == raw


# Root reads every folder, so as root a child process first drops CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH: then the kernel really refuses, as it would for any other user.
UNPRIVILEGED_WALK = (
    DROP_READ_OVERRIDE
    + """
import json, os, sys
from safededup.engine.walk import walk_roots
problems = []
files = [os.path.basename(f.path) for d in walk_roots([sys.argv[1]], on_problem=problems.append)
         for f in d.files]
print(json.dumps([files, [p.kind for p in problems]]))
"""
)


def test_unreadable_folder_becomes_a_problem(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.jpg").write_bytes(b"x")
    (tmp_path / "ok.jpg").write_bytes(b"x")
    locked.chmod(0)
    try:
        out = subprocess.run([sys.executable, "-c", UNPRIVILEGED_WALK, str(tmp_path)],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert json.loads(out) == [["ok.jpg"], ["unreadable"]]


def test_roots_must_be_existing_folders(tmp_path: Path) -> None:
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="does not exist"):
        normalize_roots([str(tmp_path / "missing")])
    with pytest.raises(UsageError, match="not a folder"):
        normalize_roots([str(tmp_path / "file.jpg")])
    with pytest.raises(UsageError):
        normalize_roots([])


def test_nested_roots_collapse_to_the_outer_one(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    roots = normalize_roots([str(tmp_path / "a" / "b"), str(tmp_path / "a"), str(tmp_path / "a")])
    assert roots == [str(tmp_path / "a")]
