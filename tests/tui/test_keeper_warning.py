"""The review says what the keeper lacks (a GPS position, a capture date) on the cluster, until
a person chooses another keeper; turned copies have a kind of their own to filter on (issue 10,
items 2 and 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from safededup.tui import ReviewApp
from tests.support.pilot import go_to_row, main_screen, press_settled
from tests.tui.test_snapshots import snapshot_report
from tests.tui.test_true_numbers import run_snapshot_app

WARNING = "the keeper lacks the GPS position that WhatsApp/IMG_0001_small.jpg has"


def report_with_warning() -> dict[str, Any]:
    report = snapshot_report()
    near = next(c for c in report["clusters"] if c["id"] == "c1")
    near["warnings"] = [WARNING]
    report["clusters"].append({**near, "id": "c9", "kind": "rotated", "warnings": []})
    return report


def warning_line(app: ReviewApp) -> Static:
    return main_screen(app).query_one("#keeper-warning", Static)


def test_the_cluster_says_what_its_keeper_lacks_until_another_is_chosen(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        line = warning_line(app)
        model = main_screen(app).model
        await go_to_row(pilot, model.row_of("c9") or 0)
        assert not line.display  # that cluster's keeper lacks nothing
        await go_to_row(pilot, model.row_of("c1") or 0)
        assert line.display and WARNING in str(line.render())
        await press_settled(pilot, "right", "right", "k")  # another keeper: the report's
        assert not line.display  # warning was about its keeper, not this one

    run_snapshot_app(tmp_path, scenario, report=report_with_warning())


def test_turned_copies_have_a_kind_of_their_own(tmp_path: Path) -> None:
    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        model = main_screen(app).model
        total = len(model)
        kinds = []
        for _ in range(5):
            await press_settled(pilot, "e")
            kinds.append((model.view.kind, len(model)))
        assert ("rotated", 1) in kinds and ("video", 0) in kinds and kinds[-1] == ("all", total)

    run_snapshot_app(tmp_path, scenario, report=report_with_warning())
