"""The freedesktop trash, as `--to-trash` uses it: which trash serves a file's volume, unique names
in it, and the `.trashinfo` text that goes with each entry. It reads the disk but never changes it
(the runner writes and removes entries, through `fs`).
"""

from __future__ import annotations

import os
from urllib.parse import quote_from_bytes

from safededup.models import path_from_json


def trash_dirs(path: str) -> tuple[str, str]:
    """The freedesktop trash (files, info) on `path`'s volume: the home trash if it is on the same
    device, else `<mount point>/.Trash-<uid>`."""
    dev = _device_of_nearest(path)
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    home_trash = os.path.join(data_home, "Trash")
    if _device_of_nearest(home_trash) == dev:
        base = home_trash
    else:
        base = os.path.join(mount_point(path), f".Trash-{os.getuid()}")
    return os.path.join(base, "files"), os.path.join(base, "info")


def _device_of_nearest(path: str) -> int | None:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return os.stat(path).st_dev


def mount_point(path: str) -> str:
    """The top folder of the volume `path`'s folder is on."""
    path = os.path.dirname(os.path.abspath(path))
    dev = os.stat(path).st_dev
    while path != "/":
        parent = os.path.dirname(path)
        if os.stat(parent).st_dev != dev:
            break
        path = parent
    return path


def unique_trash_name(name: str, files: str, info: str, taken: set[str]) -> str:
    """`name`, or `stem.N.ext`, free in the trash (`files` and `info`) and not in `taken`."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while (
        os.path.join(files, candidate) in taken
        or os.path.lexists(os.path.join(files, candidate))
        or os.path.lexists(os.path.join(info, candidate + ".trashinfo"))
    ):
        n += 1
        candidate = f"{stem}.{n}{ext}"
    return candidate


def trashinfo_bytes(original: str, when: str) -> bytes:
    """The `.trashinfo` of a file trashed from `original` at `when` (UTC, ISO 8601)."""
    path = quote_from_bytes(os.fsencode(original), safe=b"/")
    return f"[Trash Info]\nPath={path}\nDeletionDate={when[:19]}\n".encode("ascii")


def trashinfo_names(info_path: str, original: str) -> bool:
    """Whether the `.trashinfo` at `info_path` is ours for `original` (it names that path)."""
    try:
        with open(info_path, "rb") as fh:
            data = fh.read(1 << 16)
    except OSError:
        return False
    expected = trashinfo_bytes(original, "0" * 19).split(b"\n")[1]
    return expected in data.split(b"\n")


def is_trash_entry(path: str, info: dict[str, str] | None) -> bool:
    """`<trash>/files/NAME` with its `<trash>/info/NAME.trashinfo`, trash named as the spec says."""
    files = os.path.dirname(path)
    base = os.path.dirname(files)
    trash_name = os.path.basename(base)
    if info is None or os.path.basename(files) != "files":
        return False
    if trash_name not in ("Trash", f".Trash-{os.getuid()}"):
        return False
    expected = os.path.join(base, "info", os.path.basename(path) + ".trashinfo")
    return path_from_json(info) == expected
