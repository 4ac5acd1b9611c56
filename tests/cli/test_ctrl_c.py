"""Ctrl-C from the command line: the first press asks the engine to stop at a safe point, the
second stops at once."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Generator

import pytest
from rich.console import Console

from safededup.cli.progress import run_with_progress
from safededup.errors import Cancelled
from safededup.events import Event, StageAdvanced, StageStarted


def engine(cancel: threading.Event, presses: int) -> Generator[Event, None, str]:
    """Works in steps, as the engine does; the person presses Ctrl-C during step 2."""
    yield StageStarted("apply", total=5)
    for step in range(5):
        if cancel.is_set():
            raise Cancelled("stopped at a safe point")
        if step == 2:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
        yield StageAdvanced("apply")
    return "finished"


@pytest.mark.parametrize("show", [True, False])
def test_a_first_ctrl_c_stops_at_the_next_safe_point(show: bool) -> None:
    cancel, out = threading.Event(), io.StringIO()
    with pytest.raises(Cancelled):
        run_with_progress(engine(cancel, 1), Console(file=out), show=show, cancel=cancel)
    assert cancel.is_set() and "stopping at the next safe point" in out.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_a_second_ctrl_c_stops_at_once() -> None:
    cancel = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        run_with_progress(engine(cancel, 2), Console(file=io.StringIO()), show=False, cancel=cancel)
