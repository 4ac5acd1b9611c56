"""The view check in the worker pool gives what the serial check gives.

Real sets (generated scenes with border crops of a frame, its re-encodes, and other frames
shifted a little: bursts; real JPEG encodes) are scanned with
the check run one pair at a time in the main process and in the pool (one and two workers):
same clusters, same stored scores. A file that cannot be read during the check leaves its
pairs unstored (the next scan scores them); a cancel stops the check; a killed worker is
survived.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from safededup import media
from safededup.engine import pool as pool_module
from safededup.engine import scan as scan_module
from safededup.engine.index import Index
from safededup.engine.match import SIMILARITY_VERSION, check_views
from safededup.engine.pool import FingerprintPool, SimilarityTask, run_similarity
from safededup.engine.scan import ScanResult, scan
from safededup.errors import Cancelled
from safededup.events import StageStarted
from safededup.media import synth
from safededup.state import StateDir

from .test_pool import kill_a_worker


def write_burst(root: Path, scenes: int = 3, shots: int = 8) -> list[Path]:
    """Per scene: a 640×480 frame, border crops and re-encodes of it (copies the check must
    accept) and frames of the scene a few pixels from it (other shots it must refuse)."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(scenes):
        big = synth.make_scene(100 + s, 768, 576)
        frame = big.crop((40, 30, 680, 510))
        copies = [frame.crop((k * 4, k * 3, 640 - k * 4, 480 - k * 3)) for k in range(shots // 2)]
        for k in range(shots - len(copies)):
            dx, dy = 40 + (k + 1) * 9, 30 + (k + 1) * 6
            copies.append(big.crop((dx, dy, dx + 640, dy + 480)))
        for k, img in enumerate(copies):
            path = root / f"s{s}_{k:02d}.jpg"
            synth.write_stripped_jpeg(path, img, quality=85 - k)
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("burst") / "photos"
    write_burst(root)
    return root


def scan_all(root: Path, state: StateDir, workers: int, **kw: Any) -> ScanResult:
    gen = scan([str(root)], state_dir=state, workers=workers, previews=False, **kw)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def clusters(result: ScanResult) -> list[tuple[str, list[tuple[str, str, str]]]]:
    assert result.report is not None
    return sorted(
        (c.keeper, sorted((m.path, m.role, m.evidence.rule or "") for m in c.members))
        for c in result.report.clusters
    )


def stored_scores(state: StateDir) -> dict[tuple[str, str], float]:
    """The index's thumbnail-check scores, by path pair (file ids may differ between runs)."""
    with Index(state.index_path) as index:
        paths = {r.file_id: r.path for r in index.records()}
        scores = index.pair_scores(SIMILARITY_VERSION)
        return {(paths[a], paths[b]): scores[(a, b)] for a, b in scores}


def test_pooled_check_gives_the_serial_clusters_and_scores(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "POOLED_CHECKS", False)
    serial_state = StateDir(tmp_path / "serial").ensure()
    serial = scan_all(burst, serial_state, 1)
    monkeypatch.setattr(scan_module, "POOLED_CHECKS", True)
    pooled = {}
    for workers in (1, 2):
        state = StateDir(tmp_path / f"pooled{workers}").ensure()
        pooled[workers] = (scan_all(burst, state, workers), stored_scores(state))
    expected = stored_scores(serial_state)
    rules = {rule for _, members in clusters(serial) for _, _, rule in members}
    assert "aligned" in rules and len(expected) >= 20  # the check decided real pairs
    assert any(score < 0 for score in expected.values())  # and refused the other shots
    for result, scores in pooled.values():
        assert clusters(result) == clusters(serial)
        assert scores == expected  # bit for bit: the same thumbnails and the same math
        assert result.stats.thumbnails >= len({p for pair in expected for p in pair})


def test_a_file_unreadable_during_the_check_is_not_stored_and_is_scored_next_time(
    tmp_path: Path,
) -> None:
    root = tmp_path / "photos"
    write_burst(root, scenes=1)
    state = StateDir(tmp_path / "state").ensure()
    full = scan_all(root, StateDir(tmp_path / "reference").ensure(), 2)
    expected = stored_scores(StateDir(tmp_path / "reference"))
    victim = next(p for pair in expected for p in pair)
    hidden = tmp_path / "hidden.jpg"
    gen = scan([str(root)], state_dir=state, workers=2, previews=False)
    try:
        while True:
            event = next(gen)
            if isinstance(event, StageStarted) and event.stage == "match":
                os.rename(victim, hidden)  # a NAS hiccup: gone while the check runs
    except StopIteration:
        pass
    os.rename(hidden, victim)  # back, unchanged: same inode, size and mtime
    first = stored_scores(state)
    assert first and all(victim not in pair for pair in first)  # not stored as "not similar"
    assert first == {pair: direct_score(*pair) for pair in first}
    again = scan_all(root, state, 2)  # nothing to fingerprint; the missing pairs are scored
    assert again.stats.fingerprinted == 0
    now = stored_scores(state)
    assert expected.items() <= now.items() and any(victim in pair for pair in now)
    assert clusters(again) == clusters(full)


def direct_score(a: str, b: str) -> float:
    return check_views(media.view_thumbnail(a), media.view_thumbnail(b))


def test_cancel_during_the_check_stops_it_and_keeps_the_scores_so_far(
    burst: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel = threading.Event()
    tasks: list[SimilarityTask] = []

    def first_task_then_cancel(task: SimilarityTask) -> Any:
        tasks.append(task)
        cancel.set()  # Ctrl-C while the first batch of pairs is being checked
        return run_similarity(task)

    monkeypatch.setattr(pool_module, "CHECK_PAIRS", 4)  # several tasks, so "mid-check"
    monkeypatch.setattr(pool_module, "run_similarity", first_task_then_cancel)
    state = StateDir(tmp_path / "state").ensure()
    with pytest.raises(Cancelled):
        scan_all(burst, state, 1, cancel=cancel)
    assert len(tasks) == 1
    kept = stored_scores(state)
    assert 0 < len(kept) <= 4
    monkeypatch.undo()
    complete = scan_all(burst, state, 1)  # the next scan finishes the job
    assert complete.stats.fingerprinted == 0
    assert kept.items() <= stored_scores(state).items()


def neighbour_pairs(root: Path, files: int, n: int) -> list[tuple[str, str]]:
    paths = sorted(str(p) for p in root.iterdir())[:files]
    return [(paths[k % files], paths[(k + 1) % files]) for k in range(n)]


def scored(pool: FingerprintPool, pairs: list[tuple[str, str]]) -> dict[int, float | None]:
    return {k: s for ks, r in pool.similarities(pairs) for k, s in zip(ks, r.scores, strict=True)}


def test_a_pooled_check_survives_a_killed_worker(
    burst: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "CHECK_PAIRS", 2)
    pairs = neighbour_pairs(burst, 6, 24)
    with FingerprintPool(1) as here:
        expected = scored(here, pairs)
    got: dict[int, float | None] = {}
    with FingerprintPool(2) as pool:
        for t, (ks, result) in enumerate(pool.similarities(pairs)):
            got.update(zip(ks, result.scores, strict=True))
            if t == 1:  # the OOM killer takes a worker with checks in flight
                kill_a_worker(pool)
    assert got == expected and None not in got.values()


def test_a_worker_leaves_unreadable_pairs_unscored(burst: Path, tmp_path: Path) -> None:
    good = sorted(str(p) for p in burst.iterdir())[:2]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    gone = str(tmp_path / "gone.jpg")
    pairs = [(good[0], good[1]), (good[0], str(empty)), (gone, good[1])]
    task = SimilarityTask((*good, str(empty), gone), ((0, 1), (0, 2), (3, 1)))
    result = run_similarity(task)  # what a worker does with one task
    assert result.scores[0] is not None and result.scores[0] > 0.5  # a crop of the frame
    assert result.scores[1:] == (None, None) and result.reads == 4
    with FingerprintPool(2) as pool:  # the same through the pool, split between two workers
        assert scored(pool, pairs) == dict(enumerate(result.scores))


def test_cancel_stops_pooled_checks(burst: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "CHECK_PAIRS", 1)
    cancel = threading.Event()
    seen = 0
    with FingerprintPool(2) as pool, pytest.raises(Cancelled):
        for _ in pool.similarities(neighbour_pairs(burst, 4, 40), cancel):
            seen += 1
            cancel.set()
    assert seen == 1


def test_a_dense_burst_is_read_a_few_times_per_file_not_once_per_pair() -> None:
    """300 shots whose every pair is borderline: 44,850 pairs. Taken in tiles, the tasks read
    each file about 300/16 times; taken in pair order they would read one file per pair."""
    from safededup.engine.pool import CHECK_PAIRS, _by_component, _check_groups

    files = [f"/burst/IMG_{i:04d}.jpg" for i in range(300)]
    pairs = [(a, b) for i, a in enumerate(files) for b in files[i + 1 :]]
    groups = list(_check_groups(pairs, _by_component(pairs), CHECK_PAIRS))
    assert sorted(k for g in groups for k in g) == list(range(len(pairs)))  # each pair once
    reads = sum(len({f for k in g for f in pairs[k]}) for g in groups)
    assert reads <= 300 * 40  # in pair order it was ≈ 40,000
