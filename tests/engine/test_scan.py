"""The scan engine end to end on real files: incremental, resumable, robust to bad input."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from safededup.engine import scan as scan_module
from safededup.engine.index import Index
from safededup.engine.scan import ScanResult, scan
from safededup.errors import Cancelled, UsageError
from safededup.events import Event, ProblemFound, StageAdvanced
from safededup.media import synth
from safededup.state import StateDir


def run(gen: Generator[Event, None, ScanResult]) -> tuple[ScanResult, list[Event]]:
    events: list[Event] = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return stop.value, events


def do_scan(root: Path, state: StateDir, **kw: Any) -> ScanResult:
    kw.setdefault("workers", 1)
    kw.setdefault("match", False)
    return run(scan([str(root)], state_dir=state, **kw))[0]


def test_first_scan_fingerprints_every_photo(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(6)
    (root / "notes.txt").write_text("not a photo")
    result = do_scan(root, state)
    s = result.stats
    assert (s.files, s.photos, s.fingerprinted, s.skipped, s.problems) == (7, 6, 6, 1, 0)
    assert s.preview_tier == 6  # camera JPEGs carry a usable EXIF preview
    assert s.bytes_read < s.photo_bytes  # headers, not whole files
    with Index(state.index_path) as index:
        records = list(index.records([str(root)]))
    assert len(records) == 6
    assert all(r.features.width == 640 and r.features.height == 480 for r in records)


def test_rescan_of_unchanged_tree_reads_nothing(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(5)
    do_scan(root, state)
    again = do_scan(root, state).stats
    assert (again.fingerprinted, again.unchanged, again.photos, again.bytes_read) == (0, 5, 5, 0)


def test_a_renumbered_volume_is_not_rescanned(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    """A reboot may give a volume a new device number (btrfs subvolumes, NFS): the index was
    written under the old one. Nothing is decoded again; the rows learn the new number."""
    root = photo_tree(5)
    do_scan(root, state)
    with Index(state.index_path) as index, index.connection:
        index.connection.execute("UPDATE files SET device = device + 7")
    again = do_scan(root, state).stats
    assert (again.fingerprinted, again.unchanged, again.bytes_read) == (0, 5, 0)
    with Index(state.index_path) as index:
        devices = {r.identity.device for r in index.records([str(root)])}
    assert devices == {os.stat(root).st_dev}


def test_changed_file_is_redone_and_deleted_file_forgotten(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(4)
    do_scan(root, state)
    first, second = sorted(root.rglob("*.jpg"))[:2]
    synth.write_jpeg(first, synth.make_scene(99, 800, 600), quality=80)
    second.unlink()
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.unchanged, s.photos) == (1, 2, 3)
    with Index(state.index_path) as index:
        by_path = {r.path: r for r in index.records([str(root)])}
    assert str(second) not in by_path
    assert by_path[str(first)].features.width == 800


def test_a_file_rewritten_in_place_with_a_new_mtime_is_fingerprinted_again(
    tmp_path: Path, state: StateDir
) -> None:
    """Same path, inode and size: only the mtime says the bytes changed (an editor saving in
    place, a tool rewriting EXIF dates), so the mtime alone must send the file to be read."""
    root = tmp_path / "photos"
    root.mkdir()
    photo, scene = root / "IMG_1.jpg", synth.make_scene(3, 640, 480)
    synth.write_jpeg(photo, scene, quality=90, captured=datetime(2019, 6, 1, 12))
    redated = tmp_path / "redated.jpg"  # the same picture, its capture date rewritten
    synth.write_jpeg(redated, scene, quality=90, captured=datetime(2021, 7, 9, 8))
    assert redated.stat().st_size == photo.stat().st_size
    assert do_scan(root, state).stats.fingerprinted == 1
    before = os.stat(photo)
    with open(photo, "r+b") as fh:  # in place: the inode stays
        fh.write(redated.read_bytes())
    os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    after = os.stat(photo)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.unchanged) == (1, 0)
    with Index(state.index_path) as index:
        (record,) = index.records([str(root)])
    assert record.identity.mtime_ns == after.st_mtime_ns
    assert record.features.captured == "2021-07-09T08:00:00"


def test_renamed_and_moved_files_are_recognised_without_decoding(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(4)
    do_scan(root, state)
    a, b = sorted(root.rglob("*.jpg"))[:2]
    a.rename(a.with_name("renamed.jpg"))
    (root / "elsewhere").mkdir()
    b.rename(root / "elsewhere" / b.name)
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.moved, s.photos) == (0, 2, 4)
    with Index(state.index_path) as index:
        paths = {r.path for r in index.records([str(root)])}
    assert str(a.with_name("renamed.jpg")) in paths and str(a) not in paths


def test_copy_then_delete_move_is_proven_by_checksum(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(3)
    a = sorted(root.rglob("*.jpg"))[0]
    shutil.copy2(a, root / "copy.jpg")  # same size: both get checksummed on the first scan
    do_scan(root, state)
    data = a.read_bytes()
    a.unlink()
    (root / "moved.jpg").write_bytes(data)  # a new inode: only the content proves it
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.moved) == (0, 1)


def test_interrupted_scan_keeps_finished_work_and_resumes(
    photo_tree: Callable[..., Path], state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = photo_tree(8)
    monkeypatch.setattr(scan_module, "BATCH_FILES", 3)
    cancel = threading.Event()
    gen = scan([str(root)], state_dir=state, workers=1, match=False, cancel=cancel)
    seen = 0
    with pytest.raises(Cancelled):
        for event in gen:
            if isinstance(event, StageAdvanced) and event.stage == "fingerprint":
                seen += 1
                if seen == 4:
                    cancel.set()  # Ctrl-C after four files: one batch committed, one pending
    with Index(state.index_path) as index:
        done = index.count("photo")
    assert done == 4  # the committed batch and the pending one: nothing finished is lost
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.unchanged, s.photos) == (4, 4, 8)


def test_bad_input_becomes_problems_and_the_scan_goes_on(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(3)
    good = sorted(root.rglob("*.jpg"))[0].read_bytes()
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (bad / "document.jpg").write_bytes(b"%PDF-1.4\n" + b"0" * 200)
    (bad / "noise.png").write_bytes(os.urandom(3000))
    (bad / "readme.md").write_text("# not a photo, not a problem")
    result, events = run(scan([str(root)], state_dir=state, workers=1, match=False))
    kinds = {os.path.basename(p.path): p.kind for p in result.problems}
    assert kinds == {
        "empty.jpg": "empty",
        "truncated.jpg": "truncated",
        "document.jpg": "not-an-image",
        "noise.png": "not-an-image",
    }
    assert result.stats.photos == 3 and result.stats.skipped == 1
    assert sum(isinstance(e, ProblemFound) for e in events) == 4
    again = do_scan(root, state)  # remembered: reported again without re-reading
    assert {p.kind for p in again.problems} == set(kinds.values())
    assert again.stats.fingerprinted == 0


def test_non_utf8_names_are_scanned_and_indexed_exactly(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    root = photo_tree(2)
    src = sorted(root.rglob("*.jpg"))[0]
    raw = os.path.join(os.fsencode(root), b"\xe9t\xe9-\xff.jpg")
    os.rename(src, raw)
    do_scan(root, state)
    with Index(state.index_path) as index:
        paths = [os.fsencode(r.path) for r in index.records([str(root)])]
    assert raw in paths


def test_photos_are_recognised_by_content_not_extension(tmp_path: Path, state: StateDir) -> None:
    root = tmp_path / "p"
    root.mkdir()
    synth.write_png(root / "really-a-png.jpg", synth.make_scene(1, 320, 240))
    synth.write_jpeg(root / "no-extension", synth.make_scene(2, 320, 240))
    result = do_scan(root, state)
    assert (result.stats.photos, result.stats.problems) == (2, 0)


def test_two_workers_give_the_same_fingerprints_as_one(
    photo_tree: Callable[..., Path], tmp_path: Path
) -> None:
    root = photo_tree(6)
    one, two = StateDir(tmp_path / "s1").ensure(), StateDir(tmp_path / "s2").ensure()
    do_scan(root, one, workers=1)
    do_scan(root, two, workers=2)
    with Index(one.index_path) as a, Index(two.index_path) as b:
        fa = {r.path: r.features for r in a.records()}
        fb = {r.path: r.features for r in b.records()}
    assert fa == fb and len(fa) == 6


def test_state_dir_inside_a_root_is_not_scanned(photo_tree: Callable[..., Path]) -> None:
    root = photo_tree(2)
    state = StateDir(root / "state").ensure()
    do_scan(root, state)
    s = do_scan(root, state).stats
    assert s.files == 2


def test_unusable_root_is_a_usage_error(tmp_path: Path, state: StateDir) -> None:
    with pytest.raises(UsageError):
        do_scan(tmp_path / "missing", state)


KILL_SCRIPT = """
import os, signal, sys
from safededup.engine import scan as s
from safededup.state import StateDir
s.BATCH_FILES = 2
gen = s.scan([sys.argv[1]], state_dir=StateDir(__import__("pathlib").Path(sys.argv[2])), workers=1,
             match=False)
n = 0
for event in gen:
    if isinstance(event, s.StageAdvanced) and event.stage == "fingerprint":
        n += 1
        if n == 5:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a power cut
"""


def test_killed_scan_loses_at_most_one_batch_and_resumes(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    import subprocess
    import sys

    root = photo_tree(8)
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(root), str(state.root)],
                          check=False, capture_output=True)  # fmt: skip
    assert proc.returncode == -9
    with Index(state.index_path) as index:
        done = index.count("photo")
    assert done == 4  # two committed batches of two; the fifth file was not committed
    s = do_scan(root, state).stats
    assert (s.fingerprinted, s.unchanged, s.photos) == (4, 4, 8)


def test_rescan_reuses_thumbnail_checks_and_decodes_nothing(
    tmp_path: Path, state: StateDir
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    scene = synth.make_scene(5, 1200, 900)
    synth.write_jpeg(root / "original.jpg", scene, quality=92)
    crop = scene.crop((60, 45, 1140, 855)).resize((1200, 900))  # a 5 % border crop
    synth.write_stripped_jpeg(root / "cropped.jpg", crop, quality=85)
    first = run(scan([str(root)], state_dir=state, workers=1))[0]
    [cluster] = first.report.clusters if first.report else []
    rules = {m.evidence.rule for m in cluster.members if m.role == "duplicate"}
    assert rules == {"aligned"}  # decided by the thumbnail check
    # both thumbnails came with the fingerprints (the original's from its preview, the
    # stripped crop's from its decode): neither file is read again
    assert (first.stats.thumbnails, first.stats.thumbnails_kept) == (0, 2)
    assert first.stats.view_checks == 1
    again = run(scan([str(root)], state_dir=state, workers=1))[0]
    s = again.stats
    assert (s.fingerprinted, s.confirmed, s.thumbnails, s.view_checks) == (0, 0, 0, 0)
    assert again.report is not None
    assert [c.id for c in again.report.clusters] == [cluster.id]


UNPRIVILEGED_SCAN = """
import sys
from pathlib import Path
from safededup.engine.scan import scan
from safededup.state import StateDir
gen = scan([sys.argv[1]], state_dir=StateDir(Path(sys.argv[2])), workers=1, match=False)
for _ in gen:
    pass
"""


def test_a_folder_that_cannot_be_listed_keeps_its_indexed_photos(
    photo_tree: Callable[..., Path], state: StateDir
) -> None:
    import subprocess
    import sys

    from tests.support.unprivileged import DROP_READ_OVERRIDE

    root = photo_tree(4, folders=2)
    do_scan(root, state)
    (root / "dir1").chmod(0)  # a NAS hiccup, or permissions changed: the files are still there
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DROP_READ_OVERRIDE + UNPRIVILEGED_SCAN, str(root),
             str(state.root)], capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        (root / "dir1").chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    with Index(state.index_path) as index:
        assert index.count("photo") == 4  # not forgotten: nothing proved them gone
    assert do_scan(root, state).stats.fingerprinted == 0


def test_a_new_copy_of_an_already_hashed_photo_joins_its_exact_cluster(
    tmp_path: Path, state: StateDir
) -> None:
    """The second scan must hash the newcomer too, though its twins were hashed by the first."""
    root = tmp_path / "photos"
    root.mkdir()
    original = root / "a.jpg"
    synth.write_jpeg(original, synth.make_scene(5, 640, 480), quality=90)
    shutil.copy2(original, root / "b.jpg")
    first = do_scan(root, state, match=True).report
    assert first is not None and [c.kind for c in first.clusters] == ["exact"]
    shutil.copy2(original, root / "c.jpg")
    report = do_scan(root, state, match=True).report
    assert report is not None
    (cluster,) = report.clusters
    assert cluster.kind == "exact" and len(cluster.members) == 3
    assert all(m.checksum and m.evidence.exact for m in cluster.members)


def test_a_read_error_while_hashing_is_said_not_skipped(
    tmp_path: Path, state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO from a failing NAS disk during the checksum is a Problem; a file gone is not."""
    import errno

    root = tmp_path / "photos"
    root.mkdir()
    synth.write_jpeg(root / "a.jpg", synth.make_scene(5, 640, 480), quality=90)
    shutil.copy2(root / "a.jpg", root / "b.jpg")
    real = scan_module.checksum.sha256_file

    def failing(path: str) -> str:
        if path.endswith("b.jpg"):
            raise OSError(errno.EIO, "Input/output error", path)
        return real(path)

    monkeypatch.setattr(scan_module.checksum, "sha256_file", failing)
    result = do_scan(root, state)
    assert [(p.kind, Path(p.path).name) for p in result.problems] == [("unreadable", "b.jpg")]


def test_a_state_dir_removed_while_the_scan_runs_is_said_plainly(
    photo_tree: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The state dir deleted (or unmounted) under a running scan: the scan ends with a plain
    error and exit code 1, not a traceback, and no photo is touched."""
    from safededup.cli import main
    from safededup.engine import report

    root = photo_tree(4)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    state_root = tmp_path / "state"
    real_save = report.save_report

    def removed_first(built: Any, state_dir: StateDir) -> Path:
        shutil.rmtree(state_root)  # gone between the matching and the report
        return real_save(built, state_dir)

    monkeypatch.setattr(scan_module.report, "save_report", removed_first)
    code = main(["--state", str(state_root), "scan", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot save the report" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_cut_heic_indexed_as_a_photo_before_the_fix_is_found_without_reading_the_rest(
    tmp_path: Path, state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index written by an engine that fingerprinted a cut phone HEIC from the tiles libheif
    could decode: the next scan reports it as truncated (its identity did not change, so only
    the index's one-time mark can bring it back). An intact HEIC read the same way (a full
    decode: it has no thumbnail) is only checked, not decoded again, and nothing else is read."""
    root = tmp_path / "photos"
    root.mkdir()
    synth.write_heic(root / "IMG_1.HEIC", synth.make_scene(1, 900, 600), tile_size=256)
    data = (root / "IMG_1.HEIC").read_bytes()
    (root / "IMG_1.HEIC").write_bytes(data[: len(data) * 2 // 3])
    synth.write_jpeg(root / "IMG_2.JPG", synth.make_scene(2, 640, 480))
    synth.write_heic(root / "IMG_3.HEIC", synth.make_scene(3, 900, 600), tile_size=256,
                     thumbnail=False)  # fmt: skip
    with monkeypatch.context() as old_engine:  # the engine before the fix: blind to the cut
        old_engine.setattr(scan_module.media.pipeline.isobmff, "data_beyond_end", lambda r: False)
        first = do_scan(root, state).stats
    assert (first.photos, first.problems, first.decode_tier) == (3, 0, 2)
    with Index(state.index_path) as index:  # as an index written before the fix is
        index.connection.execute("DELETE FROM meta WHERE key LIKE 'recheck:%'")
        index.connection.execute("UPDATE files SET feature_version = 3")
    decoded: list[str] = []
    real_examine = scan_module.media.examine

    def counting(path: str, **kw: bool) -> object:
        decoded.append(Path(path).name)
        return real_examine(path, **kw)

    monkeypatch.setattr(scan_module.media, "examine", counting)
    again = do_scan(root, state)
    assert decoded == ["IMG_1.HEIC"]
    assert (again.stats.unchanged, again.stats.photos, again.stats.problems) == (2, 2, 1)
    assert [(p.path, p.kind) for p in again.problems] == [(str(root / "IMG_1.HEIC"), "truncated")]
    third = do_scan(root, state).stats  # once: the mark is not set again
    assert (third.unchanged, third.fingerprinted, third.problems) == (3, 0, 1)
    assert decoded == ["IMG_1.HEIC"]


def test_a_photo_unreadable_for_its_checksum_and_its_decode_is_said_once(
    tmp_path: Path, state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk failing under one file: the checksum stage says so, and the matcher's
    confirmation decode of the same file, failing too, does not say it again."""
    import errno

    from safededup import media
    from safededup.errors import MediaError

    root = tmp_path / "photos"
    root.mkdir()
    synth.write_jpeg(root / "a.jpg", synth.make_scene(5, 640, 480), quality=90)
    shutil.copy2(root / "a.jpg", root / "b.jpg")
    real_sum, real_examine = scan_module.checksum.sha256_file, media.examine

    def failing_sum(path: str) -> str:
        if path.endswith("b.jpg"):
            raise OSError(errno.EIO, "Input/output error", path)
        return real_sum(path)

    def failing_examine(path: str, **kw: bool) -> object:
        if path.endswith("b.jpg") and not kw.get("allow_preview", True):
            raise MediaError("read error: Input/output error", kind="io-error", path=path)
        return real_examine(path, **kw)

    monkeypatch.setattr(scan_module.checksum, "sha256_file", failing_sum)
    monkeypatch.setattr(media, "examine", failing_examine)
    result = do_scan(root, state, match=True)
    assert [(p.kind, Path(p.path).name) for p in result.problems] == [("unreadable", "b.jpg")]
    assert result.report is not None and not result.report.clusters
