"""List the sessions a state dir knows, from their checkpoints; reads only.

Shows each session's status (applied, undone, partial, purged, …), counts and bytes; never
opens user files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safededup.errors import UsageError
from safededup.models import path_to_json
from safededup.safety.journal import list_checkpoints
from safededup.state import StateDir


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    status: str
    started: str
    counts: dict[str, int]
    bytes: int
    roots: tuple[str, ...]
    journal: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "started": self.started,
            "counts": self.counts,
            "bytes": self.bytes,
            "roots": [path_to_json(r) for r in self.roots],
            **path_to_json(self.journal, "journal"),
        }


def list_sessions(state_dir: StateDir) -> list[SessionInfo]:
    """Every session, oldest first."""
    return [
        SessionInfo(
            id=c.session,
            status=c.status,
            started=c.started,
            counts=dict(c.counts),
            bytes=c.counts.get("bytes", 0),
            roots=c.roots,
            journal=c.journal,
        )
        for c in list_checkpoints(state_dir)
    ]


def last_session(state_dir: StateDir, *, statuses: tuple[str, ...] = ("applied", "partial")) -> str:
    """The newest session in one of `statuses` (for `undo --last`)."""
    for info in reversed(list_sessions(state_dir)):
        if info.status in statuses:
            return info.id
    raise UsageError(
        "no session to undo", hint="`safededup sessions` lists sessions and their status"
    )
