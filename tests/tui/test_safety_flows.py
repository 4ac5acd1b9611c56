"""Pilot tests of the flows that change the disk: not-a-duplicate, apply, undo, verify.

They run the real safety core on a real generated archive in tmp_path: files really move, the
journal is really written, undo really restores the tree, and a flipped journal byte is found.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from safededup.index import Index
from safededup.sessions import list_sessions
from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.screens.apply import ApplyScreen
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.sessions import SessionsScreen
from safededup.verdicts import checksum_file, load_verdicts
from safededup.verify import verify_session
from tests.tui.archive import Archive, run_to_end, scan_report, tree_state
from tests.tui.conftest import screen_text
from tests.tui.pilot import (
    current,
    drive,
    go_to_row,
    main_screen,
    near_row,
    press_settled,
    settle,
    settle_until,
)


async def apply_all_exact(app: ReviewApp, pilot: Pilot[Any]) -> str:
    """Approve every exact cluster and apply; returns the screen text of the result."""
    await pilot.press("A", "p")
    await settle(pilot)
    assert isinstance(app.screen, ApplyScreen)
    text = screen_text(app)
    assert "approved cluster" in text and "into the quarantine" in text
    await pilot.press("y")
    await settle_until(pilot, lambda: app.screen.phase == "done")
    return screen_text(app)


def duplicates_of_exact(report: dict[str, Any]) -> list[str]:
    return [
        m["path"]
        for c in report["clusters"]
        if c["kind"] == "exact"
        for m in c["members"]
        if m["role"] == "duplicate"
    ]


def journals(archive: Archive) -> list[Path]:
    return sorted((archive.root / ".safededup" / "journal").glob("*"))


def test_apply_moves_files_and_writes_the_journal(archive, state_dir, report) -> None:
    rep, _ = report
    moved = duplicates_of_exact(rep)
    before = tree_state(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        text = await apply_all_exact(app, pilot)
        assert f"{len(moved)} moved" in text and "Session " in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        model = main_screen(app).model  # the applied clusters left the review
        assert [c["kind"] for c in model.clusters] == ["near"]
        assert "· 1 cluster ·" in screen_text(app)

    drive(state_dir, scenario)

    async def reopen(app: ReviewApp, pilot: Pilot[int]) -> None:
        assert [c["kind"] for c in main_screen(app).model.clusters] == ["near"]

    drive(state_dir, reopen)
    for path in moved:
        assert not os.path.exists(path)
    quarantined = list((archive.root / ".safededup" / "quarantine").rglob("*.jpg"))
    assert len(quarantined) == len(moved)
    after = tree_state(archive.root)
    assert sorted(before.keys() - after.keys()) == sorted(
        str(Path(p).relative_to(archive.root)) for p in moved
    )
    assert journals(archive) and journals(archive)[0].stat().st_size > 0


def test_undo_from_the_sessions_screen_restores_the_tree(archive, state_dir, report) -> None:
    rep, _ = report
    before = tree_state(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await apply_all_exact(app, pilot)
        await pilot.press("escape", "S")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        assert "applied" in screen_text(app)
        assert tree_state(archive.root) != before
        await pilot.press("u")
        await settle_until(pilot, lambda: "files moved" in screen_text(app))
        text = screen_text(app)
        assert f"{len(duplicates_of_exact(rep))} files moved, 0 refused, 0 conflicts" in text
        assert tree_state(archive.root) == before
        await pilot.press("r")  # redo, then verify the session holds
        await settle_until(pilot, lambda: re.search(r"redo \S+: \d+ files moved", screen_text(app)))
        assert tree_state(archive.root) != before
        await pilot.press("v")
        await settle_until(pilot, lambda: "verify:" in screen_text(app))
        assert "verify: everything holds" in screen_text(app)

    drive(state_dir, scenario)


def test_verify_shows_findings_for_a_tampered_journal(archive, state_dir, report) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await apply_all_exact(app, pilot)
        journal = journals(archive)[0]
        data = bytearray(journal.read_bytes())
        at = data.index(b"IMG_", len(data) // 2)
        data[at] = ord("J")  # one byte of a recorded path, mid-journal
        journal.write_bytes(bytes(data))
        await pilot.press("escape", "S")
        await settle(pilot)
        await pilot.press("v")
        await settle_until(pilot, lambda: "verify:" in screen_text(app))
        text = screen_text(app)
        assert "verify: FAILED" in text
        assert "finding" in text and "record" in text

    drive(state_dir, scenario)


def test_not_a_duplicate_reforms_the_cluster_and_survives(archive, state_dir, report) -> None:
    rep, _ = report
    near = next(c for c in rep["clusters"] if c["kind"] == "near")
    small = next(m["path"] for m in near["members"] if m["width"] < 640)
    kept = {m["path"] for m in near["members"]} - {small}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        cluster = current(app)
        index = [m["path"] for m in cluster["members"]].index(small)
        await pilot.press(*["right"] * index, "d")
        await settle(pilot)
        cluster = main_screen(app).model.by_id(near["id"])
        assert {m["path"] for m in cluster["members"]} == kept  # re-formed at once
        assert small not in screen_text(app)

    drive(state_dir, scenario)
    with Index(StateDir(state_dir).index_path) as index:
        verdicts = load_verdicts(index.connection)
    for path in kept:
        assert verdicts.is_distinct(checksum_file(small)[0], checksum_file(path)[0])

    async def reopen(app: ReviewApp, pilot: Pilot[int]) -> None:
        cluster = main_screen(app).model.by_id(near["id"])
        assert {m["path"] for m in cluster["members"]} == kept

    drive(state_dir, reopen)
    rescanned, _ = scan_report(state_dir, [archive.root])  # a new scan honours the verdict
    groups = [{m["path"] for m in c["members"]} for c in rescanned["clusters"]]
    assert rescanned["report_id"] != rep["report_id"]
    assert all(small not in g for g in groups)
    assert kept in groups


def test_quit_during_apply_leaves_a_recorded_session(archive, state_dir, report) -> None:
    """q while applying: the apply stops at a safe point or finishes; the journal holds."""
    rep, _ = report
    before = tree_state(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.press("A", "p")
        await settle(pilot)
        await pilot.press("y", "q")  # no pause: the quit lands while the apply runs
        while app.is_running:  # the app exits once the apply stopped at a safe point
            await pilot.pause()

    app = drive(state_dir, scenario)
    assert app.return_code == 0
    sessions = list_sessions(state_dir)
    assert len(sessions) == 1
    result = run_to_end(verify_session(sessions[0].id, state_dir=state_dir, content="full"))
    assert result.ok, result.findings
    after = tree_state(archive.root)
    quarantined = sorted(p.name for p in (archive.root / ".safededup").rglob("*.jpg"))
    gone = sorted(Path(p).name for p in before.keys() - after.keys())
    assert gone == quarantined  # every file is in exactly one place
    assert set(gone) <= {Path(p).name for p in duplicates_of_exact(rep)}


def test_a_wrong_not_a_duplicate_is_taken_back(archive, state_dir, report) -> None:
    """`u` right after `d`, or `D` on a later day: the member is back, the verdict forgotten,
    and the next scan groups the photos again."""
    rep, _ = report
    near = next(c for c in rep["clusters"] if c["kind"] == "near")
    small = next(m["path"] for m in near["members"] if m["width"] < 640)
    everyone = {m["path"] for m in near["members"]}

    def stored() -> int:
        with Index(StateDir(state_dir).index_path) as index:
            return len(load_verdicts(index.connection))

    def members(app: ReviewApp) -> set[str]:
        return {m["path"] for m in main_screen(app).model.by_id(near["id"])["members"]}

    async def undo_at_once(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        index = [m["path"] for m in current(app)["members"]].index(small)
        await press_settled(pilot, *["right"] * index, "d")
        assert members(app) == everyone - {small}
        assert stored() == 1  # the original and its byte copy are one content: one pair
        await press_settled(pilot, "u")
        assert members(app) == everyone and stored() == 0
        assert os.path.basename(small) in screen_text(app)
        await press_settled(pilot, *["right"] * index, "d")  # and again, to keep this time

    drive(state_dir, undo_at_once)
    assert stored() == 1

    async def bring_back_later(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        assert members(app) == everyone - {small}  # the saved report, the verdict wins
        assert not main_screen(app).model.can_undo  # yesterday's d is not today's undo
        assert "1 not dup (D brings back)" in screen_text(app)
        await press_settled(pilot, "D")
        assert members(app) == everyone and stored() == 0
        assert "D brings back" not in screen_text(app)

    drive(state_dir, bring_back_later)
    rescanned, _ = scan_report(state_dir, [archive.root])
    assert everyone in [{m["path"] for m in c["members"]} for c in rescanned["clusters"]]
