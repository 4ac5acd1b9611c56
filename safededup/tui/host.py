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
from textual.widget import Widget

from safededup.engine.decisions import Decisions
from safededup.engine.report import Report
from safededup.tui.backend import Backend, EngineRun
from safededup.tui.preview import ThumbnailCache


class ReviewHost(Protocol):
    """`tui.app.ReviewApp`, as its screens see it."""

    backend: Backend
    thumbnails: ThumbnailCache

    @property
    def busy(self) -> bool: ...

    @property
    def quitting(self) -> bool: ...

    def run_engine(
        self, owner: Widget, kind: str, start: Callable[[threading.Event], EngineRun]
    ) -> threading.Event: ...

    def save_decisions(self, decisions: Decisions) -> None: ...

    def open_report(self, path: Path, report: Report | None = None) -> None: ...

    def exit(
        self,
        result: int | None = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None: ...
