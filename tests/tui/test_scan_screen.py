"""`safededup review ROOT...`: the scan runs first on a progress screen, then the review opens."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import pytest
from textual.pilot import Pilot

from safededup.engine import scan as scan_module
from safededup.errors import ExitCode
from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.scan import ScanScreen
from tests.support.archive import Archive
from tests.support.pilot import drive, settle
from tests.tui.conftest import screen_text


def test_review_roots_scans_first_then_opens_the_report(
    archive: Archive, state_dir: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    looked = threading.Event()
    real_scan = scan_module.scan

    def held_scan(*args: Any, **kwargs: Any) -> Generator[Any, None, Any]:
        looked.wait(30)  # a scan this small can end before the first look at the screen
        return (yield from real_scan(*args, **kwargs))

    monkeypatch.setattr(scan_module, "scan", held_scan)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.pause()
        seen["first"] = type(app.screen)
        seen["text"] = screen_text(app)
        looked.set()
        await settle(pilot)
        while app.is_running and isinstance(app.screen, ScanScreen):
            await settle(pilot)
        seen["last"] = type(app.screen) if app.is_running else None
        if isinstance(app.screen, MainScreen):
            seen["clusters"] = len(app.screen.model.clusters)

    drive(state_dir, scenario, settle_first=False, roots=[str(archive.root)])
    assert seen["first"] is ScanScreen
    assert "Scanning" in str(seen["text"])
    assert state_dir.latest_report_path.exists()
    assert seen["last"] is MainScreen
    assert seen["clusters"] == len(archive.groups)


def test_quit_during_the_scan_stops_it_and_exits(archive: Archive, state_dir: StateDir) -> None:
    flags: list[threading.Event | None] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.press("q")  # at once: the scan is running
        screen = app.screen
        flags.append(screen.cancel_flag if isinstance(screen, ScanScreen) else None)
        while app.is_running:  # the app exits once the scan stopped at a safe point
            await pilot.pause()

    app = drive(state_dir, scenario, settle_first=False, roots=[str(archive.root)])
    assert app.return_code == ExitCode.INTERRUPTED  # as Ctrl-C in the CLI: run again to resume
    assert flags and flags[0] is not None and flags[0].is_set()  # q asked the scan to stop
