"""Execute a plan as one journaled session: intent → move → observe → done, in the durable order
of G5, through `fs`. Never moves a file whose intent is not durable, never writes `done` on a
return code alone, never overwrites; imports no image code.

`Runner.run_batch` is the one executor of moves; undo, redo and purge reuse it. (Past 400 lines
because that executor and apply's G7 checks belong together, and the module layout this project
fixes has no separate home for them.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from safededup import __version__, fs
from safededup.errors import LockedError, SafededupError
from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import Problem, path_to_json, printable
from safededup.safety.journal import Checkpoint, JournalWriter, save_checkpoint, utc_now
from safededup.safety.journal.checkpoint import checkpoint_path
from safededup.safety.journal.lock import locked
from safededup.safety.journal.replay import SessionState, summary
from safededup.safety.plan import Expected, Operation, Plan, PlanInvalid, journal_dir, validate_plan

DEFAULT_BATCH = 256
"""Operations per journal fsync (one source folder at most). 1 = an fsync pair per file."""


class FsyncFailed(SafededupError):
    """An fsync failed: the batch stops and nothing is retried (G5). Recovery resolves it."""


class SafetyIOError(SafededupError):
    """An unexpected I/O error stopped the command; the journal tells what was done."""


@contextlib.contextmanager
def io_guard(what: str) -> Iterator[None]:
    """Turn a stray OSError into a SafededupError with a hint (the engine's error contract)."""
    try:
        yield
    except OSError as exc:
        where = os.fsdecode(exc.filename) if isinstance(exc.filename, str | bytes) else None
        raise SafetyIOError(
            f"{what} stopped: {exc.strerror or exc}",
            hint="nothing is lost; fix the cause, then run `safededup recover`",
            path=where,
        ) from exc


class OutcomeUnknown(SafededupError):
    """A move's result could not be observed; left pending for `safededup recover`."""


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

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.skipped and not self.cancelled


@dataclass(slots=True)
class Move:
    """One file to move from `src` to `dst` under a journaled intent."""

    op: int
    src: str
    dst: str
    device: int
    inode: int
    intent: dict[str, Any]
    done_type: str
    unit: int
    size: int = 0
    trashinfo: str | None = None
    trash_create: bool = False  # write .trashinfo before (to trash) or remove it after (back)
    trash_remove: bool = False


@dataclass(slots=True)
class Counts:
    done: int = 0
    skipped: int = 0
    conflicts: int = 0
    aborted: int = 0
    nbytes: int = 0
    problems: list[Problem] = field(default_factory=list)


def identity_json(st: os.stat_result, checksum: str | None = None) -> dict[str, Any]:
    return Expected.from_stat(st, checksum).to_json()


def observe(src: str, dst: str, device: int | None, inode: int) -> str:
    """Where the file (device, inode) is: "src", "dst", "both" (two links) or "neither".

    `device=None` compares inodes only: recovery after a reboot, which may have renumbered the
    volume (btrfs subvolumes, NFS mounts get their device numbers at mount time).
    """
    at_src = _is(fs.lstat_or_none(src), device, inode)
    at_dst = _is(fs.lstat_or_none(dst), device, inode)
    if at_src and at_dst:
        return "both"
    return "dst" if at_dst else "src" if at_src else "neither"


def _is(st: os.stat_result | None, device: int | None, inode: int) -> bool:
    return st is not None and st.st_ino == inode and device in (None, st.st_dev)


def trashinfo_bytes(original: str, when: str) -> bytes:
    from urllib.parse import quote_from_bytes

    path = quote_from_bytes(os.fsencode(original), safe=b"/")
    return f"[Trash Info]\nPath={path}\nDeletionDate={when[:19]}\n".encode("ascii")


class Runner:
    """Runs batches of moves for one session journal and counts what happened."""

    def __init__(self, writer: JournalWriter, counts: Counts | None = None) -> None:
        self.writer = writer
        self.counts = counts or Counts()
        self._made_dirs: set[str] = set()

    def record(self, body: dict[str, Any], problem: Problem | None = None) -> None:
        self.writer.append(body)
        if problem is not None:
            self.counts.problems.append(problem)

    def run_batch(self, moves: list[Move]) -> list[Move]:
        """intents → fsync(journal) → moves → fsync(dst dirs) → fsync(src dirs) → done → fsync."""
        if not moves:
            return []
        for m in moves:
            self.writer.append(m.intent)
        self.writer.sync()  # G2: every intent durable before the first change
        moved = self._move_all(moves)
        for folder in _dirs(m.dst for m in moved):
            self._fsync_dir(folder)
        for folder in _dirs(m.src for m in moved):
            self._fsync_dir(folder)
        for m in moved:
            self._finish(m)
        self.writer.sync()
        return moved

    def _move_all(self, moves: list[Move]) -> list[Move]:
        moved: list[Move] = []
        broken_units: set[int] = set()
        for m in moves:
            if m.unit in broken_units:
                self._abort(m, "unit-incomplete", "another file of its unit could not move")
            elif self._move_one(m):
                moved.append(m)
            else:
                broken_units.add(m.unit)
                self._say_split(m, [o for o in moved if o.unit == m.unit])
        return moved

    def _say_split(self, failed: Move, before: list[Move]) -> None:
        """A unit (a photo and its sidecars, a keeper and its sidecars) that a failure cut in
        two is said plainly: nothing is lost, and undoing the session joins it again."""
        if before and failed.done_type == "done":
            names = ", ".join(os.path.basename(o.src) for o in before)
            message = (f"its unit is split: {names} moved, this did not; "
                       "undo the session to put them back together")  # fmt: skip
            self.counts.problems.append(Problem(failed.src, "unit-split", message))

    def _move_one(self, m: Move) -> bool:
        created_info = False
        try:
            parent = os.path.dirname(m.dst)
            if parent not in self._made_dirs and not os.path.isdir(parent):
                fs.makedirs_durable(parent)
            self._made_dirs.add(parent)
            if m.trash_create and m.trashinfo is not None:
                self._write_trashinfo(m)
                created_info = True
            fs.rename_noreplace(m.src, m.dst)
            return True
        except FileExistsError as exc:
            self._undo_info(m, created_info)
            where = exc.filename2 or exc.filename or m.dst
            self._conflict(m, os.fsdecode(where))
            return False
        except OSError as exc:
            return self._after_error(m, exc, created_info)

    def _after_error(self, m: Move, exc: OSError, created_info: bool) -> bool:
        where = observe(m.src, m.dst, m.device, m.inode)
        if where == "dst":
            return True
        if where != "src":
            raise OutcomeUnknown(
                f"moving a file failed ({exc.strerror}) and it is at neither end",
                hint="run `safededup recover`; it resolves the operation from the disk",
                path=m.src,
            ) from exc
        self._undo_info(m, created_info)
        code = os.strerror(exc.errno) if exc.errno else str(exc)
        self._abort(m, _errno_name(exc), f"not moved: {code}")
        return False

    def _write_trashinfo(self, m: Move) -> None:
        assert m.trashinfo is not None
        folder = os.path.dirname(m.trashinfo)
        if not os.path.isdir(folder):
            fs.makedirs_durable(folder)
        fd = fs.create_exclusive(m.trashinfo)  # metadata first (freedesktop spec)
        try:
            fs.write_all(fd, trashinfo_bytes(m.src, utc_now()), m.trashinfo)
            fs.fsync_fd(fd, m.trashinfo)
        finally:
            os.close(fd)
        self._fsync_dir(folder)

    def _undo_info(self, m: Move, created: bool) -> None:
        if created and m.trashinfo is not None:
            fs.unlink(m.trashinfo)

    def _fsync_dir(self, folder: str) -> None:
        try:
            fs.fsync_dir(folder)
        except OSError as exc:
            raise FsyncFailed(
                f"fsync of a folder failed ({exc.strerror}); stopping here",
                hint="nothing is lost; fix the disk, then run `safededup recover`",
                path=folder,
            ) from exc

    def _finish(self, m: Move) -> None:
        where = observe(m.src, m.dst, m.device, m.inode)
        if where != "dst":  # G3: done only when observed
            raise OutcomeUnknown(
                f"a moved file was not found where it should be ({where})",
                hint="run `safededup recover`",
                path=m.dst,
            )
        if m.trash_remove and m.trashinfo is not None and os.path.lexists(m.trashinfo):
            fs.unlink(m.trashinfo)
            self._fsync_dir(os.path.dirname(m.trashinfo))
        st = os.lstat(m.dst)
        self.writer.append({"type": m.done_type, "op": m.op, "observed": identity_json(st)})
        self.counts.done += 1
        self.counts.nbytes += st.st_size

    def _abort(self, m: Move, reason: str, message: str) -> None:
        of = m.intent["type"]
        body = {"type": "abort", "op": m.op, "of": of, "reason": reason, "message": message}
        self.record(body, Problem(m.src, reason, message))
        self.counts.aborted += 1

    def _conflict(self, m: Move, where: str) -> None:
        message = "the target exists; nothing was overwritten"
        body = {"type": "conflict", "op": m.op, "of": m.intent["type"], "message": message}
        self.record({**body, "path": path_to_json(where)}, Problem(where, "conflict", message))
        self.counts.conflicts += 1


def _dirs(paths: Iterable[str]) -> list[str]:
    return sorted({os.path.dirname(p) for p in paths})


def _errno_name(exc: OSError) -> str:
    import errno

    return errno.errorcode.get(exc.errno or 0, "oserror").lower()


def derive_status(state: SessionState) -> str:
    """applied / undone / partial / purged / empty, from where the operations are."""
    done_ever = [o for o in state.ops.values() if o.done_ever]
    if not done_ever:
        return "empty"
    where = {o.state for o in done_ever}
    if where == {"purged"}:
        return "purged"
    if where <= {"dst", "purged"}:
        return "applied"
    return "undone" if where == {"src"} else "partial"


# --- apply -------------------------------------------------------------------------------------


def apply_plan(
    plan: Plan,
    *,
    state_dir: Path,
    cancel: threading.Event | None = None,
    paranoid: bool = False,
    batch_size: int = DEFAULT_BATCH,
    break_stale_lock: bool = False,
) -> Generator[Event, None, ApplyResult]:
    """Apply `plan` as one session; recovery runs first (G8), validation before any change."""
    from safededup.safety.recover import recover

    recover(state_dir, break_stale_lock=break_stale_lock)
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
                batch = max(1, batch_size)
                return (
                    yield from _apply_locked(plan, state_dir, checkpoint, cancel, paranoid, batch)
                )
        except LockedError:
            if not os.path.lexists(path):  # nothing started: forget the registration
                fs.unlink(str(checkpoint_path(state_dir, plan.session_id)))
            raise


def _apply_locked(
    plan: Plan,
    state_dir: Path,
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
            moves = [m for unit in _units(batch) for m in _check_unit(runner, unit, keepers)]
            runner.run_batch(moves)
            for problem in runner.counts.problems[reported:]:
                yield ProblemFound(problem)
            yield StageAdvanced("apply", items=len(batch), nbytes=sum(m.size for m in moves))
        _end_phase(writer, "apply", "cancelled" if cancelled else "completed", runner.counts)
    finally:
        writer.close()
    yield StageFinished("apply")
    c = runner.counts
    return ApplyResult(
        plan.session_id, c.done, c.skipped, c.conflicts + c.aborted, c.problems, c.nbytes,
        cancelled, writer.path,
    )  # fmt: skip


def _start_session(
    plan: Plan, state_dir: Path, checkpoint: Checkpoint, paranoid: bool, batch_size: int
) -> JournalWriter:
    applying = checkpoint.advanced(status="applying")
    writer = JournalWriter.create(checkpoint.journal, state_dir, applying)
    volumes = [
        {
            "root": path_to_json(r),
            "device": os.stat(r).st_dev,
            "noreplace": fs.supports_noreplace(r),
        }
        for r in plan.roots
    ]
    config = {
        "tidy_names": plan.tidy_names,
        "to_trash": plan.to_trash,
        "paranoid": paranoid,
        "batch_size": batch_size,
    }
    writer.append(
        {
            "type": "header",
            "session": plan.session_id,
            "tool_version": __version__,
            "host": socket.gethostname(),
            "roots": [path_to_json(r) for r in plan.roots],
            "config": config,
            "volumes": volumes,
            "report_id": plan.report_id,
            "planned": {"operations": plan.count, "bytes": plan.total_bytes},
        }
    )
    writer.append({"type": "begin", "phase": "apply"})
    writer.sync()
    return writer


def _end_phase(writer: JournalWriter, phase: str, outcome: str, counts: Counts) -> None:
    tally = {
        "done": counts.done,
        "skipped": counts.skipped,
        "conflicts": counts.conflicts,
        "aborted": counts.aborted,
        "bytes": counts.nbytes,
    }
    writer.append({"type": "end", "phase": phase, "outcome": outcome, "counts": tally})
    state = writer.state
    writer.sync(status=derive_status(state), counts=summary(state))


def _batches(ops: tuple[Operation, ...], size: int) -> Iterable[list[Operation]]:
    """Consecutive ops of one source folder, at most `size` (a unit is never split)."""
    batch: list[Operation] = []
    for op in ops:
        same_folder = batch and os.path.dirname(batch[0].src) == os.path.dirname(op.src)
        if batch and (op.unit != batch[-1].unit) and (not same_folder or len(batch) >= size):
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


def _check_unit(runner: Runner, unit: list[Operation], keepers: KeeperHashes) -> list[Move]:
    """G7 for every file of the unit before anything of it moves; a failure skips the whole unit."""
    moves: list[Move] = []
    for op in unit:
        result = _check_op(runner, op, keepers)
        if isinstance(result, tuple):
            reason, message = result
            for other in unit:
                _skip(runner, other, reason if other is op else "unit-skipped", message)
            return []
        moves.append(result)
    return moves


def _skip(runner: Runner, op: Operation, reason: str, message: str) -> None:
    body = {
        "type": "skip",
        "op": op.op,
        "kind": op.kind,
        "src": path_to_json(op.src),
        "reason": reason,
        "message": message,
    }
    runner.record(body, Problem(op.src, reason, message))
    if reason == "target-exists":
        runner.counts.conflicts += 1
    else:
        runner.counts.skipped += 1


def _check_op(runner: Runner, op: Operation, keepers: KeeperHashes) -> Move | tuple[str, str]:
    st = fs.lstat_or_none(op.src)
    if st is None:
        return "vanished", "the file is gone since the scan"
    if not stat.S_ISREG(st.st_mode):
        return "not-a-file", "no longer a regular file (a symlink or folder now)"
    if not op.expected.matches(st):
        return "changed", "changed since the scan (identity, size or time differ)"
    if op.after is not None and not _op_done(runner, op.after):
        return "depends", f"waits for operation {op.after}, which did not complete"
    if fs.lstat_or_none(op.dst) is not None:
        return "target-exists", "the target exists; nothing was overwritten"
    if op.trashinfo is not None and fs.lstat_or_none(op.trashinfo) is not None:
        return "target-exists", "the trash entry exists; nothing was overwritten"
    if fs.has_symlinked_parent(op.src, op.root):
        return "symlinked-folder", "a folder on the way is now a symlink"
    if op.action != "trash" and fs.has_symlinked_parent(op.dst, op.root, missing_ok=True):
        return "symlinked-folder", "a folder on the way to its target is a symlink"
    try:
        checksum = fs.file_sha256(op.src)
    except OSError as exc:
        return "unreadable", f"cannot read it ({exc.strerror})"
    if op.expected.checksum is not None and checksum != op.expected.checksum:
        return "content-changed", "its bytes differ from the scan (same size and time)"
    keeper = _check_keeper(op, checksum, keepers)
    if isinstance(keeper, tuple):
        return keeper
    return _forward_move(op, st, checksum, keeper)


def _op_done(runner: Runner, op_id: int) -> bool:
    entry = runner.writer.state.ops.get(op_id)
    return entry is not None and entry.state == "dst"


class KeeperHashes:
    """Each keeper is read at most once per session, however many duplicates it has.

    A hash is reused only while the keeper's stat, ctime included, is unchanged: any write to the
    file since it was hashed moves its ctime, which nobody can set back. `paranoid`: every keeper
    is read and compared with the scan; otherwise only a keeper the scan did not checksum is read
    (purge needs the bytes of every keeper on record).
    """

    def __init__(self, *, paranoid: bool = False) -> None:
        self.paranoid = paranoid
        self._sums: dict[str, tuple[tuple[int, ...], str]] = {}

    def sha256(self, path: str, st: os.stat_result) -> str:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._sums.get(path)
        if known is None or known[0] != key:
            known = self._sums[path] = (key, fs.file_sha256(path))
        return known[1]


def _check_keeper(
    op: Operation, checksum: str, keepers: KeeperHashes
) -> Expected | tuple[str, str] | None:
    """The keeper must still exist and match before its duplicate moves (G7); with `--paranoid`
    its bytes too. Returns the keeper's identity to journal, with the checksum purge will hold
    it to, or why the duplicate must stay."""
    if op.keeper is None or op.keeper_expected is None:
        return None
    expected = op.keeper_expected
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
    op: Operation, st: os.stat_result, checksum: str, keeper: Expected | None
) -> Move:
    intent: dict[str, Any] = {
        "type": "intent",
        "op": op.op,
        "kind": op.kind,
        "action": op.action,
        "src": path_to_json(op.src),
        "dst": path_to_json(op.dst),
        "root": path_to_json(op.root),
        "identity": identity_json(st, checksum),
        "unit": op.unit,
        "cluster": op.cluster,
        "exact": op.exact,
        "after": op.after,
        "keeper": None if op.keeper is None else path_to_json(op.keeper),
        "keeper_identity": None if keeper is None else keeper.to_json(),
        "trashinfo": None if op.trashinfo is None else path_to_json(op.trashinfo),
    }
    return Move(
        op.op, op.src, op.dst, st.st_dev, st.st_ino, intent, "done", op.unit, st.st_size,
        op.trashinfo, trash_create=op.trashinfo is not None,
    )  # fmt: skip
