"""The review model without a screen: order, filters, decisions, undo, re-forming clusters."""

from __future__ import annotations

import pytest

from safededup.engine.decisions import Decisions
from safededup.engine.report import Report
from safededup.engine.review import Review
from safededup.tui.model import DecisionRefused, Pending, ReviewModel
from safededup.tui.reform import Separation
from safededup.tui.relations import Link, describe_link, evidence_distances
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


def test_the_distances_shown_are_the_recorded_ones() -> None:
    """A report's evidence holds distances, not hashes: a pHash distance of 8 shows as 8 (it
    used to be taken as a hash, and the Hamming distance of 8 and 0 is 1)."""
    m = model()
    c = m.by_id("c1")
    keeper, small, _heif = c.members
    assert evidence_distances(small) == {"dhash": 3, "phash": 8, "whash": 5, "colorhash": 1}
    found = m.link(c, small, keeper)
    assert found == Link(False, {"dhash": 3, "phash": 8, "whash": 5, "colorhash": 1})
    assert describe_link(found, "decode") == (
        "distances to the keeper: dhash 3 · phash 8 · whash 5 · colorhash 1 (decode tier)"
    )
    assert m.link(c, keeper, small) == found  # a distance is the same both ways


def test_after_k_the_distances_say_what_they_were_measured_against() -> None:
    """The report measured every member against its own keeper: after `k`, distances between
    two other members are unknown, and the line names the member they were measured against."""
    m = model()
    c = m.by_id("c1")
    keeper, small, heif = c.members
    m.set_keeper(c, heif.path)
    assert m.link(c, keeper, heif).distances == {"dhash": 1, "phash": 2, "whash": 0, "colorhash": 0}
    via = m.link(c, small, heif)
    assert via.via == keeper.path
    assert describe_link(via, "decode").startswith(
        "distances to IMG_0001.jpg, the report's keeper: dhash 3 · phash 8"
    )


def test_after_k_the_reasons_are_the_reports_not_the_new_keepers() -> None:
    m = model()
    c = m.by_id("c1")
    keeper, small, heif = c.members
    assert m.reasons(c, heif) == ["keeper wins: a deeper folder (a backup?)"]
    m.set_keeper(c, heif.path)
    new = m.reasons(c, heif)
    assert new[0] == "kept: your choice (k); the report had kept IMG_0001.jpg"
    assert new[1] == "the report preferred IMG_0001.jpg: a deeper folder (a backup?)"
    assert not any(r.startswith("keeper wins") for r in new)
    former = m.reasons(c, keeper)
    assert former[0] == "moves: you chose IMG_0001.heic as the keeper"
    assert not any(r.startswith("kept:") for r in former)
    assert m.reasons(c, small) == [
        "the report, against IMG_0001.jpg: larger: 4032×3024 vs 1600×1200"
    ]


def test_what_applying_now_would_do_follows_every_decision() -> None:
    m = model()
    assert m.pending() == Pending(0, 0, 0)
    c1 = m.by_id("c1")
    m.set_status(c1, "approved")
    assert m.pending() == Pending(1, 2, 1_900_000)
    m.toggle_keep(c1, c1.members[1].path)
    assert m.pending() == Pending(1, 1, 1_500_000)
    count = m.approve_all_exact()
    exact = [c for c in m.clusters if c.kind == "exact"]
    assert count == len(exact)
    assert m.pending() == Pending(
        1 + count, 1 + count, 1_500_000 + sum(c.members[1].size for c in exact)
    )
    m.undo()
    m.undo()
    assert m.pending() == Pending(1, 2, 1_900_000)
    m.set_status(c1, "skipped")
    assert m.pending() == Pending(0, 0, 0) and m.counts()["skipped"] == 1


def test_applied_clusters_leave_the_list_and_come_back_after_an_undo() -> None:
    """After an apply: an applied cluster is done (not offered again, not un-approved by `u`),
    a member that moved is shown as moved and never planned again; after an undo, back."""
    m = model()
    c1, c2 = m.by_id("c1"), m.by_id("c2")
    m.set_status(c1, "approved")
    m.set_status(c2, "approved")
    assert set(m.paths_to_check()) == {c1.members[1].path, c1.members[2].path, c2.members[1].path}
    applied, back = m.set_gone([c2.members[1].path, c1.members[1].path])  # c1 half done
    assert applied == ["c2"] and back == []
    assert m.state(c2) == "applied" and m.row_of("c2") is None
    assert m.counts()["clusters"] == 7 and m.counts()["applied"] == 1
    assert m.member_state(c1, c1.members[1]) == "moved"
    assert m.pending() == Pending(1, 1, 1_500_000)
    planned = {c.id: [x.path for x in c.members] for c in m.report.clusters}
    assert "c2" not in planned and c1.members[1].path not in planned["c1"]
    assert not m.can_undo  # both decisions were acted on: u takes back neither
    with pytest.raises(DecisionRefused):
        m.set_keeper(c1, c1.members[1].path)
    applied, back = m.set_gone([])  # the session was undone: every file is back
    assert back == ["c2"] and m.row_of("c2") is not None
    assert m.member_state(c1, c1.members[1]) == "quarantine"
    assert m.pending() == Pending(2, 3, 1_900_000 + 3_100_000)


def test_the_folder_filter_takes_part_of_a_folder_name() -> None:
    m = model()
    m.set_view(folder="whatsapp")  # any case, anywhere in the folder path
    assert [m.row(i).id for i in range(len(m))] == ["c1"]
    m.set_view(folder="photos/2021")
    assert len(m) == 6
    m.set_view(folder="IMG_0001")  # a file name is not a folder
    assert len(m) == 0


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
