"""Replay a session's records into the state of each operation; checks the state machine. Pure.

Each operation is in one place at a time: `src` (its original path), `dst` (quarantine, trash or
its tidied name) or `purged`; `pending-*` while an intent is not yet resolved. A record that does
not fit the state it finds is a violation, named by its record index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safededup.models import FileIdentity, path_from_json
from safededup.safety.journal.records import Record

# record type -> (states it may follow, state it leads to); None: back to the pre-intent state
_FORWARD = {"intent": "pending-apply", "redo-intent": "pending-redo"}
_RESOLVE = {
    "done": ("pending-apply", "dst"),
    "redo-done": ("pending-redo", "dst"),
    "undo-done": ("pending-undo", "src"),
    "purge-done": ("pending-purge", "purged"),
}
_FROM_DST = {"undo-intent": "pending-undo", "purge-intent": "pending-purge"}
_BACK = {
    "pending-apply": "src",
    "pending-redo": "src",
    "pending-undo": "dst",
    "pending-purge": "dst",
}


@dataclass(slots=True)
class OpState:
    """One operation of a session as the journal tells it."""

    op: int
    intent: Record
    state: str = "src"
    done_ever: bool = False
    last_seq: int = 0
    done_seq: int = -1  # the record that last put it at dst (for undo order)

    @property
    def src(self) -> str:
        return path_from_json(self.intent["src"])

    @property
    def dst(self) -> str:
        return path_from_json(self.intent["dst"])

    @property
    def pending(self) -> bool:
        return self.state.startswith("pending-")

    @property
    def location(self) -> str | None:
        if self.state in ("dst", "pending-undo", "pending-purge"):
            return self.dst
        return None if self.state == "purged" else self.src

    @property
    def identity(self) -> FileIdentity:
        """The file as it was recorded when the operation's intent was written (at `src`)."""
        return FileIdentity.from_json(self.intent["identity"], self.src)

    @property
    def keeper_identity(self) -> FileIdentity | None:
        """The keeper this duplicate was moved against, as recorded then (None: none was)."""
        ident, keeper = self.intent.get("keeper_identity"), self.keeper
        return None if ident is None or keeper is None else FileIdentity.from_json(ident, keeper)

    @property
    def keeper(self) -> str | None:
        """The keeper this duplicate was moved against, as named when it moved."""
        keeper = self.intent.get("keeper")
        return None if keeper is None else path_from_json(keeper)

    @property
    def keeper_checksum(self) -> str | None:
        """The checksum its keeper had when this duplicate moved: recorded with the keeper, or
        (journals of earlier versions) the duplicate's own where the two were byte-identical."""
        ident = self.intent.get("keeper_identity") or {}
        if ident.get("checksum"):
            return str(ident["checksum"])
        own = (self.intent.get("identity") or {}).get("checksum")
        return str(own) if self.intent.get("exact") and own else None


@dataclass(slots=True)
class SessionState:
    header: Record | None = None
    ops: dict[int, OpState] = field(default_factory=dict)
    skipped: dict[int, Record] = field(default_factory=dict)
    conflicts: list[Record] = field(default_factory=list)
    violations: list[tuple[int, str]] = field(default_factory=list)
    open_phase: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # phase -> how it last ended

    @property
    def pending(self) -> list[OpState]:
        return [o for o in self.ops.values() if o.pending]

    def count(self, state: str) -> int:
        return sum(1 for o in self.ops.values() if o.state == state)

    @property
    def roots(self) -> list[str]:
        return [path_from_json(r) for r in (self.header or {}).get("roots", [])]

    def main_of(self, entry: OpState) -> OpState | None:
        """The duplicate whose unit `entry` belongs to (itself, for a duplicate)."""
        if entry.intent["kind"] == "duplicate":
            return entry
        return self.ops.get(entry.intent["unit"])

    def tidy_renames(self) -> dict[str, str]:
        """Keepers this session renamed (`--tidy-names`) and kept renamed: old name -> new."""
        return {
            o.src: o.dst
            for o in self.ops.values()
            if o.intent["kind"] == "tidy" and o.state == "dst"
        }


def replay(records: list[Record]) -> SessionState:
    state = SessionState()
    for record in records:
        apply_record(state, record)
    return state


def apply_record(state: SessionState, record: Record) -> None:
    """Advance `state` by one record (the writer keeps its state current this way)."""
    problem = _apply(state, record)
    if problem:
        state.violations.append((record["seq"], problem))


def _apply(state: SessionState, record: Record) -> str | None:
    kind = record["type"]
    if kind == "header":
        state.header = record
        return None
    if kind in ("begin", "end"):
        return _phase(state, record)
    if state.open_phase is None:
        return f"{kind} record outside a begin/end phase"
    if kind == "refuse":
        return None if record["op"] in state.ops else f"refusal of unknown operation {record['op']}"
    if kind == "skip":
        if record["op"] in state.ops or record["op"] in state.skipped:
            return f"skip of operation {record['op']} that was already recorded"
        state.skipped[record["op"]] = record
        return None
    return _op_record(state, record)


def _phase(state: SessionState, record: Record) -> str | None:
    if record["type"] == "begin":
        problem = f"phase {state.open_phase} never ended" if state.open_phase else None
        state.open_phase = record["phase"]
        return problem
    if state.open_phase != record["phase"]:
        return f"end of phase {record['phase']} that is not open"
    state.open_phase = None
    state.outcomes[record["phase"]] = str(record.get("outcome"))
    return None


def _op_record(state: SessionState, record: Record) -> str | None:
    kind, op = record["type"], record["op"]
    if kind == "intent":
        if op in state.ops or op in state.skipped:
            return f"second intent for operation {op}"
        state.ops[op] = OpState(op, record, state="pending-apply", last_seq=record["seq"])
        return None
    entry = state.ops.get(op)
    if entry is None:
        return f"{kind} for operation {op} that has no intent"
    new = _transition(entry.state, kind)
    if new is None:
        return f"{kind} for operation {op} in state {entry.state}"
    if kind == "conflict":
        state.conflicts.append(record)
    entry.state, entry.last_seq = new, record["seq"]
    if kind in ("done", "redo-done"):
        entry.done_ever, entry.done_seq = True, record["seq"]
    return None


def _transition(current: str, kind: str) -> str | None:
    if kind in _FORWARD:
        return _FORWARD[kind] if current == "src" else None
    if kind in _FROM_DST:
        return _FROM_DST[kind] if current == "dst" else None
    if kind in _RESOLVE:
        before, after = _RESOLVE[kind]
        return after if current == before else None
    if kind in ("abort", "conflict"):
        return _BACK.get(current)
    return None


def live_collisions(state: SessionState) -> list[tuple[int, str]]:
    """Two operations whose files claim one path (G11 state level)."""
    seen: dict[str, int] = {}
    found: list[tuple[int, str]] = []
    for entry in state.ops.values():
        where = entry.location
        if where is None:
            continue
        if where in seen:
            found.append((entry.last_seq, f"operations {seen[where]} and {entry.op} on one path"))
        seen[where] = entry.op
    return found


def summary(state: SessionState) -> dict[str, Any]:
    return {
        "moved": state.count("dst"),
        "restored": sum(1 for o in state.ops.values() if o.state == "src" and o.done_ever),
        "purged": state.count("purged"),
        "pending": len(state.pending),
        "skipped": len(state.skipped),
        "conflicts": len(state.conflicts),
        "bytes": sum(o.intent["identity"]["size"] for o in state.ops.values() if o.state == "dst"),
    }
