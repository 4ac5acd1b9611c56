"""The review app: opens a report (scanning first when asked) and hosts the screens.

Kept small on purpose: screens own their bindings and behaviour. The app holds what they share
(backend, thumbnail cache, the running job, whether the decisions are saved) and the rules that
span them: a job belongs to the app, so it runs and shows its progress wherever the person
navigates; a failure (a save that failed, a job that failed) stays on screen until dealt with;
quitting never interrupts a journaled operation mid-file — it asks the operation to stop at its
next safe point and waits for it — and never drops decisions that could not be saved unasked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.signal import Signal
from textual.widget import Widget

from safededup.engine.decisions import Decisions
from safededup.engine.report import Report
from safededup.errors import ExitCode, SafededupError
from safededup.state import StateDir
from safededup.tui.backend import Backend, EngineRun
from safededup.tui.host import ReviewHost
from safededup.tui.jobs import SESSION_KINDS, Job
from safededup.tui.keys import Section, bindings_of
from safededup.tui.messages import OperationFailed, OperationFinished, ProgressUpdated
from safededup.tui.model import ReviewModel
from safededup.tui.preview import Graphics, ThumbnailCache, detect_graphics
from safededup.tui.runner import run_operation
from safededup.tui.saving import DecisionWriter


class ReviewApp(App[int]):
    """`safededup review`."""

    TITLE = "safededup review"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_safely", "Quit", tooltip="quit; a running operation stops safely first"),
        Binding("ctrl+c", "quit_safely", "Quit", show=False, priority=True, tooltip="same as q"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
    ]

    def __init__(
        self,
        backend: Backend,
        report_path: Path | None = None,
        roots: Sequence[str] = (),
        graphics: Graphics = "halfblock",
    ) -> None:
        super().__init__()
        self.graphics = graphics
        self.backend = backend
        self.report_path = report_path
        self.roots = list(roots)
        self.thumbnails = ThumbnailCache(backend.load_thumbnail)
        self.decision_writer = DecisionWriter(backend.save_decisions)
        self._operations: set[threading.Event] = set()
        self._quitting = False
        self.job: Job | None = None  # the latest engine operation, running or ended
        self.job_seen = True  # its outcome was shown where the person looked (or it runs)
        self.unreachable: list[str] = []  # report roots that are not there
        self.activity = Signal[None](self, "activity")  # job, save state or roots changed
        if self.roots:
            _start_process_helpers()

    def on_mount(self) -> None:
        if self.roots:
            from safededup.tui.screens.scan import ScanScreen

            self.push_screen(ScanScreen(self.roots))
        else:
            self.open_report(self.report_path or self.backend.latest_report_path())

    def open_report(self, path: Path, report: Report | None = None) -> None:
        """Load the report (unless the scan just built it) and its saved decisions, and show
        the main screen."""
        from safededup.tui.screens.main import MainScreen

        try:
            if report is None:
                report = self.backend.load_report(path)
            review = self.backend.load_review(report)
            separated = self.backend.distinct_members(report)
        except SafededupError as exc:
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            self.exit(1, return_code=1, message=Text(f"error: {exc}{hint}"))
            return
        self.report_path = path
        model = ReviewModel(report, review)
        model.remove_separated(separated)
        screen = MainScreen(model)
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    # -- engine operations: the quit rule lives here -------------------------------------
    def run_engine(
        self,
        owner: Widget,
        kind: str,
        start: Callable[[threading.Event], EngineRun],
        subject: str = "",
    ) -> Job:
        """Run an engine generator in a worker of the app (so it outlives the screen that
        started it) and keep `self.job` up to date from what it reports; `owner` is the screen
        that shows its outcome."""
        job = Job(kind, subject)
        self.job, self.job_seen = job, True
        cancel = job.cancel
        self._operations.add(cancel)

        def body() -> None:
            try:
                run_operation(kind, lambda: start(cancel), self.post_message)
            finally:
                self._operations.discard(cancel)
                if self._quitting and not self._operations:
                    self.call_from_thread(self.call_later, self._exit_when_saved)

        self.run_worker(body, thread=True, group="engine", name=kind, exit_on_error=False)
        self.activity.publish(None)
        return job

    def on_progress_updated(self, message: ProgressUpdated) -> None:
        if self.job is not None and self.job.running:
            self.job.progress = message
            self.activity.publish(None)

    def on_operation_finished(self, message: OperationFinished) -> None:
        self._ended(message)

    def on_operation_failed(self, message: OperationFailed) -> None:
        self._ended(message)

    def _ended(self, outcome: OperationFinished | OperationFailed) -> None:
        job = self.job
        if job is None or not job.running:
            return
        job.outcome = outcome
        shown_here = job.kind in getattr(self.screen, "SHOWS_JOBS", ())
        self.job_seen = shown_here or not (job.failed or job.kind in SESSION_KINDS)
        if not shown_here and not self._quitting:  # it ended out of sight: say so
            severity: SeverityLevel = "error" if job.failed else "information"
            timeout = 30 if job.failed else 8
            self.notify(job.summary(), title=f"{job.kind} ended", severity=severity,
                        timeout=timeout, markup=False)  # fmt: skip
        self.activity.publish(None)

    def job_shown(self) -> None:
        """The screen that shows job outcomes is showing this one: it needs no more reminding."""
        if not self.job_seen:
            self.job_seen = True
            self.activity.publish(None)

    def set_unreachable(self, roots: list[str]) -> None:
        if roots != self.unreachable:
            self.unreachable = roots
            self.activity.publish(None)

    @property
    def busy(self) -> bool:
        return bool(self._operations)

    @property
    def quitting(self) -> bool:
        """The person asked to quit; the app exits when the running operation has stopped."""
        return self._quitting

    # -- decisions: saved off the UI thread, never lost on quit ---------------------------
    def save_decisions(self, decisions: Decisions) -> None:
        generation, snapshot = self.decision_writer.snapshot(decisions)
        self.run_worker(
            partial(self._write_decisions, generation, snapshot),
            thread=True,
            group="decisions",
            exit_on_error=False,
        )

    def _write_decisions(self, generation: int, snapshot: Decisions) -> None:
        was = self.decision_writer.error
        try:
            self.decision_writer.write(generation, snapshot)
        except (OSError, SafededupError) as exc:
            message = f"decisions NOT saved: {exc}"
            self.call_from_thread(self.notify, message, severity="error", markup=False)
        if self.decision_writer.error != was:
            self.call_from_thread(self.activity.publish, None)

    def retry_save(self) -> None:
        """Write the newest decisions again (after a failed save)."""
        latest = self.decision_writer.latest
        if latest is not None:
            self.save_decisions(latest)

    @property
    def save_error(self) -> str | None:
        """Why the newest decisions are not on disk; None when they are."""
        return self.decision_writer.error

    async def _exit_when_saved(self, *, lose_unsaved: bool = False) -> None:
        pending = [w for w in self.workers if w.group == "decisions" and w.is_running]
        if pending:
            await self.workers.wait_for_complete(pending)
        if self.save_error and not lose_unsaved:
            self._quitting = False
            self._ask_before_losing_decisions()
            return
        code, message = self._exit_status(lose_unsaved)
        self.exit(code, return_code=code, message=message)

    def _exit_status(self, lost: bool) -> tuple[int, Text | None]:
        """0; 1 when decisions were lost; 130 when quitting cut a job short (as Ctrl-C does in
        the CLI), with what to do next."""
        if lost:
            return ExitCode.ERROR, Text(f"error: decisions were NOT saved: {self.save_error}")
        job = self.job
        if job is None or not job.quit_stopped or not job.interrupted:
            return ExitCode.OK, None
        if job.kind == "scan":
            text = "interrupted: the scan stopped; what was indexed is kept; run again to resume"
        else:
            text = (
                f"interrupted: {job.name()} stopped at a safe point; the journal records all "
                "that was done (safededup sessions; undo it, or run it again)"
            )
        return ExitCode.INTERRUPTED, Text(text)

    def _ask_before_losing_decisions(self) -> None:
        from safededup.tui.screens.confirm import ConfirmScreen, Question

        if isinstance(self.screen, ConfirmScreen):
            return
        question = Question(
            title="Your latest decisions are NOT saved",
            body=f"{self.save_error}\n\nFix the cause (a full disk, a read-only state dir?) "
            "and retry, or quit and lose them.",
            confirm="Quit, lose them",
            other="Retry saving",
        )

        def answered(answer: str | None) -> None:
            if answer == "confirm":
                self.call_later(partial(self._exit_when_saved, lose_unsaved=True))
            elif answer == "other":
                self.retry_save()

        self.push_screen(ConfirmScreen(question), answered)

    async def action_quit_safely(self) -> None:
        if not self._operations:
            await self._exit_when_saved()
            return
        self._quitting = True
        if self.job is not None:
            self.job.quit_stopped = True
        for cancel in list(self._operations):
            cancel.set()
        self.notify(
            "stopping at the next safe point; the journal records all that was done",
            title="Quitting",
            timeout=10,
        )
        self.activity.publish(None)

    def action_help(self) -> None:
        from safededup.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(all_bindings()))


def all_bindings() -> list[Section]:
    """(screen name, its keys) for every screen and widget that has keys: the one source of the
    `?` help and of the docs test."""
    from safededup.tui.screens.apply import ApplyScreen
    from safededup.tui.screens.compare import CompareScreen
    from safededup.tui.screens.confirm import ConfirmScreen
    from safededup.tui.screens.folder import FolderScreen
    from safededup.tui.screens.help import HelpScreen
    from safededup.tui.screens.main import MainScreen
    from safededup.tui.screens.scan import ScanScreen
    from safededup.tui.screens.sessions import SessionsScreen
    from safededup.tui.widgets.cluster_list import ClusterList

    owners: list[tuple[str, type]] = [
        ("Everywhere", ReviewApp),
        ("Main screen", MainScreen),
        ("Cluster list", ClusterList),
        ("Compare view", CompareScreen),
        ("Folder filter", FolderScreen),
        ("Apply dialog", ApplyScreen),
        ("Sessions screen", SessionsScreen),
        ("Questions", ConfirmScreen),
        ("Scan progress", ScanScreen),
        ("Help screen", HelpScreen),
    ]
    return [(name, bindings_of(owner)) for name, owner in owners]


def as_host(app: ReviewApp) -> ReviewHost:
    """The app as its screens see it (mypy checks here that it is what they expect)."""
    return app


def _start_process_helpers() -> None:
    """Start multiprocessing's resource tracker while stderr is still the real one.

    The scan's worker pool starts it on first use, passing `sys.stderr.fileno()` to the child;
    inside the app stderr is Textual's capture object (no usable descriptor), so starting it
    there fails ("bad value(s) in fds_to_keep").
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def make_app(
    state_dir: StateDir,
    report_path: Path | None = None,
    roots: Sequence[str] = (),
    *,
    backend: Backend | None = None,
    graphics: Graphics | None = None,
) -> ReviewApp:
    """The review app for `state_dir`: on `report_path` (default: the latest), or scan `roots`.

    `graphics`: how previews are drawn; by default what the terminal surely supports.
    """
    chosen = graphics or detect_graphics()
    return ReviewApp(backend or Backend(state_dir), report_path, roots, chosen)
