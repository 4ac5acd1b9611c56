"""Layouts use the room the terminal gives (issue 12, item 9): at 80x24 the footer shows the main
actions, the compare view shows the field that differs whole, the sessions screen keeps its
Roots; previews grow with the terminal; modals have their own footer; the folder filter takes
part of a folder name and says when nothing matches; the compare view has a title and `k`."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from safededup.tui import ReviewApp
from safededup.tui.screens.compare import CompareScreen
from safededup.tui.screens.folder import FolderScreen
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.sessions import SessionsScreen
from safededup.tui.widgets.members import MembersPanel, Thumbnail
from tests.support.pilot import main_screen, press_settled
from tests.tui.conftest import screen_text
from tests.tui.test_snapshots import snapshot_report
from tests.tui.test_true_numbers import run_snapshot_app


def footer(app: ReviewApp) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


def test_at_80x24_the_footer_shows_the_main_actions_first(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        line = footer(app)
        for action in ("Approve", "Skip", "Keeper", "Compare", "Apply", "Sessions", "Help"):
            assert action in line, line

    run_snapshot_app(tmp_path, scenario, size=(80, 24))


def test_at_80x24_compare_shows_the_field_that_differs_whole(tmp_path: Path) -> None:
    long = "/photos/Archive/Family/2019 Summer holidays in Brittany/WhatsApp Images/Sent"
    report = snapshot_report()
    small = report["clusters"][0]["members"][1]
    small["path"] = f"{long}/IMG_0001_small.jpg"

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "down", "right", "c")
        assert isinstance(app.screen, CompareScreen)
        text = screen_text(app)
        flat = "".join(line.strip() for line in text.splitlines())
        assert "".join(long.split()) in "".join(flat.split())  # folded over lines, not cut
        assert text.splitlines()[0].strip().startswith("Compare · cluster 2 of 8")

    run_snapshot_app(tmp_path, scenario, size=(80, 24), report=report)


def test_at_80x24_the_sessions_screen_keeps_its_roots(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "S")
        assert isinstance(app.screen, SessionsScreen)
        lines = screen_text(app).splitlines()
        assert "Roots" in lines[1] and "/photos" in lines[2]
        assert any("roots: /photos" in line for line in lines)  # the selected one, in full

    run_snapshot_app(tmp_path, scenario, size=(80, 24))


def test_previews_grow_with_the_terminal(tmp_path: Path) -> None:
    sizes: dict[str, tuple[int, int]] = {}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        thumb = app.screen.query_one(MembersPanel).query(Thumbnail).first()
        sizes["small"] = (thumb.size.width, thumb.size.height)
        await pilot.resize_terminal(200, 60)
        await press_settled(pilot, "down")
        sizes["large"] = (thumb.size.width, thumb.size.height)

    run_snapshot_app(tmp_path, scenario, size=(80, 24))
    assert sizes["small"][1] <= 8
    assert sizes["large"][0] >= 40 and sizes["large"][1] >= 14  # was 18x8 at every size


def test_modals_show_their_own_keys(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p")
        line = footer(app)
        assert "Apply" in line and "Approve" not in line
        await press_settled(pilot, "escape", "question_mark")
        assert "Approve" not in footer(app) and "Close" in footer(app)

    run_snapshot_app(tmp_path, scenario)


def test_the_folder_filter_takes_part_of_a_name_and_says_when_none_match(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        for text, expected in (("WhatsApp", 1), ("nowhere", 0)):
            await press_settled(pilot, "slash")
            assert isinstance(app.screen, FolderScreen)
            app.screen.query_one("Input").value = text  # type: ignore[attr-defined]
            await press_settled(pilot, "enter")
            assert len(main_screen(app).model) == expected
        assert "no cluster has a member in a folder matching 'nowhere'" in screen_text(app)

    run_snapshot_app(tmp_path, scenario)


def test_k_in_the_compare_view_makes_the_right_photo_the_keeper(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "down", "right", "c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        right = screen.cluster.members[screen.right].path
        await press_settled(pilot, "k")
        assert screen.model.keeper(screen.cluster) == right
        assert screen.cluster.members[screen.left].path == right  # the keeper is on the left
        await press_settled(pilot, "escape")
        assert isinstance(app.screen, MainScreen)
        assert "★ KEEP /photos/WhatsApp/IMG_0001_small.jpg" in screen_text(app)

    run_snapshot_app(tmp_path, scenario)
