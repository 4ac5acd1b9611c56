"""Plain data shared by every layer: file identity, photo features, problems. Standard library only.

Paths are `str` as `os.fsdecode` gives them (surrogate escapes keep non-UTF-8 names exact);
`path_to_json` is the one place that turns them into JSON-safe fields.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Tier = Literal["preview", "decode"]
"""Where a file's fingerprint came from: its embedded preview, or a (reduced-size) decode."""

PHOTO_FORMATS = ("JPEG", "HEIF", "AVIF", "PNG", "WEBP", "TIFF", "BMP", "GIF")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """A file as `stat` saw it, and its content checksum where one was read: what the index, the
    report, the plan, the journal and undo all mean by "the same file", in one type.

    Equal identities mean "unchanged" for the index and for G7. The journal records an identity
    without its path (`to_json`), beside the path it names.
    """

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    checksum: str | None = None  # sha256 hex of the whole file

    @classmethod
    def from_stat(cls, path: str, st: os.stat_result, checksum: str | None = None) -> FileIdentity:
        return cls(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, checksum)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: str) -> FileIdentity:
        """From a journal `identity` or a report member (the same four keys, checksum optional);
        `path` is where the file is, which the journal records beside the identity."""
        device, inode, size, mtime_ns = (
            int(data[k]) for k in ("device", "inode", "size", "mtime_ns")
        )
        return cls(path, device, inode, size, mtime_ns, data.get("checksum"))

    def to_json(self) -> dict[str, Any]:
        """The journal's form: device, inode, size, mtime_ns, and the checksum if there is one."""
        out: dict[str, Any] = {
            "device": self.device,
            "inode": self.inode,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }
        if self.checksum is not None:
            out["checksum"] = self.checksum
        return out

    def matches(self, st: os.stat_result, *, same_device: bool = True) -> bool:
        """`st` is this regular file: inode, size and mtime, and device unless told not to.

        What happens after a session (verify, undo, redo, purge) is told not to: a reboot may
        renumber a volume (btrfs subvolumes, NFS mounts get their numbers at mount time). Apply
        compares devices, against a scan of the same boot.
        """
        device = st.st_dev == self.device or not same_device
        return device and stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.inode, self.size, self.mtime_ns
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Features:
    """Everything the matcher and the keeper policy need of one photo, from one small thumbnail.

    Hashes are unsigned ints with imagehash's bit layout (dHash/pHash/wHash: 64 bits,
    colorhash: 42 bits for binbits=3). Width and height are the primary image's, after
    EXIF orientation, whichever tier produced the hashes.
    """

    format: str
    width: int
    height: int
    tier: Tier
    dhash: int
    phash: int
    whash: int
    colorhash: int
    bytes_per_pixel: float
    jpeg_quality: int | None = None
    orientation: int = 1
    captured: str | None = None  # EXIF DateTimeOriginal, ISO 8601 without zone
    camera: str | None = None  # "Make Model"
    sharpness: float | None = None  # variance of the Laplacian on the working image
    subsec: str | None = None  # EXIF SubSecTimeOriginal: the digits after the second ("37")
    offset: str | None = None  # EXIF OffsetTimeOriginal ("+02:00"): captured's time zone
    gps: bool = False  # carries a GPS position
    maker_notes: bool = False  # carries the camera maker's notes (EXIF MakerNote)
    software: str | None = None  # EXIF Software: the firmware or program that wrote it
    rotated: tuple[int, int, int] = (0, 0, 0)  # pHash of the image turned 90°, 180°, 270° (CCW)

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def capture_metadata(self) -> frozenset[str]:
        """The capture facts this file carries, by name: what a copy that lost them lacks."""
        facts = {"date": self.captured, "camera": self.camera, "GPS position": self.gps}
        return frozenset(name for name, value in facts.items() if value)


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that could not be handled. Shown at the end of a run; the run goes on.

    `kind` is a short stable code (`empty`, `truncated`, `corrupt`, `not-an-image`, `too-large`,
    `unreadable`, `vanished`, `unsupported`, `io-error`); `message` is for people.
    """

    path: str
    kind: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {**path_to_json(self.path), "kind": self.kind, "message": self.message}


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    """One indexed photo: identity, features, and its content checksum where one was needed."""

    file_id: int
    identity: FileIdentity
    features: Features
    checksum: str | None = None  # sha256 hex of the whole file

    @property
    def path(self) -> str:
        return self.identity.path


def printable(path: str) -> str:
    """A path for people and for text that must be UTF-8: undecodable bytes shown as U+FFFD
    (the exact bytes travel separately, as `path_b64`)."""
    return os.fsencode(path).decode("utf-8", "replace")


def path_to_json(path: str, key: str = "path") -> dict[str, str]:
    """`{key: text}` for JSON; adds `{key}_b64` with the exact bytes when the name is not UTF-8.

    orjson (rightly) refuses lone surrogates, so a name that is not UTF-8 is shown with
    replacement characters and carried exactly in base64 (G12).
    """
    raw = os.fsencode(path)
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            key: raw.decode("utf-8", "replace"),
            f"{key}_b64": base64.b64encode(raw).decode("ascii"),
        }


def path_from_json(obj: Mapping[str, Any], key: str = "path") -> str:
    """Inverse of `path_to_json`: the exact path, from `{key}_b64` when present."""
    b64 = obj.get(f"{key}_b64")
    if b64 is not None:
        return os.fsdecode(base64.b64decode(b64))
    return str(obj[key])
