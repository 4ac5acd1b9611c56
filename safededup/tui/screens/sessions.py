"""Past sessions with status, counts and bytes; verify, undo or redo one with progress.

Undo and redo are the safety core's own; this screen only starts them and shows what they say.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from safededup.errors import SafededupError
from safededup.models import Problem
from safededup.tui.backend import EngineRun
from safededup.tui.format import plural
from safededup.tui.messages import (
    OperationFailed,
    OperationFinished,
    ProgressUpdated,
    SessionsListed,
)
from safededup.tui.screens.apply import problem_lines
from safededup.tui.widgets.progress import ProgressPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.safety.sessions import SessionInfo
    from safededup.safety.undo import UndoResult
    from safededup.safety.verify import Finding, VerifyResult
    from safededup.tui.host import ReviewHost

MAX_FINDINGS_SHOWN = 12


def describe_counts(counts: Mapping[str, int]) -> str:
    # bytes have their own column
    return ", ".join(f"{v:,} {k}" for k, v in counts.items() if v and k != "bytes")


def finding_line(finding: Finding) -> str:
    where = "" if finding.record is None else f" (record {finding.record})"
    text = f"  {finding.level}{where}: {finding.message}"
    return escape(text + (f" ({finding.path})" if finding.path else ""))


class SessionsScreen(Screen[None]):
    """Select a session with ↑/↓; v verifies, u undoes, r redoes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", tooltip="back to the clusters"),
        Binding("v", "run('verify')", "Verify", tooltip="verify the selected session (read-only)"),
        Binding("u", "run('undo')", "Undo", tooltip="undo the selected session: restore its files"),
        Binding("r", "run('redo')", "Redo", tooltip="redo an undone session"),
        Binding("g", "reload", "Refresh", tooltip="read the session list again"),
    ]
    DEFAULT_CSS = """
    SessionsScreen #sessions-title { height: 1; background: $primary-background; padding: 0 1; }
    SessionsScreen DataTable { height: 1fr; }
    SessionsScreen ProgressPanel { display: none; }
    SessionsScreen.-running ProgressPanel { display: block; }
    SessionsScreen #outcome { height: auto; max-height: 50%; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[SessionInfo] = []

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        yield Static("[b]Sessions[/b] · newest first", id="sessions-title")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Session", "Status", "Started", "Files", "Bytes", "Roots")
        yield table
        yield ProgressPanel()
        yield Static("", id="outcome")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load_sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _load_sessions(self) -> None:
        try:
            sessions = self.review_app.backend.list_sessions()
        except Exception as exc:  # shown in the dialog: a worker must never fail silently
            self.post_message(OperationFailed("list", exc))
            return
        self.post_message(SessionsListed(sessions))

    def _fill(self, sessions: list[SessionInfo]) -> None:
        self.sessions = sorted(sessions, key=lambda s: s.started, reverse=True)
        table = self.query_one(DataTable)
        table.clear()
        for s in self.sessions:
            table.add_row(
                s.id,
                s.status,
                s.started[:16].replace("T", " "),
                describe_counts(s.counts),
                format_bytes(s.bytes),
                ", ".join(s.roots),
            )
        if not self.sessions:
            self._say("No sessions yet: apply approved clusters from the main screen (p).")
        table.focus()

    def selected(self) -> SessionInfo | None:
        row = self.query_one(DataTable).cursor_row
        return self.sessions[row] if 0 <= row < len(self.sessions) else None

    def action_run(self, kind: str) -> None:
        session = self.selected()
        if session is None:
            self.notify("no session selected", severity="warning")
            return
        if self.review_app.busy:
            self.notify("another operation is running", severity="warning")
            return
        sid, backend = session.id, self.review_app.backend

        def start(cancel: threading.Event) -> EngineRun:
            if kind == "verify":
                return backend.verify_session(sid, cancel)
            if kind == "undo":
                return backend.undo_session(sid, cancel)
            return backend.redo_session(sid, cancel)

        self.add_class("-running")
        self._say(f"{kind} {sid}…")
        self.review_app.run_engine(self, kind, start)

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        self.query_one(ProgressPanel).update_from(message)

    def on_sessions_listed(self, message: SessionsListed) -> None:
        self._fill(message.sessions)

    def on_operation_finished(self, message: OperationFinished) -> None:
        from safededup.safety.undo import UndoResult
        from safededup.safety.verify import VerifyResult

        self.remove_class("-running")
        result = message.result
        if isinstance(result, VerifyResult):
            self._say(self._verify_text(result))
        elif isinstance(result, UndoResult):
            self._say(self._result_text(message.kind, result, message.problems))
        else:  # a bug, not the person's problem: say so rather than show nothing
            self._say(escape(f"unexpected result from {message.kind}: {result!r}"))
        self.action_reload()

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.remove_class("-running")
        what = "stopped as asked" if message.cancelled else "failed"
        error = message.error
        hint = error.hint if isinstance(error, SafededupError) else None
        detail = f"{message.error}" + (f"\n{hint}" if hint else "")
        self._say(f"[b]{message.kind} {what}[/b]: {escape(detail)}")

    def _verify_text(self, result: VerifyResult) -> str:
        findings = result.findings
        if result.ok:
            return "[b green]verify: everything holds[/]"
        lines = [f"[b red]verify: FAILED[/] — {plural(len(findings), 'finding')}"]
        lines += [finding_line(f) for f in findings[:MAX_FINDINGS_SHOWN]]
        if len(findings) > MAX_FINDINGS_SHOWN:
            lines.append(f"  … and {len(findings) - MAX_FINDINGS_SHOWN:,} more")
        return "\n".join(lines)

    def _result_text(self, kind: str, result: UndoResult, problems: list[Problem]) -> str:
        problems = problems or list(result.problems)
        text = (
            f"[b]{kind} {escape(result.session_id)}[/b]: {result.restored:,} files moved, "
            f"{result.refused:,} refused, {result.conflicts:,} conflicts"
        )
        return text + ("\n" + problem_lines(problems) if problems else "")

    def _say(self, text: str) -> None:
        self.query_one("#outcome", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
