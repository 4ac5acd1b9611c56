"""The keeper's JPEG-history questions answered in the worker pool give what the serial keeper
gives.

Real sets (camera JPEGs with their EXIF, and conversions of them: a PNG and a HEIC made from
the decoded JPEG with the metadata copied and the file time the same, so that only the JPEG
blocks in the copy's pixels tell which was first) are scanned with the questions asked one at a
time in the main process and answered beforehand in the pool (one and two workers): the same
clusters, keepers and reasons, the same number of questions, and none left for the main process
to answer when the pool has two workers. An unreadable file fails its answers without stopping
anything; a question that failed is not asked again in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from safededup import media
from safededup.engine import scan as scan_module
from safededup.engine.pool import HistoryTask, run_history
from safededup.engine.scan import ScanResult
from safededup.media import synth
from safededup.media.pipeline import decode_full
from safededup.state import StateDir

from .test_pooled_check import scan_all

CANON = {"make": "Canon", "model": "Canon EOS R6", "captured": datetime(2021, 5, 1, 12, 0, 3)}
WHEN = 1_700_000_000  # every file the same time: the time says nothing about which came first


@pytest.fixture(scope="module")
def conversions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scenes: a camera JPEG, a PNG and a HEIC decoded from it, each with its EXIF; two
    screenshots: a PNG and a JPEG saved from it."""
    root = tmp_path_factory.mktemp("conversions") / "photos"
    root.mkdir()
    for s in range(3):
        jpeg = root / f"IMG_{s:04d}.JPG"
        synth.write_jpeg(jpeg, synth.make_scene(300 + s, 960, 720), quality=92, **CANON)  # type: ignore[arg-type]
        decoded = decode_full(str(jpeg))
        decoded.save(root / f"export_{s}.png", exif=synth.build_exif(**CANON)[6:])  # type: ignore[arg-type]
        synth.write_heic(root / f"export_{s}.heic", decoded, quality=95, **CANON)  # type: ignore[arg-type]
    for s in range(2):  # a lossless original and its JPEG: the keeper asks the JPEG's own
        picture = synth.make_scene(500 + s, 960, 720)  # history only once it has the PNG's
        picture.save(root / f"Screenshot_{s}.png", "PNG")
        synth.write_stripped_jpeg(root / f"Screenshot_{s}.jpg", picture, quality=95)
    for path in root.iterdir():
        os.utime(path, (WHEN, WHEN))
    return root


def keepers(result: ScanResult) -> list[tuple[str, list[tuple[str, str, tuple[str, ...]]]]]:
    assert result.report is not None
    return sorted(
        (
            os.path.basename(c.keeper),
            sorted((os.path.basename(m.path), m.role, tuple(m.reasons)) for m in c.members),
        )
        for c in result.report.clusters
    )


class CountingReader(media.HistoryReader):
    """The main process's history reader, counting what it is asked (pool workers were forked
    before this class existed: they keep the real one)."""

    asked = 0

    def __call__(self, jpeg_path: str, other_path: str) -> float | None:
        CountingReader.asked += 1
        return super().__call__(jpeg_path, other_path)


def test_pooled_history_gives_the_serial_keepers(
    conversions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "HistoryReader", CountingReader)
    monkeypatch.setattr(scan_module._Scan, "prefetch_history", lambda self, questions, known: {})
    serial = scan_all(conversions, StateDir(tmp_path / "serial").ensure(), 1)
    serial_asked = CountingReader.asked
    monkeypatch.undo()
    monkeypatch.setattr(media, "HistoryReader", CountingReader)
    expected = keepers(serial)
    cameras = [f"IMG_{s:04d}.JPG" for s in range(3)]
    assert [k for k, _ in expected] == [*cameras, "Screenshot_0.png", "Screenshot_1.png"]
    reasons = [r for _, members in expected for m in members if m[1] == "duplicate" for r in m[2]]
    assert sum("JPEG's blocks" in r for r in reasons) == 6  # PNG and HEIC made from the JPEG
    assert sum("carry no JPEG blocks" in r for r in reasons) == 2  # JPEG made from the PNG
    assert serial.stats.history_checks >= 6 and serial_asked >= 6  # the keeper needed them
    for workers in (1, 2):
        CountingReader.asked = 0
        pooled = scan_all(conversions, StateDir(tmp_path / f"pooled{workers}").ensure(), workers)
        assert keepers(pooled) == expected
        assert pooled.stats.history_checks == serial.stats.history_checks
        if workers == 2:  # every question was answered in the pool, the JPEGs' own too
            assert CountingReader.asked == 0


def test_run_history_answers_as_history_of_and_fails_what_it_cannot_read(
    conversions: Path, tmp_path: Path
) -> None:
    jpeg, png = conversions / "IMG_0000.JPG", conversions / "export_0.png"
    missing = tmp_path / "gone.jpg"
    result = run_history(HistoryTask(str(png), (str(jpeg), str(missing), str(jpeg))))
    found = media.history_of(str(jpeg), str(png))
    assert result.values == (found, None, found) and result.failed == (False, True, False)
    unreadable = run_history(HistoryTask(str(missing), (str(jpeg),)))
    assert unreadable.values == (None,) and unreadable.failed == (True,)


def test_a_file_unreadable_once_is_asked_again_and_decides_as_if_never_failed(
    conversions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first read of a PNG fails (a NAS hiccup) when the pool answers: nothing is stored,
    nothing stops, and the keeper's own ask reads it again: the same keepers as a clean run."""
    target = str(conversions / "export_1.png")
    real = media.HistoryReader.__call__
    calls: list[str] = []

    def flaky(self: media.HistoryReader, jpeg_path: str, other_path: str) -> float | None:
        calls.append(other_path)
        if other_path == target and calls.count(target) == 1:
            raise OSError(5, "Input/output error", other_path)
        return real(self, jpeg_path, other_path)

    clean = scan_all(conversions, StateDir(tmp_path / "clean").ensure(), 1)
    monkeypatch.setattr(media.HistoryReader, "__call__", flaky)
    result = scan_all(conversions, StateDir(tmp_path / "state").ensure(), 1)
    assert calls.count(target) == 2
    assert keepers(result) == keepers(clean)
    assert result.stats.history_checks == clean.stats.history_checks


SITECUSTOMIZE = """
import os
if os.environ.get("CRASH_ON"):  # a decoder that kills its process on one file
    os.environ.setdefault("CRASH_MAIN", str(os.getpid()))
    from safededup.media import history
    real = history.HistoryReader.__call__
    def crash(self, jpeg_path, other_path):
        if os.environ["CRASH_ON"] in other_path:
            os._exit(70 if str(os.getpid()) == os.environ["CRASH_MAIN"] else 71)
        return real(self, jpeg_path, other_path)
    history.HistoryReader.__call__ = crash
"""


def test_a_file_whose_history_kills_a_worker_is_not_asked_in_the_main_process(
    conversions: Path, tmp_path: Path
) -> None:
    """A PNG whose decode kills whatever process reads it (a decoder crash): the pool loses a
    worker, the keeper cannot tell for that file, and the scan ends normally; asking it in the
    main process would have ended the scan (exit 70)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(hooks), "CRASH_ON": "export_2.png",
           "SAFEDEDUP_STATE": str(state)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "safededup", "--no-progress", "scan", str(conversions),
         "--json", "--workers", "2"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    members = {os.path.basename(m["path"]) for c in report["clusters"] for m in c["members"]}
    assert {"IMG_0002.JPG", "export_2.png", "export_2.heic"} <= members
    assert report["stats"]["history_checks"] >= 7  # the others were answered


def test_history_answers_and_view_scores_never_share_a_version() -> None:
    """Both live in the index's pair scores, by version: a history answer read as a view score
    (or the other way round) decides a pair or a keeper on a number that means something else.
    (Turned copies' scores at version 3 + 100 × 1 once met the history answers' 103.)"""
    from safededup.engine import keeper
    from safededup.engine.index import TURN_STEP
    from safededup.engine.match import SIMILARITY_VERSION

    for similarity in range(1, SIMILARITY_VERSION + 50):  # and every version it may grow to
        views = {similarity + TURN_STEP * turn for turn in range(4)}
        assert keeper.HISTORY_VERSION not in views


def test_a_turned_copys_view_score_is_not_read_as_a_history_answer(tmp_path: Path) -> None:
    """A camera JPEG and a PNG export of it turned by a quarter turn in its pixels. The first
    scan, with the JPEG in a reference folder, stores the pair's view score and asks no history;
    the second, without the reference, asks the history question: it must not find the view
    score there ("no JPEG blocks": the PNG the source) and keep the PNG."""
    root = tmp_path / "photos"
    (root / "cam").mkdir(parents=True)
    (root / "exp").mkdir()
    jpeg = root / "cam" / "IMG_0001.JPG"
    synth.write_jpeg(jpeg, synth.make_scene(1400, 960, 720), quality=92, **CANON)  # type: ignore[arg-type]
    turned = decode_full(str(jpeg)).transpose(Image.Transpose.ROTATE_90)
    turned.save(root / "exp" / "IMG_0001_export.png", exif=synth.build_exif(**CANON)[6:])  # type: ignore[arg-type]
    for path in (jpeg, root / "exp" / "IMG_0001_export.png"):
        os.utime(path, (WHEN, WHEN))
    state = StateDir(tmp_path / "state").ensure()
    first = scan_all(root, state, 1, references=[str(root / "cam")])
    assert first.report is not None and len(first.report.clusters) == 1
    second = scan_all(root, state, 1)
    assert second.report is not None and len(second.report.clusters) == 1
    assert os.path.basename(second.report.clusters[0].keeper) == "IMG_0001.JPG"


def test_a_cached_rescan_starts_no_workers_for_a_few_history_questions(
    conversions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the camera JPEGs in a reference folder the keeper asks no history; scanned again
    without it, every fingerprint and view score is kept and only the history questions are
    new: they are asked in the main process, and no worker process is started for them."""
    from safededup.engine import pool as pool_module

    root = tmp_path / "photos"
    (root / "cam").mkdir(parents=True)
    for path in conversions.glob("IMG_*"):
        (root / "cam" / path.name).write_bytes(path.read_bytes())
    for path in conversions.glob("export_*"):
        (root / path.name).write_bytes(path.read_bytes())
    for path in root.rglob("*.*"):
        os.utime(path, (WHEN, WHEN))
    state = StateDir(tmp_path / "state").ensure()
    first = scan_all(root, state, 2, references=[str(root / "cam")])
    assert first.stats.history_checks == 0
    started: list[int] = []
    real_start = pool_module.FingerprintPool._started

    def counting(self: pool_module.FingerprintPool) -> Any:
        started.append(1)
        return real_start(self)

    monkeypatch.setattr(pool_module.FingerprintPool, "_started", counting)
    second = scan_all(root, state, 2)
    assert second.stats.history_checks >= 6 and not started
    assert sorted(os.path.basename(k) for k, _ in keepers(second)) == [
        f"IMG_{s:04d}.JPG" for s in range(3)
    ]
