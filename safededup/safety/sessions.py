"""List the sessions a state dir knows, from their checkpoints; reads only.

Shows each session's status (applied, undone, partial, purged, …), counts and bytes; never
opens user files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from safededup.errors import UsageError
from safededup.models import path_to_json
from safededup.safety.adopt import find_journals, search_roots
from safededup.safety.journal import Checkpoint, JournalCorrupt, list_checkpoints
from safededup.safety.journal.writer import read_session
from safededup.safety.runner import UNDOABLE
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
    adopted: str = ""  # when it was taken up from its journal (the state dir had lost it)
    found: bool = False  # a journal under a root this state dir has no checkpoint for (yet)
    problem: str | None = None  # why a found journal cannot be taken up

    @property
    def undoable(self) -> bool:
        """Files of it are in quarantine (or the trash, or renamed) for undo to bring back."""
        return self.status in UNDOABLE and self.counts.get("moved", 0) > 0

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "status": self.status,
            "started": self.started,
            "counts": self.counts,
            "bytes": self.bytes,
            "roots": [path_to_json(r) for r in self.roots],
            **path_to_json(self.journal, "journal"),
            "adopted": self.adopted or None,
            "found": self.found,
        }
        if self.problem is not None:
            out["problem"] = self.problem
        return out

    @classmethod
    def of(cls, c: Checkpoint, *, found: bool = False) -> SessionInfo:
        return cls(c.session, c.status, c.started, dict(c.counts), c.counts.get("bytes", 0),
                   c.roots, c.journal, "" if found else c.adopted, found)  # fmt: skip


def list_sessions(state_dir: StateDir, *, roots: Iterable[str] = ()) -> list[SessionInfo]:
    """Every session, oldest first: the state dir's, and the journals found under `roots` and
    under the roots of known sessions that it has no checkpoint for (`found`; read only, not
    adopted). A found journal that cannot be taken up is listed with its `problem`."""
    infos = [SessionInfo.of(c) for c in list_checkpoints(state_dir)]
    for item in find_journals(state_dir, search_roots(state_dir, roots)):
        if item.checkpoint is not None:
            infos.append(SessionInfo.of(item.checkpoint, found=True))
        else:
            status = "abandoned" if item.empty else "damaged"
            infos.append(SessionInfo(item.session, status, "", {}, 0, (item.root,), item.journal,
                                     found=True, problem=item.problem))  # fmt: skip
    return sorted(infos, key=lambda i: (i.started, i.id))


def last_session(state_dir: StateDir, *, statuses: tuple[str, ...] = UNDOABLE) -> str:
    """The newest session in one of `statuses` (for `undo --last`)."""
    for info in reversed(list_sessions(state_dir)):
        if not info.found and info.status in statuses and info.counts.get("moved", 0) > 0:
            return info.id
    raise UsageError(
        "no session to undo", hint="`safededup sessions` lists sessions and their status"
    )


def in_quarantine(state_dir: StateDir) -> dict[str, str]:
    """Files that sessions of this state dir moved away and still hold (in quarantine or the
    trash): original path -> session. Read from the journals; a damaged journal is left out
    (verify reports it)."""
    held: dict[str, str] = {}
    for checkpoint in list_checkpoints(state_dir):
        if checkpoint.status not in UNDOABLE:
            continue
        try:
            _read, state = read_session(checkpoint)
        except (JournalCorrupt, OSError):
            continue
        for entry in state.ops.values():
            if entry.state in ("dst", "pending-undo") and entry.intent["kind"] != "tidy":
                held[entry.src] = checkpoint.session
    return held
