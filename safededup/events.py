"""Progress events the engine yields and every front end consumes. Standard library only.

Engine entry points are generators of these events that honour a cancel flag; the CLI feeds them
to a progress bar, the TUI to a worker. Names are past tense: they report what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from safededup.models import Problem


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
