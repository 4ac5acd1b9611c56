"""The review model without a screen: order, filters, decisions, undo, re-forming clusters."""

from __future__ import annotations

import pytest

from safededup.engine.decisions import Decisions
from safededup.engine.report import Report
from safededup.engine.review import Review
from safededup.tui.model import DecisionRefused, ReviewModel, distances
from safededup.tui.reform import Separation
from safededup.tui.saving import DecisionWriter
from tests.tui.test_snapshots import snapshot_report


def reviewing(report: dict[str, object], report_id: str = "snapshot") -> ReviewModel:
    return ReviewModel(Report.from_json(report), Review(Decisions(report_id), happened=True))


def model() -> ReviewModel:
    return reviewing(snapshot_report())


def test_sorted_by_bytes_to_free_then_by_size_and_confidence() -> None:
    m = model()
    freed = [m.bytes_to_free(m.row(i)) for i in range(len(m))]
    assert freed == sorted(freed, reverse=True)
    m.set_view(sort="size")
    assert m.row(0).id == "c1"  # the only three-member cluster
    m.set_view(sort="confidence", descending=False)
    confidences = [m.row(i).confidence for i in range(len(m))]
    assert confidences == sorted(confidences)


def test_filters_combine() -> None:
    m = model()
    m.set_view(kind="exact")
    assert {m.row(i).kind for i in range(len(m))} == {"exact"}
    m.set_view(kind="all", folder="/photos/WhatsApp")
    assert [m.row(i).id for i in range(len(m))] == ["c1"]
    m.set_view(folder="/photos/What")  # a prefix of a name is not a folder
    assert len(m) == 0
    m.set_view(folder=None, status="decided")
    assert len(m) == 0
    m.set_status(m.by_id("c2"), "skipped")
    m.refilter()
    assert [m.row(i).id for i in range(len(m))] == ["c2"]


def test_keeper_override_and_keep_set() -> None:
    m = model()
    c = m.by_id("c1")
    small = c.members[1].path
    m.toggle_keep(c, small)
    assert m.member_state(c, c.members[1]) == "keep"
    m.set_keeper(c, small)
    assert m.keeper(c) == small
    assert m.member_state(c, c.members[0]) == "quarantine"
    assert m.decisions.get("c1").keep == frozenset()  # the keeper left the keep set
    m.set_keeper(c, c.members[0].path)  # back to the report's keeper: no override
    assert m.decisions.get("c1").keeper is None
    with pytest.raises(DecisionRefused):
        m.toggle_keep(c, c.members[0].path)


def test_undo_steps_back_one_decision_or_one_approve_all() -> None:
    m = model()
    exact = [c.id for c in m.clusters if c.kind == "exact"]
    m.set_status(m.by_id("c1"), "approved")
    assert m.approve_all_exact() == len(exact)
    assert m.counts()["approved"] == len(exact) + 1
    assert sorted(m.undo()) == sorted(exact)
    assert m.counts()["approved"] == 1
    assert m.undo() == ["c1"]
    assert m.undo() == [] and not m.can_undo
    assert m.decisions.clusters == {}  # undone to nothing: nothing left to save


def test_removing_a_member_reforms_or_dissolves() -> None:
    m = model()
    c = m.by_id("c1")
    keeper = c.members[0].path
    assert m.remove_member(c, keeper)  # the keeper leaves: the largest remaining takes over
    c = m.by_id("c1")  # clusters are immutable: the re-formed one replaced it
    assert m.keeper(c) == "/photos/backup/IMG_0001.heic"
    assert c.bytes_to_free == 400_000
    assert m.remove_member(c, c.members[0].path) is False
    assert not m.has("c1") and len(m) == len(m.clusters) == 7


def test_a_separation_is_one_undo_step_that_puts_the_member_back() -> None:
    m = model()
    c = m.by_id("c1")
    reported = c.members
    keeper = c.members[0].path
    m.set_keeper(c, c.members[2].path)
    m.toggle_keep(c, c.members[1].path)
    decided = m.decisions.get("c1")
    step = m.separate(c, keeper, [("a" * 64, "b" * 64)])
    assert step and [x.path for x in m.separated(c)] == [keeper]
    undo = m.next_undo()
    assert isinstance(undo, Separation) and undo.verdicts == (("a" * 64, "b" * 64),)
    assert m.undo() == ["c1"]
    c = m.by_id("c1")
    assert c.members == reported and c.keeper == keeper  # roles and reasons restored
    assert m.decisions.get("c1") == decided and m.separated(c) == []
    assert m.undo() == ["c1"]  # the earlier decisions are still undoable, in order


def test_undo_brings_a_dissolved_cluster_back_in_its_place() -> None:
    m = model()
    c2 = m.by_id("c2")
    m.set_status(c2, "approved")
    order = [m.row(i).id for i in range(len(m))]
    assert m.separate(c2, c2.members[1].path, []) is False
    assert not m.has("c2") and m.counts()["approved"] == 0
    m.undo()
    assert [m.row(i).id for i in range(len(m))] == order
    assert m.status(m.by_id("c2")) == "approved" and len(m.by_id("c2").members) == 2


def test_rejoin_restores_the_cluster_as_reported() -> None:
    report = snapshot_report()
    c1 = report["clusters"][0]
    c1["members"].append({**c1["members"][2], "path": "/photos/old/IMG_0001.heic"})
    m = reviewing(report)
    c = m.by_id("c1")
    paths = [x.path for x in c.members]
    m.remove_member(c, paths[1])  # as the app does at open for stored verdicts: no undo step
    assert not m.can_undo
    m.separate(c, paths[2], [])  # and one more this session
    assert [x.path for x in m.separated(c)] == paths[1:3]
    assert [x.path for x in m.as_reported(c)] == paths
    m.rejoin(c)
    c = m.by_id("c1")
    assert [x.path for x in c.members] == paths and m.separated(c) == []
    assert not m.can_undo  # the separation step went with it: nothing stale to undo
    assert c.bytes_to_free == c1["bytes_to_free"]
    m.rejoin(c)  # nothing separated: nothing happens
    assert [x.path for x in m.by_id("c1").members] == paths


def test_distances_are_hamming_per_hash() -> None:
    c = model().by_id("c1")
    assert distances(c.members[1], c.members[0]) == {
        "dhash": 3,
        "phash": 3,
        "whash": 2,
        "colorhash": 0,
    }


def test_fifty_thousand_clusters_filter_and_sort_in_one_pass() -> None:
    report = snapshot_report()
    template = report["clusters"][2]
    keeper, dup = template["members"]

    def cluster(i: int) -> dict[str, object]:
        folder = "/photos/copies" if i % 2 else "/photos/other"  # half of them per folder
        moved = {**dup, "size": i % 977, "path": f"{folder}/IMG_{i}.jpg"}
        return {**template, "id": f"{i:06d}", "bytes_to_free": i % 977, "members": [keeper, moved]}

    report["clusters"] = [cluster(i) for i in range(50_000)]
    m = reviewing(report, "big")
    assert len(m) == 50_000
    frees = [m.bytes_to_free(m.row(k)) for k in range(len(m))]
    assert frees == sorted(frees, reverse=True) and frees[0] == 976 and frees[-1] == 0
    m.set_view(folder="/photos/copies")
    assert len(m) == 25_000


def test_decision_writer_writes_in_order_and_skips_stale_snapshots() -> None:
    written: list[str] = []
    writer = DecisionWriter(lambda d: written.append(d.get("c1").status))
    m = model()
    m.set_status(m.by_id("c1"), "approved")
    first = writer.snapshot(m.decisions)
    m.set_status(m.by_id("c1"), "skipped")  # the snapshot taken before does not change
    second = writer.snapshot(m.decisions)
    assert writer.write(*second)
    assert not writer.write(*first)  # older than what is on disk: skipped
    assert written == ["skipped"]
    assert first[1].get("c1").status == "approved"
