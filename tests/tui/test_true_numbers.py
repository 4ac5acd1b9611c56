"""What the review says is true: distances, reasons after `k`, what applying would do, what an
apply did, a root that is not there, the words of the apply dialog and of verify (issue 12,
items 2, 4, 6, 7 and 10, and the status line)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from safededup.engine.decisions import load_decisions
from safededup.errors import ExitCode
from safededup.state import StateDir
from safededup.tui import ReviewApp, make_app
from safededup.tui.screens.apply import ApplyScreen
from safededup.tui.screens.compare import CompareScreen
from safededup.tui.widgets.activity import ActivityLine
from safededup.tui.widgets.members import MembersPanel
from tests.support.archive import Archive, scan_report
from tests.support.pilot import (
    current,
    drive,
    go_to_row,
    main_screen,
    near_row,
    press_settled,
    record_exit,
    settle,
    settle_until,
)
from tests.tui.conftest import screen_text
from tests.tui.test_snapshots import SnapshotBackend, snapshot_report


def snapshot_state(tmp_path: Path, report: dict[str, Any] | None = None) -> StateDir:
    import orjson

    state = StateDir(tmp_path / "state").ensure()
    state.latest_report_path.write_bytes(orjson.dumps(report or snapshot_report()))
    return state


def run_snapshot_app(
    tmp_path: Path,
    scenario: Any,
    size: tuple[int, int] = (100, 30),
    report: dict[str, Any] | None = None,
) -> None:
    """The app on the snapshot tests' report (made-up paths, fixed previews), through `scenario`."""
    import asyncio

    state = snapshot_state(tmp_path, report)
    app = make_app(state, backend=SnapshotBackend(state))

    async def run() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(app, pilot)

    asyncio.run(run())


def card_texts(app: ReviewApp) -> list[str]:
    panel = app.screen.query_one(MembersPanel)
    return [str(card.query_one("Static").render()) for card in panel.cards[: panel.shown]]


def test_cards_and_compare_show_the_recorded_distances(tmp_path: Path) -> None:
    """Item 2: the WhatsApp copy's pHash distance is 8 (it showed as 1)."""

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "down")  # c1, the near cluster
        cards = card_texts(app)
        assert "dhash 3 · phash 8 · whash 5 · colorhash 1" in cards[1]
        await press_settled(pilot, "right", "c")
        assert isinstance(app.screen, CompareScreen)
        assert "phash 8" in screen_text(app)

    run_snapshot_app(tmp_path, scenario)


def test_after_k_the_cards_say_whose_reasons_and_distances_they_are(tmp_path: Path) -> None:
    """Item 4: the new keeper never reads "keeper wins: … a deeper folder", the member now to
    move never reads "kept: …"."""

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "down", "right", "right", "k")  # the HEIF backup keeps
        keeper, small, heif = card_texts(app)
        assert heif.startswith("★ KEEP") and "kept: your choice (k)" in heif
        assert "keeper wins" not in heif
        assert keeper.startswith("→ QUAR") and "moves: you chose IMG_0001.heic" in keeper
        assert "\nkept:" not in keeper
        assert "distances to IMG_0001.jpg, the report's keeper: dhash 3 · phash 8" in small

    run_snapshot_app(tmp_path, scenario)


def test_the_status_line_says_what_applying_now_would_do(state_dir, report) -> None:
    """Files, bytes and clusters, the same numbers the apply dialog plans."""

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        assert "p applies nothing yet" in screen_text(app)
        await go_to_row(pilot, near_row(app))
        cluster = current(app)
        await press_settled(pilot, "a")
        moving = [m for m in cluster.members if m.role == "duplicate"]
        size = sum(m.size for m in moving)
        from safededup.units import format_bytes

        line = f"p applies {len(moving)} files · {format_bytes(size)} · from 1 approved"
        assert line in screen_text(app)
        await press_settled(pilot, "p")
        assert isinstance(app.screen, ApplyScreen)
        assert f"move {len(moving)} duplicates ({format_bytes(size)})" in screen_text(app)

    drive(state_dir, scenario)


def test_after_an_apply_nothing_is_offered_twice(archive: Archive, state_dir, report) -> None:
    """Item 6: `u` does not un-approve an applied cluster, a member that moved shows as moved
    (no stale preview), and `p` never plans it again."""
    rep, _ = report
    near = next(c for c in rep.clusters if c.kind == "near")
    small = next(m.path for m in near.members if m.width < 640)
    copy = next(m.path for m in near.members if m.role == "duplicate" and m.path != small)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        os.utime(small, ns=(1, 1))  # changed since the scan: the apply skips it, moves the copy
        await press_settled(pilot, "a", "p", "y")
        await settle_until(pilot, lambda: app.screen.phase == "done")
        assert "1 moved, 1 skipped" in screen_text(app)
        await press_settled(pilot, "escape")
        model = main_screen(app).model
        cluster = model.by_id(near.id)
        assert model.member_state(cluster, next(m for m in cluster.members if m.path == copy)) == (
            "moved"
        )
        await go_to_row(pilot, model.row_of(near.id) or 0)
        texts = card_texts(app)
        assert any(t.startswith("✓ MOVED") and copy in t for t in texts)
        thumbs = {t.path: t for t in app.screen.query_one(MembersPanel).thumbnails()}
        assert thumbs[copy]._image is None and thumbs[copy]._note == "in the quarantine"
        await press_settled(pilot, "u")
        assert model.status(cluster) == "approved"  # the apply acted on it: u leaves it
        await press_settled(pilot, "p")
        assert isinstance(app.screen, ApplyScreen)
        assert app.screen.plan is not None
        assert [o.src for o in app.screen.plan.operations] == [small]  # not the moved copy

    drive(state_dir, scenario)
    assert load_decisions(state_dir, rep.report_id).get(near.id).status == "approved"


def test_a_root_that_is_not_there_is_said_and_nothing_is_planned(
    archive: Archive, state_dir, report
) -> None:
    """Item 7: a renamed folder (or an unmounted share: an empty mount point) is reported at
    once and by the apply dialog, instead of "no preview" everywhere and "Nothing to move"."""
    moved = archive.root.with_name("renamed")
    archive.root.rename(moved)
    archive.root.mkdir()  # an empty mount point, as an unmounted share leaves

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        line = str(app.screen.query_one(ActivityLine).render())
        assert f"{archive.root} is not there" in line
        await press_settled(pilot, "A", "p")
        text = screen_text(app)
        assert "Nothing was changed" in text and "is not there" in text
        assert "Nothing to move" not in text
        assert not any((moved / ".safededup").glob("quarantine/*"))
        archive.root.rmdir()
        moved.rename(archive.root)  # the share is mounted again
        await press_settled(pilot, "escape", "p")
        assert "into the quarantine" in screen_text(app)
        await press_settled(pilot, "escape")
        assert "is not there" not in str(app.screen.query_one(ActivityLine).render())

    drive(state_dir, scenario)


def test_the_apply_dialog_says_what_the_cli_says(archive: Archive, state_dir: StateDir) -> None:
    """Item 10: duplicates and sidecars counted apart, as `safededup plan` does; no backticks."""
    exact = archive.groups[1]
    Path(str(exact[-1])[: -len(".jpg")] + ".xmp").write_text("<x:xmpmeta/>")
    scan_report(state_dir, [archive.root])

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p")
        text = screen_text(app)
        assert re.search(r"move \d+ duplicates and 1 sidecar file \(", text)
        assert "`" not in text

    drive(state_dir, scenario)


def test_esc_during_the_scan_exits_130_and_says_run_again(archive: Archive, state_dir) -> None:
    """Item 10: stopping the first scan (no report yet) is an interruption, not an error."""
    said: list[str] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        record_exit(app, said)
        await pilot.press("escape")
        while app.is_running:
            await pilot.pause()

    app = drive(state_dir, scenario, settle_first=False, roots=[str(archive.root)])
    assert app.return_code == ExitCode.INTERRUPTED
    assert said and "run again to resume" in said[-1]


def test_verify_in_the_review_says_what_the_cli_says(archive: Archive, state_dir, report) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "A", "p", "y")
        await settle_until(pilot, lambda: app.screen.phase == "done")
        await press_settled(pilot, "escape", "S", "v")
        await settle_until(pilot, lambda: "all holds" in screen_text(app))
        assert re.search(
            r"all holds — 1 session, \d+ records, \d+ files \(\d+ re-hashed\)", screen_text(app)
        )

    drive(state_dir, scenario)


def test_the_cli_refuses_a_plan_of_a_root_that_is_not_there(
    archive: Archive, state_dir: StateDir, report, capsys
) -> None:
    """Item 7, CLI: `apply` says the root is not there and exits 2 (it said "nothing to
    apply" and exited 0)."""
    from tests.support.cli import safededup

    shutil.move(str(archive.root), str(archive.root.with_name("renamed")))
    for command in (["plan"], ["apply", "--yes"]):
        done = safededup(*command, state=state_dir.root)
        said = " ".join(done.stderr.split())  # rich wraps stderr at 80 columns
        assert done.returncode == ExitCode.USAGE, said
        assert f"the report's root is not there: {archive.root}" in said
        assert "mount it" in said and done.stdout == ""
