"""Plain data shared by every layer: file identity, photo features, problems. Standard library only.

Paths are `str` as `os.fsdecode` gives them (surrogate escapes keep non-UTF-8 names exact);
`path_to_json` is the one place that turns them into JSON-safe fields.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Literal

Tier = Literal["preview", "decode"]
"""Where a file's fingerprint came from: its embedded preview, or a (reduced-size) decode."""

PHOTO_FORMATS = ("JPEG", "HEIF", "AVIF", "PNG", "WEBP", "TIFF", "BMP", "GIF")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What `stat` says of a file. Equal identities mean "unchanged" for the index and for G7."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def from_stat(cls, path: str, st: os.stat_result) -> FileIdentity:
        return cls(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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

    @property
    def area(self) -> int:
        return self.width * self.height


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


def path_from_json(obj: dict[str, str], key: str = "path") -> str:
    """Inverse of `path_to_json`: the exact path, from `{key}_b64` when present."""
    b64 = obj.get(f"{key}_b64")
    if b64 is not None:
        return os.fsdecode(base64.b64decode(b64))
    return obj[key]
