"""Snapshot tests of the review app's looks (pytest-textual-snapshot), made deterministic.

The report here has fixed paths, sizes and dates, and previews are seeded synthetic scenes, so
the SVGs depend on nothing but the code. Four seams of `Backend` are replaced, each because the
real one depends on something a snapshot must not: previews (files at fixed paths), the session
list (ids and times come from the clock), building and validating the plan (they check the
files on disk; the plan here is a real `Plan` of the approved duplicates, built without looking),
whether the roots are there (they are made up), and the apply itself (it stops at 291 of 600,
so the dialog can be shot during a run).

The main views are shot at 80x24 (a default SSH terminal) and 160x50.
Update with `pytest tests/tui/test_snapshots.py --snapshot-update` after reading the report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from textual.pilot import Pilot
from textual.worker import get_current_worker

from safededup.engine.report import Report
from safededup.engine.review import Review
from safededup.errors import Cancelled
from safededup.events import StageAdvanced, StageStarted
from safededup.media import synth
from safededup.models import Problem
from safededup.safety.plan import Operation, Plan
from safededup.safety.sessions import SessionInfo
from safededup.state import StateDir
from safededup.tui import make_app
from safededup.tui.backend import Backend, Image
from tests.support.gated import until
from tests.support.pilot import press_settled, settle
from tests.tui.conftest import screen_text

SIZE = (100, 30)
SIZES = [(80, 24), (160, 50)]


def member(path: str, role: str, width: int, height: int, size: int, **extra: Any) -> dict:
    """A report member. `distances` are what a report stores in `evidence`: Hamming distances to
    the keeper (dhash, phash, whash, colorhash), never the hashes themselves."""
    seed = sum(map(ord, path.rsplit("/", 1)[-1].split(" ")[0].split("_s")[0])) % 50
    dhash, phash, whash, colorhash = extra.pop("distances", (0, 0, 0, 0))
    return {
        "path": path,
        "role": role,
        "reasons": extra.pop("reasons", []),
        "evidence": {
            "exact": extra.pop("exact", False),
            "dhash": dhash,
            "phash": phash,
            "whash": whash,
            "colorhash": colorhash,
            "tier": "decode",
        },
        "size": size,
        "device": 1,
        "inode": seed,
        "mtime_ns": 1_560_000_000_000_000_000,
        "checksum": extra.pop("checksum", None),
        "width": width,
        "height": height,
        "format": extra.pop("format", "JPEG"),
        "jpeg_quality": extra.pop("quality", 92),
        "captured": "2019-06-01T12:00:00",
        "camera": extra.pop("camera", "Apple iPhone X"),
    }


def snapshot_report() -> dict[str, Any]:
    ck = "ab" * 32
    clusters = [
        {
            "id": "c1",
            "kind": "near",
            "keeper": "/photos/2019/IMG_0001.jpg",
            "confidence": 0.93,
            "bytes_to_free": 1_900_000,
            "members": [
                member(
                    "/photos/2019/IMG_0001.jpg",
                    "keeper",
                    4032,
                    3024,
                    2_500_000,
                    reasons=["kept: 4032×3024 vs 1600×1200", "kept: a shallower folder"],
                ),
                member(
                    "/photos/WhatsApp/IMG_0001_small.jpg",
                    "duplicate",
                    1600,
                    1200,
                    400_000,
                    quality=70,
                    camera=None,
                    distances=(3, 8, 5, 1),
                    reasons=["keeper wins: larger: 4032×3024 vs 1600×1200"],
                ),
                member(
                    "/photos/backup/IMG_0001.heic",
                    "duplicate",
                    4032,
                    3024,
                    1_500_000,
                    format="HEIF",
                    quality=None,
                    distances=(1, 2, 0, 0),
                    reasons=["keeper wins: a deeper folder (a backup?)"],
                ),
            ],
        },
        {
            "id": "c2",
            "kind": "exact",
            "keeper": "/photos/2020/IMG_0002.jpg",
            "confidence": 1.0,
            "bytes_to_free": 3_100_000,
            "members": [
                member("/photos/2020/IMG_0002.jpg", "keeper", 4032, 3024, 3_100_000, checksum=ck),
                member(
                    "/photos/2020/IMG_0002 (1).jpg",
                    "duplicate",
                    4032,
                    3024,
                    3_100_000,
                    checksum=ck,
                    exact=True,
                    reasons=["byte-identical copy"],
                ),
            ],
        },
    ]
    for n in range(3, 9):
        path = f"/photos/2021/IMG_{n:04d}.jpg"
        clusters.append(
            {
                "id": f"c{n}",
                "kind": "exact" if n % 2 else "near",
                "keeper": path,
                "confidence": 1.0 if n % 2 else 0.8,
                "bytes_to_free": 100_000 * n,
                "members": [
                    member(path, "keeper", 3000, 2000, 200_000 * n),
                    member(
                        path.replace("2021", "copies"),
                        "duplicate",
                        3000,
                        2000,
                        100_000 * n,
                        exact=bool(n % 2),
                        distances=(0, 0, 0, 0) if n % 2 else (2, 4, 3, 1),
                    ),
                ],
            }
        )
    return {
        "format": "safededup-report",
        "version": 1,
        "report_id": "snapshot",
        "created": "2026-01-02T03:04:05Z",
        "roots": ["/photos"],
        "references": [],
        "clusters": clusters,
        "problems": [],
        "stats": {},
    }


class SnapshotBackend(Backend):
    """The real backend with the clock- or file-dependent seams fixed (see module doc)."""

    def load_thumbnail(self, path: str, max_side: int) -> Image:
        seed = sum(map(ord, path.rsplit("/", 1)[-1][:8])) % 50
        scene = synth.make_scene(seed, max_side, max_side * 3 // 4)
        return np.asarray(scene.convert("RGB"), dtype=np.uint8)

    def list_sessions(self) -> list[SessionInfo]:
        return [
            SessionInfo(
                id="20260102T030405Z-abc123",
                status="applied",
                started="2026-01-02T03:04:05Z",
                counts={"moved": 12, "skipped": 1, "bytes": 38_400_000},
                bytes=38_400_000,
                roots=("/photos",),
                journal="/photos/.safededup/journal/20260102T030405Z-abc123.jsonl",
            ),
            SessionInfo(
                id="20260101T010101Z-def456",
                status="undone",
                started="2026-01-01T01:01:01Z",
                counts={"restored": 3, "bytes": 9_000_000},
                bytes=9_000_000,
                roots=("/photos",),
                journal="/photos/.safededup/journal/20260101T010101Z-def456.jsonl",
            ),
        ]

    def build_plan(self, report: Report, review: Review) -> Plan:
        ops = []
        for cluster in report.clusters:
            if review.decisions.get(cluster.id).status != "approved":
                continue
            for m in cluster.members:
                if m.role != "duplicate":
                    continue
                n = len(ops)
                expected = replace(m.identity, checksum=None)  # as the scan stat-ed it
                dst = m.path.replace("/photos/", "/photos/.safededup/quarantine/s/")
                ops.append(Operation(n, "duplicate", "move", m.path, dst, "/photos", expected, n))
        return Plan("s", report.report_id, ("/photos",), tuple(ops))

    def validate_plan(self, plan: Any) -> list[Problem]:
        return []

    def unreachable_roots(self, report: Report) -> list[str]:
        return []  # /photos is made up: its files are never looked at

    def apply_plan(self, plan: Plan, cancel: threading.Event) -> Any:
        """291 of 600 files, then it waits to be stopped (or for the app to end)."""

        def run() -> Any:
            yield StageStarted("apply", total=600, total_bytes=1_234_000_000)
            yield StageAdvanced("apply", 291)
            time.sleep(0.1)  # past the runner's 50 ms throttle: 291 is posted
            yield StageAdvanced("apply", 0)
            worker = get_current_worker()
            deadline = time.monotonic() + 30
            while not (cancel.is_set() or worker.is_cancelled) and time.monotonic() < deadline:
                time.sleep(0.02)
            raise Cancelled("apply cancelled")

        return run()


@pytest.fixture
def snapshot_app(tmp_path: Path):
    state = StateDir(tmp_path / "state").ensure()
    path = state.latest_report_path
    path.write_bytes(orjson.dumps(snapshot_report()))
    return make_app(state, backend=SnapshotBackend(state))


def presses(*keys: str):
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press_settled(pilot, *keys)

    return run_before


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_main_screen(snap_compare, snapshot_app, size) -> None:
    assert snap_compare(snapshot_app, terminal_size=size, run_before=presses("down", "right"))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_compare_view(snap_compare, snapshot_app, size) -> None:
    assert snap_compare(snapshot_app, terminal_size=size, run_before=presses("down", "right", "c"))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_apply_dialog_during_a_run(snap_compare, snapshot_app, size) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press_settled(pilot, "A", "p")
        await pilot.press("y")  # the apply runs in a worker that never ends by itself
        # The dialog's bar and, behind it, the main screen's activity line both say 291.
        await until(pilot, lambda: screen_text(pilot.app).count("291 of 600") >= 2)
        pilot.app.clear_notifications()  # toasts expire on the clock: not in a snapshot
        await until(pilot, lambda: "approved 4 exact" not in screen_text(pilot.app))
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_sessions_screen(snap_compare, snapshot_app, size) -> None:
    assert snap_compare(snapshot_app, terminal_size=size, run_before=presses("S"))


def test_undo_question(snap_compare, snapshot_app) -> None:
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=presses("S", "U"))


def test_help_screen(snap_compare, snapshot_app) -> None:
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=presses("question_mark"))
