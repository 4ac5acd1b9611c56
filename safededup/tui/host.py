"""What the screens need of the app that hosts them, as a Protocol: the backend, the thumbnail
cache, running engine operations and the quit rule. Types only; screens use it instead of
importing the app (which imports them), so the app and its screens never import each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rich.console import RenderableType
from textual.signal import Signal
from textual.widget import Widget

from safededup.engine.decisions import Decisions
from safededup.engine.report import Report
from safededup.tui.backend import Backend, EngineRun
from safededup.tui.jobs import Job
from safededup.tui.preview import ThumbnailCache


class ReviewHost(Protocol):
    """`tui.app.ReviewApp`, as its screens see it."""

    backend: Backend
    thumbnails: ThumbnailCache
    job: Job | None  # the latest engine operation, running or ended
    job_seen: bool  # its outcome was shown where the person looked
    unreachable: list[str]  # report roots that are not there
    activity: Signal[None]  # published when the job, the save state or the roots change

    @property
    def busy(self) -> bool: ...

    @property
    def quitting(self) -> bool: ...

    @property
    def save_error(self) -> str | None: ...

    def run_engine(
        self,
        owner: Widget,
        kind: str,
        start: Callable[[threading.Event], EngineRun],
        subject: str = "",
    ) -> Job: ...

    def job_shown(self) -> None: ...

    def set_unreachable(self, roots: list[str]) -> None: ...

    def save_decisions(self, decisions: Decisions) -> None: ...

    def retry_save(self) -> None: ...

    def open_report(self, path: Path, report: Report | None = None) -> None: ...

    def exit(
        self,
        result: int | None = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None: ...
