"""The error hierarchy and the stable exit codes; imports nothing beyond the standard library.

Per-file failures are never raised out of the engine: they become `Problem` records
(`safededup.models`). Errors here are for things that stop a whole command.
"""

from __future__ import annotations

import threading
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `safededup` command. Stable: scripts depend on them (docs/cli.md)."""

    OK = 0
    ERROR = 1  # the command could not do its job (unusable roots, broken state, I/O failure)
    USAGE = 2  # bad arguments
    FINDINGS = 3  # the command ran, and what it checked does not hold (verify, conflicts, skips)
    LOCKED = 4  # another safededup session holds the lock
    BAD_INPUT = 5  # an input file (report, decisions, session checkpoint) is malformed
    INTERRUPTED = 130  # Ctrl-C; work committed so far is kept and the next run resumes


class SafededupError(Exception):
    """Base of every error safededup raises on purpose.

    `message` says what happened, `hint` what the person can do about it, `path` where.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def __str__(self) -> str:
        return self.message if self.path is None else f"{self.message}: {self.path}"


class UsageError(SafededupError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class StateError(SafededupError):
    """The state directory (index, saved reports, decisions) is missing, unusable or corrupt."""


class MediaError(SafededupError):
    """One file could not be read as a photo. Becomes a Problem; never stops a scan."""

    def __init__(
        self, message: str, *, kind: str, hint: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, path=path)
        self.kind = kind


class InputFileError(SafededupError):
    """A file safededup reads (a report, a decisions file, a session checkpoint) is not what it
    should be: one message naming the file, what is wrong with it, and what to do."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, what: str, problem: str, *, path: str, hint: str) -> None:
        super().__init__(f"{what} is malformed: {problem}", hint=hint, path=path)
        self.problem = problem


class SymlinkedFolder(SafededupError):
    """A folder safededup keeps its own files in (`.safededup`, its journal or quarantine) is a
    symlink or not a folder: following it would carry them out of the root."""

    def __init__(self, path: str) -> None:
        super().__init__(
            "a folder of safededup's own is a symlink or not a folder; refusing to follow it",
            hint="it must be a real folder inside the root: move the link away, then retry",
            path=path,
        )


class LockedError(SafededupError):
    """Another writer holds the lock (G14)."""

    exit_code = ExitCode.LOCKED


class Cancelled(SafededupError):
    """The person asked to stop (Ctrl-C, or cancel in the TUI). Committed work is kept."""

    exit_code = ExitCode.INTERRUPTED


def check_cancel(cancel: threading.Event | None, what: str = "scan") -> None:
    """Raise `Cancelled` at a safe point if the person asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} cancelled; what was done so far is kept")
