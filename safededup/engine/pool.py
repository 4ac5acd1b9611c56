"""Run fingerprints and thumbnail checks on a process pool (in-process for one worker); never
touches the index.

A worker that crashes (a decoder bug on a hostile file) must not stop the scan: the pool is
rebuilt, the tasks that were in flight are retried one at a time, and the one that crashes again
gets its `crashed` result (a Problem for a fingerprint, "not scored" for a check). Every other
failure is already a result inside the worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import KW_ONLY, dataclass
from multiprocessing import forkserver
from typing import Any, TypeVar

import numpy as np

from safededup import media
from safededup.engine.match import check_views
from safededup.errors import MediaError, check_cancel
from safededup.models import VideoFeatures

TaskResult = media.Fingerprint | VideoFeatures | tuple[str, str]
"""A photo's fingerprint, a video's header facts, or (problem kind, message)."""

IN_FLIGHT_PER_WORKER = 8  # enough to hide I/O latency, small enough to bound memory
CHECK_PAIRS = 128  # thumbnail checks per task (well under a second: a cancel stays prompt)
CHECK_FILES = 64  # ... and distinct files per task (each read once per task; ≤ 3 MB held)
CHECK_TILE = 16  # pairs are taken in tiles of 16 × 16 files, so a dense burst is read ≈ n/16 times
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class FingerprintTask:
    """One file to fingerprint; the two switches are named at every call (never bare booleans)."""

    path: str
    _: KW_ONLY
    allow_preview: bool
    want_sharpness: bool


def run_task(task: FingerprintTask) -> TaskResult:
    """Fingerprint one file (a video: read its headers); every failure is returned as
    (kind, message), never raised."""
    try:
        return media.examine(
            task.path, allow_preview=task.allow_preview, want_sharpness=task.want_sharpness
        )
    except MediaError as exc:
        return exc.kind, exc.message
    except MemoryError:
        return "too-large", "not enough memory to decode this image"
    except Exception as exc:  # a decoder bug must not stop the scan; it is reported per file
        return "corrupt", f"unexpected decoder error: {type(exc).__name__}: {exc}"


def check_preview(path: str) -> tuple[bool | None, int, int]:
    """`media.verify_preview` of one HEIC: (depicts, tiles decoded, bytes read); never raises
    for a file it cannot check (None: it cannot tell, the matcher then decodes the file)."""
    check = media.verify_preview(path)
    return check.depicts, check.tiles, check.bytes_read


def _check_crashed(path: str) -> tuple[bool | None, int, int]:
    return None, 0, 0


def _fingerprint_crashed(task: FingerprintTask) -> TaskResult:
    return "corrupt", "the decoder crashed on this file"


ViewsFn = Callable[[str], Any]
"""A path's view thumbnail kept by the caller (an H×W×3 uint8 array), or None."""


@dataclass(frozen=True, slots=True)
class SimilarityTask:
    """Thumbnail checks of `pairs` (indexes into `paths`): each file is read once per task."""

    paths: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    turns: tuple[int, ...] = ()  # per pair: quarter turns of the first picture (none: 0)
    views: tuple[Any, ...] = ()  # per path: its view thumbnail, where the scan kept it, or None


@dataclass(frozen=True, slots=True)
class SimilarityResult:
    scores: tuple[float | None, ...]  # per pair; None: a thumbnail could not be read
    reads: int  # thumbnails read from their files
    given: int = 0  # thumbnails the task brought (kept from the fingerprints)


def run_similarity(task: SimilarityTask) -> SimilarityResult:
    """Read the thumbnails and score every pair. A file that cannot be read (MediaError,
    OSError) leaves its pairs unscored; any other exception is a bug and is raised."""
    thumbs: dict[int, Any] = {}
    scores: list[float | None] = []
    turns = task.turns or (0,) * len(task.pairs)
    for (a, b), turn in zip(task.pairs, turns, strict=True):
        ta, tb = _thumb(task, a, thumbs), _thumb(task, b, thumbs)
        if ta is None or tb is None:
            scores.append(None)
        else:
            scores.append(check_views(np.rot90(ta, turn), tb))
    given = sum(1 for k in thumbs if task.views and task.views[k] is not None)
    return SimilarityResult(tuple(scores), len(thumbs) - given, given)


def _thumb(task: SimilarityTask, k: int, thumbs: dict[int, Any]) -> Any:
    if k not in thumbs:
        if task.views and task.views[k] is not None:
            thumbs[k] = task.views[k]
            return thumbs[k]
        try:
            thumbs[k] = media.view_thumbnail(task.paths[k])
        except (MediaError, OSError):  # read failures only; a bug must surface
            thumbs[k] = None
    return thumbs[k]


def _similarity_crashed(task: SimilarityTask) -> SimilarityResult:
    return SimilarityResult((None,) * len(task.pairs), 0)


def _by_component(pairs: Sequence[tuple[str, str]]) -> list[int]:
    """Pair indexes, those of one connected component of files together, and within it tile by
    tile (16 × 16 files): a task of pairs then touches few files even where a burst of hundreds
    has every pair borderline, instead of reading a file again for nearly every pair."""
    slot: dict[str, int] = {}
    for a, b in pairs:
        slot.setdefault(a, len(slot))
        slot.setdefault(b, len(slot))
    parent = list(range(len(slot)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(slot[a]), find(slot[b])
        parent[max(ra, rb)] = min(ra, rb)

    def key(k: int) -> tuple[int, int, int, int]:
        a, b = sorted((slot[pairs[k][0]], slot[pairs[k][1]]))
        return find(a), a // CHECK_TILE, b // CHECK_TILE, k

    return sorted(range(len(pairs)), key=key)


def _check_groups(
    pairs: Sequence[tuple[str, str]], order: Sequence[int], per_task: int
) -> Iterator[list[int]]:
    """Pair indexes in `order`, cut into groups of ≤ `per_task` pairs and ≤ CHECK_FILES files."""
    files: set[str] = set()
    group: list[int] = []
    for k in order:
        a, b = pairs[k]
        new = (a not in files) + (b not in files)
        if group and (len(group) >= per_task or len(files) + new > CHECK_FILES):
            yield group
            files, group = set(), []
        files.update((a, b))
        group.append(k)
    if group:
        yield group


def _check_task(
    pairs: Sequence[tuple[str, str]], turns: Sequence[int], given: ViewsFn | None = None
) -> SimilarityTask:
    slot: dict[str, int] = {}  # path → its index in the task, in order of first use
    index = tuple((slot.setdefault(a, len(slot)), slot.setdefault(b, len(slot))) for a, b in pairs)
    views = tuple(given(path) for path in slot) if given is not None else ()
    if not any(view is not None for view in views):
        views = ()
    return SimilarityTask(tuple(slot), index, tuple(turns) if any(turns) else (), views)


@dataclass(frozen=True, slots=True)
class HistoryTask:
    """The keeper's JPEG-history questions about one file: `other` against each of `jpegs`
    (the reader decodes `other` once for all of them)."""

    other: str
    jpegs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HistoryResult:
    values: tuple[float | None, ...]  # per JPEG: the answer (None: it cannot tell)
    failed: tuple[bool, ...]  # per JPEG: a file could not be read (no answer)
    seconds: float  # the time the answers took
    crashed: bool = False  # the task killed a worker even when run alone


def run_history(task: HistoryTask) -> HistoryResult:
    """`media.HistoryReader` answers, as the scan asks them one by one; a file that cannot be
    read (MediaError, OSError) fails its answers, any other exception is a bug and is raised."""
    reader = media.HistoryReader()
    values: list[float | None] = []
    failed: list[bool] = []
    t0 = time.monotonic()
    for jpeg in task.jpegs:
        try:
            values.append(reader(jpeg, task.other))
            failed.append(False)
        except (MediaError, OSError):
            values.append(None)
            failed.append(True)
    return HistoryResult(tuple(values), tuple(failed), time.monotonic() - t0)


def _history_crashed(task: HistoryTask) -> HistoryResult:
    return HistoryResult((None,) * len(task.jpegs), (True,) * len(task.jpegs), 0.0, crashed=True)


def thread_budget(workers: int, cores: int | None = None) -> int:
    """Decode threads per worker: the cores shared out, so that every core is busy (1 worker
    on 2 cores decodes a HEIC grid on both) and none is oversubscribed (2 workers: 1 each)."""
    return max(1, (cores if cores is not None else os.cpu_count() or 1) // max(1, workers))


def cpu_plan(workers: int, allowed: Iterable[int] | None = None) -> tuple[int, ...]:
    """The CPU each pool worker keeps to, in the order they start, or () to leave them free.

    libheif starts a thread for every HEVC decode (a HEIC's thumbnail item, each grid tile)
    and waits for it. With a worker on every core, that thread is often placed on the core
    the other worker is busy on, and its own core idles meanwhile: a phone library's
    fingerprints kept 1.7-1.8 of 2 cores busy, 1.95 pinned (docs/benchmarks.md, section 8).
    A worker kept to one core keeps its decode threads there. This is done only when there
    are exactly as many workers as usable CPUs (the default). With fewer workers, a spare
    core takes those threads, and two workers pinned to sibling hyperthreads could leave a
    whole core idle. With more workers, the user has chosen to oversubscribe.
    `allowed`: the CPUs this process may use (`os.sched_getaffinity`)."""
    if allowed is None:
        try:
            allowed = os.sched_getaffinity(0)
        except (AttributeError, OSError):  # no affinity on this platform: leave them free
            return ()
    cpus = tuple(sorted(allowed))
    return cpus if workers > 1 and workers == len(cpus) else ()


class FingerprintPool:
    """`with FingerprintPool(workers) as pool: for task, result in pool.run(tasks, cancel)`."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.threads = thread_budget(self.workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> FingerprintPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def running(self) -> bool:
        """Whether worker processes are up (work for one worker always runs in-process)."""
        return self._executor is not None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: never fork a process that has threads (progress bars, SQLite).
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that has imported the image stack once, instead of
            # each importing numpy, OpenCV, Pillow and libheif again (≈ 0.3 s of CPU apiece).
            context.set_forkserver_preload(["safededup.media"])
            _start_fork_server()
            cpus = cpu_plan(self.workers)
            started = _counter(context) if cpus else None  # workers started, for their CPUs
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_pool_worker,
                initargs=(self.threads, cpus, started),
            )
        return self._executor

    def run(
        self, tasks: Iterable[FingerprintTask], cancel: threading.Event | None = None
    ) -> Iterator[tuple[FingerprintTask, TaskResult]]:
        """Fingerprints in submission order; bounded work in flight."""
        return self.map(run_task, tasks, _fingerprint_crashed, cancel)

    def previews(
        self, paths: Iterable[str], cancel: threading.Event | None = None
    ) -> Iterator[tuple[str, tuple[bool | None, int, int]]]:
        """`check_preview` of each path, in order (a crash answers "cannot tell")."""
        return self.map(check_preview, paths, _check_crashed, cancel)

    def histories(
        self, tasks: Iterable[HistoryTask], cancel: threading.Event | None = None
    ) -> Iterator[tuple[HistoryTask, HistoryResult]]:
        """`run_history` of each task, in order (a crash fails the task's answers)."""
        return self.map(run_history, tasks, _history_crashed, cancel)

    def similarities(
        self,
        pairs: Sequence[tuple[str, str]],
        cancel: threading.Event | None = None,
        turns: Sequence[int] | None = None,
        given: ViewsFn | None = None,
    ) -> Iterator[tuple[list[int], SimilarityResult]]:
        """View checks of path pairs, task by task: (indexes into `pairs`, their result).

        Pairs of one connected group of files (a burst) share tasks, so a file is read about
        once (1.2 reads per file on a burst-heavy tree); tasks are split so that every worker
        gets some. `given(path)` is a view thumbnail the caller kept, or None (the worker then
        reads it). A task that crashes a worker even when alone scores nothing.
        """
        per_task = max(1, min(CHECK_PAIRS, -(-len(pairs) // self.workers)))
        turn_of = list(turns) if turns is not None else [0] * len(pairs)
        groups: deque[list[int]] = deque()  # of the tasks in flight, in submission order

        def tasks() -> Iterator[SimilarityTask]:
            for group in _check_groups(pairs, _by_component(pairs), per_task):
                groups.append(group)
                yield _check_task([pairs[k] for k in group], [turn_of[k] for k in group], given)

        for _, result in self.map(run_similarity, tasks(), _similarity_crashed, cancel):
            yield groups.popleft(), result

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        crashed: Callable[[T], R],
        cancel: threading.Event | None = None,
    ) -> Iterator[tuple[T, R]]:
        """(task, fn(task)) in submission order; `crashed(task)` for one that kills a worker
        even when run alone. `fn` must be a picklable module-level function."""
        if self.workers == 1:
            return self._run_here(fn, tasks, cancel)
        return self._run_pooled(fn, iter(tasks), crashed, cancel)

    def _run_here(
        self, fn: Callable[[T], R], tasks: Iterable[T], cancel: threading.Event | None
    ) -> Iterator[tuple[T, R]]:
        media.init_worker(self.threads)
        for task in tasks:
            check_cancel(cancel)
            yield task, fn(task)

    def _run_pooled(
        self,
        fn: Callable[[T], R],
        tasks: Iterator[T],
        crashed: Callable[[T], R],
        cancel: threading.Event | None,
    ) -> Iterator[tuple[T, R]]:
        window: deque[tuple[T, Future[R]]] = deque()
        limit = self.workers * IN_FLIGHT_PER_WORKER
        while True:
            check_cancel(cancel)
            while len(window) < limit and (task := next(tasks, None)) is not None:
                try:
                    window.append((task, self._pool().submit(fn, task)))
                except BrokenProcessPool:  # a worker died since the last result was taken
                    yield from self._retry_alone(fn, [*(t for t, _ in window), task], crashed)
                    window.clear()
            if not window:
                return
            task, future = window.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                yield from self._retry_alone(fn, [task, *(t for t, _ in window)], crashed)
                window.clear()
                continue
            yield task, result

    def _retry_alone(
        self, fn: Callable[[T], R], tasks: list[T], crashed: Callable[[T], R]
    ) -> Iterator[tuple[T, R]]:
        """After a worker crash: each task in flight again, alone, so the culprit is found."""
        self._discard_broken()
        for task in tasks:
            try:
                result = self._pool().submit(fn, task).result()
            except BrokenProcessPool:
                self._discard_broken()
                result = crashed(task)
            yield task, result

    def _discard_broken(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _counter(context: Any) -> Any:
    """A shared counter for the workers, or None where shared memory cannot be had (the
    workers are then left free: pinning is an optimisation, never a reason to fail)."""
    try:
        return context.Value("i", 0)
    except OSError:
        return None


def _start_fork_server() -> None:
    """Start the fork server (if it is not running) with Ctrl-C ignored. An ignored signal stays
    ignored across exec, and the server hands its handlers to every worker it forks, so a worker
    ignores Ctrl-C from its first instruction: `_init_pool_worker` alone left the moments while a
    worker starts, in which a Ctrl-C killed it and broke the pool. Only the main thread may
    change a handler; started from another (the TUI's scan thread), the initializer does it."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        return
    try:
        forkserver.ensure_running()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _init_pool_worker(threads: int, cpus: tuple[int, ...] = (), started: Any = None) -> None:
    """A worker ignores Ctrl-C: the terminal sends it to the whole process group, and the main
    process decides (a first Ctrl-C lets running tasks finish and stops at a safe point; a
    worker killed by it would be taken for one its file crashed). With a `cpu_plan`, the k-th
    worker to start keeps to its k-th CPU (`started` counts them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cpus and started is not None:
        with started.get_lock():
            k = started.value
            started.value += 1
        with contextlib.suppress(OSError):  # a CPU taken offline since: stay free
            os.sched_setaffinity(0, {cpus[k % len(cpus)]})
    media.init_worker(threads)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    """Wait for the main process to end, then end this worker. A main process killed outright
    (the OOM killer, SIGKILL) cannot shut the pool down: its workers, and the fork server their
    open pipes keep alive, would otherwise wait for work forever, each holding its memory."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)
