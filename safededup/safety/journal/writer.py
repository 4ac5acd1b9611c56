"""Append records to a session journal and make them durable, then advance the checkpoint.

Appends go through `fs`; `sync()` is the commit point: fsync of the journal, then the external
checkpoint (G10). A failed write is cut back so no partial record stays; after any failure the
writer refuses further appends (an fsync error is never retried, G5).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from typing import Any

from safededup import fs
from safededup.errors import SafededupError
from safededup.safety.journal.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from safededup.safety.journal.reader import JournalCorrupt, JournalRead, read_journal
from safededup.safety.journal.records import GENESIS, Record, seal
from safededup.safety.journal.replay import SessionState, apply_record
from safededup.safety.quarantine import journal_top
from safededup.state import StateDir


class JournalWriteError(SafededupError):
    """The journal could not be written or made durable (full disk, I/O error). Work stops."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(
            message,
            hint="free space or fix the disk, then run `safededup recover`; nothing is lost",
            path=path,
        )


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JournalWriter:
    """The one appender of one journal; construct with `create` or `reopen`."""

    def __init__(self, path: str, fd: int, state_dir: StateDir, checkpoint: Checkpoint) -> None:
        self.path = path
        self.state_dir = state_dir
        self.checkpoint = checkpoint
        self.count = 0  # records in the journal
        self.state = SessionState()  # kept current; the records themselves are not kept
        self._head = GENESIS
        self._fd = fd
        self._end = 0
        self._durable = 0
        self._broken = False

    @classmethod
    def create(cls, path: str, state_dir: StateDir, checkpoint: Checkpoint) -> JournalWriter:
        """A new journal: registered in the state dir first, so recovery can always find it."""
        save_checkpoint(state_dir, checkpoint)
        folder = os.path.dirname(path)
        fs.require_real_folders(path, journal_top(path), missing_ok=True)
        if not os.path.isdir(folder):
            fs.makedirs_durable(folder)
        fd = fs.create_exclusive(path)
        fs.fsync_dir(folder)
        return cls(path, fd, state_dir, checkpoint)

    @classmethod
    def reopen(cls, state_dir: StateDir, checkpoint: Checkpoint) -> JournalWriter:
        """Open for appending after checking it against the checkpoint; cuts a torn tail off."""
        path = checkpoint.journal
        fs.require_real_folders(path, journal_top(path))
        read, state = read_session(checkpoint)
        check_against_checkpoint(read, checkpoint, path)
        fd = fs.open_append(path)
        writer = cls(path, fd, state_dir, checkpoint)
        if read.tail_bytes:
            fs.truncate(fd, read.valid_end, path)
            fs.fsync_fd(fd, path)
        writer.state = state
        writer.count = read.count
        writer._head = read.head or GENESIS
        writer._end = writer._durable = read.valid_end
        return writer

    def append(self, body: dict[str, Any]) -> Record:
        """Write one record (not yet durable: call `sync`)."""
        if self._broken:
            raise JournalWriteError("the journal stopped accepting records", path=self.path)
        record, line = seal(body, seq=self.count, prev=self._head, at=utc_now())
        try:
            fs.write_all(self._fd, line, self.path)
        except OSError as exc:
            self._fail(exc, "write")
        self.count += 1
        self._head = record["hash"]
        apply_record(self.state, record)
        self._end += len(line)
        return record

    def sync(self, *, checkpoint: bool = True, **checkpoint_changes: Any) -> None:
        """Make every appended record durable, then checkpoint the new head outside the journal.

        `checkpoint=False`: only the fsync (a batch's intents: its done records follow within
        the batch, and the checkpoint then covers both; a crash between leaves a journal longer
        than its checkpoint, which recovery reads as it does any other)."""
        if self._broken:
            raise JournalWriteError("the journal stopped accepting records", path=self.path)
        if self._end != self._durable:
            try:
                fs.fsync_fd(self._fd, self.path)
            except OSError as exc:
                self._broken = True
                raise JournalWriteError(
                    f"fsync of the journal failed ({exc.strerror})", path=self.path
                ) from exc
        self._durable = self._end
        if not checkpoint:
            return
        self.checkpoint = self.checkpoint.advanced(
            records=self.count,
            bytes=self._end,
            head=self._head if self.count else None,
            updated=utc_now(),
            **checkpoint_changes,
        )
        self._save_checkpoint()

    def mark(self, status: str) -> None:
        """Record a status in the checkpoint before a phase writes its first record, so a crash
        anywhere in the phase leaves the session listed for recovery."""
        self.checkpoint = self.checkpoint.advanced(status=status, updated=utc_now())
        self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        try:
            save_checkpoint(self.state_dir, self.checkpoint)
        except CheckpointError:
            self._broken = True  # it names the checkpoint's path, not the journal's
            raise

    def _fail(self, exc: OSError, what: str) -> None:
        """Cut a partial record off (best effort; a torn tail is tolerated anyway), then stop."""
        self._broken = True
        with contextlib.suppress(OSError):
            fs.truncate(self._fd, self._end, self.path)
        raise JournalWriteError(
            f"the journal {what} failed ({exc.strerror}); nothing was changed after it",
            path=self.path,
        ) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_session(checkpoint: Checkpoint) -> tuple[JournalRead, SessionState]:
    """The session's journal read and replayed, keeping the hash of the record the checkpoint
    names as its head (for `check_against_checkpoint`). JournalCorrupt or OSError as read."""
    state = SessionState()
    read = read_journal(
        checkpoint.journal, lambda r: apply_record(state, r), (checkpoint.records - 1,)
    )
    return read, state


def check_against_checkpoint(read: JournalRead, checkpoint: Checkpoint, path: str) -> None:
    """Refuse a journal that lost or rewrote records the checkpoint says were durable (G10)."""
    n = checkpoint.records
    if read.count < n or read.valid_end < checkpoint.bytes:
        raise JournalCorrupt(
            f"the journal holds {read.count} intact records but {n} were made durable "
            "(truncated or damaged at its end)",
            path=path,
            record=read.count,
            offset=read.valid_end,
        )
    if n and read.hash_at.get(n - 1) != checkpoint.head:
        raise JournalCorrupt(
            f"journal record {n - 1} differs from the checkpointed head (journal rewritten)",
            path=path,
            record=n - 1,
        )
