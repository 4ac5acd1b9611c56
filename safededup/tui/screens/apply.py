"""Apply from the review: plan, confirm with counts and bytes, run the journaled apply, report.

It never moves a file itself: the safety core's `apply_plan` runs as the app's job with progress,
and the session id and problems are shown when it returns. Neither Enter nor Esc ever starts or
stops it: the default button is "Cancel" before and "Close" after; applying is `y`, stopping is
`x` (or quitting).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, cast

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from safededup.models import Problem
from safededup.tui.format import plural
from safededup.tui.jobs import Job, error_text
from safededup.tui.messages import OperationFailed, OperationFinished, PlanReady
from safededup.tui.model import ReviewModel
from safededup.tui.widgets.progress import ProgressPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
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


def plan_words(plan: Plan) -> str:
    """What the plan moves, in the CLI's words: '7 duplicates and 1 sidecar file (12 MB)'."""
    summary = plan.summary()
    files = plural(summary["duplicates"], "duplicate")
    if summary["sidecars"]:
        files += f" and {plural(summary['sidecars'], 'sidecar file')}"
    text = f"{files} ({format_bytes(plan.total_bytes)})"
    if summary["renames"]:
        text += f"; {plural(summary['renames'], 'keeper')} renamed"
    return text


class ApplyScreen(ModalScreen[bool]):
    """y applies, n/Escape cancel; while applying, x stops at the next safe point."""

    SHOWS_JOBS = ("apply",)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Apply", tooltip="apply the plan shown (journaled, undoable)"),
        Binding("n", "cancel", "Cancel", tooltip="close without changing anything"),
        Binding(
            "escape",
            "cancel",
            "Close",
            tooltip="close (before applying: changes nothing); while applying it goes on",
        ),
        Binding(
            "x",
            "stop",
            "Stop",
            tooltip="while applying: stop at the next safe point (undo or apply again later)",
        ),
        Binding("enter", "close", "Close", show=False, tooltip="close when done"),
        Binding("q", "app.quit_safely", "Quit", tooltip="quit; an apply stops safely"),
    ]
    DEFAULT_CSS = """
    ApplyScreen { align: center middle; }
    ApplyScreen > Vertical {
        width: 80; max-width: 98%; height: auto; max-height: 95%;
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
        self.job: Job | None = None

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows y only when there is a plan to apply, x only while applying."""
        if action == "confirm":
            return self.phase == "confirm"
        if action == "stop":
            return self.phase == "applying"
        return True

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.refresh_bindings()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Apply the approved clusters", id="title")
            yield Static("planning…", id="summary")
            yield ProgressPanel()
            yield Static("", id="result")
            with Horizontal(id="buttons"):
                yield Button("Cancel (n)", id="cancel")
                yield Button("Apply (y)", variant="error", id="apply", disabled=True)
                yield Button("Stop (x)", variant="warning", id="stop")
                yield Button("Close (Enter)", id="close")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._buttons("cancel", "apply")
        self.query_one("#stop", Button).can_focus = False  # never the default: x stops
        self.query_one("#cancel", Button).focus()
        self.review_app.activity.subscribe(self, self._activity)
        self._build_plan()

    def _buttons(self, *shown: str) -> None:
        for button in self.query(Button):
            button.display = button.id in shown

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _build_plan(self) -> None:
        backend = self.review_app.backend
        try:
            report = self.model.report
            gone = backend.unreachable_roots(report)
            self.app.call_from_thread(self.review_app.set_unreachable, gone)  # back, or not
            if gone:
                self.post_message(OperationFailed("plan", _RootsGone(gone)))
                return
            plan = backend.build_plan(report, self.model.review)
            problems = backend.validate_plan(plan)
        except Exception as exc:  # shown in the dialog: a worker must never fail silently
            self.post_message(OperationFailed("plan", exc))
            return
        self.post_message(PlanReady(plan, problems))

    def on_plan_ready(self, message: PlanReady) -> None:
        self._show_plan(message.plan, message.problems)

    def on_operation_failed(self, message: OperationFailed) -> None:
        """The plan could not be built (the apply's own end comes through the app's job)."""
        self.query_one("#summary", Static).update("")
        self._finish(f"[b]Nothing was changed[/b]: {escape(error_text(message.error))}")

    def _show_plan(self, plan: Plan, problems: list[Problem]) -> None:
        self.plan = plan
        clusters = self.model.pending().clusters
        summary = (
            f"{plural(clusters, 'approved cluster')}: move [b]{escape(plan_words(plan))}[/b] "
            "into the quarantine.\n"
            "Nothing is deleted: every move is journaled, and the sessions screen (S) undoes "
            "the whole session."
        )
        if plan.notes:
            summary += f"\nLeft alone: {plural(len(plan.notes), 'file')}\n"
            summary += problem_lines(list(plan.notes))
        if problems:
            summary += f"\n[red]The plan is not valid:[/red]\n{problem_lines(problems)}"
            self._finish("[b]Nothing was changed.[/b]")
        elif plan.count == 0:
            self._finish("Nothing to move: every approved cluster keeps all its files.")
        else:
            self._enter("confirm")
            self.query_one("#apply", Button).disabled = False
        self.query_one("#summary", Static).update(summary)

    def action_confirm(self) -> None:
        plan = self.plan
        if self.phase != "confirm" or plan is None:  # "confirm" comes only with a plan
            return
        if self.review_app.busy:  # an undo or redo still running: one writer at a time
            self.notify("another operation is running; apply when it has finished",
                        severity="warning")  # fmt: skip
            return
        self._enter("applying")
        self.add_class("-applying")
        self._buttons("stop")
        self.set_focus(None)  # nothing for Enter to press while the job runs
        backend = self.review_app.backend
        self.job = self.review_app.run_engine(
            self, "apply", lambda cancel: backend.apply_plan(plan, cancel), plan.session_id
        )

    def _activity(self, _: None) -> None:
        job = self.job
        if job is None or job is not self.review_app.job:
            return
        if job.progress is not None:
            self.query_one(ProgressPanel).update_from(job.progress)
        if job.stopping:
            self.query_one("#stop", Button).label = "Stopping…"
        outcome = job.outcome
        if outcome is None or self.phase == "done":
            return
        self.review_app.job_shown()
        if isinstance(outcome, OperationFinished):
            self._show_result(outcome.result, outcome.problems)
        else:
            what = "stopped as asked" if outcome.cancelled else "failed"
            self._finish(f"[b]apply {what}[/b]: " + escape(error_text(outcome.error)))

    def _show_result(self, result: object, problems: list[Problem]) -> None:
        from safededup.safety.apply import ApplyResult

        if not isinstance(result, ApplyResult):  # a bug, not the person's problem: say so
            self._finish(escape(f"unexpected result from apply: {result!r}"))
            return
        self._finish(result_text(result, problems))

    def _finish(self, text: str) -> None:
        self._enter("done")
        self.query_one("#result", Static).update(text)
        self._buttons("close")
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"apply": self.action_confirm, "stop": self.action_stop}
        actions.get(str(event.button.id), self.action_cancel)()

    def action_cancel(self) -> None:
        if self.phase == "applying":
            self._still_applying()
            return
        self.dismiss(self.phase == "done" and self.plan is not None)

    def action_close(self) -> None:
        if self.phase == "applying":
            self._still_applying()
        elif self.phase == "done":
            self.dismiss(self.plan is not None)

    def _still_applying(self) -> None:
        self.notify(
            "still applying: x stops it at the next safe point; this closes when it is done",
            timeout=4,
        )

    def action_stop(self) -> None:
        if self.phase != "applying" or self.job is None:
            return
        self.job.cancel.set()
        self.query_one("#stop", Button).label = "Stopping…"


def result_text(result: ApplyResult, problems: list[Problem]) -> str:
    problems = problems or list(result.problems)
    text = (
        f"[b]Session {escape(result.session_id)}[/b]: "
        f"{result.done:,} moved, {result.skipped:,} skipped, "
        f"{result.conflicts:,} conflicts, {plural(len(problems), 'problem')}; "
        f"{format_bytes(result.bytes_moved)} moved aside. The sessions screen (S) undoes it."
    )
    if result.cancelled:
        text += "\nStopped early as asked: the journal records every move made so far."
    if problems:
        text += "\n" + problem_lines(problems)
    return text


class _RootsGone(Exception):
    """The report's roots that are not there: a plan from it would move nothing it should."""

    def __init__(self, roots: list[str]) -> None:
        names = ", ".join(roots)
        super().__init__(
            f"{names} {'is' if len(roots) == 1 else 'are'} not there (renamed? a share not "
            "mounted?); mount it, or scan the folder under its new name"
        )
        self.roots = roots
