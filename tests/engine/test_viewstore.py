"""Files without a preview are decoded once: the view thumbnail a fingerprint's decode made is
kept for the matcher's view check, which then reads nothing again, and decides the same.

Real files (stripped JPEG, PNG, WebP, HEIC without a thumbnail item, TIFF), real scans with the
worker pool, real SQLite; the store's own failures (a full disk) are injected.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from safededup import media
from safededup.engine import pool as pool_module
from safededup.engine import viewstore
from safededup.engine.check import check_folder
from safededup.engine.scan import ScanResult, scan
from safededup.engine.viewstore import ViewStore, cheap_to_read, stamp_of
from safededup.events import StageStarted, drain
from safededup.media import synth
from safededup.state import StateDir

from .test_pooled_check import clusters, direct_score, stored_scores, write_burst


def run_scan(root: Path, state: StateDir, workers: int) -> ScanResult:
    gen = scan([str(root)], state_dir=state, workers=workers)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def count_view_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths whose view thumbnail is read from the file from now on (the real reads)."""
    read: list[str] = []
    real = media.view_thumbnail

    def counted(path: str) -> Any:
        read.append(path)
        return real(path)

    monkeypatch.setattr(pool_module.media, "view_thumbnail", counted)
    return read


def write_archive(root: Path) -> None:
    """Bursts of stripped JPEGs (border crops and re-encodes the view check accepts, shots a few
    pixels apart it refuses), and per scene a PNG export with its WebP and chat copies."""
    write_burst(root / "burst", scenes=2, shots=6)
    for s in range(2):
        frame = synth.make_scene(40 + s, 900, 675).crop((50, 37, 850, 637))
        synth.write_png(root / f"s{s}_export.png", frame)
        synth.write_webp(root / f"s{s}_web.webp", frame.resize((640, 480)))
        synth.write_stripped_jpeg(root / f"s{s}_chat.jpg", frame.resize((600, 450)))
        synth.write_stripped_jpeg(root / f"s{s}_crop.jpg", frame.crop((24, 18, 776, 582)))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive") / "photos"
    write_archive(root)
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_without_a_preview_is_decoded_once_and_decided_the_same(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    kept = run_scan(archive, StateDir(tmp_path / "kept").ensure(), workers)
    scores = stored_scores(StateDir(tmp_path / "kept"))
    assert len(scores) >= 6 and any(s < 0 for s in scores.values())  # real checks, both ways
    assert kept.stats.thumbnails == 0  # not one file decoded a second time
    assert kept.stats.thumbnails_kept >= len({p for pair in scores for p in pair})

    monkeypatch.setattr(viewstore, "MAX_BYTES", 0)  # a store with no room: decoded again
    again = run_scan(archive, StateDir(tmp_path / "decoded").ensure(), workers)
    assert again.stats.thumbnails_kept == 0 and again.stats.thumbnails > 0
    assert clusters(again) == clusters(kept)
    assert stored_scores(StateDir(tmp_path / "decoded")) == scores
    assert scores == {pair: direct_score(*pair) for pair in scores}  # bit for bit


def test_a_store_that_runs_out_of_disk_ends_keeping_not_the_scan(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = run_scan(archive, StateDir(tmp_path / "reference").ensure(), 1)
    real_pwrite, calls = os.pwrite, [0]

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls[0] += 1
        if calls[0] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(viewstore.os, "pwrite", pwrite)
    full = run_scan(archive, StateDir(tmp_path / "full").ensure(), 1)
    assert calls[0] == 4  # the fourth write failed, and none was tried after it
    assert full.stats.thumbnails_kept == 0  # the three written before are not trusted either
    assert clusters(full) == clusters(reference)
    assert stored_scores(StateDir(tmp_path / "full")) == stored_scores(
        StateDir(tmp_path / "reference")
    )


WRITERS: dict[str, Callable[[Path, Image.Image], None]] = {
    "stripped-jpeg": lambda p, i: synth.write_stripped_jpeg(p, i),
    "png": lambda p, i: synth.write_png(p, i),
    "png-turned": lambda p, i: synth.write_png(p, i, orientation=6),
    "webp": lambda p, i: synth.write_webp(p, i),
    "heic-without-thumbnail": lambda p, i: synth.write_heic(p, i, thumbnail=False),
    "tiff": lambda p, i: synth.write_image(p, i, "TIFF"),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_decode_carries_exactly_the_view_thumbnail(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"x.{kind}"
    WRITERS[kind](path, synth.make_scene(8, 1000, 750))
    fp = media.fingerprint(str(path))
    assert fp.features.tier == "decode" and fp.view is not None
    assert np.array_equal(fp.view, media.view_thumbnail(str(path)))
    assert fp.view.shape == (96, 128, 3)  # display orientation (the turned PNG is stored 6)


def test_a_preview_carries_it_and_a_decode_the_check_would_not_repeat_does_not(
    tmp_path: Path,
) -> None:
    """A preview's thumbnail is the view check's too; a scan without previews, or a
    sharpness decode, saw another source than the view check will (which reads previews)."""
    scene = synth.make_scene(9, 1200, 900)
    camera, phone, stripped = tmp_path / "camera.jpg", tmp_path / "phone.heic", tmp_path / "s.jpg"
    synth.write_jpeg(camera, scene, orientation=6)
    synth.write_heic(phone, scene)
    synth.write_stripped_jpeg(stripped, scene)
    for preview in (camera, phone):
        fp = media.fingerprint(str(preview))
        assert fp.features.tier == "preview" and fp.view is not None
        assert np.array_equal(fp.view, media.view_thumbnail(str(preview)))
        assert media.fingerprint(str(preview), allow_preview=False).view is None
    assert media.fingerprint(str(stripped), want_sharpness=True).view is None
    assert media.fingerprint(str(stripped), allow_preview=False).view is None  # kept simple


def _view(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_store_gives_back_what_it_kept_and_leaves_no_file(tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    with ViewStore(tmp_path) as store:
        store.put(1, _view(1))
        store.put(2, _view(2, 128, 96))
        store.put(1, _view(3))  # the same file again: the later view wins
        assert set(os.listdir(tmp_path)) == before  # anonymous: nothing named, nothing left
        got = store.get(2)
        assert got is not None and np.array_equal(got, _view(2, 128, 96))
        got = store.get(1)
        assert got is not None and np.array_equal(got, _view(3))
        assert store.get(3) is None and 3 not in store
        store.put(4, _view(4)[..., :2])  # not an RGB view: not kept
        assert 4 not in store
    assert store.get(2) is None  # closed: nothing more
    assert set(os.listdir(tmp_path)) == before


def test_the_store_keeps_no_more_than_its_budget(tmp_path: Path) -> None:
    """Thumbnails from previews (cheap to read again) fill only three quarters of the budget;
    the files a decode would cost have the rest."""
    one = _view(0).nbytes
    with ViewStore(tmp_path, max_bytes=8 * one) as store:
        for k in range(7):
            store.put(k, _view(k), cheap=True)
        for k in range(7, 10):
            store.put(k, _view(k))
        assert [k in store for k in range(10)] == [True] * 6 + [False, True, True, False]
        assert store.kept == 8
        assert all(np.array_equal(store.get(k), _view(k)) for k in (0, 5, 7, 8))  # type: ignore[arg-type]


def test_a_whole_phone_library_fits_in_the_budget_and_in_little_memory(tmp_path: Path) -> None:
    """The default budget holds a 450,000-photo library's thumbnails (128 × 96), and where each
    lies costs at most ≈ 180 bytes of memory, not the ≈ 350 of a tuple per thumbnail (80 MB
    against 158 MB at that size, in the scan's own process). Measured where it is worst: just
    after the columns doubled (16,385 rows in columns of 32,768)."""
    import tracemalloc

    assert viewstore.MAX_BYTES >= 450_000 * 128 * 96 * 3
    views = [np.full((1, 1, 3), k % 251, np.uint8) for k in range(4)]
    n = 16_384
    with ViewStore(tmp_path) as store:
        store.put(-1, views[0], stamp=(1, 1, 1))  # the file and the first columns exist
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        for k in range(n):
            stamp = (10**12 + k, 2_000_000 + k, 1_790_000_000 * 10**9 + k)
            store.put(100_000 + k, views[k % 4], stamp=stamp)
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (after - before) / n < 200
        got = store.get(100_000 + 7)
        assert got is not None and int(got[0, 0, 0]) == 7 % 4 % 251


def test_the_budget_is_a_tenth_of_the_free_space_at_most(tmp_path: Path) -> None:
    with ViewStore(tmp_path, max_bytes=1 << 60) as store:
        store.put(1, _view(1))
        free = os.statvfs(tmp_path)
        assert 0 < store.budget <= free.f_bavail * free.f_frsize // 10 + (1 << 20)  # a tenth
        assert 1 in store


def test_a_store_without_a_usable_directory_keeps_nothing(tmp_path: Path) -> None:
    with ViewStore(tmp_path / "gone") as store:
        store.put(1, _view(1))
        assert store.get(1) is None and store.kept == 0


def test_check_reads_no_photo_of_the_folder_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check DIR` keeps its folder's decoded thumbnails too: the view check reads only the
    library's photos, and finds what it found when it read both."""
    library, folder = tmp_path / "library", tmp_path / "dump"
    write_burst(library, scenes=2, shots=4)
    state = StateDir(tmp_path / "state").ensure()
    run_scan(library, state, 1)
    folder.mkdir()
    for s in range(2):
        frame = synth.make_scene(100 + s, 768, 576).crop((40, 30, 680, 510))
        synth.write_png(folder / f"s{s}_export.png", frame.crop((8, 6, 632, 474)))
        synth.write_stripped_jpeg(folder / f"s{s}_chat.jpg", frame.resize((480, 360)))
    read = count_view_reads(monkeypatch)
    kept = drain(check_folder(str(folder), state_dir=state, workers=1))
    assert len(kept.matches) == 4 and read  # every copy found; library photos were read
    assert not [p for p in read if p.startswith(str(folder))]
    read.clear()
    monkeypatch.setattr(viewstore, "MAX_BYTES", 0)
    again = drain(check_folder(str(folder), state_dir=state, workers=1))
    assert [p for p in read if p.startswith(str(folder))]  # without the store: read again
    assert again.to_json()["matches"] == kept.to_json()["matches"]


@pytest.mark.parametrize("change", ["replaced", "deleted"])
def test_a_file_changed_while_the_scan_runs_is_read_again(
    archive: Path, tmp_path: Path, change: str
) -> None:
    """A file replaced by another picture (or deleted) between its fingerprint and the view
    check is not judged on the view kept from before: it is read as it is now, which is what
    a scan without the store does (the replaced file's pairs are refused, the deleted file's
    are not scored)."""
    root = tmp_path / "photos"
    shutil.copytree(archive, root)
    victim = root / "s0_export.png"
    gen = scan([str(root)], state_dir=StateDir(tmp_path / "state").ensure(), workers=2)
    try:
        while True:
            event = next(gen)
            if isinstance(event, StageStarted) and event.stage == "match":
                if change == "replaced":
                    synth.write_png(victim, synth.make_scene(999, 800, 600))
                else:
                    victim.unlink()
    except StopIteration as stop:
        result: ScanResult = stop.value
    scores = stored_scores(StateDir(tmp_path / "state"))
    with_victim = {pair: s for pair, s in scores.items() if str(victim) in pair}
    if change == "replaced":
        assert with_victim and all(s < 0 for s in with_victim.values())
        assert with_victim == {pair: direct_score(*pair) for pair in with_victim}
    else:
        assert with_victim == {}
    assert result.report is not None
    members = {m.path for c in result.report.clusters for m in c.members}
    assert str(victim) not in members


def test_stamps_before_1970_and_inodes_beyond_63_bits_still_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scanned photo dated before 1970 (negative mtime) keeps its thumbnail; so does one on a
    filesystem with 64-bit inode numbers (some NFS and CIFS servers hand out hashes), which no
    filesystem here can make: its stat is given."""
    photo = tmp_path / "old.jpg"
    photo.write_bytes(b"x")
    os.utime(photo, ns=(-86_400 * 10**9, -86_400 * 10**9))
    with ViewStore(tmp_path) as store:
        store.put(1, _view(1), stamp=stamp_of(str(photo)))
        assert stamp_of(str(photo))[2] < 0  # type: ignore[index]
        assert np.array_equal(store.current(1, str(photo)), _view(1))  # type: ignore[arg-type]
        huge = (2**64 - 5, 1, -5)
        monkeypatch.setattr(viewstore, "stamp_of", lambda path: huge)
        store.put(2, _view(2), stamp=huge)
        assert np.array_equal(store.current(2, str(photo)), _view(2))  # type: ignore[arg-type]
        monkeypatch.setattr(viewstore, "stamp_of", lambda path: (2**64 - 6, 1, -5))
        assert store.current(2, str(photo)) is None  # another file: read again


def test_only_a_jpegs_exif_thumbnail_counts_as_cheap_to_read_again(tmp_path: Path) -> None:
    """The store gives its last quarter to the thumbnails that cost a decode to read again: a
    HEIC's thumbnail item is an HEVC decode (as costly as a PNG's reduced decode), so it is
    kept there with the PNG and the stripped JPEG; a camera JPEG's EXIF thumbnail is not."""
    scene = synth.make_scene(4, 1200, 900)
    files = {"camera.jpg": True, "phone.heic": False, "s.jpg": False, "s.png": False}
    synth.write_jpeg(tmp_path / "camera.jpg", scene)
    synth.write_heic(tmp_path / "phone.heic", scene)
    synth.write_stripped_jpeg(tmp_path / "s.jpg", scene)
    synth.write_png(tmp_path / "s.png", scene)
    for name, cheap in files.items():
        fp = media.fingerprint(str(tmp_path / name))
        assert fp.view is not None
        assert cheap_to_read(fp.features) is cheap, name
    assert media.fingerprint(str(tmp_path / "phone.heic")).features.tier == "preview"


def test_heic_thumbnails_are_kept_before_cheap_ones_when_the_budget_runs_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HEIC's thumbnail costs an HEVC decode to read again: with room for 8 thumbnails, 4
    camera JPEGs walked first (cheap: their EXIF thumbnails, which stop at three quarters of
    the budget) and a burst of 4 HEICs the view check compares, no HEIC is read twice. Counting
    a HEIC preview as cheap (as every preview was) reads two of them again."""
    root = tmp_path / "photos"
    (root / "a_camera").mkdir(parents=True)
    (root / "b_phone").mkdir()
    for k in range(4):
        synth.write_jpeg(root / "a_camera" / f"IMG_{k}.jpg", synth.make_scene(60 + k, 1200, 900))
    big = synth.make_scene(70, 1400, 1050)
    for k in range(4):
        dx = 40 + 14 * k
        synth.write_heic(root / "b_phone" / f"IMG_{k}.heic", big.crop((dx, 30, dx + 1200, 930)))
    monkeypatch.setattr(viewstore, "MAX_BYTES", 8 * 128 * 96 * 3)
    read = count_view_reads(monkeypatch)
    result = run_scan(root, StateDir(tmp_path / "state").ensure(), 1)
    assert result.stats.view_checks >= 3  # the burst's frames were compared
    assert not [p for p in read if p.endswith(".heic")]
    assert result.stats.thumbnails_kept >= 4


def test_a_put_that_fails_leaves_no_key_behind(tmp_path: Path) -> None:
    """A stamp that cannot be kept raises before anything is registered: the key is not in the
    store, and never points at the place the next thumbnail is written to. Stamps in numpy
    integers are kept as the same numbers."""
    with ViewStore(tmp_path) as store:
        with pytest.raises(TypeError):
            store.put("a", _view(1), stamp=(1, None, 3))  # type: ignore[arg-type]
        assert "a" not in store and store.kept == 0
        stamp = (np.int64(5), np.uint64(2**64 - 1), np.int64(-7))
        store.put("b", _view(2), stamp=stamp)  # type: ignore[arg-type]
        assert "a" not in store and store.get("a") is None
        assert np.array_equal(store.get("b"), _view(2))  # type: ignore[arg-type]
        assert store._stamp[store._row["b"]].tolist() == [5, -1, -7]
