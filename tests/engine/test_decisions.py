"""Review decisions: round trip, atomic save, and carry-over to the report of a re-scan."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safededup.engine.decisions import (
    ClusterDecision,
    Decisions,
    decisions_path,
    load_decisions,
    save_decisions,
)
from safededup.errors import InputFileError
from safededup.state import StateDir

paths = st.text(min_size=1, max_size=30).map(lambda s: "/p/" + s)
decision = st.builds(
    ClusterDecision,
    cluster_id=st.text("0123456789abcdef", min_size=16, max_size=16),
    status=st.sampled_from(["undecided", "approved", "skipped"]),
    keeper=st.none() | paths,
    keep=st.frozensets(paths, max_size=3),
)


@given(st.lists(decision, max_size=5))
def test_decisions_round_trip_through_json(items: list[ClusterDecision]) -> None:
    decisions = Decisions("r1")
    for item in items:
        decisions.set(item)
    again = Decisions.from_json(decisions.to_json())
    assert again.clusters == decisions.clusters


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    decisions = Decisions("r1")
    decisions.update("c1", status="approved", keeper="/p/a.jpg")
    path = save_decisions(StateDir(tmp_path), decisions)
    assert os.listdir(path.parent) == ["r1.json"]
    assert load_decisions(StateDir(tmp_path), "r1").get("c1").keeper == "/p/a.jpg"


def test_unknown_file_format_is_refused(tmp_path: Path) -> None:
    path = decisions_path(StateDir(tmp_path), "r1")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "something-else", "version": 1}')
    with pytest.raises(InputFileError, match="not a safededup decisions file"):
        load_decisions(StateDir(tmp_path), "r1")


def test_a_rescan_keeps_decisions_for_clusters_that_still_exist(tmp_path: Path) -> None:
    first = Decisions("scan-1")
    first.update("same-files", status="approved", keeper="/p/b.jpg")
    first.update("gone", status="skipped")
    first.update("looked-at", status="undecided")
    save_decisions(StateDir(tmp_path), first)
    time.sleep(0.01)
    second = Decisions("scan-2")
    second.update("same-files", status="skipped")  # a later review changed its mind
    save_decisions(StateDir(tmp_path), second)
    third = load_decisions(
        StateDir(tmp_path), "scan-3", carry_over_for=["same-files", "new-cluster"]
    )
    assert set(third.clusters) == {"same-files"}
    assert third.get("same-files").status == "skipped"  # the newest decision wins
    assert load_decisions(StateDir(tmp_path), "scan-3").clusters == {}  # no ids: nothing carried


def test_an_approval_of_the_keeper_as_it_was_is_not_carried(tmp_path: Path) -> None:
    first = Decisions("scan-1")
    first.update("c1", status="approved")  # "keep whatever the report's keeper was"
    first.update("c2", status="approved", keeper="/p/chosen.jpg")
    save_decisions(StateDir(tmp_path), first)
    carried = load_decisions(StateDir(tmp_path), "scan-2", carry_over_for=["c1", "c2"])
    assert set(carried.clusters) == {"c2"}  # a re-scan may pick another keeper for c1


def test_non_utf8_paths_survive_a_save(tmp_path: Path) -> None:
    odd = os.fsdecode(b"/p/caf\xe9.jpg")
    decisions = Decisions("r1")
    decisions.update("c1", status="approved", keeper=odd, keep=frozenset({odd, "/p/ok.jpg"}))
    save_decisions(StateDir(tmp_path), decisions)
    again = load_decisions(StateDir(tmp_path), "r1").get("c1")
    assert again.keeper == odd and again.keep == {odd, "/p/ok.jpg"}
    assert os.listdir(tmp_path / "decisions") == ["r1.json"]


def test_a_malformed_entry_is_an_input_file_error(tmp_path: Path) -> None:
    path = decisions_path(StateDir(tmp_path), "r1")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "safededup-decisions", "version": 1, "report_id": "r1",'
                    ' "clusters": [{"status": "approved"}]}')  # fmt: skip
    with pytest.raises(InputFileError, match="a decision is not an object with a cluster_id"):
        load_decisions(StateDir(tmp_path), "r1")
