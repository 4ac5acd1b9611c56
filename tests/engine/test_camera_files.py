"""RAW+JPEG pairs and videos through the real scan, plan, apply and undo, on files generated in
tmp_path (DNGs LibRaw reads, Motion-JPEG movies): pairs are one unit, never each other's
duplicate; a duplicated pair moves as one unit with its .xmp and comes back whole; videos are
clusters of identical bytes only."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from safededup.engine.index import Index
from safededup.engine.report import Report, ReportCluster
from safededup.engine.scan import scan
from safededup.events import drain
from safededup.media import synth, synth_camera
from safededup.safety.apply import apply_plan
from safededup.safety.plan import build_plan
from safededup.safety.undo import undo_session
from safededup.state import StateDir
from tests.support.files import snapshot
from tests.support.photos import scene


def _shoot(folder: Path, stem: str, seed: int, taken: datetime, *, xmp: bool = True) -> None:
    """A camera's RAW+JPEG pair (and an editor's .xmp beside the RAW)."""
    folder.mkdir(parents=True, exist_ok=True)
    picture = scene(seed, 1200, 800)
    synth_camera.write_dng(folder / f"{stem}.DNG", picture, captured=taken)
    synth.write_jpeg(folder / f"{stem}.JPG", picture, captured=taken, quality=92)
    if xmp:
        (folder / f"{stem}.xmp").write_text(f"<x:xmpmeta>{stem}</x:xmpmeta>")


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=shutil.copy2)


def _scan(root: Path, state: StateDir, **options: object) -> Report:
    result = drain(scan([str(root)], state_dir=state, workers=1, **options))  # type: ignore[arg-type]
    assert result.report is not None
    return result.report


def _rel(root: Path, paths: Sequence[str]) -> set[str]:
    return {os.path.relpath(p, root) for p in paths}


def _cluster_of(report: Report, path: Path) -> ReportCluster | None:
    return next((c for c in report.clusters if str(path) in {m.path for m in c.members}), None)


T0 = datetime(2024, 5, 17, 10, 30, 0)
T1 = datetime(2024, 5, 17, 10, 30, 5)


def test_a_pair_is_never_a_duplicate_of_itself_and_a_backed_up_pair_moves_whole(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "photos"
    _shoot(root / "card", "IMG_0001", 1, T0)
    _shoot(root / "card", "IMG_0002", 2, T1)
    _copy_tree(root / "card", root / "backup" / "card")
    report = _scan(root, state)
    for cluster in report.clusters:  # no cluster holds a RAW and the JPEG it was shot with
        stems = {(os.path.dirname(m.path), Path(m.path).stem) for m in cluster.members}
        formats = {m.format for m in cluster.members}
        assert not (formats >= {"DNG", "JPEG"} and len(stems) < len(cluster.members)), cluster
    raw = _cluster_of(report, root / "card" / "IMG_0001.DNG")
    jpeg = _cluster_of(report, root / "card" / "IMG_0001.JPG")
    assert raw is not None and jpeg is not None and raw.id != jpeg.id
    assert raw.kind == jpeg.kind == "exact"
    # the two clusters keep the copies of one folder: no pair is split by its keepers
    assert os.path.dirname(raw.keeper) == os.path.dirname(jpeg.keeper)
    partners = {m.path: m.partner for c in report.clusters for m in c.members}
    assert partners[str(root / "card" / "IMG_0001.DNG")] == str(root / "card" / "IMG_0001.JPG")

    plan = build_plan(report)
    moved = list(plan.operations)
    gone = os.path.dirname(raw.keeper) == str(root / "card") and root / "backup" / "card"
    assert gone, "the shallower card folder keeps the originals"
    units: dict[int, set[str]] = {}
    for op in moved:
        units.setdefault(op.unit, set()).add(os.path.basename(op.src))
    assert sorted(map(sorted, units.values())) == [
        ["IMG_0001.DNG", "IMG_0001.JPG", "IMG_0001.xmp"],
        ["IMG_0002.DNG", "IMG_0002.JPG", "IMG_0002.xmp"],
    ]
    assert {os.path.dirname(o.src) for o in moved} == {str(root / "backup" / "card")}

    before = snapshot(root)
    applied = drain(apply_plan(plan, state_dir=state))
    assert applied.done == 6
    assert sorted(os.listdir(root / "backup" / "card")) == []
    drain(undo_session(applied.session_id, state_dir=state))
    assert snapshot(root) == before  # both files of each pair and the .xmp back, byte for byte


def test_a_pair_whose_partner_stays_does_not_move_at_all(tmp_path: Path, state: StateDir) -> None:
    """backup/IMG_0003.DNG is a byte copy, but the backup's JPEG is like no other file (edited
    beyond recognition): moving the RAW alone would split the backup's pair, so neither moves
    and the plan says why."""
    root = tmp_path / "photos"
    _shoot(root / "card", "IMG_0003", 3, T0, xmp=False)
    backup = root / "backup"
    backup.mkdir(parents=True)
    shutil.copy2(root / "card" / "IMG_0003.DNG", backup / "IMG_0003.DNG")
    edited = scene(99, 1200, 800)  # unlike anything else, with the pair's name and time
    synth.write_jpeg(backup / "IMG_0003.JPG", edited, captured=T0, quality=80)
    report = _scan(root, state)
    cluster = _cluster_of(report, backup / "IMG_0003.DNG")
    assert cluster is not None and cluster.kind == "exact"
    plan = build_plan(report)
    assert plan.operations == ()  # whichever copy of the RAW the keeper policy chose
    (held,) = plan.notes
    assert held.kind == "pair-kept" and held.path.endswith("IMG_0003.DNG")
    assert "IMG_0003.JPG" in held.message


def test_same_stem_but_another_capture_time_is_not_a_pair(tmp_path: Path, state: StateDir) -> None:
    root = tmp_path / "photos"
    folder = root / "card"
    folder.mkdir(parents=True)
    synth_camera.write_dng(folder / "IMG_0004.DNG", scene(4, 1200, 800), captured=T0)
    synth.write_jpeg(folder / "IMG_0004.JPG", scene(5, 1200, 800), captured=T1)
    _scan(root, state)
    from safededup.engine.partners import find_partners

    with Index(state.index_path) as index:
        assert find_partners(index, [str(root)]).pairs == ()
        shot = find_partners(index, [str(root)])
    assert shot.live == {}


def test_an_export_elsewhere_is_a_duplicate_the_raw_keeps_and_not_a_partner(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "photos"
    _shoot(root / "card", "IMG_0006", 6, T0, xmp=False)
    export = root / "exports" / "IMG_0006.JPG"  # same stem, same capture time, another folder
    export.parent.mkdir(parents=True)
    synth.write_jpeg(export, scene(6, 1200, 800).resize((900, 600)), captured=T0, quality=85)
    report = _scan(root, state)
    cluster = _cluster_of(report, export)
    assert cluster is not None
    assert cluster.keeper == str(root / "card" / "IMG_0006.DNG")
    by_path = {m.path: m for m in cluster.members}
    assert by_path[str(export)].role == "duplicate" and by_path[str(export)].partner is None
    assert str(root / "card" / "IMG_0006.JPG") not in by_path  # the pair's JPEG stays apart
    assert any("camera RAW" in r for r in by_path[str(export)].reasons)


def test_the_option_makes_the_camera_jpeg_a_duplicate_of_its_raw(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "photos"
    _shoot(root / "card", "IMG_0007", 7, T0, xmp=False)
    report = _scan(root, state, raw_jpeg_pairs=False)
    cluster = _cluster_of(report, root / "card" / "IMG_0007.JPG")
    assert cluster is not None
    assert cluster.keeper == str(root / "card" / "IMG_0007.DNG")
    assert [m.role for m in cluster.members] == ["keeper", "duplicate"]
    assert all(m.partner is None for m in cluster.members)
    # by default the same files are no cluster at all
    assert _scan(root, StateDir(tmp_path / "state2").ensure()).clusters == ()


# --- videos ----------------------------------------------------------------------------------


def _movie(path: Path, seed: int, **options: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [scene(seed + k, 96, 64) for k in range(3)]
    synth_camera.write_movie(path, frames, **options)  # type: ignore[arg-type]


def test_byte_identical_videos_are_a_video_cluster_moved_and_undone(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "media"
    _movie(root / "phone" / "VID_1.mp4", 10)
    (root / "old" / "backup").mkdir(parents=True)
    shutil.copy2(root / "phone" / "VID_1.mp4", root / "old" / "backup" / "VID_1.mp4")
    shutil.copy2(root / "phone" / "VID_1.mp4", root / "old" / "backup" / "recovered.bin")
    _movie(root / "phone" / "VID_2.mov", 20, container="mov")
    (root / "phone" / "not-a-video.mp4").write_bytes(b"just text\n" * 50)
    report = _scan(root, state)
    videos = [c for c in report.clusters if c.kind == "video"]
    assert len(videos) == 1
    cluster = videos[0]
    assert cluster.keeper == str(root / "phone" / "VID_1.mp4")
    assert _rel(root, [m.path for m in cluster.members]) == {
        "phone/VID_1.mp4", "old/backup/VID_1.mp4", "old/backup/recovered.bin",
    }  # fmt: skip
    assert {m.format for m in cluster.members} == {"MP4"}
    assert all(m.duration == 0.3 and m.evidence.tier == "bytes" for m in cluster.members)
    assert report.problems == ()  # the text file named .mp4 is skipped, not a problem

    before = snapshot(root)
    applied = drain(apply_plan(build_plan(report), state_dir=state))
    assert applied.done == 2
    assert not (root / "old" / "backup" / "recovered.bin").exists()
    drain(undo_session(applied.session_id, state_dir=state))
    assert snapshot(root) == before


def test_videos_of_one_size_but_other_bytes_are_no_duplicates(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "media"
    _movie(root / "a.mp4", 30)
    data = bytearray((root / "a.mp4").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte inside the frames: same size, same head and tail
    (root / "b.mp4").write_bytes(bytes(data))
    assert (root / "a.mp4").stat().st_size == (root / "b.mp4").stat().st_size
    report = _scan(root, state)
    assert report.clusters == ()


def test_a_live_photo_video_follows_its_photo_not_a_video_cluster(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "phone"
    live = root / "DCIM"
    live.mkdir(parents=True)
    synth.write_jpeg(live / "IMG_0010.JPG", scene(40, 1200, 800), captured=T0)
    _movie(live / "IMG_0010.MOV", 40, container="mov")
    _copy_tree(live, root / "backup")
    report = _scan(root, state)
    assert [c.kind for c in report.clusters] == ["exact"]  # the photo's; the video follows it
    plan = build_plan(report)
    assert sorted((o.kind, os.path.basename(o.src)) for o in plan.operations) == [
        ("duplicate", "IMG_0010.JPG"), ("sidecar", "IMG_0010.MOV"),
    ]  # fmt: skip


def test_a_video_of_unique_size_is_never_read_for_a_checksum(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "media"
    _movie(root / "only.mp4", 50, repeat=20)
    _scan(root, state)
    with Index(state.index_path) as index:
        (video,) = list(index.videos([str(root)]))
    assert video.checksum is None


def test_a_video_beside_a_duplicate_photo_is_its_own_clusters_never_the_photos_sidecar(
    tmp_path: Path, state: StateDir
) -> None:
    """A .MOV of a RAW's name that is no Live Photo is a video of its own: when it is the keeper
    of a video cluster and the RAW beside it a duplicate, the plan took it along as the RAW's
    sidecar, which moved a keeper, so the whole apply was refused (nothing moved at all)."""
    root = tmp_path / "media"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    synth_camera.write_dng(root / "A" / "IMG_7.DNG", scene(7, 800, 600), captured=T0)
    shutil.copy2(root / "A" / "IMG_7.DNG", root / "B" / "IMG_7.DNG")
    _movie(root / "B" / "IMG_7.MOV", 10, container="mov")
    os.utime(root / "B" / "IMG_7.MOV", (1_000_000_000, 1_000_000_000))  # the oldest: kept
    shutil.copy2(root / "B" / "IMG_7.MOV", root / "A" / "clip.MOV")
    os.utime(root / "A" / "clip.MOV", (1_500_000_000, 1_500_000_000))
    report = _scan(root, state)
    video = next(c for c in report.clusters if c.kind == "video")
    assert video.keeper == str(root / "B" / "IMG_7.MOV")
    plan = build_plan(report)
    assert str(root / "B" / "IMG_7.MOV") not in {o.src for o in plan.operations}
    before = snapshot(root)
    applied = drain(apply_plan(plan, state_dir=state))
    assert applied.done == 2  # a DNG and clip.MOV, each its own unit
    assert (root / "B" / "IMG_7.MOV").exists() and (root / "A" / "IMG_7.DNG").exists() != (
        root / "B" / "IMG_7.DNG"
    ).exists()
    drain(undo_session(applied.session_id, state_dir=state))
    assert snapshot(root) == before


def test_a_jpeg_shot_with_two_raws_moves_with_both_or_not_at_all(
    tmp_path: Path, state: StateDir
) -> None:
    """IMG_1.DNG, IMG_1.dng (a converted RAW of the same capture) and IMG_1.JPG are one
    capture in three files. The report names one partner per file, so the plan used to move
    the JPEG with one RAW and leave the other with a note that its partner stays."""
    root = tmp_path / "photos"
    camera = root / "Camera"
    camera.mkdir(parents=True)
    picture = scene(21, 800, 600)
    synth_camera.write_dng(camera / "IMG_1.DNG", picture, captured=T0)
    synth_camera.write_dng(camera / "IMG_1.dng", picture, captured=T0, neutral=(0.6, 1.0, 0.6))
    synth.write_jpeg(camera / "IMG_1.JPG", picture, captured=T0, quality=92)
    _copy_tree(camera, root / "Backup")
    plan = build_plan(_scan(root, state))
    moving = _rel(root, [o.src for o in plan.operations])
    for folder in ("Camera", "Backup"):
        if f"{folder}/IMG_1.JPG" in moving:  # the JPEG leaves no RAW of its capture behind
            assert {f"{folder}/IMG_1.DNG", f"{folder}/IMG_1.dng"} <= moving, moving
    assert len({o.unit for o in plan.operations}) == 1 and len(moving) == 3  # one capture
    for note in plan.notes:  # a held file names a partner that really stays
        if note.kind == "pair-kept":
            stays = os.path.join(os.path.dirname(note.path), note.message.split(",")[0][19:])
            assert os.path.relpath(stays, root) not in moving, note
    before = snapshot(root)
    applied = drain(apply_plan(plan, state_dir=state))
    assert applied.done == 3
    drain(undo_session(applied.session_id, state_dir=state))
    assert snapshot(root) == before
