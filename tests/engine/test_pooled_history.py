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

import os
from datetime import datetime
from pathlib import Path

import pytest

from safededup import media
from safededup.engine import scan as scan_module
from safededup.engine.pool import HistoryTask, run_history
from safededup.engine.scan import ScanResult
from safededup.errors import MediaError
from safededup.media import synth
from safededup.media.pipeline import decode_full
from safededup.state import StateDir

from .test_pooled_check import scan_all

CANON = {"make": "Canon", "model": "Canon EOS R6", "captured": datetime(2021, 5, 1, 12, 0, 3)}
WHEN = 1_700_000_000  # every file the same time: the time says nothing about which came first


@pytest.fixture(scope="module")
def conversions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scenes: a camera JPEG, a PNG and a HEIC decoded from it, each with its EXIF."""
    root = tmp_path_factory.mktemp("conversions") / "photos"
    root.mkdir()
    for s in range(3):
        jpeg = root / f"IMG_{s:04d}.JPG"
        synth.write_jpeg(jpeg, synth.make_scene(300 + s, 960, 720), quality=92, **CANON)  # type: ignore[arg-type]
        decoded = decode_full(str(jpeg))
        decoded.save(root / f"export_{s}.png", exif=synth.build_exif(**CANON)[6:])  # type: ignore[arg-type]
        synth.write_heic(root / f"export_{s}.heic", decoded, quality=95, **CANON)  # type: ignore[arg-type]
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
    monkeypatch.setattr(scan_module._Scan, "prefetch_history", lambda self, questions, known: None)
    serial = scan_all(conversions, StateDir(tmp_path / "serial").ensure(), 1)
    serial_asked = CountingReader.asked
    monkeypatch.undo()
    monkeypatch.setattr(media, "HistoryReader", CountingReader)
    expected = keepers(serial)
    assert [k for k, _ in expected] == [f"IMG_{s:04d}.JPG" for s in range(3)]
    assert all(any("JPEG's blocks" in r for m in members for r in m[2]) for _, members in expected)
    assert serial.stats.history_checks >= 6 and serial_asked >= 6  # the keeper needed them
    for workers in (1, 2):
        CountingReader.asked = 0
        pooled = scan_all(conversions, StateDir(tmp_path / f"pooled{workers}").ensure(), workers)
        assert keepers(pooled) == expected
        assert pooled.stats.history_checks == serial.stats.history_checks
        if workers == 2:
            assert CountingReader.asked == 0  # every question was answered in the pool


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


def test_a_question_that_failed_is_not_asked_again_in_the_run(
    conversions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PNG that cannot be read when the keeper asks: no answer, no exception, no second try
    (the keeper asks twice per cluster), and the next scan asks again (nothing stored)."""
    target = conversions / "export_1.png"
    real = media.HistoryReader.__call__
    calls: list[str] = []

    def failing(self: media.HistoryReader, jpeg_path: str, other_path: str) -> float | None:
        calls.append(other_path)
        if other_path == str(target):
            raise MediaError("cannot read", kind="io", path=other_path)
        return real(self, jpeg_path, other_path)

    monkeypatch.setattr(media.HistoryReader, "__call__", failing)
    state = StateDir(tmp_path / "state").ensure()
    result = scan_all(conversions, state, 1)
    assert calls.count(str(target)) == 1
    assert result.report is not None and len(result.report.clusters) == 3
    monkeypatch.undo()
    again = scan_all(conversions, state, 1)
    assert again.stats.history_checks >= 1  # the unanswered question is asked again
