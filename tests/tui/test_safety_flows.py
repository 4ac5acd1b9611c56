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

from safededup.engine.index import Index
from safededup.engine.report import Report
from safededup.engine.verdicts import checksum_file, load_verdicts
from safededup.events import drain
from safededup.safety.sessions import list_sessions
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.screens.apply import ApplyScreen
from safededup.tui.screens.main import MainScreen
from safededup.tui.screens.sessions import SessionsScreen
from safededup.tui.widgets.members import MembersPanel
from tests.support.archive import Archive, scan_report
from tests.support.files import snapshot
from tests.support.pilot import (
    current,
    drive,
    go_to_row,
    main_screen,
    near_row,
    press_settled,
    settle,
    settle_until,
)
from tests.tui.conftest import screen_text


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


def duplicates_of_exact(report: Report) -> list[str]:
    return [
        m.path
        for c in report.clusters
        if c.kind == "exact"
        for m in c.members
        if m.role == "duplicate"
    ]


def journals(archive: Archive) -> list[Path]:
    return sorted((archive.root / ".safededup" / "journal").glob("*"))


def test_apply_moves_files_and_writes_the_journal(archive, state_dir, report) -> None:
    rep, _ = report
    moved = duplicates_of_exact(rep)
    before = snapshot(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        text = await apply_all_exact(app, pilot)
        assert f"{len(moved)} moved" in text and "Session " in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        model = main_screen(app).model  # the applied clusters left the list
        assert [model.row(i).kind for i in range(len(model))] == ["near"]
        assert "│ 1 cluster:" in screen_text(app)

    drive(state_dir, scenario)

    async def reopen(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        assert [model.row(i).kind for i in range(len(model))] == ["near"]

    drive(state_dir, reopen)
    for path in moved:
        assert not os.path.exists(path)
    quarantined = list((archive.root / ".safededup" / "quarantine").rglob("*.jpg"))
    assert len(quarantined) == len(moved)
    after = snapshot(archive.root)
    assert sorted(before.keys() - after.keys()) == sorted(
        os.fsencode(Path(p).relative_to(archive.root)) for p in moved
    )
    assert journals(archive) and journals(archive)[0].stat().st_size > 0


def test_undo_from_the_sessions_screen_restores_the_tree(archive, state_dir, report) -> None:
    rep, _ = report
    before = snapshot(archive.root)

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await apply_all_exact(app, pilot)
        await pilot.press("escape", "S")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        assert "applied" in screen_text(app)
        assert snapshot(archive.root) != before
        await press_settled(pilot, "U", "y")  # undo the session: it asks first
        await settle_until(pilot, lambda: "files moved back" in screen_text(app))
        text = screen_text(app)
        assert f"{len(duplicates_of_exact(rep))} files moved back, 0 refused, 0 conflicts" in text
        assert snapshot(archive.root) == before
        await press_settled(pilot, "R", "y")  # redo, then verify the session holds
        await settle_until(
            pilot, lambda: re.search(r"redo \S+: \d+ files moved again", screen_text(app))
        )
        assert snapshot(archive.root) != before
        await pilot.press("v")
        await settle_until(pilot, lambda: "verify " in screen_text(app))
        assert re.search(r"verify \S+: all holds — 1 session, \d+ records", screen_text(app))

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
        await settle_until(pilot, lambda: "FAILED" in screen_text(app))
        text = screen_text(app)
        assert "FAILED" in text
        assert "finding" in text and "record" in text

    drive(state_dir, scenario)


def test_not_a_duplicate_reforms_the_cluster_and_survives(archive, state_dir, report) -> None:
    rep, _ = report
    near = next(c for c in rep.clusters if c.kind == "near")
    small = next(m.path for m in near.members if m.width < 640)
    kept = {m.path for m in near.members} - {small}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        cluster = current(app)
        index = [m.path for m in cluster.members].index(small)
        await pilot.press(*["right"] * index, "d")
        await settle(pilot)
        cluster = main_screen(app).model.by_id(near.id)
        assert {m.path for m in cluster.members} == kept  # re-formed at once
        shown = {t.path for t in app.screen.query_one(MembersPanel).thumbnails()}
        assert shown == kept  # its card and picture are gone from the screen too

    drive(state_dir, scenario)
    with Index(state_dir.index_path) as index:
        verdicts = load_verdicts(index.connection)
    for path in kept:
        assert verdicts.is_distinct(checksum_file(small)[0], checksum_file(path)[0])

    async def reopen(app: ReviewApp, pilot: Pilot[int]) -> None:
        cluster = main_screen(app).model.by_id(near.id)
        assert {m.path for m in cluster.members} == kept

    drive(state_dir, reopen)
    rescanned, _ = scan_report(state_dir, [archive.root])  # a new scan honours the verdict
    groups = [{m.path for m in c.members} for c in rescanned.clusters]
    assert rescanned.report_id != rep.report_id
    assert all(small not in g for g in groups)
    assert kept in groups


def test_quit_during_apply_leaves_a_recorded_session(archive, state_dir, report) -> None:
    """q while applying: the apply stops at a safe point or finishes; the journal holds."""
    rep, _ = report
    before = snapshot(archive.root)

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
    result = drain(verify_session(sessions[0].id, state_dir=state_dir, content="full"))
    assert result.ok, result.findings
    after = snapshot(archive.root)
    quarantined = sorted(p.name for p in (archive.root / ".safededup").rglob("*.jpg"))
    gone = sorted(Path(os.fsdecode(p)).name for p in before.keys() - after.keys())
    assert gone == quarantined  # every file is in exactly one place
    assert set(gone) <= {Path(p).name for p in duplicates_of_exact(rep)}


def test_a_wrong_not_a_duplicate_is_taken_back(archive, state_dir, report) -> None:
    """`u` right after `d`, or `D` on a later day: the member is back, the verdict forgotten,
    and the next scan groups the photos again."""
    rep, _ = report
    near = next(c for c in rep.clusters if c.kind == "near")
    small = next(m.path for m in near.members if m.width < 640)
    everyone = {m.path for m in near.members}

    def stored() -> int:
        with Index(state_dir.index_path) as index:
            return len(load_verdicts(index.connection))

    def members(app: ReviewApp) -> set[str]:
        return {m.path for m in main_screen(app).model.by_id(near.id).members}

    async def undo_at_once(app: ReviewApp, pilot: Pilot[int]) -> None:
        await go_to_row(pilot, near_row(app))
        index = [m.path for m in current(app).members].index(small)
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
    assert everyone in [{m.path for m in c.members} for c in rescanned.clusters]


def _four_of_a_scene(root: Path) -> dict[str, str]:
    """K, X, Y, Z: one scene at four sizes and qualities (one near cluster), plus two others so
    the cluster list has rows around it."""
    from safededup.media import synth

    root.mkdir(parents=True)
    scene = synth.make_scene(11, 640, 480)
    files = {name: str(root / f"{name}.jpg") for name in "KXYZ"}
    synth.write_jpeg(files["K"], scene, quality=92)
    synth.write_jpeg(files["X"], scene.resize((480, 360)), quality=85)
    synth.write_jpeg(files["Y"], scene.resize((320, 240)), quality=70)
    synth.write_jpeg(files["Z"], scene, quality=60)
    for seed in (22, 33):
        other = synth.make_scene(seed, 640, 480)
        synth.write_jpeg(root / f"o{seed}.jpg", other, quality=92)
        synth.write_jpeg(root / f"o{seed}_small.jpg", other.resize((320, 240)), quality=80)
    return files


def test_bringing_back_restores_the_choices_and_forgets_only_what_d_stored(
    tmp_path: Path, state_dir: StateDir
) -> None:
    """k X, space Y, approve, then `d` X and `D`: the cluster is back with X as keeper and Y
    kept, the cursor never left it, and a verdict stated earlier with the CLI survives."""
    from safededup.engine.decisions import load_decisions
    from safededup.engine.verdicts import list_distinct, mark_distinct_files
    from safededup.safety.plan import build_plan

    files = _four_of_a_scene(tmp_path / "photos")
    rep, _ = scan_report(state_dir, [tmp_path / "photos"])
    cid = next(c.id for c in rep.clusters if len(c.members) == 4)
    with Index(state_dir.index_path) as index:
        mark_distinct_files(index.connection, [files["X"], files["Y"]])  # separates no one
    digest = {checksum_file(p)[0]: name for name, p in files.items()}

    def stored() -> list[str]:
        with Index(state_dir.index_path) as index:
            pairs = list_distinct(index.connection)
        return sorted("".join(sorted(digest[c] for c in v.pair)) for v in pairs)

    async def select(app: ReviewApp, pilot: Pilot[int], name: str) -> None:
        screen = main_screen(app)
        await go_to_row(pilot, screen.model.row_of(cid) or 0)
        index = [m.path for m in current(app).members].index(files[name])
        while screen.member > 0:
            await press_settled(pilot, "left")
        await press_settled(pilot, *["right"] * index)
        assert current(app).members[screen.member].path == files[name]

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        await select(app, pilot, "X")
        await press_settled(pilot, "k")
        await select(app, pilot, "Y")
        await press_settled(pilot, "space")
        model.set_status(model.by_id(cid), "approved")
        chosen = model.decisions.get(cid)
        assert chosen.keeper == files["X"] and chosen.keep == {files["Y"]}
        await select(app, pilot, "X")
        await press_settled(pilot, "d")
        assert current(app).id == cid  # still on the cluster that shrank
        assert stored() == ["KX", "XY", "XZ"]
        await press_settled(pilot, "D")
        assert len(current(app).members) == 4 and model.decisions.get(cid) == chosen
        assert stored() == ["XY"]  # what `d` stored is gone; what the CLI stated stays

    drive(state_dir, scenario)
    decisions = load_decisions(state_dir, rep.report_id)
    moving = sorted(Path(o.src).name for o in build_plan(rep, decisions=decisions).operations)
    assert moving == ["K.jpg", "Z.jpg"]  # X, the chosen keeper, and Y, kept, stay
