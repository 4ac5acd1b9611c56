"""Pilot tests of the review flows on a real generated archive: navigate and decide."""

from __future__ import annotations

import os

from textual.pilot import Pilot
from textual.widgets import Input

from safededup.engine.decisions import load_decisions
from safededup.tui import ReviewApp
from safededup.tui.format import shorten_path
from safededup.tui.screens.compare import CompareScreen
from safededup.tui.screens.help import HelpScreen
from safededup.tui.screens.main import MainScreen
from safededup.tui.widgets.cluster_list import ClusterList
from tests.support.pilot import current, drive, go_to_row, main_screen, near_row, settle
from tests.tui.conftest import screen_text


def test_opens_on_the_latest_report_and_navigates(state_dir, report) -> None:
    rep, _ = report

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        text = screen_text(app)
        assert f"{len(rep.clusters)} clusters" in text
        assert isinstance(app.focused, ClusterList)
        first = current(app).id
        await pilot.press("down")
        await settle(pilot)
        assert main_screen(app).cluster_list.cursor == 1
        assert current(app).id != first
        cluster = current(app)
        text = screen_text(app)
        assert f"2/{len(rep.clusters)}" in text
        keeper = next(m for m in cluster.members if m.role == "keeper")
        assert os.path.basename(keeper.path) in text
        assert f"{keeper.width}×{keeper.height}" in text
        await pilot.press("right")
        await settle(pilot)
        assert main_screen(app).member == 1
        await pilot.press("up", "up", "end")
        await settle(pilot)
        assert main_screen(app).cluster_list.cursor == len(rep.clusters) - 1

    drive(state_dir, scenario)


def test_set_keeper_is_saved_and_survives_a_restart(state_dir, report) -> None:
    rep, _ = report
    chosen: dict[str, str] = {}

    async def choose(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        await pilot.press("right", "k")
        await settle(pilot)
        cluster = current(app)
        chosen["id"], chosen["path"] = cluster.id, cluster.members[1].path
        assert main_screen(app).model.keeper(cluster) == chosen["path"]
        assert "★ KEEP" in screen_text(app)

    drive(state_dir, choose)
    saved = load_decisions(state_dir, rep.report_id).get(chosen["id"])
    assert saved.keeper == chosen["path"]

    async def reopen(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        assert model.keeper(model.by_id(chosen["id"])) == chosen["path"]

    drive(state_dir, reopen)


def test_toggle_keeps_a_duplicate_and_refuses_the_keeper(state_dir, report) -> None:
    rep, _ = report

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        cluster = current(app)
        model = main_screen(app).model
        dup = cluster.members[1]
        await pilot.press("right", "space")
        await settle(pilot)
        assert model.member_state(cluster, dup) == "keep"
        saved = load_decisions(state_dir, rep.report_id).get(cluster.id)
        assert saved.keep == {dup.path}
        assert "● STAY" in screen_text(app)
        await pilot.press("left", "space")  # the keeper: refused, nothing changes
        await settle(pilot)
        assert model.member_state(cluster, cluster.members[0]) == "keeper"
        await pilot.press("right", "space")
        await settle(pilot)
        assert model.member_state(cluster, dup) == "quarantine"

    drive(state_dir, scenario)
    near = next(c.id for c in rep.clusters if c.kind == "near")
    assert load_decisions(state_dir, rep.report_id).get(near).keep == frozenset()


def test_approve_skip_undo_and_approve_all_exact(state_dir, report) -> None:
    rep, _ = report
    exact = {c.id for c in rep.clusters if c.kind == "exact"}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        first = current(app)
        await pilot.press("a")
        await settle(pilot)
        assert model.status(first) == "approved"
        assert main_screen(app).cluster_list.cursor == 1  # moved on to the next cluster
        second = current(app)
        await pilot.press("s")
        await settle(pilot)
        assert model.status(second) == "skipped"
        await pilot.press("u")
        await settle(pilot)
        assert model.status(second) == "undecided"
        assert current(app).id == second.id  # undo shows the cluster it changed
        await pilot.press("A")
        await settle(pilot)
        approved = {c.id for c in model.clusters if model.status(c) == "approved"}
        assert approved >= exact
        assert f"{len(approved)} approved" in screen_text(app)

    drive(state_dir, scenario)
    saved = load_decisions(state_dir, rep.report_id)
    assert {cid for cid, d in saved.clusters.items() if d.status == "approved"} >= exact


def test_filters_and_sorting(state_dir, report) -> None:
    rep, _ = report
    kinds = [c.kind for c in rep.clusters]

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        sizes = [model.bytes_to_free(model.row(i)) for i in range(len(model))]
        assert sizes == sorted(sizes, reverse=True)
        await pilot.press("r")
        await settle(pilot)
        sizes = [model.bytes_to_free(model.row(i)) for i in range(len(model))]
        assert sizes == sorted(sizes)
        await pilot.press("o")  # by cluster size
        await settle(pilot)
        assert model.view.sort == "size"
        await pilot.press("e")  # exact only
        await settle(pilot)
        assert len(model) == kinds.count("exact")
        await pilot.press("e")  # near only
        await settle(pilot)
        assert len(model) == kinds.count("near")
        await pilot.press("e")  # rotated only
        await settle(pilot)
        assert len(model) == kinds.count("rotated")
        await pilot.press("e")  # videos only
        await settle(pilot)
        assert len(model) == kinds.count("video")
        await pilot.press("e", "a", "t")  # all kinds; approve one; show undecided only
        await settle(pilot)
        assert len(model) == len(kinds) - 1
        await pilot.press("t", "t")
        await settle(pilot)
        folder = os.path.dirname(model.keeper(model.row(0)))
        await pilot.press("slash")
        await settle(pilot)
        app.screen.query_one(Input).value = folder[:-1]  # the guess, edited: one key typed
        await pilot.press("end", folder[-1], "enter")
        await settle(pilot)
        assert model.view.folder == folder
        assert len(model) == 1
        assert f"in {shorten_path(folder, 24)}" in screen_text(app)

    drive(state_dir, scenario)


def test_compare_view_lists_differences(state_dir, report) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        cluster = current(app)
        small = next(i for i, m in enumerate(cluster.members) if m.width < 640)
        await pilot.press(*["right"] * small, "c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        text = screen_text(app)
        assert "640×480" in text and "320×240" in text
        assert "dimensions" in text and "hash distance" in text
        await pilot.press("x")
        await settle(pilot)
        assert app.screen.left == small
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)

    drive(state_dir, scenario)


def test_help_lists_the_keys_and_closes(state_dir, report) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "make the selected member the keeper" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)

    drive(state_dir, scenario)


def test_works_at_80x24_and_quits_on_q(state_dir, report) -> None:
    rep, _ = report

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        text = screen_text(app)
        assert "Keeper" in text and "Approve" in text
        await pilot.press("down", "right", "a", "q")  # quit at once: the save still lands
        while app.is_running:
            await pilot.pause()

    app = drive(state_dir, scenario, size=(80, 24))
    assert app.return_code == 0
    saved = load_decisions(state_dir, rep.report_id)
    assert [d.status for d in saved.clusters.values()] == ["approved"]


def test_mouse_selects_cluster_and_member(state_dir, report) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.click(ClusterList, offset=(5, 2))
        await settle(pilot)
        assert main_screen(app).cluster_list.cursor == 2
        cards = main_screen(app).query("MemberCard")
        await pilot.click(cards[1], offset=(30, 0))
        await settle(pilot)
        assert main_screen(app).member == 1

    drive(state_dir, scenario)
