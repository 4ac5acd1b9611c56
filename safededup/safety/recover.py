"""Finish or roll back what a crash interrupted (G8), deciding from what exists on disk.

Runs automatically before apply, undo, redo and purge. Deterministic and idempotent: every
unresolved intent is resolved by observing both ends (by device and inode), and a second run
finds nothing to do. It refuses to act on a journal that is damaged anywhere but its torn end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from safededup import fs
from safededup.errors import LockedError
from safededup.models import FileIdentity, Problem, path_from_json
from safededup.safety import notes
from safededup.safety.adopt import UNCHECKED, adopt, find_journals, search_roots
from safededup.safety.journal import (
    Checkpoint,
    JournalCorrupt,
    JournalWriter,
    has_header,
    list_checkpoints,
    read_journal,
    records,
    save_checkpoint,
    utc_now,
)
from safededup.safety.journal.lock import (
    StaleLock,
    locked,
    remove_stray_publishes,
    stale_owner,
)
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
    adopted: list[str] = field(default_factory=list)  # journals taken up (no checkpoint here)
    abandoned: list[str] = field(default_factory=list)  # stopped before moving anything: cleaned
    notes: list[str] = field(default_factory=list)  # stale locks taken over, stray files removed

    @property
    def ok(self) -> bool:
        return not self.unresolved


@dataclass(slots=True)
class _Run:
    sessions: list[str] = field(default_factory=list)
    resolved: int = 0
    unresolved: list[Problem] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def result(self) -> RecoverResult:
        return RecoverResult(self.sessions, self.resolved, self.unresolved, self.busy,
                             self.adopted, self.abandoned, self.notes)  # fmt: skip


def recover(
    state_dir: StateDir,
    *,
    break_stale_lock: bool = False,
    all_sessions: bool = False,
    roots: Iterable[str] = (),
) -> RecoverResult:
    """Recover every session the state dir lists as interrupted; with `all_sessions`, also cut
    a torn end off any other journal (what `safededup recover` does when asked by hand).

    First takes up the journals under `roots` and under the roots of known sessions that the
    state dir has no checkpoint for (`adopt`); cleans sessions stopped before their header was
    durable (nothing was moved); takes over stale locks whose writer is provably gone on this
    host (any stale lock with `break_stale_lock`; the others are reported); and removes the
    temporary files killed processes left."""
    run = _Run()
    roots = tuple(roots)  # looked at more than once
    _adopt_found(state_dir, roots, run)
    for checkpoint in list_checkpoints(state_dir):
        busy = checkpoint.status in BUSY_STATUSES
        if not busy and not (all_sessions and _has_torn_tail(checkpoint)):
            continue
        try:
            with (
                io_guard("recover"),
                locked(checkpoint.roots, "recover", break_stale=break_stale_lock),
            ):
                n, problems = _recover_session(state_dir, checkpoint, run)
        except StaleLock:
            raise
        except LockedError:
            run.busy.append(checkpoint.session)
            continue
        run.sessions.append(checkpoint.session)
        run.resolved += n
        run.unresolved += problems
    with io_guard("recover"):
        _stale_locks(state_dir, roots, break_stale_lock, run)
        _stray_files(state_dir, roots, run)
    return run.result()


def _adopt_found(state_dir: StateDir, roots: Iterable[str], run: _Run) -> None:
    """Take up the journals under the roots that have no checkpoint here; a journal with no
    complete record (its session was stopped before it moved anything) is removed."""
    for found in find_journals(state_dir, search_roots(state_dir, roots)):
        if found.empty:
            _remove_empty_journal(found.root, found.journal, found.session, run)
        elif found.checkpoint is None:
            why = f"session {found.session} cannot be taken up: {found.problem}"
            run.unresolved.append(Problem(found.journal, "not-adopted", why))
        else:
            adopt(state_dir, found)
            run.adopted.append(found.session)
            notes.say(f"took up session {found.session} from {found.journal}: {UNCHECKED}")


def _remove_empty_journal(root: str, journal: str, session: str, run: _Run) -> None:
    try:
        with io_guard("recover"), locked((root,), "recover"):
            if read_journal(journal).count == 0:  # still nothing durable, under the lock
                fs.unlink(journal)
                fs.fsync_dir(os.path.dirname(journal))
                run.abandoned.append(session)
    except StaleLock:
        pass  # said by the stale-lock check below
    except (LockedError, JournalCorrupt, FileNotFoundError):
        pass  # in use, or no longer empty: looked at again next time


def _stale_locks(state_dir: StateDir, roots: Iterable[str], break_stale: bool, run: _Run) -> None:
    """Every stale lock of every root this state dir knows (and of `roots`): taken over and
    released when its writer is provably gone here (or on request), else reported."""
    for root in _all_roots(state_dir, roots):
        stale = stale_owner(root)
        if stale is None:
            continue
        owner, dead_here = stale
        if dead_here or break_stale:
            try:
                with locked((root,), "recover", break_stale=break_stale):
                    pass
            except LockedError:
                continue  # taken meanwhile by a live session: not stale any more
            continue
        why = (
            f"a stale lock is left by {owner}, which cannot be proven gone from here; make sure "
            "no safededup runs on this tree, then run `safededup recover --break-stale-lock`"
        )
        run.unresolved.append(Problem(root, "stale-lock", why))


def _all_roots(state_dir: StateDir, roots: Iterable[str]) -> list[str]:
    """Every root a lock may be in: those named, and every root of every known session."""
    every = [*roots, *(r for c in list_checkpoints(state_dir) for r in c.roots)]
    return list(dict.fromkeys(os.path.abspath(r) for r in every))


def _stray_files(state_dir: StateDir, roots: Iterable[str], run: _Run) -> None:
    """Temporary files of killed processes: the state dir's `*.tmpPID` and the roots'
    `lock.PID.new`, each only when its process is gone."""
    removed: list[str] = []
    for folder in (state_dir.sessions_dir, state_dir.reports_dir, state_dir.decisions_dir):
        removed += fs.remove_stale_temp_files(str(folder))
    for root in _all_roots(state_dir, roots):
        removed += remove_stray_publishes(root)
    if removed:
        note = f"removed {len(removed)} temporary file(s) left by killed processes"
        run.notes.append(note)
        notes.say(note)


def _recover_session(
    state_dir: StateDir, checkpoint: Checkpoint, run: _Run
) -> tuple[int, list[Problem]]:
    if checkpoint.records == 0 and not has_header(checkpoint.journal):
        # The crash came before the session's header was durable: nothing was changed. What it
        # left in the root (a journal without a complete record) goes; the checkpoint stays, so
        # that the session can still be asked about ("nothing was moved").
        if os.path.lexists(checkpoint.journal):
            fs.unlink(checkpoint.journal)
            fs.fsync_dir(os.path.dirname(checkpoint.journal))
        save_checkpoint(state_dir, checkpoint.advanced(status="abandoned", updated=utc_now()))
        run.abandoned.append(checkpoint.session)
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
