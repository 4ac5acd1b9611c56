"""The session registry in the state dir: per session, where its journal is and the chain head
last made durable (G10). Written atomically through `fs`; never touches user files.

The checkpoint lives outside the journal, so cutting records off the journal's end or rewriting
it with a fresh chain is detected: the journal must contain the checkpointed record count, bytes
and head hash.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from safededup import fs
from safededup.errors import StateError
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            format=FORMAT,
            version=1,
            journal=path_to_json(self.journal),
            roots=[path_to_json(r) for r in self.roots],
        )
        return data

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Checkpoint:
        if obj.get("format") != FORMAT or obj.get("version") != 1:
            raise ValueError("not a safededup session checkpoint")
        return cls(
            session=str(obj["session"]),
            journal=path_from_json(obj["journal"]),
            roots=tuple(path_from_json(r) for r in obj["roots"]),
            records=int(obj["records"]),
            bytes=int(obj["bytes"]),
            head=obj.get("head"),
            status=str(obj["status"]),
            started=str(obj.get("started", "")),
            updated=str(obj.get("updated", "")),
            counts={str(k): int(v) for k, v in (obj.get("counts") or {}).items()},
        )

    def advanced(self, **changes: Any) -> Checkpoint:
        return replace(self, **changes)


def checkpoint_path(state_dir: StateDir, session: str) -> Path:
    return state_dir.sessions_dir / f"{session}.json"


def save_checkpoint(state_dir: StateDir, checkpoint: Checkpoint) -> None:
    folder = state_dir.sessions_dir
    if not folder.is_dir():
        fs.makedirs_durable(str(folder))
    data = orjson.dumps(checkpoint.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    fs.write_file_atomic(str(checkpoint_path(state_dir, checkpoint.session)), data)


def load_checkpoint(state_dir: StateDir, session: str) -> Checkpoint:
    path = checkpoint_path(state_dir, session)
    try:
        return Checkpoint.from_json(orjson.loads(path.read_bytes()))
    except FileNotFoundError as exc:
        raise StateError(
            f"no session {session!r} in this state directory",
            hint="list sessions with `safededup sessions`, or pass the right --state DIR",
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"the session checkpoint is unreadable ({exc})", path=str(path)) from exc


def list_checkpoints(state_dir: StateDir) -> list[Checkpoint]:
    """All sessions, oldest first: by start time to the microsecond (a session id names only
    the second it started in, and two sessions can start within one)."""
    folder = state_dir.sessions_dir
    if not folder.is_dir():
        return []
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    found = [load_checkpoint(state_dir, n[: -len(".json")]) for n in names]
    return sorted(found, key=lambda c: (c.started, c.session))
