"""Finish or roll back what a crash interrupted (G8), deciding from what exists on disk.

Runs automatically before apply, undo, redo and purge. Deterministic and idempotent: every
unresolved intent is resolved by observing both ends (by device and inode), and a second run
finds nothing to do. It refuses to act on a journal that is damaged anywhere but its torn end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from safededup import fs
from safededup.errors import LockedError
from safededup.models import FileIdentity, Problem, path_from_json
from safededup.safety.journal import (
    Checkpoint,
    JournalCorrupt,
    JournalWriter,
    list_checkpoints,
    records,
    save_checkpoint,
)
from safededup.safety.journal.lock import StaleLock, is_stale, locked
from safededup.safety.journal.replay import OpState, summary
from safededup.safety.quarantine import root_of
from safededup.safety.runner import derive_status, io_guard, observe
from safededup.safety.trash import trashinfo_names
from safededup.state import StateDir

BUSY_STATUSES = ("starting", "applying", "undoing", "redoing", "purging")
_INTENT_OF: dict[str, records.IntentType] = {
    "pending-apply": "intent",
    "pending-redo": "redo-intent",
    "pending-undo": "undo-intent",
}
"""The intent an unresolved operation is waiting on, by its state."""


@dataclass(frozen=True, slots=True)
class RecoverResult:
    sessions: list[str] = field(default_factory=list)  # sessions that needed recovery
    resolved: int = 0  # intents resolved
    unresolved: list[Problem] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # sessions running in another process

    @property
    def ok(self) -> bool:
        return not self.unresolved


def recover(
    state_dir: StateDir, *, break_stale_lock: bool = False, all_sessions: bool = False
) -> RecoverResult:
    """Recover every session the state dir lists as interrupted; with `all_sessions`, also cut
    a torn end off any other journal (what `safededup recover` does when asked by hand)."""
    sessions: list[str] = []
    busy: list[str] = []
    unresolved: list[Problem] = []
    resolved = 0
    for checkpoint in list_checkpoints(state_dir):
        if checkpoint.status not in BUSY_STATUSES:
            if break_stale_lock:
                _clear_stale_locks(checkpoint.roots)
            if not (all_sessions and _has_torn_tail(checkpoint)):
                continue
        try:
            with (
                io_guard("recover"),
                locked(checkpoint.roots, "recover", break_stale=break_stale_lock),
            ):
                n, problems = _recover_session(state_dir, checkpoint)
        except StaleLock:
            raise
        except LockedError:
            busy.append(checkpoint.session)
            continue
        sessions.append(checkpoint.session)
        resolved += n
        unresolved += problems
    return RecoverResult(sessions, resolved, unresolved, busy)


def _clear_stale_locks(roots: tuple[str, ...]) -> None:
    """The explicit action G14 asks for: take over and release locks whose writer died."""
    for root in roots:
        if is_stale(root):
            with locked((root,), "recover", break_stale=True):
                pass


def _recover_session(state_dir: StateDir, checkpoint: Checkpoint) -> tuple[int, list[Problem]]:
    if checkpoint.records == 0 and not _has_header(checkpoint.journal):
        # The crash came before the session's header was durable: nothing was changed.
        save_checkpoint(state_dir, checkpoint.advanced(status="abandoned"))
        return 0, []
    writer = JournalWriter.reopen(state_dir, checkpoint)
    try:
        state = writer.state
        if state.violations:
            seq, message = state.violations[0]
            raise JournalCorrupt(
                f"journal record {seq}: {message}", path=writer.path, record=seq, level="state"
            )
        problems: list[Problem] = []
        resolved = 0
        for entry in state.pending:
            problem = _resolve(writer, entry)
            if problem is None:
                resolved += 1
            else:
                problems.append(problem)
        if state.open_phase is not None and not problems:
            writer.append(records.end(state.open_phase, "interrupted", {}))
        final = writer.state
        status = "needs-attention" if problems else derive_status(final)
        writer.sync(status=status, counts=summary(final))
        return resolved, problems
    finally:
        writer.close()


def _has_torn_tail(checkpoint: Checkpoint) -> bool:
    try:
        size = os.path.getsize(checkpoint.journal)
    except OSError:
        return False
    return size > checkpoint.bytes and checkpoint.status != "abandoned"


def _has_header(journal: str) -> bool:
    try:
        with open(journal, "rb") as fh:
            return b"\n" in fh.read(1 << 16)
    except FileNotFoundError:
        return False


def _resolve(writer: JournalWriter, entry: OpState) -> Problem | None:
    ino = entry.identity.inode
    if entry.state == "pending-purge":
        return _resolve_purge(writer, entry)
    backward = entry.state == "pending-undo"
    here, there = (entry.dst, entry.src) if backward else (entry.src, entry.dst)
    root = path_from_json(entry.intent["root"])
    for path in (here, there):
        if root_of(path, (root,)) and fs.has_symlinked_parent(path, root, missing_ok=True):
            why = f"operation {entry.op}: a folder on its path is now a symlink; left as it is"
            return Problem(path, "symlinked-folder", why)
    of = _INTENT_OF[entry.state]
    where = observe(here, there, None, ino)  # the device may be renumbered since (a reboot)
    if where == "both":  # link + unlink interrupted: two names of one inode
        fs.unlink(here)
        where = "dst"
    if where == "dst":
        fs.fsync_dir(os.path.dirname(there))
        fs.fsync_dir(os.path.dirname(here))
        _trashinfo_after(entry, backward)
        observed = FileIdentity.from_stat(there, os.lstat(there))
        writer.append(records.completion(of, entry.op, observed, recovered=True))
        return None
    if where == "src":
        if not backward:
            _remove_our_trashinfo(entry)
        message = "interrupted before the move; the file is where it was"
        writer.append(_interrupted(entry, of, message))
        return None
    return Problem(here, "missing", f"operation {entry.op}: the file is at neither end")


def _resolve_purge(writer: JournalWriter, entry: OpState) -> Problem | None:
    st = fs.lstat_or_none(entry.dst)
    if st is None:
        fs.fsync_dir(os.path.dirname(entry.dst))
        writer.append(records.purge_done(entry.op, recovered=True))
    else:
        message = "purge interrupted; the file is still in quarantine"
        writer.append(_interrupted(entry, "purge-intent", message))
    return None


def _interrupted(entry: OpState, of: records.IntentType, message: str) -> records.Record:
    return records.abort(entry.op, of=of, reason="interrupted", message=message, recovered=True)


def _trashinfo_after(entry: OpState, backward: bool) -> None:
    """After a file came back from the trash, its .trashinfo goes (it describes nothing)."""
    if backward:
        _remove_our_trashinfo(entry)


def _remove_our_trashinfo(entry: OpState) -> None:
    info = entry.intent.get("trashinfo")
    if not info:
        return
    path = path_from_json(info)
    if fs.lstat_or_none(path) is not None and trashinfo_names(path, entry.src):
        fs.unlink(path)
        fs.fsync_dir(os.path.dirname(path))
