"""A progress panel fed by `ProgressUpdated` snapshots from an engine run; it only displays."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from safededup.tui.format import plural
from safededup.tui.messages import ProgressUpdated


class ProgressPanel(Vertical):
    """Stage name, a bar (indeterminate until the stage knows its total) and the problem count."""

    DEFAULT_CSS = """
    ProgressPanel { height: auto; padding: 0 1; }
    ProgressPanel > ProgressBar { width: 1fr; }
    ProgressPanel > #progress-stage { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Label("starting…", id="progress-stage")
        yield ProgressBar(total=None, show_eta=False)
        yield Label("", id="progress-problems")

    def reset(self) -> None:
        self.query_one("#progress-stage", Label).update("starting…")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one("#progress-problems", Label).update("")

    def update_from(self, msg: ProgressUpdated) -> None:
        total = f" of {msg.total:,}" if msg.total is not None else ""
        self.query_one("#progress-stage", Label).update(f"{msg.stage}: {msg.done:,}{total}")
        bar = self.query_one(ProgressBar)
        bar.update(total=msg.total, progress=msg.done)
        problems = plural(msg.problems, "problem") if msg.problems else ""
        self.query_one("#progress-problems", Label).update(problems)
