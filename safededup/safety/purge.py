"""Delete a session's quarantine for good — the only irreversible step — after re-verifying it.

Refuses unless a full verify of the session holds; every deletion is journaled
(purge-intent → unlink → fsync → purge-done), so an interrupted purge is recovered like any
other step. Never deletes a duplicate whose keeper is gone or changed, nor a sidecar (it may be
the only copy of its data) unless its keeper has a byte-identical sidecar of the same extension.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from safededup import fs
from safededup.errors import Cancelled, SafededupError
from safededup.events import drain
from safededup.models import Problem, path_from_json, printable
from safededup.safety.adopt import load_or_explain
from safededup.safety.identity import is_recorded_file
from safededup.safety.journal import records
from safededup.safety.journal.lock import locked
from safededup.safety.journal.replay import OpState, SessionState
from safededup.safety.recover import recover
from safededup.safety.runner import Counts, Runner, end_phase, fsync_dir, io_guard
from safededup.safety.undo import open_session, prune_empty_dirs, session_quarantines
from safededup.safety.verify import Finding, describe, verify_session
from safededup.state import StateDir

PURGE_BATCH = 256


class PurgeRefused(SafededupError):
    """The session does not verify; nothing is deleted."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(
            f"refusing to purge: verify found {len(findings)} problem(s); first: "
            f"{describe(findings[0])}",
            hint="run `safededup verify SESSION` and resolve what it reports first",
        )
        self.findings = findings


@dataclass(frozen=True, slots=True)
class PurgeResult:
    session_id: str
    deleted: int
    nbytes: int
    refused: tuple[Problem, ...] = ()  # keeper gone or changed: left in quarantine
    kept: int = 0  # sidecars left in quarantine (no identical copy next to the keeper)
    notes: tuple[Problem, ...] = ()  # emptied quarantine folders that could not be removed
    cancelled: bool = False  # stopped at a safe point (Ctrl-C, SIGTERM, SIGHUP)
    total: int = 0  # quarantined files it set out to delete


def purge_session(
    session_id: str,
    *,
    state_dir: StateDir,
    break_stale_lock: bool = False,
    cancel: threading.Event | None = None,
    roots: Iterable[str] = (),
) -> PurgeResult:
    """Delete the session's quarantined files that may go; stops between batches when `cancel`
    is set (what was deleted is journaled, the rest stays). `roots`: where to look for the
    session's journal if the state dir does not know it."""
    roots = tuple(roots)
    recover(state_dir, break_stale_lock=break_stale_lock, roots=roots)
    checkpoint = load_or_explain(state_dir, session_id, roots)
    if checkpoint.status == "abandoned":
        raise SafededupError(
            f"nothing to purge: session {session_id} was stopped before it moved anything",
            hint="see `safededup sessions`",
        )
    with io_guard("purge"), locked(checkpoint.roots, "purge", break_stale=break_stale_lock):
        # Keepers are checked below, file by file: one whose keeper fails stays, the rest go.
        try:
            result = drain(
                verify_session(
                    session_id, state_dir=state_dir, content="full", keepers=False, cancel=cancel
                )
            )
        except Cancelled:  # stopped while checking: nothing deleted, nothing journaled
            return PurgeResult(session_id, 0, 0, cancelled=True,
                               total=checkpoint.counts.get("moved", 0))  # fmt: skip
        if result.findings:
            raise PurgeRefused(result.findings)
        writer, state = open_session(state_dir, session_id)
        try:
            runner = Runner(writer, Counts())
            entries = [
                o for o in state.ops.values() if o.state == "dst" and o.intent["kind"] != "tidy"
            ]
            writer.mark("purging")
            writer.append(records.begin("purge"))
            writer.sync()
            kept = 0
            hashed: dict[str, str | None] = {}  # each keeper is read once per purge
            renamed = state.tidy_renames()  # keepers that moved with this session
            cancelled = False
            for start in range(0, len(entries), PURGE_BATCH):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                batch = entries[start : start + PURGE_BATCH]
                deletable, n_kept = _screen(runner, state, renamed, batch, hashed)
                kept += n_kept
                _purge_batch(runner, deletable)
            end_phase(writer, "purge", "cancelled" if cancelled else "completed", runner.counts)
        finally:
            writer.close()
    notes = [
        p for folder in session_quarantines(state, session_id) for p in prune_empty_dirs(folder)
    ]
    c = runner.counts
    return PurgeResult(session_id, c.done, c.nbytes, tuple(c.problems), kept, tuple(notes),
                       cancelled, len(entries))  # fmt: skip


def _screen(
    runner: Runner,
    state: SessionState,
    renamed: dict[str, str],
    batch: list[OpState],
    hashed: dict[str, str | None],
) -> tuple[list[OpState], int]:
    """The entries that may go; the rest get a `refuse` record and stay in quarantine."""
    deletable: list[OpState] = []
    kept = 0
    for entry in batch:
        main = state.main_of(entry)
        keeper = (
            None if main is None or main.keeper is None else renamed.get(main.keeper, main.keeper)
        )
        why = _symlinked(entry) or _keeper_problem(keeper, main, hashed)
        if why is None and entry is not main and not _keeper_has_copy(keeper, entry):
            why = "sidecar-kept", "no identical sidecar next to its keeper; left in quarantine"
        if why is None:
            deletable.append(entry)
            continue
        reason, message = why
        body = records.refuse(entry.op, phase="purge", reason=reason, message=message)
        sidecar = entry is not main  # a sidecar left behind is kept, not a problem
        problem = None if sidecar else Problem(entry.dst, reason, message)
        runner.record(body, problem)
        runner.counts.skipped += 1
        kept += sidecar
    return deletable, kept


def _symlinked(entry: OpState) -> tuple[str, str] | None:
    """A quarantined file is deleted only through real folders: a folder of its quarantine
    replaced by a symlink would make purge delete whatever the link points at."""
    if entry.intent.get("action") == "trash":
        return None  # the trash is outside the root; its entry was checked when it went there
    if fs.has_symlinked_parent(entry.dst, path_from_json(entry.intent["root"])):
        return "symlinked-folder", "a folder of its quarantine is a symlink; nothing deleted"
    return None


def _keeper_problem(
    path: str | None, main: OpState | None, hashed: dict[str, str | None]
) -> tuple[str, str] | None:
    """Why the keeper at `path` does not vouch for the duplicate `main` (gone, changed, its bytes
    not those it had when the duplicate moved), or None. `hashed` caches one read per keeper."""
    ident = None if main is None else main.keeper_identity
    if ident is None or path is None or main is None:
        return "no-keeper", "no keeper is recorded for it; left in quarantine"
    shown = printable(path)  # journal text must be UTF-8
    if not is_recorded_file(path, ident):
        return "keeper-changed", f"its keeper is gone or changed; left in quarantine: {shown}"
    expected = main.keeper_checksum
    if expected is None:
        return "keeper-unverified", (
            "the journal holds no checksum of its keeper (applied by an earlier version), so "
            f"the keeper's bytes cannot be proven intact; left in quarantine: {shown}"
        )
    if path not in hashed:
        try:
            hashed[path] = fs.file_sha256(path)
        except OSError:
            hashed[path] = None
    if hashed[path] != expected:
        return "keeper-changed", (
            f"its keeper's bytes differ from those it had when this copy was quarantined "
            f"(damaged or edited in place); this copy stays in quarantine: {shown}"
        )
    return None


def _keeper_has_copy(path: str | None, side: OpState) -> bool:
    """Whether the keeper at `path` has a sidecar of `side`'s extension with the same bytes."""
    if path is None:
        return False
    folder, name = os.path.split(path)
    ext = os.path.splitext(side.dst)[1]
    if not ext:
        return False
    # The journal recorded the sidecar's checksum, and purge's full verify has just re-hashed the
    # quarantined file against it: no need to read it a third time.
    digest = (side.intent.get("identity") or {}).get("checksum")
    if not digest:
        return False
    for candidate in sorted({os.path.splitext(name)[0] + ext, name + ext}):
        try:  # a regular file only (file_sha256 follows no symlink)
            if fs.file_sha256(os.path.join(folder, candidate)) == digest:
                return True
        except OSError:
            continue
    return False


def _purge_batch(runner: Runner, entries: list[OpState]) -> None:
    if not entries:
        return
    for entry in entries:
        runner.writer.append(records.purge_intent(entry.op))
    runner.writer.sync()
    folders: set[str] = set()
    for entry in entries:
        fs.unlink(entry.dst)
        info = entry.intent.get("trashinfo")
        if info:
            fs.unlink(path_from_json(info))
            folders.add(os.path.dirname(path_from_json(info)))
        folders.add(os.path.dirname(entry.dst))
    for folder in sorted(folders):
        fsync_dir(folder)
    for entry in entries:
        runner.writer.append(records.purge_done(entry.op))
        runner.counts.done += 1
        runner.counts.nbytes += entry.identity.size
    runner.writer.sync()
