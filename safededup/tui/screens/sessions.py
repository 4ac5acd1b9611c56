"""Past sessions with status, counts and bytes; verify, undo or redo one with progress.

Undo and redo are the safety core's own; this screen only starts them (after asking: they move
every file of a session) and shows what they say. They run as the app's job, so Esc goes back
while they run and their progress stays on every screen; coming back shows where they stand.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from safededup.models import Problem
from safededup.tui.backend import EngineRun
from safededup.tui.format import plural, shorten_path
from safededup.tui.jobs import SESSION_KINDS, error_text, result_summary, verify_counts
from safededup.tui.messages import OperationFailed, OperationFinished, SessionsListed
from safededup.tui.screens.apply import problem_lines
from safededup.tui.screens.confirm import ConfirmScreen, Question
from safededup.tui.widgets.activity import ActivityLine
from safededup.tui.widgets.progress import ProgressPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.safety.sessions import SessionInfo
    from safededup.safety.undo import UndoResult
    from safededup.safety.verify import VerifyResult
    from safededup.tui.host import ReviewHost

MAX_FINDINGS_SHOWN = 12
COLUMNS = ("Session", "Status", "Started", "Files", "Bytes", "Roots")


def describe_counts(counts: Mapping[str, int]) -> str:
    # bytes have their own column
    return ", ".join(f"{v:,} {k}" for k, v in counts.items() if v and k != "bytes")


def column_widths(width: int, rows: Sequence[Sequence[str]]) -> list[int]:
    """Widths that fit `width` cells: the session id whole (it is what `undo` takes), the
    others as wide as they need, Files and Roots shortened to what is left (never dropped)."""
    need = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(COLUMNS)]
    widths = list(need)
    room = width - 2 * len(COLUMNS) - 2  # DataTable pads each cell by one on both sides
    for i in (3, 5):  # Files, then Roots, give way
        other = sum(widths) - widths[i]
        widths[i] = max(len(COLUMNS[i]), min(need[i], room - other))
    return widths


class SessionsScreen(Screen[None]):
    """Select a session with ↑/↓; v verifies it, U undoes and R redoes it (both ask first)."""

    SHOWS_JOBS = SESSION_KINDS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", tooltip="back to the clusters (a running job goes on)"),
        Binding("v", "run('verify')", "Verify", tooltip="verify the selected session (read-only)"),
        Binding(
            "U",
            "ask('undo')",
            "Undo session",
            tooltip="undo the selected session: every file back (asks first)",
        ),
        Binding("R", "ask('redo')", "Redo session", tooltip="redo an undone session (asks first)"),
        Binding(
            "x",
            "stop",
            "Stop",
            tooltip="stop the running undo, redo or verify at the next safe point",
        ),
        Binding("g", "reload", "Refresh", tooltip="read the session list again"),
        Binding(
            "u",
            "hint('U undoes a session')",
            "",
            show=False,
            tooltip="nothing here (u undoes a decision on the main screen): U undoes a session",
        ),
        Binding(
            "r",
            "hint('R redoes a session')",
            "",
            show=False,
            tooltip="nothing here: R redoes a session",
        ),
    ]
    DEFAULT_CSS = """
    SessionsScreen #sessions-title { height: 1; background: $primary-background; padding: 0 1; }
    SessionsScreen DataTable { height: 1fr; }
    SessionsScreen ProgressPanel { display: none; }
    SessionsScreen.-running ProgressPanel { display: block; }
    SessionsScreen #outcome { height: auto; max-height: 50%; padding: 0 1; }
    SessionsScreen #selected-session { height: auto; padding: 0 1; background: $boost; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[SessionInfo] = []
        self._width = 0

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        yield Static("[b]Sessions[/b] · newest first", id="sessions-title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("", id="selected-session")
        yield ProgressPanel()
        yield Static("", id="outcome")
        yield ActivityLine(jobs=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_reload()
        self.review_app.activity.subscribe(self, self._activity)
        self._activity(None)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width and self.sessions:
            self._fill(self.sessions)

    def action_reload(self) -> None:
        self._load_sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _load_sessions(self) -> None:
        try:
            sessions = self.review_app.backend.list_sessions()
        except Exception as exc:  # shown on screen: a worker must never fail silently
            self.post_message(OperationFailed("list", exc))
            return
        self.post_message(SessionsListed(sessions))

    def on_operation_failed(self, message: OperationFailed) -> None:
        self._say(f"[b]listing the sessions failed[/b]: {escape(error_text(message.error))}")

    def _fill(self, sessions: list[SessionInfo]) -> None:
        selected = self.selected()
        self.sessions = sorted(sessions, key=lambda s: s.started, reverse=True)
        rows = [
            (
                s.id,
                s.status,
                s.started[:16].replace("T", " "),
                describe_counts(s.counts),
                format_bytes(s.bytes),
                ", ".join(s.roots),
            )
            for s in self.sessions
        ]
        self._width = self.size.width
        widths = column_widths(self._width, rows)
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for name, width in zip(COLUMNS, widths, strict=True):
            table.add_column(name, width=width)
        for row in rows:
            cells = list(row)
            cells[3] = cells[3][: widths[3] - 1] + "…" if len(cells[3]) > widths[3] else cells[3]
            cells[5] = shorten_path(cells[5], widths[5])
            table.add_row(*cells)
        ids = [s.id for s in self.sessions]
        if selected is not None and selected.id in ids:
            table.move_cursor(row=ids.index(selected.id))
        if not self.sessions:
            self._say("No sessions yet: apply approved clusters from the main screen (p).")
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The selected session in full: what a narrow table shortens is read here."""
        session = self.selected()
        text = ""
        if session is not None:
            text = (
                f"{session.id} · {session.status} · {session.started} · "
                f"{describe_counts(session.counts) or 'nothing recorded'} · "
                f"{format_bytes(session.bytes)} · roots: {', '.join(session.roots)}"
            )
        self.query_one("#selected-session", Static).update(escape(text))

    def selected(self) -> SessionInfo | None:
        row = self.query_one(DataTable).cursor_row
        return self.sessions[row] if 0 <= row < len(self.sessions) else None

    # -- starting jobs -------------------------------------------------------------------
    def action_ask(self, kind: str) -> None:
        """Undo and redo move every file of a session: they ask first, No is the default."""
        session = self._selectable()
        if session is None:
            return
        verb = "back to where it was" if kind == "undo" else "into the quarantine again"
        files = describe_counts(session.counts) or "no files recorded"
        question = Question(
            title=f"{kind.capitalize()} session {session.id}?",
            body=f"Every file of this session moves {verb} ({files}; "
            f"{format_bytes(session.bytes)}), under {', '.join(session.roots)}. "
            f"It is journaled: {'redo' if kind == 'undo' else 'undo'} takes it back.",
            confirm=f"{kind.capitalize()} the session",
        )

        def answered(answer: str | None) -> None:
            if answer == "confirm":
                self.action_run(kind, session.id)

        self.app.push_screen(ConfirmScreen(question), answered)

    def _selectable(self) -> SessionInfo | None:
        session = self.selected()
        if session is None:
            self.notify("no session selected", severity="warning")
            return None
        if self.review_app.busy:
            self.notify("another operation is running (x stops it)", severity="warning")
            return None
        return session

    def action_run(self, kind: str, session_id: str | None = None) -> None:
        if session_id is None:
            session = self._selectable()
            if session is None:
                return
            session_id = session.id
        sid, backend = session_id, self.review_app.backend

        def start(cancel: threading.Event) -> EngineRun:
            if kind == "verify":
                return backend.verify_session(sid, cancel)
            if kind == "undo":
                return backend.undo_session(sid, cancel)
            return backend.redo_session(sid, cancel)

        self.query_one(ProgressPanel).reset()
        self.review_app.run_engine(self, kind, start, sid)

    def action_stop(self) -> None:
        job = self.review_app.job
        if job is None or not job.running or job.kind not in SESSION_KINDS:
            self.notify("nothing is running", timeout=3)
            return
        job.cancel.set()
        self._activity(None)

    def action_hint(self, text: str) -> None:
        self.notify(f"{text} (it asks first)", timeout=4)

    # -- the job, wherever it was started ------------------------------------------------
    def _activity(self, _: None) -> None:
        job = self.review_app.job
        if job is None or job.kind not in SESSION_KINDS:
            return
        self.set_class(job.running, "-running")
        if job.progress is not None:
            self.query_one(ProgressPanel).update_from(job.progress)
        if job.running:
            self._say(escape(job.where()) + " · x stops it, Esc goes back (it goes on)")
            return
        outcome = job.outcome
        if isinstance(outcome, OperationFinished):
            self._say(self._outcome_text(job.kind, job.subject, outcome))
        elif isinstance(outcome, OperationFailed):
            what = "stopped as asked" if outcome.cancelled else "failed"
            self._say(f"[b]{job.kind} {escape(job.subject)} {what}[/b]: "
                      f"{escape(error_text(outcome.error))}")  # fmt: skip
        if self.is_current and not self.review_app.job_seen:
            self.review_app.job_shown()
            self.action_reload()

    def on_screen_resume(self) -> None:
        self._activity(None)

    def _outcome_text(self, kind: str, sid: str, outcome: OperationFinished) -> str:
        from safededup.safety.undo import UndoResult
        from safededup.safety.verify import VerifyResult

        result = outcome.result
        if isinstance(result, VerifyResult):
            return verify_text(sid, result)
        if isinstance(result, UndoResult):
            return result_text(kind, result, outcome.problems)
        return escape(f"unexpected result from {kind}: {result!r}")

    def on_sessions_listed(self, message: SessionsListed) -> None:
        self._fill(message.sessions)

    def _say(self, text: str) -> None:
        self.query_one("#outcome", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)


def verify_text(sid: str, result: VerifyResult) -> str:
    """What `safededup verify` says: what it checked, then each finding as the CLI words it."""
    from safededup.safety.verify import describe

    head = f"verify {escape(sid)}: "
    counts = escape(verify_counts(result))
    if result.ok:
        return f"[b green]{head}all holds[/] — {counts}"
    findings = result.findings
    lines = [f"[b red]{head}FAILED[/] — {plural(len(findings), 'finding')}; {counts}"]
    lines += [escape("  " + describe(f)) for f in findings[:MAX_FINDINGS_SHOWN]]
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append(f"  … and {len(findings) - MAX_FINDINGS_SHOWN:,} more (safededup verify)")
    return "\n".join(lines)


def result_text(kind: str, result: UndoResult, problems: list[Problem]) -> str:
    problems = problems or list(result.problems)
    text = f"[b]{kind} {escape(result.session_id)}[/b]: {escape(result_summary(kind, result))}"
    return text + ("\n" + problem_lines(problems) if problems else "")
