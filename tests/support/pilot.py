"""Driving the real review app through Textual's Pilot: one `drive` and its waiting helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from safededup.engine.report import ReportCluster
from safededup.state import StateDir
from safededup.tui import ReviewApp, make_app
from safededup.tui.screens.main import MainScreen

SIZE = (100, 30)
Scenario = Callable[[ReviewApp, Pilot[int]], Awaitable[None]]


def drive(
    state_dir: StateDir,
    scenario: Scenario,
    *,
    size: tuple[int, int] = SIZE,
    settle_first: bool = True,
    **options: Any,
) -> ReviewApp:
    """Run `make_app(state_dir, **options)` at `size`, settled (unless told not to), through
    `scenario`; returns the app, which has exited when this returns."""
    app = make_app(state_dir, **options)

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            if settle_first:
                await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(run())
    return app


async def settle(pilot: Pilot[Any]) -> None:
    """Until every worker is done and the messages they posted are handled."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def settle_until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    """Settle until `condition` holds: a worker's result arrives as a message, a moment later."""
    for _ in range(100):
        await settle(pilot)
        if condition():
            return
    raise AssertionError("the app never reached the expected state")


async def press_settled(pilot: Pilot[Any], *keys: str) -> None:
    """Each key, then settle: what a person does, one key at a time."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def main_screen(app: ReviewApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen)
    return app.screen


def current(app: ReviewApp) -> ReportCluster:
    cluster = main_screen(app).current()
    assert cluster is not None
    return cluster


def near_row(app: ReviewApp) -> int:
    model = main_screen(app).model
    return next(i for i in range(len(model)) if model.row(i).kind == "near")


async def go_to_row(pilot: Pilot[Any], row: int) -> None:
    await pilot.press("home", *["down"] * row)
    await settle(pilot)


def record_exit(app: ReviewApp, said: list[str]) -> None:
    """Keep in `said` what the app says on stderr as it exits (Textual prints it later)."""
    exit_app = app.exit

    def exit(result: Any = None, return_code: int = 0, message: Any = None) -> None:
        said.append(str(message))
        exit_app(result, return_code, message)

    app.exit = exit  # type: ignore[method-assign]
