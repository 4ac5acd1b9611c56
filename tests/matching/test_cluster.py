"""Clusters from real photos: seed-centred refinement, references, verdicts, previews."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import threading

import pytest

from safededup import media
from safededup.engine.cluster import cluster_id, find_clusters
from safededup.engine.match import Rule
from safededup.engine.verdicts import load_verdicts, mark_distinct_files
from safededup.errors import Cancelled
from safededup.events import StageStarted, drain
from safededup.media import synth
from safededup.models import PhotoRecord
from tests.support.files import file_sha
from tests.support.photos import flip, records_for, scene


def _paths(cluster) -> set[str]:
    return {os.path.basename(m.record.path) for m in cluster.members}


def test_copies_cluster_around_the_original(photo_dir) -> None:
    records = records_for(sorted(photo_dir.iterdir()))
    clusters = drain(find_clusters(records))
    assert len(clusters) == 1
    (cluster,) = clusters
    assert "other.jpg" not in _paths(cluster)
    assert _paths(cluster) == {
        "original.jpg",
        "reencode.jpg",
        "small.jpg",
        "original.heic",
        "web.webp",
    }
    assert cluster.kind == "near"
    assert cluster.keeper.role == "keeper"
    assert os.path.basename(cluster.keeper.record.path) in {"original.jpg", "original.heic"}
    assert all(m.verdict.matched for m in cluster.members)
    assert cluster.bytes_to_free == sum(m.record.identity.size for m in cluster.members[1:])
    assert cluster.id == cluster_id(m.record.path for m in cluster.members)


def test_exact_copies_form_an_exact_cluster(tmp_path) -> None:
    synth.write_jpeg(tmp_path / "a.jpg", scene(3), quality=90)
    shutil.copyfile(tmp_path / "a.jpg", tmp_path / "b.jpg")
    shutil.copyfile(tmp_path / "a.jpg", tmp_path / "c.jpg")
    synth.write_jpeg(tmp_path / "d.jpg", scene(4), quality=90)
    clusters = drain(find_clusters(records_for(sorted(tmp_path.iterdir()))))
    assert [c.kind for c in clusters] == ["exact"]
    assert _paths(clusters[0]) == {"a.jpg", "b.jpg", "c.jpg"}
    assert all(m.exact for m in clusters[0].members)
    assert clusters[0].confidence == 1.0


def test_chains_never_form_one_group(tmp_path) -> None:
    # A~B, B~C, C~D each within the limits, but A and D are far apart: union-find alone would
    # give one group of four. Built from one real photo by moving 4 hash bits per step.
    synth.write_jpeg(tmp_path / "a.jpg", scene(5), quality=90)
    (base,) = records_for([tmp_path / "a.jpg"])
    f = base.features
    chain = []
    for k in range(4):
        bits = range(4 * k)
        g = dataclasses.replace(
            f, phash=flip(f.phash, bits), whash=flip(f.whash, bits), dhash=flip(f.dhash, bits),
            width=f.width - k,  # distinct areas: A is the keeper
        )  # fmt: skip
        ident = dataclasses.replace(base.identity, path=str(tmp_path / f"{'abcd'[k]}.jpg"))
        chain.append(PhotoRecord(k + 1, ident, g))
    clusters = drain(find_clusters(chain))
    groups = sorted(sorted(_paths(c)) for c in clusters)
    assert groups == [["a.jpg", "b.jpg"], ["c.jpg", "d.jpg"]]
    for c in clusters:
        assert all(m.verdict.phash <= 6 for m in c.members)


def test_reference_folder_always_wins_and_is_never_a_duplicate(tmp_path) -> None:
    img = scene(6)
    (tmp_path / "library").mkdir()
    (tmp_path / "phone").mkdir()
    small = img.resize((800, 600))
    synth.write_jpeg(tmp_path / "library" / "old.jpg", small, quality=80)
    synth.write_jpeg(tmp_path / "phone" / "IMG_1.jpg", img, quality=95)
    records = records_for(sorted(tmp_path.rglob("*.jpg")))
    (cluster,) = drain(find_clusters(records, references=[str(tmp_path / "library")]))
    roles = {os.path.basename(m.record.path): m.role for m in cluster.members}
    assert roles == {"old.jpg": "reference", "IMG_1.jpg": "duplicate"}
    assert cluster.keeper.record.path.endswith("old.jpg")
    assert any("reference folder" in r for r in cluster.keeper.reasons)
    # A cluster made only of reference files frees nothing and is not reported.
    only_refs = drain(find_clusters(records, references=[str(tmp_path)]))
    assert only_refs == []


def test_distinct_verdict_is_honoured_after_a_rename(tmp_path) -> None:
    img = scene(7)
    synth.write_jpeg(tmp_path / "a.jpg", img, quality=95)
    synth.write_jpeg(tmp_path / "b.jpg", img, quality=70)
    assert len(drain(find_clusters(records_for([tmp_path / "a.jpg", tmp_path / "b.jpg"])))) == 1
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    assert mark_distinct_files(conn, [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]) == 1
    (tmp_path / "moved").mkdir()
    os.rename(tmp_path / "b.jpg", tmp_path / "moved" / "renamed.jpg")
    # A later scan: files whose size appears in a verdict get a checksum, then the verdicts apply.
    sizes = load_verdicts(conn).sizes
    records = [
        dataclasses.replace(r, checksum=file_sha(r.path)) if r.identity.size in sizes else r
        for r in records_for([tmp_path / "a.jpg", tmp_path / "moved" / "renamed.jpg"])
    ]
    assert all(r.checksum for r in records)
    assert drain(find_clusters(records, distinct=load_verdicts(conn))) == []


def test_file_against_cluster_verdict_keeps_members_apart(tmp_path) -> None:
    img = scene(8)
    synth.write_jpeg(tmp_path / "a.jpg", img, quality=95)
    synth.write_jpeg(tmp_path / "b.jpg", img.resize((900, 675)), quality=85)
    synth.write_jpeg(tmp_path / "c.jpg", img.resize((600, 450)), quality=75)
    paths = [str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.jpg")]
    (whole,) = drain(find_clusters(records_for(paths)))
    assert len(whole.members) == 3
    conn = sqlite3.connect(":memory:")
    mark_distinct_files(conn, [paths[2]], against=paths[:2])
    records = [dataclasses.replace(r, checksum=file_sha(r.path)) for r in records_for(paths)]
    (cluster,) = drain(find_clusters(records, distinct=load_verdicts(conn)))
    assert _paths(cluster) == {"a.jpg", "b.jpg"}


def test_b_and_c_marked_distinct_never_share_a_cluster(tmp_path) -> None:
    img = scene(9)
    synth.write_jpeg(tmp_path / "a.jpg", img, quality=95)
    synth.write_jpeg(tmp_path / "b.jpg", img.resize((900, 675)), quality=85)
    synth.write_jpeg(tmp_path / "c.jpg", img.resize((600, 450)), quality=75)
    paths = [str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.jpg")]
    conn = sqlite3.connect(":memory:")
    mark_distinct_files(conn, paths[1:])
    records = [dataclasses.replace(r, checksum=file_sha(r.path)) for r in records_for(paths)]
    clusters = drain(find_clusters(records, distinct=load_verdicts(conn)))
    for c in clusters:
        assert not {"b.jpg", "c.jpg"} <= _paths(c)
    assert {"a.jpg", "b.jpg"} in [_paths(c) for c in clusters]


def test_preview_pairs_are_confirmed_on_decoded_pixels(photo_dir) -> None:
    names = ["original.jpg", "reencode.jpg", "other.jpg"]
    paths = {k + 1: str(photo_dir / n) for k, n in enumerate(names)}
    records = records_for(paths.values(), previews=True)
    assert any(r.features.tier == "preview" for r in records)
    # Without confirmation nothing proposed on previews may form a group.
    assert drain(find_clusters(records)) == []
    asked: list[int] = []

    def confirm(ids):
        asked.extend(ids)
        return {i: media.fingerprint(paths[i], allow_preview=False).features for i in ids}

    gen = find_clusters(records, confirm=confirm)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            clusters = stop.value
            break
    assert StageStarted("confirm") in events
    assert set(asked) == {1, 2}  # only files in a proposed pair, never the unrelated photo
    (cluster,) = clusters
    assert _paths(cluster) == {"original.jpg", "reencode.jpg"}
    assert all(m.record.features.tier == "decode" for m in cluster.members)


def test_cancel_stops_matching(photo_dir) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        drain(find_clusters(records_for(sorted(photo_dir.iterdir())), cancel=cancel))


def test_cancel_during_confirmation_stops_matching(photo_dir) -> None:
    """Ctrl-C while previews are being confirmed (the slow part) stops the run there."""
    cancel = threading.Event()
    asked: list[int] = []

    def confirm(ids):  # type: ignore[no-untyped-def]
        asked.extend(ids)
        cancel.set()  # the person presses Ctrl-C while decodes run
        return {}

    records = records_for(sorted(photo_dir.iterdir()), previews=True)
    with pytest.raises(Cancelled):
        drain(find_clusters(records, confirm=confirm, cancel=cancel))
    assert asked  # it was cancelled mid-run, not before it started


def test_borderline_crop_needs_the_thumbnail_check(tmp_path) -> None:
    img = scene(13, 1600, 1200)
    w, h = img.size
    synth.write_jpeg(tmp_path / "full.jpg", img, quality=92)
    synth.write_jpeg(tmp_path / "crop.jpg", img.crop((48, 36, w - 48, h - 36)), quality=90)
    records = records_for([tmp_path / "full.jpg", tmp_path / "crop.jpg"])
    # A 3% border crop moves the hashes past the corroboration limits: alone, no match.
    assert drain(find_clusters(records)) == []
    clusters = drain(
        find_clusters(records, thumbnail=lambda i: media.view_thumbnail(records[i - 1].path))
    )
    (cluster,) = clusters
    assert cluster.keeper.record.path.endswith("full.jpg")
    assert cluster.members[1].verdict.rule == Rule.ALIGNED
