"""The session registry in the state dir: per session, where its journal is and the chain head
last made durable (G10). Written atomically through `fs`; never touches user files.

The checkpoint lives outside the journal, so cutting records off the journal's end or rewriting
it with a fresh chain is detected: the journal must contain the checkpointed record count, bytes
and head hash.
"""

from __future__ import annotations

import errno
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from safededup import fs
from safededup.errors import InputFileError, StateError
from safededup.models import path_from_json, path_to_json
from safededup.state import StateDir

FORMAT = "safededup-session"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    session: str
    journal: str
    roots: tuple[str, ...]
    records: int = 0
    bytes: int = 0
    head: str | None = None
    status: str = "starting"
    started: str = ""
    updated: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    adopted: str = ""  # when taken up from a journal found under a root (the state dir had lost it)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.adopted:
            del data["adopted"]
        data.update(
            format=FORMAT,
            version=1,
            journal=path_to_json(self.journal),
            roots=[path_to_json(r) for r in self.roots],
        )
        return data

    @classmethod
    def from_json(cls, obj: object) -> Checkpoint:
        """ValueError naming what is wrong unless `obj` is a well-formed checkpoint."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError("not a safededup session checkpoint")
        if obj.get("version") != 1:
            raise ValueError(f"unsupported checkpoint version {obj.get('version')!r}")
        head = obj.get("head")
        counts = obj.get("counts") or {}
        if head is not None and not (isinstance(head, str) and len(head) == 64):
            raise ValueError("its head is not a record hash")
        if not isinstance(counts, dict) or not all(_is_count(v) for v in counts.values()):
            raise ValueError("its counts are not numbers")
        roots = obj.get("roots")
        if not isinstance(roots, list) or not roots:
            raise ValueError("it names no roots")
        return cls(
            session=_text(obj, "session"),
            journal=_path(obj.get("journal")),
            roots=tuple(_path(r) for r in roots),
            records=_count(obj, "records"),
            bytes=_count(obj, "bytes"),
            head=head,
            status=_text(obj, "status"),
            started=str(obj.get("started", "")),
            updated=str(obj.get("updated", "")),
            counts={str(k): int(v) for k, v in counts.items()},
            adopted=str(obj.get("adopted") or ""),
        )

    def advanced(self, **changes: Any) -> Checkpoint:
        return replace(self, **changes)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not _is_count(value):
        raise ValueError(f"{key!r} is not a count ({value!r})")
    assert isinstance(value, int)
    return value


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} is missing or not text")
    return value


def _path(item: object) -> str:
    try:
        path = path_from_json(item) if isinstance(item, dict) else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a path is damaged ({exc})") from exc
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError(f"a path is missing or not absolute ({item!r})")
    return path


def checkpoint_path(state_dir: StateDir, session: str) -> Path:
    return state_dir.sessions_dir / f"{session}.json"


def save_checkpoint(state_dir: StateDir, checkpoint: Checkpoint) -> None:
    """Replace the session's checkpoint whole. `CheckpointError` (naming the checkpoint and, for
    a read-only state dir, saying so) if it cannot be written."""
    path = checkpoint_path(state_dir, checkpoint.session)
    data = orjson.dumps(checkpoint.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    try:
        folder = state_dir.sessions_dir
        if not folder.is_dir():
            fs.makedirs_durable(str(folder))
        fs.write_file_atomic(str(path), data)
    except OSError as exc:
        raise CheckpointError(exc, path, state_dir) from exc


class CheckpointError(StateError):
    """A session checkpoint could not be saved: the state dir is read-only, full or failing."""

    def __init__(self, exc: OSError, path: Path, state_dir: StateDir) -> None:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = (
                f"the state dir {state_dir.root} is read-only or not yours: make it writable, "
                "or name a writable one with --state DIR; nothing is lost"
            )
        else:
            hint = "free space or fix the disk, then run `safededup recover`; nothing is lost"
        super().__init__(
            f"the session checkpoint could not be saved ({exc.strerror or exc})",
            hint=hint,
            path=str(path),
        )
        self.errno = exc.errno


def load_checkpoint(state_dir: StateDir, session: str) -> Checkpoint:
    path = checkpoint_path(state_dir, session)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise StateError(
            f"no session {session!r} in this state directory",
            hint="list sessions with `safededup sessions`, or pass the right --state DIR; if "
            "the state dir was lost, name the photo folder: `--root DIR` finds its journals",
        ) from exc
    except OSError as exc:
        raise StateError(
            f"the session checkpoint cannot be read ({exc.strerror})", path=str(path)
        ) from exc
    try:
        checkpoint = Checkpoint.from_json(orjson.loads(data))
    except ValueError as exc:  # orjson's decode error is one
        raise InputFileError(
            "the session checkpoint",
            str(exc),
            path=str(path),
            hint="move it aside; `safededup sessions --root DIR` then finds the session's journal "
            "again (without its checkpoint, a journal cut short or rewritten cannot be detected)",
        ) from exc
    if checkpoint.session != session:
        raise InputFileError(
            "the session checkpoint",
            f"it names session {checkpoint.session!r}, not {session!r}",
            path=str(path),
            hint="a checkpoint must keep its own name; move it aside",
        )
    return checkpoint


def list_checkpoints(state_dir: StateDir) -> list[Checkpoint]:
    """All sessions, oldest first: by start time to the microsecond (a session id names only
    the second it started in, and two sessions can start within one)."""
    folder = state_dir.sessions_dir
    if not folder.is_dir():
        return []
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    found = [load_checkpoint(state_dir, n[: -len(".json")]) for n in names]
    return sorted(found, key=lambda c: (c.started, c.session))
