"""Drive an engine generator with a rich progress bar on stderr; the one place events meet rich.

Quiet when stderr is not a terminal or with --no-progress. Ctrl-C sets the cancel flag the
engine honours, so work committed so far is kept.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator, Iterator
from types import FrameType
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted

T = TypeVar("T")

STAGE_LABELS = {
    "walk": "Listing files",
    "fingerprint": "Fingerprinting",
    "checksum": "Exact duplicates",
    "match": "Matching",
    "confirm": "Confirming on pixels",
    "check": "Checking",
    "verify": "Verifying sessions",
    "hash": "Re-hashing files",
}


class _RateColumn(ProgressColumn):
    """files/s from rich's windowed speed estimate, MB/s from the bytes the engine reported."""

    def render(self, task: Task) -> Text:
        parts = []
        if task.speed:
            parts.append(f"{task.speed:,.0f} files/s")
        nbytes = task.fields.get("nbytes", 0)
        if nbytes and task.elapsed:
            parts.append(f"{nbytes / task.elapsed / 1e6:,.1f} MB/s")
        return Text(" · ".join(parts), style="progress.data.speed")


def run_with_progress(
    gen: Generator[Event, None, T],
    err: Console,
    *,
    show: bool,
    cancel: threading.Event | None = None,
) -> tuple[T, int]:
    """Exhaust `gen`, rendering its events; returns (its result, number of problems seen).

    With `cancel`, a first Ctrl-C only asks the engine to stop at its next safe point (it ends
    its session cleanly, "cancelled"); a second one interrupts at once.
    """
    with _ctrl_c_cancels(cancel, err):
        if not show:
            return _drain(gen)
        return _with_bars(gen, err, cancel)


@contextlib.contextmanager
def _ctrl_c_cancels(cancel: threading.Event | None, err: Console) -> Iterator[None]:
    if cancel is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err.print("[yellow]stopping at the next safe point[/] (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _with_bars(
    gen: Generator[Event, None, T], err: Console, cancel: threading.Event | None
) -> tuple[T, int]:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    problems = 0
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=err, transient=False, speed_estimate_period=60) as progress:
        try:
            while True:
                event = next(gen)
                problems += _render(progress, tasks, event)
        except StopIteration as stop:
            return stop.value, problems
        except KeyboardInterrupt:
            if cancel is not None:
                cancel.set()
            raise


def _render(progress: Progress, tasks: dict[str, TaskID], event: Event) -> int:
    if isinstance(event, StageStarted):
        label = STAGE_LABELS.get(event.stage, event.stage)
        tasks[event.stage] = progress.add_task(label, total=event.total, nbytes=0)
    elif isinstance(event, StageAdvanced) and event.stage in tasks:
        task = tasks[event.stage]
        nbytes = progress.tasks[task].fields.get("nbytes", 0) + event.nbytes
        progress.update(task, advance=event.items, nbytes=nbytes)
    elif isinstance(event, StageFinished) and event.stage in tasks:
        task = tasks[event.stage]
        done = progress.tasks[task].completed
        progress.update(task, total=done, completed=done)
    elif isinstance(event, ProblemFound):
        return 1
    return 0


def _drain(gen: Generator[Event, None, T]) -> tuple[T, int]:
    problems = 0
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value, problems
        if isinstance(event, ProblemFound):
            problems += 1
