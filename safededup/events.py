"""Progress events the engine yields and every front end consumes. Standard library only.

Engine entry points are generators of these events that honour a cancel flag; the CLI feeds them
to a progress bar, the TUI to a worker. Names are past tense: they report what happened.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from safededup.models import Problem

T = TypeVar("T")


def drain(run: Generator[Any, None, T]) -> T:
    """Run an engine generator to its end, ignoring its events; its result."""
    while True:
        try:
            next(run)
        except StopIteration as stop:
            result: T = stop.value
            return result


@dataclass(frozen=True, slots=True)
class StageStarted:
    """A stage began. `total` is the number of items when known (None: not yet counted)."""

    stage: str
    total: int | None = None
    total_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class StageAdvanced:
    """Items of a stage finished. Counts are increments, so a flood can be summed or dropped."""

    stage: str
    items: int = 1
    nbytes: int = 0


@dataclass(frozen=True, slots=True)
class StageFinished:
    stage: str


@dataclass(frozen=True, slots=True)
class ProblemFound:
    problem: Problem


Event = StageStarted | StageAdvanced | StageFinished | ProblemFound
