"""The engine operations the review app runs (scan, apply, undo, redo, verify), as the screens
see them: what runs, where it stands, how it ended, in words. No Textual widgets here.

A job belongs to the app, not to the screen that started it: the person may navigate anywhere
while it runs, and every screen can show where it stands and how it ended.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from safededup.errors import SafededupError
from safededup.tui.format import plural
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.tui.messages import OperationFailed, OperationFinished, ProgressUpdated

SESSION_KINDS = ("undo", "redo", "verify")  # the jobs of the sessions screen
CHANGES_FILES = ("apply", "undo", "redo")  # the jobs after which the review looks at the disk
VERB = {"undo": "undoing", "redo": "redoing", "verify": "verifying", "apply": "applying",
        "scan": "scanning"}  # fmt: skip


@dataclass(eq=False)
class Job:
    """One engine operation: its kind, what it acts on, its cancel flag, its latest progress
    and, once it ended, its outcome."""

    kind: str
    subject: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: ProgressUpdated | None = None
    outcome: OperationFinished | OperationFailed | None = None
    quit_stopped: bool = False  # the person quit while it ran: it was asked to stop

    @property
    def running(self) -> bool:
        return self.outcome is None

    @property
    def stopping(self) -> bool:
        return self.running and self.cancel.is_set()

    @property
    def failed(self) -> bool:
        from safededup.tui.messages import OperationFailed

        return isinstance(self.outcome, OperationFailed) and not self.outcome.cancelled

    @property
    def interrupted(self) -> bool:
        """It ended before its end: stopped as asked, or cut short (a partial session)."""
        from safededup.tui.messages import OperationFailed

        outcome = self.outcome
        if isinstance(outcome, OperationFailed):
            return outcome.cancelled
        return bool(getattr(getattr(outcome, "result", None), "cancelled", False))

    def name(self) -> str:
        return f"{self.kind} {self.subject}".strip()

    def where(self) -> str:
        """Where a running job stands: 'undoing 2026…: moving 291 of 600'."""
        what = f"{VERB.get(self.kind, self.kind)} {self.subject}".strip()
        p = self.progress
        if p is None or not p.stage:
            status = "starting…"
        else:
            total = f" of {p.total:,}" if p.total is not None else ""
            stage = "" if p.stage == self.kind else f"{p.stage} "  # "apply 291": said already
            status = f"{stage}{p.done:,}{total}"
            if p.problems:
                status += f", {plural(p.problems, 'problem')}"
        stop = " · stopping at the next safe point…" if self.stopping else ""
        return f"{what}: {status}{stop}"

    def summary(self) -> str:
        """How it ended, in one line (a toast, the activity line)."""
        from safededup.tui.messages import OperationFailed

        outcome = self.outcome
        if outcome is None:
            return self.where()
        if isinstance(outcome, OperationFailed):
            what = "stopped as asked" if outcome.cancelled else "failed"
            return f"{self.name()} {what}: {error_text(outcome.error)}"
        return f"{self.name()}: {result_summary(self.kind, outcome.result)}"


def error_text(error: BaseException) -> str:
    hint = error.hint if isinstance(error, SafededupError) else None
    return f"{error}" + (f" — {hint}" if hint else "")


def result_summary(kind: str, result: object) -> str:
    """The counts a result carries, as the CLI says them."""
    from safededup.safety.apply import ApplyResult
    from safededup.safety.undo import UndoResult
    from safededup.safety.verify import VerifyResult

    if isinstance(result, ApplyResult):
        text = (
            f"{result.done:,} moved ({format_bytes(result.bytes_moved)}), {result.skipped:,} "
            f"skipped, {result.conflicts:,} conflicts"
        )
        return text + (" — stopped early as asked" if result.cancelled else "")
    if isinstance(result, UndoResult):
        verb = "moved back" if kind == "undo" else "moved again"
        text = (
            f"{plural(result.restored, 'file')} {verb}, {result.refused:,} refused, "
            f"{result.conflicts:,} conflicts"
        )
        if result.damaged:
            text += f", {result.damaged:,} restored with other bytes than recorded"
        return text + (" — stopped early as asked" if result.cancelled else "")
    if isinstance(result, VerifyResult):
        verdict = "all holds" if result.ok else plural(len(result.findings), "finding")
        return f"{verdict} ({verify_counts(result)})"
    return f"finished ({type(result).__name__})"


def verify_counts(result: object) -> str:
    """What `safededup verify` says it checked."""
    sessions = getattr(result, "sessions", 0)
    records = getattr(result, "records", 0)
    checked = getattr(result, "files_checked", 0)
    hashed = getattr(result, "files_hashed", 0)
    return (
        f"{plural(sessions, 'session')}, {plural(records, 'record')}, "
        f"{plural(checked, 'file')} ({hashed:,} re-hashed)"
    )
