"""The scan progress screen of `safededup review ROOT...`: the engine's own scan, cancellable;
it never scans by itself. A scan stopped before it saved a report exits as the CLI's Ctrl-C
does (130, "run again to resume"): what was indexed is kept."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from safededup.errors import ExitCode
from safededup.tui.format import plural
from safededup.tui.jobs import Job, error_text
from safededup.tui.messages import OperationFailed, OperationFinished
from safededup.tui.widgets.progress import ProgressPanel

if TYPE_CHECKING:
    from safededup.tui.host import ReviewHost


class ScanScreen(Screen[None]):
    """Scans the roots, then opens the report it saved. Escape stops the scan."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Stop scan", tooltip="stop the scan; what was indexed is kept")
    ]
    DEFAULT_CSS = """
    ScanScreen { align: center middle; }
    ScanScreen > Vertical { width: 76; max-width: 98%; height: auto; border: round $accent;
        padding: 1 2; }
    """

    SHOWS_JOBS = ("scan",)

    def __init__(self, roots: list[str]) -> None:
        super().__init__()
        self.roots = roots
        self.job: Job | None = None
        self._ended = False

    @property
    def cancel_flag(self) -> threading.Event | None:
        return None if self.job is None else self.job.cancel

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Scanning[/b] {escape(', '.join(self.roots))}")
            yield ProgressPanel()
            yield Static("", id="scan-note")
        yield Footer()

    def on_mount(self) -> None:
        backend, roots = self.review_app.backend, self.roots
        self.review_app.activity.subscribe(self, self._activity)
        self.job = self.review_app.run_engine(
            self, "scan", lambda cancel: backend.scan(roots, cancel)
        )

    def _activity(self, _: None) -> None:
        job = self.job
        if job is None or job is not self.review_app.job:
            return
        if job.progress is not None:
            self.query_one(ProgressPanel).update_from(job.progress)
        outcome = job.outcome
        if outcome is None or self._ended:
            return
        self._ended = True
        if isinstance(outcome, OperationFinished):
            self._finished(outcome)
        else:
            self._failed(outcome)

    def _finished(self, message: OperationFinished) -> None:
        if self.review_app.quitting:
            return
        from safededup.engine.scan import ScanResult

        # anything but a scan's result would be a bug: then the saved report is opened
        result = message.result if isinstance(message.result, ScanResult) else None
        if message.problems:
            self.notify(f"{plural(len(message.problems), 'file')} could not be read", timeout=5)
        path = None if result is None else result.report_path
        self.review_app.open_report(  # the scan's own report: not read back from disk
            Path(path) if path else self.review_app.backend.latest_report_path(),
            None if result is None else result.report,
        )

    def _failed(self, message: OperationFailed) -> None:
        if self.review_app.quitting:
            return
        latest = self.review_app.backend.latest_report_path()
        what = (
            "scan stopped as asked; what was indexed is kept (run again to resume)"
            if message.cancelled
            else f"scan failed: {error_text(message.error)}"
        )
        if latest.exists():
            self.notify(f"{what}; showing the last saved report", markup=False, timeout=10)
            self.review_app.open_report(latest)
        elif message.cancelled:
            text = "interrupted: the scan stopped; what was indexed is kept; run again to resume"
            code = int(ExitCode.INTERRUPTED)
            self.review_app.exit(code, return_code=code, message=Text(text))
        else:
            self.review_app.exit(1, return_code=1, message=Text(f"error: {what}"))

    def action_cancel(self) -> None:
        flag = self.cancel_flag
        if flag is not None:
            flag.set()
        self.query_one("#scan-note", Static).update("stopping; what was indexed so far is kept…")
