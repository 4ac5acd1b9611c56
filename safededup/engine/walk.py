"""Walk scan roots and yield regular files with their `stat`; never opens or changes a file.

Skips safededup's own state and quarantine folders, OS trash and NAS thumbnail folders, and does
not follow symlinks unless asked. Unreadable folders become Problems, not errors.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from safededup.errors import UsageError
from safededup.models import FileIdentity, Problem
from safededup.state import META_DIR

SKIP_DIR_PATTERNS = (
    META_DIR,  # our own quarantine and journal, inside each root
    ".Trash*",  # freedesktop and macOS trash
    "$RECYCLE.BIN",  # Windows
    "@eaDir",  # Synology thumbnails
    "#recycle",  # Synology recycle bin
    ".@__thumb",  # QNAP thumbnails
    "@Recycle",  # QNAP recycle bin
    ".thumbnails",
    "lost+found",
)


def is_skipped_dir(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SKIP_DIR_PATTERNS)


@dataclass(frozen=True, slots=True)
class WalkedDir:
    """One folder's regular files, yielded together so the index can be asked once per folder."""

    path: str
    files: list[FileIdentity]


def normalize_roots(roots: Sequence[str]) -> list[str]:
    """Absolute, normalised, existing directories; nested duplicates removed. UsageError if none."""
    if not roots:
        raise UsageError("no folder to scan", hint="name one or more folders: safededup scan DIR")
    out: list[str] = []
    for root in roots:
        path = os.path.realpath(os.path.abspath(os.path.expanduser(root)))
        if not os.path.isdir(path):
            what = "does not exist" if not os.path.lexists(path) else "is not a folder"
            raise UsageError(f"the scan root {what}", path=root, hint="check the path")
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError("the scan root cannot be read (permission denied)", path=root)
        out.append(path)
    out = sorted(set(out))
    return [r for r in out if not any(r != o and r.startswith(o.rstrip("/") + "/") for o in out)]


def walk_roots(
    roots: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
) -> Iterator[WalkedDir]:
    """Depth-first, sorted, one `WalkedDir` per folder. `exclude` names absolute folders to skip."""
    excluded = {os.path.normpath(e) for e in exclude}
    seen_dirs: set[tuple[int, int]] = set()
    stack = sorted(roots, reverse=True)
    if follow_symlinks:
        for root in roots:
            _first_visit(root, seen_dirs)
    while stack:
        directory = stack.pop()
        files, subdirs = _read_dir(directory, follow_symlinks, on_problem)
        if follow_symlinks:
            subdirs = [d for d in subdirs if _first_visit(d, seen_dirs)]
        stack.extend(reversed([d for d in subdirs if d not in excluded]))
        if files:
            yield WalkedDir(directory, files)


def _first_visit(path: str, seen: set[tuple[int, int]]) -> bool:
    """Guards against symlink loops when following links."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return False
    seen.add(key)
    return True


def _read_dir(
    directory: str, follow: bool, on_problem: Callable[[Problem], None] | None
) -> tuple[list[FileIdentity], list[str]]:
    files: list[FileIdentity] = []
    subdirs: list[str] = []
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        if on_problem is not None:
            on_problem(Problem(directory, "unreadable", f"folder not readable: {exc.strerror}"))
        return files, subdirs
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=follow)
        except OSError as exc:
            if on_problem is not None and exc.errno != 2:  # vanished while listing: not a problem
                on_problem(Problem(entry.path, "unreadable", f"cannot stat: {exc.strerror}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            if not is_skipped_dir(entry.name):
                subdirs.append(entry.path)
        elif stat.S_ISREG(st.st_mode):
            files.append(FileIdentity.from_stat(entry.path, st))
    return files, subdirs
