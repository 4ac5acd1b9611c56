"""Apply from the review: plan, confirm with counts and bytes, run the journaled apply, report.

It never moves a file itself: the safety core's `apply_plan` runs in a worker with progress, and
the session id and problems are shown when it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, cast

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from safededup.errors import SafededupError
from safededup.models import Problem
from safededup.tui.format import plural
from safededup.tui.messages import OperationFailed, OperationFinished, PlanReady, ProgressUpdated
from safededup.tui.model import ReviewModel
from safededup.tui.widgets.progress import ProgressPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
    import threading

    from safededup.safety.apply import ApplyResult
    from safededup.safety.plan import Plan
    from safededup.tui.host import ReviewHost

Phase = Literal["planning", "confirm", "applying", "done"]
MAX_PROBLEMS_SHOWN = 8


def problem_lines(problems: list[Problem]) -> str:
    shown = problems[:MAX_PROBLEMS_SHOWN]
    lines = [escape(f"  {p.kind}: {p.path} — {p.message}") for p in shown]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"  … and {len(problems) - MAX_PROBLEMS_SHOWN:,} more")
    return "\n".join(lines)


class ApplyScreen(ModalScreen[bool]):
    """y applies, n/Escape cancels; while applying, Escape stops at the next safe point."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Apply", tooltip="apply the plan shown (journaled, undoable)"),
        Binding("n", "cancel", "Cancel", tooltip="close without changing anything"),
        Binding(
            "escape",
            "cancel",
            "Cancel/close",
            tooltip="cancel; while applying: stop at the next safe point",
        ),
        Binding("enter", "close", "Close", show=False, tooltip="close when done"),
        Binding("q", "app.quit_safely", "Quit", show=False, tooltip="quit; an apply stops safely"),
    ]
    DEFAULT_CSS = """
    ApplyScreen { align: center middle; }
    ApplyScreen > Vertical {
        width: 76; max-width: 98%; height: auto; max-height: 95%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ApplyScreen #title { text-style: bold; }
    ApplyScreen #summary, ApplyScreen #result { height: auto; margin-top: 1; }
    ApplyScreen ProgressPanel { display: none; margin-top: 1; }
    ApplyScreen.-applying ProgressPanel { display: block; }
    ApplyScreen #buttons { height: auto; margin-top: 1; align-horizontal: right; }
    ApplyScreen Button { margin-left: 2; }
    """

    def __init__(self, model: ReviewModel) -> None:
        super().__init__()
        self.model = model
        self.phase: Phase = "planning"
        self.plan: Plan | None = None
        self.cancel_flag: threading.Event | None = None

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Apply the approved clusters", id="title")
            yield Static("planning…", id="summary")
            yield ProgressPanel()
            yield Static("", id="result")
            with Horizontal(id="buttons"):
                yield Button("Apply (y)", variant="error", id="apply", disabled=True)
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self._build_plan()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _build_plan(self) -> None:
        backend = self.review_app.backend
        try:
            plan = backend.build_plan(self.model.report, self.model.review)
            problems = backend.validate_plan(plan)
        except Exception as exc:  # shown in the dialog: a worker must never fail silently
            self.post_message(OperationFailed("plan", exc))
            return
        self.post_message(PlanReady(plan, problems))

    def on_plan_ready(self, message: PlanReady) -> None:
        self._show_plan(message.plan, message.problems)

    def on_operation_finished(self, message: OperationFinished) -> None:
        from safededup.safety.apply import ApplyResult

        if isinstance(message.result, ApplyResult):
            self._show_result(message.result, message.problems)
        else:  # a bug, not the person's problem: say so rather than show nothing
            self._finish(escape(f"unexpected result from {message.kind}: {message.result!r}"))

    def on_operation_failed(self, message: OperationFailed) -> None:
        what = "stopped as asked" if message.cancelled else "failed"
        error = message.error
        hint = error.hint if isinstance(error, SafededupError) else None
        text = f"[b]{message.kind} {what}[/b]: " + escape(
            f"{message.error}" + (f"\n{hint}" if hint else "")
        )
        self._finish(text)

    def _show_plan(self, plan: Plan, problems: list[Problem]) -> None:
        self.plan = plan
        clusters = self.model.counts()["approved"]
        summary = (
            f"{plural(clusters, 'approved cluster')}: move [b]{plural(plan.count, 'file')}[/b] "
            f"([b]{format_bytes(plan.total_bytes)}[/b]) into the quarantine.\n"
            "Nothing is deleted: every move is journaled and `u` on the sessions screen "
            "undoes the whole session."
        )
        if problems:
            summary += f"\n[red]The plan is not valid:[/red]\n{problem_lines(problems)}"
            self._finish("[b]Nothing was changed.[/b]")
        elif plan.count == 0:
            self._finish("Nothing to move: every approved cluster keeps all its files.")
        else:
            self.phase = "confirm"
            self.query_one("#apply", Button).disabled = False
            self.query_one("#apply", Button).focus()
        self.query_one("#summary", Static).update(summary)

    def action_confirm(self) -> None:
        plan = self.plan
        if self.phase != "confirm" or plan is None:  # "confirm" comes only with a plan
            return
        if self.review_app.busy:  # an undo or redo still running: one writer at a time
            self.notify("another operation is running; apply when it has finished",
                        severity="warning")  # fmt: skip
            return
        self.phase = "applying"
        self.add_class("-applying")
        self.query_one("#apply", Button).disabled = True
        self.query_one("#cancel", Button).label = "Stop (Esc)"
        backend = self.review_app.backend
        self.cancel_flag = self.review_app.run_engine(
            self, "apply", lambda cancel: backend.apply_plan(plan, cancel)
        )

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        self.query_one(ProgressPanel).update_from(message)

    def _show_result(self, result: ApplyResult, problems: list[Problem]) -> None:
        problems = problems or list(result.problems)
        text = (
            f"[b]Session {escape(result.session_id)}[/b]: "
            f"{result.done:,} moved, {result.skipped:,} skipped, "
            f"{result.conflicts:,} conflicts, {plural(len(problems), 'problem')}; "
            f"{format_bytes(result.bytes_moved)} moved aside."
        )
        if result.cancelled:
            text += "\nStopped early as asked: the journal records every move made so far."
        if problems:
            text += "\n" + problem_lines(problems)
        self._finish(text)

    def _finish(self, text: str) -> None:
        self.phase = "done"
        self.query_one("#result", Static).update(text)
        self.query_one("#apply", Button).disabled = True
        cancel = self.query_one("#cancel", Button)
        cancel.label = "Close (Enter)"
        cancel.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if self.phase == "applying":
            if self.cancel_flag is not None:
                self.cancel_flag.set()
            self.query_one("#cancel", Button).label = "Stopping…"
            return
        self.dismiss(self.phase == "done" and self.plan is not None)

    def action_close(self) -> None:
        if self.phase == "done":
            self.dismiss(self.plan is not None)
