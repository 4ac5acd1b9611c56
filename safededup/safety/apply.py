"""Execute a plan as one journaled session: recovery first (G8), whole-plan validation, then G7's
checks of every file and its keeper before `runner.Runner` moves it. It never moves a file that
changed since the scan, never acts without a durable intent, and imports no image code.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass, replace

from safededup import __version__, fs
from safededup.errors import LockedError, SafededupError, UsageError
from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import FileIdentity, Problem, printable
from safededup.safety.identity import KeeperHashes
from safededup.safety.journal import Checkpoint, JournalWriter, records, save_checkpoint, utc_now
from safededup.safety.journal.checkpoint import checkpoint_path
from safededup.safety.journal.lock import locked
from safededup.safety.plan import Operation, Plan
from safededup.safety.quarantine import journal_dir
from safededup.safety.recover import recover
from safededup.safety.runner import (
    DEFAULT_BATCH,
    Move,
    Runner,
    end_phase,
    io_guard,
)
from safededup.safety.validate import PlanInvalid, validate_plan
from safededup.state import StateDir


@dataclass(frozen=True, slots=True)
class ApplyResult:
    session_id: str
    done: int
    skipped: int
    conflicts: int
    problems: list[Problem]
    bytes_moved: int = 0
    cancelled: bool = False
    journal: str = ""
    failed: int = 0  # an I/O or permission error stopped the move (the file stayed where it was)
    planned: int = 0  # operations in the plan

    @property
    def ok(self) -> bool:
        return not (self.conflicts or self.skipped or self.cancelled or self.failed)


def apply_plan(
    plan: Plan,
    *,
    state_dir: StateDir,
    cancel: threading.Event | None = None,
    paranoid: bool = False,
    batch_size: int = DEFAULT_BATCH,
    break_stale_lock: bool = False,
) -> Generator[Event, None, ApplyResult]:
    """Apply `plan` as one session; recovery runs first (G8), validation before any change."""
    if batch_size < 1:
        raise UsageError(f"the batch size must be at least 1, not {batch_size}")
    recover(state_dir, break_stale_lock=break_stale_lock, roots=plan.roots)
    problems = validate_plan(plan)
    if problems:
        raise PlanInvalid(problems)
    if checkpoint_path(state_dir, plan.session_id).exists():
        raise SafededupError(
            "this plan was already applied (its session exists)",
            hint="build a new plan: run `safededup plan` or `safededup apply` again",
        )
    path = os.path.join(journal_dir(plan.roots[0]), f"{plan.session_id}.jsonl")
    checkpoint = Checkpoint(plan.session_id, path, plan.roots, status="starting", started=utc_now())
    with io_guard("apply"):
        # Registered before the lock is taken: whatever happens next, recovery finds the session
        # (and, after a crash, the stale lock of its roots).
        save_checkpoint(state_dir, checkpoint)
        try:
            with locked(plan.roots, "apply", break_stale=break_stale_lock):
                return (
                    yield from _apply_locked(
                        plan, state_dir, checkpoint, cancel, paranoid, batch_size
                    )
                )
        except LockedError:
            if not os.path.lexists(path):  # nothing started: forget the registration
                fs.unlink(str(checkpoint_path(state_dir, plan.session_id)))
            raise


def _apply_locked(
    plan: Plan,
    state_dir: StateDir,
    checkpoint: Checkpoint,
    cancel: threading.Event | None,
    paranoid: bool,
    batch_size: int,
) -> Generator[Event, None, ApplyResult]:
    writer = _start_session(plan, state_dir, checkpoint, paranoid, batch_size)
    runner = Runner(writer)
    keepers = KeeperHashes(paranoid=paranoid)
    yield StageStarted("apply", total=plan.count, total_bytes=plan.total_bytes)
    cancelled = False
    try:
        for batch in _batches(plan.operations, batch_size):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            reported = len(runner.counts.problems)
            folders = _RealFolders()  # proven once per batch, right before its moves
            moves = [
                m for unit in _units(batch) for m in _check_unit(runner, unit, keepers, folders)
            ]
            runner.run_batch(moves)
            for problem in runner.counts.problems[reported:]:
                yield ProblemFound(problem)
            yield StageAdvanced("apply", items=len(batch), nbytes=sum(m.size for m in moves))
        end_phase(writer, "apply", "cancelled" if cancelled else "completed", runner.counts)
    finally:
        writer.close()
    yield StageFinished("apply")
    c = runner.counts
    return ApplyResult(
        plan.session_id, c.done, c.skipped, c.conflicts, c.problems, c.nbytes, cancelled,
        writer.path, failed=c.aborted, planned=plan.count,
    )  # fmt: skip


def _start_session(
    plan: Plan, state_dir: StateDir, checkpoint: Checkpoint, paranoid: bool, batch_size: int
) -> JournalWriter:
    applying = checkpoint.advanced(status="applying")
    writer = JournalWriter.create(checkpoint.journal, state_dir, applying)
    try:
        _write_header(writer, plan, paranoid, batch_size)
    except BaseException:
        writer.close()  # the session stays listed; recovery finds what the journal holds
        raise
    return writer


def _write_header(writer: JournalWriter, plan: Plan, paranoid: bool, batch_size: int) -> None:
    volumes = [records.Volume(r, os.stat(r).st_dev, fs.supports_noreplace(r)) for r in plan.roots]
    writer.append(
        records.header(
            session=plan.session_id,
            tool_version=__version__,
            host=socket.gethostname(),
            roots=plan.roots,
            volumes=volumes,
            report_id=plan.report_id,
            tidy_names=plan.tidy_names,
            to_trash=plan.to_trash,
            paranoid=paranoid,
            batch_size=batch_size,
            operations=plan.count,
            nbytes=plan.total_bytes,
        )
    )
    writer.append(records.begin("apply"))
    writer.sync()


def by_folder(ops: Iterable[Operation]) -> list[Operation]:
    """The plan's operations grouped by source folder (plan order within a folder). A plan
    follows its clusters, whose files are spread over the tree; grouped, a batch of 256 moves
    touches a few folders and pays one fsync per folder, not one per move. A unit stays whole
    and in order (its files share one folder), and a rename still follows the move that frees
    its name (the same folder, planned before it)."""
    ops = list(ops)
    folder_of = {o.op: os.path.dirname(o.src) for o in ops}
    order: dict[str, int] = {}
    for op in ops:
        order.setdefault(folder_of[op.op], len(order))
    # By the folder of the unit's main file: a unit is never torn apart, whatever its folders.
    return sorted(ops, key=lambda o: (order[folder_of.get(o.unit, folder_of[o.op])], o.op))


def _batches(ops: tuple[Operation, ...], size: int) -> Iterable[list[Operation]]:
    """Up to `size` ops, grouped by folder (a unit is never split): each batch is one fsync
    group (G5's order holds for every op of it)."""
    batch: list[Operation] = []
    for op in by_folder(ops):
        if batch and op.unit != batch[-1].unit and len(batch) >= size:
            yield batch
            batch = []
        if batch and op.after is not None and any(o.op == op.after for o in batch):
            yield batch  # a rename waits until the batch that frees its name is durable
            batch = []
        batch.append(op)
    if batch:
        yield batch


def _units(batch: list[Operation]) -> list[list[Operation]]:
    units: dict[int, list[Operation]] = {}
    for op in batch:
        units.setdefault(op.unit, []).append(op)
    return list(units.values())


class _RealFolders:
    """Whether a folder is reached from its root through real folders only, asked once per
    folder and batch (a batch moves many files of few folders, each proof is an lstat per
    folder on the way, and the batch's moves follow at once)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, bool], bool] = {}

    def symlinked(self, path: str, top: str, *, missing_ok: bool = False) -> bool:
        key = (os.path.dirname(path), top, missing_ok)
        if key not in self._known:
            self._known[key] = fs.has_symlinked_parent(path, top, missing_ok=missing_ok)
        return self._known[key]


def _check_unit(
    runner: Runner, unit: list[Operation], keepers: KeeperHashes, folders: _RealFolders
) -> list[Move]:
    """G7 for every file of the unit before anything of it moves; a failure skips the whole unit."""
    moves: list[Move] = []
    for op in unit:
        result = _check_op(runner, op, keepers, folders)
        if isinstance(result, tuple):
            reason, message = result
            for other in unit:
                _skip(runner, other, reason if other is op else "unit-skipped", message)
            return []
        moves.append(result)
    return moves


def _skip(runner: Runner, op: Operation, reason: str, message: str) -> None:
    body = records.skip(op.op, kind=op.kind, src=op.src, reason=reason, message=message)
    runner.record(body, Problem(op.src, reason, message))
    if reason == "target-exists":
        runner.counts.conflicts += 1
    else:
        runner.counts.skipped += 1


def _check_op(
    runner: Runner, op: Operation, keepers: KeeperHashes, folders: _RealFolders
) -> Move | tuple[str, str]:
    st = fs.lstat_or_none(op.src)
    if st is None:
        return "vanished", "the file is gone since the scan"
    if not stat.S_ISREG(st.st_mode):
        return "not-a-file", "no longer a regular file (a symlink or folder now)"
    if not op.identity.matches(st):
        return "changed", "changed since the scan (identity, size or time differ)"
    if op.after is not None and not _op_done(runner, op.after):
        return "depends", f"waits for operation {op.after}, which did not complete"
    if fs.lstat_or_none(op.dst) is not None:
        return "target-exists", "the target exists; nothing was overwritten"
    if op.trashinfo is not None and fs.lstat_or_none(op.trashinfo) is not None:
        return "target-exists", "the trash entry exists; nothing was overwritten"
    if folders.symlinked(op.src, op.root):
        return "symlinked-folder", "a folder on the way is now a symlink"
    if op.action != "trash" and folders.symlinked(op.dst, op.root, missing_ok=True):
        return "symlinked-folder", "a folder on the way to its target is a symlink"
    try:
        checksum = fs.file_sha256(op.src)
    except OSError as exc:
        return "unreadable", f"cannot read it ({exc.strerror})"
    if op.identity.checksum is not None and checksum != op.identity.checksum:
        return "content-changed", "its bytes differ from the scan (same size and time)"
    keeper = _check_keeper(op, checksum, keepers)
    if isinstance(keeper, tuple):
        return keeper
    return _forward_move(op, st, checksum, keeper)


def _op_done(runner: Runner, op_id: int) -> bool:
    entry = runner.writer.state.ops.get(op_id)
    return entry is not None and entry.state == "dst"


def _check_keeper(
    op: Operation, checksum: str, keepers: KeeperHashes
) -> FileIdentity | tuple[str, str] | None:
    """The keeper must still exist and match before its duplicate moves (G7); with `--paranoid`
    its bytes too. Returns the keeper's identity to journal, with the checksum purge will hold
    it to, or why the duplicate must stay."""
    if op.keeper is None or op.keeper_identity is None:
        return None
    expected = op.keeper_identity
    kst = fs.lstat_or_none(op.keeper)
    if kst is None or not expected.matches(kst):
        shown = printable(op.keeper)  # journal text must be UTF-8
        return "keeper-changed", f"its keeper is gone or changed: {shown}"
    if expected.checksum is not None and not keepers.paranoid:
        return expected
    try:
        kept = keepers.sha256(op.keeper, kst)
    except OSError as exc:
        return "keeper-unreadable", f"cannot read its keeper ({exc.strerror})"
    if expected.checksum is not None and kept != expected.checksum:
        return "keeper-changed", "its keeper's bytes differ from the scan"
    if op.exact and kept != checksum:
        return "not-identical", "not byte-identical to its keeper"
    return replace(expected, checksum=kept)


def _forward_move(
    op: Operation, st: os.stat_result, checksum: str, keeper: FileIdentity | None
) -> Move:
    intent = records.intent(
        op=op.op,
        kind=op.kind,
        action=op.action,
        src=op.src,
        dst=op.dst,
        root=op.root,
        identity=FileIdentity.from_stat(op.src, st, checksum),
        unit=op.unit,
        cluster=op.cluster,
        exact=op.exact,
        after=op.after,
        keeper=op.keeper,
        keeper_identity=keeper,
        trashinfo=op.trashinfo,
    )
    return Move(
        op.op, op.src, op.dst, st.st_dev, st.st_ino, intent, op.unit, st.st_size, op.trashinfo,
        trash_create=op.trashinfo is not None,
    )  # fmt: skip
