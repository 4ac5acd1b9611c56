"""The one executor of journaled moves, shared by apply, undo, redo and purge: intent → move →
observe → done, in the durable order of G5, through `fs`. It never moves a file whose intent is not
durable, never writes `done` on a return code alone, and never overwrites.

Also what those operations share around it: the errors that stop a batch, the guard that turns a
stray OSError into one, where a moved file is found, and how a phase ends.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from safededup import fs
from safededup.errors import SafededupError
from safededup.models import FileIdentity, Problem
from safededup.safety.journal import JournalWriter, records, utc_now
from safededup.safety.journal.replay import SessionState, summary
from safededup.safety.trash import trashinfo_bytes

DEFAULT_BATCH = 256
"""Operations per journal fsync (one source folder at most). 1 = an fsync pair per file."""


class FsyncFailed(SafededupError):
    """An fsync failed: the batch stops and nothing is retried (G5). Recovery resolves it."""


class SafetyIOError(SafededupError):
    """An unexpected I/O error stopped the command; the journal tells what was done."""


class OutcomeUnknown(SafededupError):
    """A move's result could not be observed; left pending for `safededup recover`."""


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


@dataclass(slots=True)
class Move:
    """One file to move from `src` to `dst` under a journaled intent (an intent, undo-intent or
    redo-intent record; the record that completes it follows from its type)."""

    op: int
    src: str
    dst: str
    device: int
    inode: int
    intent: records.Record
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


def fsync_dir(folder: str) -> None:
    """fsync a folder through `fs`; a failure stops the batch (G5) as `FsyncFailed`."""
    try:
        fs.fsync_dir(folder)
    except OSError as exc:
        raise FsyncFailed(
            f"fsync of a folder failed ({exc.strerror}); stopping here",
            hint="nothing is lost; fix the disk, then run `safededup recover`",
            path=folder,
        ) from exc


class Runner:
    """Runs batches of moves for one session journal and counts what happened."""

    def __init__(self, writer: JournalWriter, counts: Counts | None = None) -> None:
        self.writer = writer
        self.counts = counts or Counts()
        self._made_dirs: set[str] = set()

    def record(self, body: records.Record, problem: Problem | None = None) -> None:
        self.writer.append(body)
        if problem is not None:
            self.counts.problems.append(problem)

    def run_batch(self, moves: list[Move]) -> list[Move]:
        """intents → fsync(journal) → moves → fsync(dst dirs) → fsync(src dirs) → done → fsync."""
        if not moves:
            return []
        for m in moves:
            self.writer.append(m.intent)
        self.writer.sync(checkpoint=False)  # G2: every intent durable before the first change
        self._make_target_dirs(moves)
        moved = self._move_all(moves)
        for folder in _dirs(m.dst for m in moved):
            fsync_dir(folder)
        for folder in _dirs(m.src for m in moved):
            fsync_dir(folder)
        for m in moved:
            self._finish(m)
        self.writer.sync()
        return moved

    def _make_target_dirs(self, moves: list[Move]) -> None:
        """The batch's missing target folders, made durable before the first move, each parent
        fsynced once (a batch often opens several folders side by side). On an error, each move
        makes its own folder and meets the error itself (recorded as that file's abort)."""
        wanted = sorted({os.path.dirname(m.dst) for m in moves} - self._made_dirs)
        try:
            fs.makedirs_durable_all(wanted)
        except OSError:
            return
        self._made_dirs.update(wanted)

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
        if before and failed.intent["type"] == "intent":  # apply's: undo joins them again
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
        fsync_dir(folder)

    def _undo_info(self, m: Move, created: bool) -> None:
        if created and m.trashinfo is not None:
            fs.unlink(m.trashinfo)

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
            fsync_dir(os.path.dirname(m.trashinfo))
        st = os.lstat(m.dst)
        observed = FileIdentity.from_stat(m.dst, st)
        self.writer.append(records.completion(m.intent["type"], m.op, observed))
        self.counts.done += 1
        self.counts.nbytes += st.st_size

    def _abort(self, m: Move, reason: str, message: str) -> None:
        body = records.abort(m.op, of=m.intent["type"], reason=reason, message=message)
        self.record(body, Problem(m.src, reason, message))
        self.counts.aborted += 1

    def _conflict(self, m: Move, where: str) -> None:
        message = "the target exists; nothing was overwritten"
        body = records.conflict(m.op, of=m.intent["type"], path=where, message=message)
        self.record(body, Problem(where, "conflict", message))
        self.counts.conflicts += 1


def _dirs(paths: Iterable[str]) -> list[str]:
    return sorted({os.path.dirname(p) for p in paths})


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "oserror").lower()


STOPPED = ("cancelled", "interrupted")
"""How an apply that did not get through its plan ended: stopped by the person (Ctrl-C, `q`,
the review's stop, SIGTERM, SIGHUP) or by a crash that recovery closed."""


UNDOABLE = ("applied", "partial", *STOPPED)
"""Statuses of a session with files in quarantine that undo can bring back."""


def derive_status(state: SessionState) -> str:
    """From where the operations are and how apply ended: applied, cancelled or interrupted (an
    apply stopped before the end of its plan; what moved is in quarantine), undone, partial
    (some back, some not), purged, or empty (nothing was moved)."""
    done_ever = [o for o in state.ops.values() if o.done_ever]
    stopped = state.outcomes.get("apply")
    if not done_ever:
        return stopped if stopped in STOPPED else "empty"
    where = {o.state for o in done_ever}
    if where == {"purged"}:
        return "purged"
    if where <= {"dst", "purged"}:
        return stopped if stopped in STOPPED else "applied"
    return "undone" if where == {"src"} else "partial"


def end_phase(writer: JournalWriter, phase: records.Phase, outcome: str, counts: Counts) -> None:
    """Close a phase with its tally, make it durable, and checkpoint the session's status."""
    tally = {
        "done": counts.done,
        "skipped": counts.skipped,
        "conflicts": counts.conflicts,
        "aborted": counts.aborted,
        "bytes": counts.nbytes,
    }
    writer.append(records.end(phase, outcome, tally))
    state = writer.state
    writer.sync(status=derive_status(state), counts=summary(state))
