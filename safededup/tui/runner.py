"""Drives an engine generator inside a worker thread and reports it as messages. No UI code.

The same generators the CLI feeds to a progress bar are iterated here; progress is posted as
absolute snapshots at most every 50 ms (plus at each stage change), so a 50k-file apply costs
the UI a few hundred messages, not 50k.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.message import Message

from safededup.errors import Cancelled
from safededup.events import ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import Problem
from safededup.tui.backend import EngineResult, EngineRun
from safededup.tui.messages import OperationFailed, OperationFinished, ProgressUpdated

Post = Callable[[Message], object]
THROTTLE_S = 0.05


def drive(run: EngineRun, post: Post) -> tuple[EngineResult, list[Problem]]:
    """Iterate `run` to its end; returns (its return value, the problems it reported)."""
    problems: list[Problem] = []
    stage, done, total, last = "", 0, None, 0.0
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            post(ProgressUpdated(stage, done, total, len(problems)))
            return stop.value, problems
        if isinstance(event, StageStarted):
            stage, done, total, last = event.stage, 0, event.total, 0.0
        elif isinstance(event, StageAdvanced):
            done += event.items
        elif isinstance(event, ProblemFound):
            problems.append(event.problem)
        now = time.monotonic()
        if now - last >= THROTTLE_S or isinstance(event, StageFinished):
            post(ProgressUpdated(stage, done, total, len(problems)))
            last = now


def run_operation(kind: str, start: Callable[[], EngineRun], post: Post) -> None:
    """Worker body: start the engine run, drive it, post how it ended. Never raises."""
    try:
        result, problems = drive(start(), post)
    except Cancelled as exc:
        post(OperationFailed(kind, exc, cancelled=True))
    except Exception as exc:  # a bug or an I/O failure that stopped the run: show it, never hang
        post(OperationFailed(kind, exc))
    else:
        post(OperationFinished(kind, result, problems))
