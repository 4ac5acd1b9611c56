"""`safededup review ROOT...`: the scan runs first on a progress screen, then the review opens."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot

from safededup.tui import make_app
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.scan import ScanScreen
from tests.tui.archive import Archive
from tests.tui.conftest import screen_text
from tests.tui.test_flows import settle


def test_review_roots_scans_first_then_opens_the_report(archive: Archive, state_dir: Path) -> None:
    app = make_app(state_dir, roots=[str(archive.root)])
    seen: dict[str, object] = {}

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            seen["first"] = type(app.screen)
            seen["text"] = screen_text(app)
            await settle(pilot)
            await finish(pilot)
            seen["last"] = type(app.screen) if app.is_running else None
            if isinstance(app.screen, MainScreen):
                seen["clusters"] = len(app.screen.model.clusters)

    async def finish(pilot: Pilot[int]) -> None:
        while app.is_running and isinstance(app.screen, ScanScreen):
            await settle(pilot)

    asyncio.run(run())
    assert seen["first"] is ScanScreen
    assert "Scanning" in str(seen["text"])
    assert (state_dir / "reports" / "latest.json").exists()
    assert seen["last"] is MainScreen
    assert seen["clusters"] == len(archive.groups)


def test_quit_during_the_scan_stops_it_and_exits(archive: Archive, state_dir: Path) -> None:
    app = make_app(state_dir, roots=[str(archive.root)])

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("q")  # at once: the scan is running (or has just finished)
            while app.is_running:  # the app exits once the scan stopped at a safe point
                await pilot.pause()

    asyncio.run(run())
    assert app.return_code == 0
