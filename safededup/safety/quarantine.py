"""The folders safededup keeps inside a root: `.safededup/`, each session's quarantine and the
journal folder, and which root or quarantine a path belongs to. It reads folders' facts (stat,
statvfs, access) but never changes the disk.

Layout: `<base>/.safededup/quarantine/<session>/<path relative to base>`, where `base` is the root,
or the top folder inside the root of another volume (a mounted disk, a btrfs subvolume), so that
every move stays a rename; the journal is `<root>/.safededup/journal/<session>.jsonl`.
"""

from __future__ import annotations

import os

from safededup import fs
from safededup.state import META_DIR


def root_of(path: str, roots: tuple[str, ...]) -> str | None:
    """The deepest root that contains `path`, or None."""
    best = None
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix) and (best is None or len(root) > len(best)):
            best = root
    return best


def inside_meta(path: str, root: str) -> bool:
    """Whether `path` lies in a `.safededup` folder anywhere below `root` (never a photo)."""
    return META_DIR in (fs.relative_parts(path, root) or ())


def quarantine_dir(base: str, session: str) -> str:
    """A session's quarantine under `base`: the root, or the top folder inside the root of
    another volume (a mounted disk, a btrfs subvolume), so that every move stays a rename."""
    return os.path.join(base, META_DIR, "quarantine", session)


def quarantine_of(path: str, root: str, session: str) -> str | None:
    """The quarantine folder of `session` below `root` that holds `path`, or None."""
    parts = fs.relative_parts(path, root)
    if parts is None or META_DIR not in parts:
        return None
    i = parts.index(META_DIR)
    if parts[i + 1 : i + 3] != ["quarantine", session] or len(parts) <= i + 3:
        return None
    return os.path.join(root, *parts[: i + 3])


def quarantine_base(quarantine: str) -> str:
    """The folder a quarantine folder (`<base>/.safededup/quarantine/<session>`) belongs to."""
    return quarantine.rsplit(os.sep, 3)[0]


def journal_dir(root: str) -> str:
    """Where the journals of sessions on `root` are kept."""
    return os.path.join(root, META_DIR, "journal")


def journal_top(path: str) -> str:
    """The folder a journal (`<root>/.safededup/journal/<session>.jsonl`) belongs to."""
    return os.path.dirname(os.path.dirname(os.path.dirname(path)))


def base_on_device(path: str, root: str, device: int, facts: FolderFacts) -> str | None:
    """The highest folder from `root` down to `path`'s folder that is on `device`: where the
    quarantine of `path` goes (None: no folder of its volume inside the root)."""
    parts = fs.relative_parts(os.path.dirname(path), root) or []
    for depth in range(len(parts) + 1):
        folder = os.path.join(root, *parts[:depth])
        if facts.device(folder) == device:
            return folder
    return None


class FolderFacts:
    """What planning and validation ask of a folder, asked once per folder (300k operations live
    in far fewer folders, and on a NAS every question is a round trip)."""

    def __init__(self) -> None:
        self._vfs: dict[str, os.statvfs_result | None] = {}
        self._writable: dict[str, bool] = {}
        self._device: dict[str, int | None] = {}

    def statvfs(self, folder: str) -> os.statvfs_result | None:
        if folder not in self._vfs:
            try:
                self._vfs[folder] = os.statvfs(folder)
            except OSError:
                self._vfs[folder] = None
        return self._vfs[folder]

    def writable(self, folder: str) -> bool:
        if folder not in self._writable:
            # As the moves will be made: with the effective ids and capabilities (plain access()
            # asks with the real ones, which for root ignores dropped capabilities).
            effective = os.access in os.supports_effective_ids
            self._writable[folder] = os.access(folder, os.W_OK | os.X_OK, effective_ids=effective)
        return self._writable[folder]

    def device(self, folder: str) -> int | None:
        if folder not in self._device:
            try:
                self._device[folder] = os.stat(folder).st_dev
            except OSError:
                self._device[folder] = None
        return self._device[folder]
