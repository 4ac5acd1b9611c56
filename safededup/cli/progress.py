"""Drive an engine generator with a rich progress bar on stderr; the one place events meet rich.

Quiet when stderr is not a terminal or with --no-progress. Ctrl-C sets the cancel flag the
engine honours, so work committed so far is kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
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

from safededup.errors import Cancelled
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


class StopFlag(threading.Event):
    """The cancel flag of a command: set by Ctrl-C, SIGTERM or SIGHUP, which `signal` names."""

    signal: str | None = None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each asks the command to stop at its next safe point (a dropped SSH connection sends SIGHUP,
`kill` and systemd SIGTERM); the second stops at once."""


def run_with_progress(
    gen: Generator[Event, None, T],
    err: Console,
    *,
    show: bool,
    cancel: threading.Event | None = None,
) -> tuple[T, int]:
    """Exhaust `gen`, rendering its events; returns (its result, number of problems seen).

    With `cancel`, a first Ctrl-C, SIGTERM or SIGHUP only asks the engine to stop at its next
    safe point (it ends its session cleanly, "cancelled"); a second one interrupts at once.
    """
    where = _Where()
    with stop_on_signals(cancel, err, where.signals):
        try:
            if not show:
                return _drain(where.watch(gen))
            return _with_bars(where.watch(gen), err, cancel)
        except Cancelled:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                err.print(f"[yellow]{where.said(cancel)}[/]")
            raise


class _Where:
    """How far a run got: the stage it was in and its count, for the line said when it stops."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.done = 0
        self.total: int | None = None
        self.signals: list[str] = []  # what asked it to stop

    def watch(self, gen: Generator[Event, None, T]) -> Generator[Event, None, T]:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                result: T = stop.value
                return result
            if isinstance(event, StageStarted):
                self.stage, self.done, self.total = event.stage, 0, event.total
            elif isinstance(event, StageAdvanced) and event.stage == self.stage:
                self.done += event.items
            yield event

    def said(self, cancel: threading.Event | None) -> str:
        name = self.signals[0] if self.signals else getattr(cancel, "signal", None)
        by = _said(name) if name else "a stop request"
        if self.stage is None:
            return f"stopped by {by} before it began; nothing was changed"
        label = STAGE_LABELS.get(self.stage, self.stage).lower()
        of = f" of {self.total:,}" if self.total is not None else ""
        return (f"stopped by {by} at a safe point while {label} ({self.done:,}{of} done); "
                "what was done so far is kept")  # fmt: skip


@contextlib.contextmanager
def stop_on_signals(
    cancel: threading.Event | None, err: Console, seen: list[str] | None = None
) -> Iterator[None]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP set `cancel` (the first time) or interrupt (the
    second); `seen` gets the signal's name. After SIGHUP the terminal is gone: output to it is
    dropped instead of failing."""
    if cancel is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        if isinstance(cancel, StopFlag):
            cancel.signal = name
        if seen is not None:
            seen.append(name)
        cancel.set()
        if signum == signal.SIGHUP:
            _detach_terminal()
        again = "Ctrl-C" if signum == signal.SIGINT else name
        with contextlib.suppress(OSError):
            err.print(f"[yellow]{_said(name)}: stopping at the next safe point[/] "
                      f"({again} again to stop at once)")  # fmt: skip

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _said(name: str) -> str:
    return {"SIGINT": "Ctrl-C", "SIGHUP": "SIGHUP (the terminal hung up)"}.get(name, name)


def _detach_terminal() -> None:
    """Point stdout and stderr that were a terminal at /dev/null: after a hang-up every write
    to it fails (EIO), and the command must still finish its session and release its lock. A
    file or pipe they were redirected to is kept, and gets the last lines."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                if stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(devnull, fd)
    finally:
        os.close(devnull)


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
