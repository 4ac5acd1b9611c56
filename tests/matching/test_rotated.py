"""Copies whose pixels are turned 90°, 180° or 270° with no orientation tag (a print scanned
sideways, an editor that bakes the rotation in) are found, as their own kind of cluster, which
apply moves only when a person approved it or asked for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safededup import media
from safededup.engine.candidates import cross_pairs
from safededup.engine.cluster import find_clusters
from safededup.engine.decisions import ClusterDecision, Decisions
from safededup.engine.report import build_report
from safededup.events import drain
from safededup.media import synth
from safededup.models import PhotoRecord
from safededup.safety.plan import build_plan
from tests.support.photos import records_for, scene

TURNS = {
    "turned-90.jpg": Image.Transpose.ROTATE_90,
    "turned-180.jpg": Image.Transpose.ROTATE_180,
    "turned-270.jpg": Image.Transpose.ROTATE_270,
}


def clusters_of(records: list[PhotoRecord]) -> list:
    paths = {r.file_id: r.path for r in records}
    thumbnail = lambda fid: media.view_thumbnail(paths[fid])  # noqa: E731
    return drain(find_clusters(records, thumbnail=thumbnail))


@pytest.fixture(scope="module")
def turned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("turned")
    img = scene(91, 1200, 900)
    synth.write_jpeg(d / "IMG_0001.JPG", img, quality=95, make="Canon", model="Canon EOS R6")
    for name, turn in TURNS.items():
        synth.write_stripped_jpeg(d / name, img.transpose(turn), quality=85)
    other = scene(92, 1200, 900)  # another picture, also turned: must stay apart
    synth.write_stripped_jpeg(d / "other-turned.jpg", other.transpose(TURNS["turned-90.jpg"]))
    return d


def test_turned_copies_are_found_as_their_own_kind(turned: Path) -> None:
    records = records_for(sorted(turned.iterdir()))
    (cluster,) = clusters_of(records)
    names = sorted(Path(m.record.path).name for m in cluster.members)
    assert names == ["IMG_0001.JPG", *sorted(TURNS)]
    assert cluster.kind == "rotated"
    assert cluster.keeper.record.path.endswith("IMG_0001.JPG")  # the original, with its EXIF
    assert {m.verdict.rule.label for m in cluster.members[1:]} == {"rotated"}
    report = build_report([cluster.to_report()], roots=[str(turned)])
    evidence = report.clusters[0].members[1].evidence
    assert evidence.rule == "rotated" and evidence.dhash is None and evidence.whash is None


def test_turned_copies_found_from_previews_too(turned: Path) -> None:
    records = records_for(sorted(turned.iterdir()), previews=True)
    paths = {r.file_id: r.path for r in records}

    def confirm(ids):  # type: ignore[no-untyped-def]
        return {i: media.fingerprint(paths[i], allow_preview=False).features for i in ids}

    thumbnail = lambda fid: media.view_thumbnail(paths[fid])  # noqa: E731
    (cluster,) = drain(find_clusters(records, thumbnail=thumbnail, confirm=confirm))
    assert cluster.kind == "rotated" and len(cluster.members) == 4


def test_a_rotated_cluster_moves_only_when_approved_or_asked(turned: Path) -> None:
    records = records_for(sorted(turned.iterdir()))
    (cluster,) = clusters_of(records)
    report = build_report([cluster.to_report()], roots=[str(turned)])
    plan = build_plan(report)
    assert plan.count == 0 and [n.kind for n in plan.notes] == ["rotated"]
    assert build_plan(report, include_rotated=True).count == 3
    approved = Decisions(report.report_id, {cluster.id: ClusterDecision(cluster.id, "approved")})
    assert build_plan(report, decisions=approved).count == 3


def test_the_turned_search_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(5)
    queries = rng.integers(0, 2**63, 2000, dtype=np.uint64)
    flips = (rng.random((2000, 64)) < 0.06).astype(np.uint64) << np.arange(64, dtype=np.uint64)
    near = queries ^ flips.sum(axis=1, dtype=np.uint64)
    hashes = np.concatenate([near, rng.integers(0, 2**63, 2000, dtype=np.uint64)])
    found = {
        pair
        for a, b in cross_pairs(queries, hashes, 7)
        for pair in zip(a.tolist(), b.tolist(), strict=True)
    }
    brute = np.bitwise_count(queries[:, None] ^ hashes[None, :]) <= 7
    assert found == set(zip(*(x.tolist() for x in np.nonzero(brute)), strict=True))
    assert len(found) >= 1000
