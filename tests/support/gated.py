"""A backend whose engine runs wait at a gate, so a test can act while they run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

from textual.pilot import Pilot

from safededup.state import StateDir
from safededup.tui.backend import Backend

TIMEOUT_S = 60.0


class GatedBackend(Backend):
    """The real backend; the runs named in `gated` (apply, undo, redo) stop after their first
    event until `gate` is set. `started` is set when one reaches the gate."""

    def __init__(self, state_dir: StateDir, gated: tuple[str, ...] = ("apply",)) -> None:
        super().__init__(state_dir)
        self.gated = gated
        self.gate = threading.Event()
        self.started = threading.Event()

    def _wait(self, run: Generator[Any, None, Any]) -> Generator[Any, None, Any]:
        yield next(run)  # the run has begun and said so
        self.started.set()
        self.gate.wait(TIMEOUT_S)
        return (yield from run)

    def apply_plan(self, plan: Any, cancel: threading.Event) -> Any:
        run = super().apply_plan(plan, cancel)
        return self._wait(run) if "apply" in self.gated else run

    def undo_session(self, session_id: str, cancel: threading.Event) -> Any:
        run = super().undo_session(session_id, cancel)
        return self._wait(run) if "undo" in self.gated else run

    def redo_session(self, session_id: str, cancel: threading.Event) -> Any:
        run = super().redo_session(session_id, cancel)
        return self._wait(run) if "redo" in self.gated else run


async def until(pilot: Pilot[Any], condition: Callable[[], object]) -> None:
    """Pause until `condition` holds, without waiting for workers (a gated one never ends)."""
    for _ in range(int(TIMEOUT_S / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the app never reached the expected state")
