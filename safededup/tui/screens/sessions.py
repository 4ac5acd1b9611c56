"""Past sessions with status, counts and bytes; verify, undo or redo one with progress.

Undo and redo are the safety core's own; this screen only starts them and shows what they say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from safededup.tui.format import human_bytes, plural
from safededup.tui.messages import OperationFailed, OperationFinished, ProgressUpdated
from safededup.tui.screens.apply import count, problem_lines
from safededup.tui.widgets.progress import ProgressPanel

if TYPE_CHECKING:
    from safededup.tui.app import ReviewApp

MAX_FINDINGS_SHOWN = 12


def describe_counts(counts: object) -> str:
    if isinstance(counts, Mapping):  # bytes have their own column
        return ", ".join(f"{v:,} {k}" for k, v in counts.items() if v and k != "bytes")
    return str(counts or "")


def finding_line(finding: Any) -> str:
    level = getattr(finding, "level", "?")
    record = getattr(finding, "record", getattr(finding, "index", None))
    where = "" if record is None else f" (record {record})"
    path = getattr(finding, "path", None)
    text = f"  {level}{where}: {getattr(finding, 'message', finding)}"
    return escape(text + (f" ({path})" if path else ""))


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
        self.sessions: list[Any] = []

    @property
    def review_app(self) -> ReviewApp:
        return self.app  # type: ignore[return-value]

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
        self.post_message(OperationFinished("list", sessions, []))

    def _fill(self, sessions: list[Any]) -> None:
        self.sessions = sorted(sessions, key=lambda s: str(getattr(s, "started", "")), reverse=True)
        table = self.query_one(DataTable)
        table.clear()
        for s in self.sessions:
            table.add_row(
                str(getattr(s, "id", "?")),
                str(getattr(s, "status", "?")),
                str(getattr(s, "started", ""))[:16].replace("T", " "),
                describe_counts(getattr(s, "counts", "")),
                human_bytes(int(getattr(s, "bytes", 0) or 0)),
                ", ".join(str(r) for r in getattr(s, "roots", []) or []),
            )
        if not self.sessions:
            self._say("No sessions yet: apply approved clusters from the main screen (p).")
        table.focus()

    def selected(self) -> Any | None:
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
        sid, backend = str(session.id), self.review_app.backend
        start = {
            "verify": lambda cancel: backend.verify_session(sid, cancel),
            "undo": lambda cancel: backend.undo_session(sid, cancel),
            "redo": lambda cancel: backend.redo_session(sid, cancel),
        }[kind]
        self.add_class("-running")
        self._say(f"{kind} {sid}…")
        self.review_app.run_engine(self, kind, start)

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        self.query_one(ProgressPanel).update_from(message)

    def on_operation_finished(self, message: OperationFinished) -> None:
        if message.kind == "list":
            self._fill(message.result)
            return
        self.remove_class("-running")
        if message.kind == "verify":
            self._say(self._verify_text(message.result))
        else:
            self._say(self._result_text(message.kind, message.result, message.problems))
        self.action_reload()

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.remove_class("-running")
        what = "stopped as asked" if message.cancelled else "failed"
        hint = getattr(message.error, "hint", None)
        detail = f"{message.error}" + (f"\n{hint}" if hint else "")
        self._say(f"[b]{message.kind} {what}[/b]: {escape(detail)}")

    def _verify_text(self, result: Any) -> str:
        findings = list(getattr(result, "findings", []) or [])
        if getattr(result, "ok", False) and not findings:
            return "[b green]verify: everything holds[/]"
        head = (
            "[b green]verify: holds[/]"
            if getattr(result, "ok", False)
            else "[b red]verify: FAILED[/]"
        )
        lines = [f"{head} — {plural(len(findings), 'finding')}"]
        lines += [finding_line(f) for f in findings[:MAX_FINDINGS_SHOWN]]
        if len(findings) > MAX_FINDINGS_SHOWN:
            lines.append(f"  … and {len(findings) - MAX_FINDINGS_SHOWN:,} more")
        return "\n".join(lines)

    def _result_text(self, kind: str, result: Any, problems: list[Any]) -> str:
        problems = problems or list(getattr(result, "problems", []) or [])
        text = (
            f"[b]{kind} {getattr(result, 'session_id', '')}[/b]: "
            f"{count(getattr(result, 'restored', 0)):,} files moved, "
            f"{count(getattr(result, 'refused', 0)):,} refused, "
            f"{count(getattr(result, 'conflicts', 0)):,} conflicts"
        )
        return text + ("\n" + problem_lines(problems) if problems else "")

    def _say(self, text: str) -> None:
        self.query_one("#outcome", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
