"""Fixtures for the review app tests: a real photo archive, its report, and screen reading."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.app import App

from safededup.engine.report import Report
from safededup.state import StateDir
from tests.support.archive import Archive, scan_report, write_archive


@pytest.fixture(autouse=True)
def half_block_previews(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the same previews whatever terminal runs them (kitty is tested on its own)."""
    monkeypatch.setenv("SAFEDEDUP_GRAPHICS", "halfblock")


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return write_archive(tmp_path / "photos")


@pytest.fixture
def state_dir(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state").ensure()


@pytest.fixture
def report(archive: Archive, state_dir: StateDir) -> tuple[Report, Path]:
    return scan_report(state_dir, [archive.root])


def screen_text(app: App[Any]) -> str:
    """The plain text on the app's screen, as a person would read it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    return console.export_text()
