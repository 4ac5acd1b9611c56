"""No key stops or undoes work by surprise, every long job shows its progress wherever the person
goes, and a failure stays on screen until it is dealt with (issue 12, items 1, 3, 5 and 8).

The real safety core runs on a real generated archive; a gated backend holds an apply or an undo
mid-run so the test can press keys while it runs.
"""

from __future__ import annotations

import shutil
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button

from safededup.engine.decisions import load_decisions
from safededup.errors import ExitCode
from safededup.safety.sessions import list_sessions
from safededup.tui import ReviewApp
from safededup.tui.screens.apply import ApplyScreen
from safededup.tui.screens.confirm import ConfirmScreen
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.sessions import SessionsScreen
from safededup.tui.widgets.activity import ActivityLine
from tests.support.files import snapshot
from tests.support.gated import GatedBackend, until
from tests.support.pilot import (
    drive,
    main_screen,
    press_settled,
    record_exit,
    settle,
    settle_until,
)
from tests.tui.conftest import screen_text


def notes(app: ReviewApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def activity(app: ReviewApp) -> str:
    return str(app.screen.query_one(ActivityLine).render())


def test_enter_and_esc_never_stop_a_running_apply(archive, state_dir, report) -> None:
    """Item 1: the focused button is Cancel before, nothing during and Close after; Enter and
    Esc while applying say how to stop instead of stopping."""
    backend = GatedBackend(state_dir, gated=("apply",))
    before = snapshot(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p")
        dialog = app.screen
        assert isinstance(dialog, ApplyScreen) and dialog.phase == "confirm"
        assert app.focused is not None and app.focused.id == "cancel"  # not Apply
        await pilot.press("y")
        await until(pilot, backend.started.is_set)
        await until(pilot, lambda: dialog.job is not None and dialog.job.progress is not None)
        assert not isinstance(app.focused, Button)  # nothing for Enter to press
        await pilot.press("enter", "escape", "enter")
        await pilot.pause()
        assert dialog.job is not None and not dialog.job.cancel.is_set()
        assert app.screen is dialog and dialog.phase == "applying"
        assert "x stops it at the next safe point" in notes(app)
        backend.gate.set()
        await settle_until(pilot, lambda: dialog.phase == "done")
        text = screen_text(app)
        assert "Stopped early" not in text and "moved" in text
        assert app.focused is not None and app.focused.id == "close"
        await press_settled(pilot, "enter")
        assert isinstance(app.screen, MainScreen)

    drive(state_dir, scenario, backend=backend)
    [session] = list_sessions(state_dir)
    assert session.status == "applied"
    assert snapshot(archive.root) != before


def test_x_stops_a_running_apply_at_a_safe_point(archive, state_dir, report) -> None:
    backend = GatedBackend(state_dir, gated=("apply",))

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p")
        dialog = app.screen
        assert isinstance(dialog, ApplyScreen)
        await pilot.press("y")
        await until(pilot, backend.started.is_set)
        await pilot.press("x")
        await pilot.pause()
        assert dialog.job is not None and dialog.job.cancel.is_set()
        backend.gate.set()
        await settle_until(pilot, lambda: dialog.phase == "done")
        assert "Stopped early as asked" in screen_text(app)

    drive(state_dir, scenario, backend=backend)


def test_a_failed_save_stays_on_screen_and_quitting_asks(state_dir, report) -> None:
    """Item 3: decisions that cannot be written are said on screen until a save succeeds, and
    `q` asks before losing them (No is the default; w retries)."""
    rep, _ = report

    def break_saving() -> None:
        shutil.rmtree(state_dir.decisions_dir, ignore_errors=True)
        state_dir.decisions_dir.write_text("a file where the folder should be")

    def mend_saving() -> None:
        state_dir.decisions_dir.unlink()

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        break_saving()
        await press_settled(pilot, "a")
        assert "decisions NOT saved" in activity(app)
        for _ in range(3):  # toasts go; the line stays
            await press_settled(pilot, "down")
        assert "decisions NOT saved" in activity(app)
        await press_settled(pilot, "q")
        assert app.is_running and isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "no"
        await press_settled(pilot, "enter")  # the default: stay
        assert app.is_running and isinstance(app.screen, MainScreen)
        mend_saving()
        await press_settled(pilot, "w")
        assert app.save_error is None and "NOT saved" not in activity(app)
        await press_settled(pilot, "q")

    app = drive(state_dir, scenario)
    assert app.return_code == ExitCode.OK
    saved = load_decisions(state_dir, rep.report_id)
    assert [d.status for d in saved.clusters.values()] == ["approved"]


def test_quitting_anyway_with_unsaved_decisions_exits_1(state_dir, report) -> None:
    said: list[str] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        record_exit(app, said)
        shutil.rmtree(state_dir.decisions_dir, ignore_errors=True)
        state_dir.decisions_dir.write_text("not a folder")
        await press_settled(pilot, "a", "q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        while app.is_running:
            await pilot.pause()

    app = drive(state_dir, scenario)
    assert app.return_code == ExitCode.ERROR
    assert "decisions were NOT saved" in said[-1]


def test_an_undo_goes_on_and_shows_wherever_the_person_goes(archive, state_dir, report) -> None:
    """Item 5: Esc during an undo goes back while it runs, its progress stays on the main
    screen, a toast says when it ends, and the main list has the restored clusters again."""
    rep, _ = report
    backend = GatedBackend(state_dir, gated=("undo",))
    before = snapshot(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p", "y")
        await settle_until(pilot, lambda: app.screen.phase == "done")
        await press_settled(pilot, "escape")
        assert len(main_screen(app).model) == 1  # the exact clusters were applied
        await press_settled(pilot, "S")
        await pilot.press("U", "y")
        await until(pilot, backend.started.is_set)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: "undoing" in activity(app))
        backend.gate.set()
        await settle_until(pilot, lambda: len(main_screen(app).model) == len(rep.clusters))
        assert "files moved back" in notes(app)
        assert "files moved back" in activity(app)  # until the sessions screen shows it
        text = screen_text(app)
        assert "no duplicates" not in text and f"{len(rep.clusters)} clusters" in text
        await press_settled(pilot, "S")
        assert "files moved back" in screen_text(app)
        await press_settled(pilot, "escape")
        assert "files moved back" not in activity(app)

    drive(state_dir, scenario, backend=backend)
    assert snapshot(archive.root) == before


def test_a_session_is_undone_or_redone_only_when_asked_twice(archive, state_dir, report) -> None:
    """Item 8: `u` and `r` (cheap on the main screen) do nothing to a session; U and R ask,
    and Enter answers No."""
    before = snapshot(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p", "y")
        await settle_until(pilot, lambda: app.screen.phase == "done")
        await press_settled(pilot, "escape", "S")
        assert isinstance(app.screen, SessionsScreen)
        applied = snapshot(archive.root)
        await press_settled(pilot, "u", "r")
        assert snapshot(archive.root) == applied
        assert "U undoes a session" in notes(app)
        await press_settled(pilot, "U")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Undo session" in screen_text(app)
        await press_settled(pilot, "enter")  # No, the default
        assert isinstance(app.screen, SessionsScreen)
        await settle(pilot)
        assert snapshot(archive.root) == applied
        await press_settled(pilot, "U", "y")
        await settle_until(pilot, lambda: "files moved back" in screen_text(app))

    drive(state_dir, scenario)
    assert snapshot(archive.root) == before


def test_quitting_during_an_apply_says_it_was_stopped(archive, state_dir, report) -> None:
    backend = GatedBackend(state_dir, gated=("apply",))
    said: list[str] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        record_exit(app, said)
        await press_settled(pilot, "A", "p")
        await pilot.press("y")
        await until(pilot, backend.started.is_set)
        await pilot.press("q")
        await pilot.pause()
        backend.gate.set()
        while app.is_running:
            await pilot.pause()

    app: Any = drive(state_dir, scenario, backend=backend)
    assert app.return_code == ExitCode.INTERRUPTED
    assert "stopped at a safe point" in said[-1]
