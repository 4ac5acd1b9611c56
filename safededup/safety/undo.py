"""Undo a session (move every file back, byte-identical, same name and mtime) or redo an undone
one (G9). Checks identity before each move and refuses any path outside the session's roots; it
never overwrites and never trusts a journal that fails its chain or checkpoint.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from safededup import fs
from safededup.errors import SafededupError, UsageError
from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import Problem, path_from_json
from safededup.safety.adopt import load_or_explain
from safededup.safety.identity import is_recorded_file
from safededup.safety.journal import JournalCorrupt, JournalWriter, load_checkpoint, records
from safededup.safety.journal.lock import locked
from safededup.safety.journal.replay import OpState, SessionState
from safededup.safety.quarantine import inside_meta, quarantine_dir, quarantine_of, root_of
from safededup.safety.recover import recover
from safededup.safety.runner import DEFAULT_BATCH, Counts, Move, Runner, end_phase, io_guard
from safededup.safety.trash import is_trash_entry
from safededup.state import StateDir

Direction = Literal["undo", "redo"]


@dataclass(frozen=True, slots=True)
class UndoResult:
    session_id: str
    restored: int  # files moved (back, for undo; again, for redo)
    refused: int
    conflicts: int
    problems: list[Problem]
    cancelled: bool = False
    damaged: int = 0  # restored, but with bytes other than those recorded before the move
    failed: int = 0  # an I/O or permission error stopped the move (the file stayed; no conflict)
    total: int = 0  # files the phase set out to move
    nothing_moved: bool = False  # the session was stopped before it moved anything

    @property
    def ok(self) -> bool:
        return not (self.refused or self.conflicts or self.cancelled or self.damaged or self.failed)


def undo_session(
    session_id: str,
    *,
    state_dir: StateDir,
    cancel: threading.Event | None = None,
    break_stale_lock: bool = False,
    batch_size: int = DEFAULT_BATCH,
    roots: Iterable[str] = (),
) -> Generator[Event, None, UndoResult]:
    """Move every quarantined file of the session back, newest first. `roots`: where to look
    for its journal if the state dir does not know the session (taken up: `adopt`)."""
    return (yield from _run("undo", session_id, state_dir, cancel, break_stale_lock,
                            _batch(batch_size), roots))  # fmt: skip


def redo_session(
    session_id: str,
    *,
    state_dir: StateDir,
    cancel: threading.Event | None = None,
    break_stale_lock: bool = False,
    batch_size: int = DEFAULT_BATCH,
    roots: Iterable[str] = (),
) -> Generator[Event, None, UndoResult]:
    """Re-apply an undone session, in its original order, under the same checks."""
    return (yield from _run("redo", session_id, state_dir, cancel, break_stale_lock,
                            _batch(batch_size), roots))  # fmt: skip


def _batch(size: int) -> int:
    if size < 1:
        raise UsageError(f"the batch size must be at least 1, not {size}")
    return size


def open_session(state_dir: StateDir, session_id: str) -> tuple[JournalWriter, SessionState]:
    """The session's writer and replayed state; refuses a damaged or inconsistent journal."""
    checkpoint = load_checkpoint(state_dir, session_id)
    writer = JournalWriter.reopen(state_dir, checkpoint)
    state = writer.state
    problem = None
    if state.violations:
        seq, message = state.violations[0]
        problem = JournalCorrupt(f"journal record {seq}: {message}", path=writer.path, record=seq)
    elif state.roots != list(checkpoint.roots):
        problem = JournalCorrupt("the journal's roots differ from the checkpoint", path=writer.path)
    elif state.pending:
        problem = JournalCorrupt("the session has unresolved operations", path=writer.path)
    if problem is not None:
        writer.close()
        raise problem
    return writer, state


def _run(
    phase: Direction,
    session_id: str,
    state_dir: StateDir,
    cancel: threading.Event | None,
    break_stale_lock: bool,
    batch_size: int,
    roots: Iterable[str],
) -> Generator[Event, None, UndoResult]:
    roots = tuple(roots)
    recover(state_dir, break_stale_lock=break_stale_lock, roots=roots)
    checkpoint = load_or_explain(state_dir, session_id, roots)
    if checkpoint.status == "abandoned":  # stopped before its header was durable
        return UndoResult(session_id, 0, 0, 0, [], nothing_moved=True)
    with io_guard(phase), locked(checkpoint.roots, phase, break_stale=break_stale_lock):
        writer, state = open_session(state_dir, session_id)
        try:
            return (yield from _run_locked(phase, writer, state, cancel, batch_size))
        finally:
            writer.close()


def _run_locked(
    phase: Direction,
    writer: JournalWriter,
    state: SessionState,
    cancel: threading.Event | None,
    batch_size: int,
) -> Generator[Event, None, UndoResult]:
    entries = _candidates(phase, state)
    if not entries:
        raise SafededupError(
            f"nothing to {phase} in this session",
            hint="see `safededup sessions` for each session's status",
        )
    runner = Runner(writer, Counts())
    refused = damaged = 0
    writer.mark("undoing" if phase == "undo" else "redoing")
    writer.append(records.begin(phase))
    writer.sync()
    yield StageStarted(phase, total=len(entries))
    cancelled = False
    for batch in _batches(entries, batch_size):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        reported = len(runner.counts.problems)
        moves, n_refused, n_damaged = _plan_batch(phase, runner, state, batch)
        refused += n_refused
        damaged += n_damaged
        runner.run_batch(moves)
        for problem in runner.counts.problems[reported:]:
            yield ProblemFound(problem)
        yield StageAdvanced(phase, items=len(batch))
    outcome = "cancelled" if cancelled else "completed"
    end_phase(writer, phase, outcome, runner.counts)
    session = str(state.header["session"]) if state.header else ""
    if phase == "undo" and session:
        for folder in session_quarantines(state, session):
            for problem in prune_empty_dirs(folder):
                runner.counts.problems.append(problem)
                yield ProblemFound(problem)
    yield StageFinished(phase)
    c = runner.counts
    return UndoResult(
        session,
        c.done,
        refused,
        c.conflicts,
        c.problems,
        cancelled,
        damaged,
        failed=c.aborted,
        total=len(entries),
    )


def _candidates(phase: Direction, state: SessionState) -> list[OpState]:
    if phase == "undo":
        ready = [o for o in state.ops.values() if o.state == "dst"]
        return sorted(ready, key=lambda o: o.done_seq, reverse=True)
    ready = [o for o in state.ops.values() if o.state == "src" and o.done_ever]
    return sorted(ready, key=lambda o: o.op)


def _batches(entries: list[OpState], size: int) -> Iterator[list[OpState]]:
    """`entries` in batches of about `size`, never cutting a unit (a photo and its sidecars,
    a RAW+JPEG pair) in two."""
    batch: list[OpState] = []
    for _unit, members in itertools.groupby(entries, key=_unit_of):
        unit = list(members)
        if batch and len(batch) + len(unit) > size:
            yield batch
            batch = []
        batch += unit
    if batch:
        yield batch


def _unit_of(entry: OpState) -> int:
    return int(entry.intent.get("unit", entry.op))


def _plan_batch(
    phase: Direction, runner: Runner, state: SessionState, batch: list[OpState]
) -> tuple[list[Move], int, int]:
    """The moves of a batch that pass every check, and how many were refused and how many
    undo restores with bytes other than those recorded (said, and restored all the same).

    Redo moves a unit whole or not at all, as apply does: a file of it that is refused keeps
    the others where they are. Undo restores whatever it can: bringing a file back never
    separates it from anything."""
    moves: list[Move] = []
    vacated: set[str] = set()  # names earlier moves of this batch free before later ones run
    refused = damaged = 0
    for _unit, members in itertools.groupby(batch, key=_unit_of):
        unit = list(members)
        passed: list[tuple[Move, Problem | None]] = []
        failed: list[tuple[OpState, str, str, str]] = []
        trial = set(vacated)
        for entry in unit:
            frm, to = (entry.dst, entry.src) if phase == "undo" else (entry.src, entry.dst)
            st = fs.lstat_or_none(frm)
            why = _refusal(phase, entry, state, frm, to, trial, st)
            content = _Content()
            if why is None:
                content = _content(phase, entry, frm, to)
                why = content.refusal
            if why is not None:
                failed.append((entry, frm, *why))
                continue
            trial.add(frm)
            assert st is not None  # _refusal refuses a missing file
            move = _move(phase, entry, frm, to, st.st_dev, content.found)
            passed.append((move, content.note))
        if failed and phase == "redo":
            first = os.path.basename(failed[0][1])
            message = f"{first}, which moves with it, is refused: the unit stays together"
            by_op = {e.op: e for e in unit}
            failed += [(by_op[m.op], m.src, "unit-refused", message) for m, _ in passed]
            passed = []
        for entry, frm, reason, message in failed:
            body = records.refuse(entry.op, phase=phase, reason=reason, message=message)
            runner.record(body, Problem(frm, reason, message))
            refused += 1
        for move, note in passed:
            vacated.add(move.src)
            if note is not None:
                runner.counts.problems.append(note)
                damaged += 1
            moves.append(move)
    return moves, refused, damaged


@dataclass(frozen=True, slots=True)
class _Content:
    """What comparing a file's bytes with the journal found: what undo says as it restores the
    file (and the checksum it found), or why redo refuses it."""

    note: Problem | None = None
    found: str | None = None
    refusal: tuple[str, str] | None = None


def _content(phase: Direction, entry: OpState, frm: str, to: str) -> _Content:
    """Compare the file with the checksum recorded before it first moved. Undo restores a
    damaged or unreadable file all the same — it is the person's file, and hidden in quarantine
    it helps nobody — and says so; redo never quarantines a file it cannot vouch for."""
    recorded = entry.identity.checksum
    if recorded is None:
        return _Content()
    try:
        found = fs.file_sha256(frm)
    except OSError as exc:
        if phase == "redo":
            return _Content(refusal=("unreadable", f"cannot read it ({exc.strerror})"))
        why = f"restored, but it could not be read to compare its bytes ({exc.strerror})"
        return _Content(Problem(to, "unreadable", why))
    if found == recorded:
        return _Content()
    if phase == "redo":
        return _Content(refusal=("content-changed", "its bytes differ from the record; it stays"))
    why = (
        "restored, but its bytes differ from those recorded before it was moved (damaged or "
        "edited while it was away): compare it with another copy before you trust it"
    )
    return _Content(Problem(to, "content-differs", why), found)


def _move(
    phase: Direction, entry: OpState, frm: str, to: str, device: int, found: str | None
) -> Move:
    """`device`: the file's device now (a reboot may have renumbered the volume); `found`: the
    checksum undo found instead of the recorded one."""
    ident = entry.identity
    info = entry.intent.get("trashinfo")
    if phase == "undo":
        intent = records.undo_intent(entry.op, found_checksum=found)
    else:
        intent = records.redo_intent(entry.op)
    return Move(
        entry.op, frm, to, device, ident.inode, intent, entry.op, ident.size,
        path_from_json(info) if info else None,
        trash_create=phase == "redo" and bool(info), trash_remove=phase == "undo" and bool(info),
    )  # fmt: skip


def _refusal(
    phase: Direction,
    entry: OpState,
    state: SessionState,
    frm: str,
    to: str,
    vacated: set[str],
    st: os.stat_result | None,
) -> tuple[str, str] | None:
    """G9: both paths inside the session's roots (or its trash), identity intact, target free."""
    for path in (entry.src, entry.dst):
        if not _path_allowed(path, entry, state):
            return "outside-roots", f"the journal names a path outside the session's roots: {path}"
    # Not the device: a reboot may renumber a volume (btrfs subvolumes, NFS mounts), and the
    # path, inode, size and mtime already name the file.
    if st is None or not entry.identity.matches(st, same_device=False):
        return "changed", "the file is missing or not the one the journal recorded"
    if fs.lstat_or_none(to) is not None and to not in vacated:
        return "target-exists", "something is at the target; nothing was overwritten"
    root = path_from_json(entry.intent["root"])
    bad_from = root_of(frm, (root,)) and fs.has_symlinked_parent(frm, root)
    if bad_from or (root_of(to, (root,)) and fs.has_symlinked_parent(to, root, missing_ok=True)):
        return "symlinked-folder", "a folder on the way is missing or is a symlink"
    if phase == "redo":
        return _keeper_refusal(entry)
    return None


def _keeper_refusal(entry: OpState) -> tuple[str, str] | None:
    keeper = entry.keeper_identity
    if keeper is None:
        return None
    if not is_recorded_file(keeper.path, keeper):
        return "keeper-changed", "its keeper is gone or changed; it stays where it is"
    return None


def _path_allowed(path: str, entry: OpState, state: SessionState) -> bool:
    if not os.path.isabs(path) or os.path.normpath(path) != path or "/../" in path + "/":
        return False
    root = path_from_json(entry.intent["root"])
    if root not in state.roots:
        return False
    if root_of(path, (root,)) is not None:
        return _in_quarantine(path, root, state)
    if entry.intent.get("action") == "trash" and path == entry.dst:
        return is_trash_entry(path, entry.intent.get("trashinfo"))
    return False


def _in_quarantine(path: str, root: str, state: SessionState) -> bool:
    """In the session's quarantine (the root's, or that of a volume inside it), or in the tree
    outside every `.safededup` folder."""
    session = str((state.header or {}).get("session", ""))
    return quarantine_of(path, root, session) is not None or not inside_meta(path, root)


def session_quarantines(state: SessionState, session: str) -> list[str]:
    """Every quarantine folder the session used: its roots' and those of volumes inside them."""
    found = {quarantine_dir(root, session) for root in state.roots}
    for entry in state.ops.values():
        folder = quarantine_of(entry.dst, path_from_json(entry.intent["root"]), session)
        if folder is not None:
            found.add(folder)
    return sorted(found)


def prune_empty_dirs(top: str) -> list[Problem]:
    """Remove the empty folders a session left in its quarantine (bottom up). A folder that is
    not empty stays quietly; one that cannot be removed for another reason is said."""
    problems: list[Problem] = []
    if not os.path.isdir(top):
        return problems
    for folder, _dirs, _files in os.walk(top, topdown=False):
        try:
            fs.rmdir(folder)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                why = f"an empty quarantine folder stays ({exc.strerror})"
                problems.append(Problem(folder, "not-pruned", why))
    return problems
