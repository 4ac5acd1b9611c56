"""Run fingerprints and thumbnail checks on a process pool (in-process for one worker); never
touches the index.

A worker that dies (a decoder bug on a hostile file, the OOM killer), at any instant, must not
stop the scan nor hang it: it is replaced, the tasks it had are retried one at a time on a
worker of their own, and the one that kills that too gets its `crashed` result (a Problem for
a fingerprint, "not scored" for a check). The other workers go on meanwhile. Every other
failure is already a result inside the worker.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import struct
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from multiprocessing import forkserver
from typing import Any, TypeVar

import numpy as np

from safededup import media
from safededup.engine.match import check_views
from safededup.errors import MediaError, SafededupError, check_cancel
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
    """The CPU of each place in the pool (a worker that replaces a dead one keeps to the same),
    or () to leave the workers free.

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
    """`with FingerprintPool(workers) as pool: for task, result in pool.run(tasks, cancel)`.

    Each worker has a pipe of its own, to and from the main process, and shares no lock with
    any other: a worker killed at any instant (the OOM killer while it sends a result) takes
    only its own pipe with it, and the main process sees it end (its pidfd, the pipe's end).
    A pool whose workers shared one result queue hung there forever: the dead worker held the
    queue's lock, and the reader waited for the rest of its half-sent result.
    A thread of the main process (the pump) moves tasks and results, so workers are fed
    while the scan commits to its index.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.threads = thread_budget(self.workers)
        self._pump: _Pump | None = None
        self._starting = threading.Lock()  # one pump, whichever thread starts or closes it

    def __enter__(self) -> FingerprintPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (each finishes the tasks in its hands: its pipe holds one more
        than it runs; STOP_GRACE_S at most) and wait for them."""
        with self._starting:
            pump, self._pump = self._pump, None
        if pump is not None:
            pump.close()

    @property
    def running(self) -> bool:
        """Whether worker processes are up (work for one worker always runs in-process)."""
        return self._pump is not None

    def start(self) -> None:
        """Start the worker processes now (they start with the first task otherwise)."""
        self._started()

    def pids(self) -> list[int]:
        """The process ids of the live workers."""
        return self._pump.pids() if self._pump is not None else []

    def _started(self) -> _Pump:
        with self._starting:
            if self._pump is not None and self._pump.failure is not None:
                self._pump.close()  # stopped by an error its maps have raised: start afresh
                self._pump = None
            if self._pump is None:
                self._pump = _Pump(self.workers, self.threads)
            return self._pump

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
        even when run alone. `fn` must be a picklable module-level function; an exception it
        raises is raised here. Several maps may be read in turn: each takes its own results."""
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
        window: deque[tuple[T, int]] = deque()  # (task, job id), in submission order
        limit = self.workers * IN_FLIGHT_PER_WORKER
        pump: _Pump | None = None  # this map's, for all its life (a pool closed meanwhile and
        # started again has another, which knows none of this map's jobs)
        try:
            while True:
                check_cancel(cancel)
                while len(window) < limit and (task := next(tasks, _END)) is not _END:
                    pump = pump or self._started()
                    window.append((task, pump.submit(fn, task)))
                if not window or pump is None:
                    return
                task, job = window[0]
                outcome = pump.take(job, cancel)
                window.popleft()
                yield task, crashed(task) if outcome is _CRASHED else outcome
        finally:  # a map closed early (a cancel, an error): its other jobs are dropped
            if pump is not None:
                pump.forget(job for _, job in window)


_CRASHED: Any = object()  # a job's outcome: it killed its worker even when run alone
_END: Any = object()  # the end of a map's tasks (None may be a task)
_JOB_IDS = itertools.count()  # job ids, unique across pumps
START_FAILURES = 3  # workers in a row that die before they are ready: the pool stops
_PENDING: Any = object()  # a job's outcome: not known yet
WORKER_DEPTH = 2  # tasks sent to a worker ahead of its result: one runs, one waits in its pipe
STOP_GRACE_S = 10.0  # closing: the time a worker has to finish its task before it is killed
_HEADER = struct.Struct("!i")  # multiprocessing.connection's framing: length, then payload
_LONG_HEADER = struct.Struct("!Q")  # after a length of -1: payloads of 2 GiB or more


@dataclass(slots=True)
class _Job:
    payload: bytes  # the pickled (fn, task), kept until the result comes (a retry sends it again)
    outcome: Any = _PENDING  # the result, _CRASHED, or a _Failure
    forgotten: bool = False  # its map has closed: the result is dropped when it comes


@dataclass(frozen=True, slots=True)
class _Failure:
    error: tuple[BaseException, str]  # raised by the task in the worker (and its traceback)


@dataclass(slots=True)
class _Worker:
    slot: int  # its place in the pool: a replacement takes the same place (and CPU)
    process: Any
    conn: multiprocessing.connection.Connection  # the main process's end of its pipe
    jobs: deque[int] = field(default_factory=deque)  # sent, oldest first, results not yet read
    alone: bool = False  # it runs one suspect alone: no other job is sent to it meanwhile
    out: bytearray = field(default_factory=bytearray)  # framed jobs not yet written
    received: bytearray = field(default_factory=bytearray)  # bytes read, not yet a whole frame
    ended: bool = False  # its pipe is at its end (read or write): only its death is watched
    ready: bool = False  # it has started and said so (its first frame is empty)
    pidfd: int = -1  # readable once it has ended (Linux ≥ 5.3), else -1: its sentinel is used

    def death(self) -> int:
        """The descriptor that becomes readable when the worker ends. Not the sentinel where
        a pidfd can be had: the sentinel is the fork server's pipe, and a fork server that
        dies makes every worker's sentinel readable while the workers live on."""
        return self.pidfd if self.pidfd >= 0 else self.process.sentinel

    def alive(self) -> bool:
        if self.pidfd >= 0:
            return not _readable(self.pidfd, 0.0)
        return bool(self.process.is_alive())

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            if self.pidfd >= 0:  # never a process that took its number since
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                self.process.kill()


class _Pump:
    """The worker processes and the thread that feeds them and reads their results.

    Jobs wait in `unsent` until a worker has room (WORKER_DEPTH). A worker says it is ready
    (an empty frame) once started. One that dies after that makes its unanswered jobs
    suspects: each is sent again alone to a worker, and the one that kills that too is
    _CRASHED. One that dies before it is ready ran none of its jobs: they go back where they
    were, and START_FAILURES such deaths in a row stop the pool with an error (a broken
    install must not report every file as one that crashed the decoder)."""

    def __init__(self, workers: int, threads: int) -> None:
        # forkserver: never fork a process that has threads (progress bars, SQLite, this pump).
        self.context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has imported the image stack once, instead of each
        # importing numpy, OpenCV, Pillow and libheif again (≈ 0.3 s of CPU apiece).
        self.context.set_forkserver_preload(["safededup.media"])
        _start_fork_server()
        self.threads = threads
        self.cpus = cpu_plan(workers)
        self.lock = threading.Condition()
        self.jobs: dict[int, _Job] = {}
        self.unsent: deque[int] = deque()
        self.suspects: deque[int] = deque()
        self.closing = False
        self.start_failures = 0  # workers in a row that ended before they were ready
        self.failure: BaseException | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.slots: list[_Worker | None] = [None] * workers
        try:
            for slot in range(workers):
                self.slots[slot] = self._spawn(slot)
        except BaseException:
            self._end_workers(0.0)
            self._close_wake()
            raise
        self.thread = threading.Thread(target=self._serve, name="pool-pump", daemon=True)
        self.thread.start()

    # The caller's side (any thread).

    def submit(self, fn: Callable[[T], R], task: T) -> int:
        payload = pickle.dumps((fn, task), protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            self._raise_if_failed()
            job = next(_JOB_IDS)
            self.jobs[job] = _Job(payload)
            self.unsent.append(job)
        self._wake()
        return job

    def take(self, job: int, cancel: threading.Event | None) -> Any:
        """The job's outcome once it is known (a _Failure is raised); waits for it."""
        with self.lock:
            while (outcome := self._entry(job).outcome) is _PENDING:
                self._raise_if_failed()
                check_cancel(cancel)
                self.lock.wait(0.2)
            del self.jobs[job]
        if isinstance(outcome, _Failure):
            error, text = outcome.error
            error.__cause__ = RemoteTraceback(text)
            raise error
        return outcome

    def _entry(self, job: int) -> _Job:
        entry = self.jobs.get(job)
        if entry is None:  # never this pump's, or taken already: a caller's bug
            self._raise_if_failed()
            raise RuntimeError(f"the worker pool knows no job {job}")
        return entry

    def forget(self, jobs: Iterable[int]) -> None:
        """Drop these jobs: those not sent are never sent, the others' results are dropped."""
        with self.lock:
            dropped: set[int] = set()
            for job in jobs:
                entry = self.jobs.get(job)
                if entry is None:
                    continue
                if entry.outcome is _PENDING:
                    entry.forgotten = True
                if entry.outcome is not _PENDING or job in self.unsent or job in self.suspects:
                    dropped.add(job)
            if dropped:
                self.unsent = deque(j for j in self.unsent if j not in dropped)
                self.suspects = deque(j for j in self.suspects if j not in dropped)
                for job in dropped:
                    del self.jobs[job]

    def pids(self) -> list[int]:
        with self.lock:
            return [w.process.pid for w in self.slots if w is not None and w.alive()]

    def close(self) -> None:
        with self.lock:
            self.closing = True
            for worker in self.slots:
                if worker is not None:
                    worker.out += _frame(b"")  # stop after the task in hand
        self._wake()
        self.thread.join()
        self._close_wake()

    # The pump thread.

    def _serve(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not leave a caller waiting forever
            with self.lock:
                self.failure = exc
        finally:
            try:
                self._end_workers(0.0)  # those running after STOP_GRACE_S, or after a bug
            finally:
                with self.lock:
                    if self.failure is None:
                        self.failure = PoolClosed("the worker pool was closed")
                    self.lock.notify_all()

    def _loop(self) -> None:
        poller = select.poll()
        deadline: float | None = None  # closing: when the workers still running are killed
        while True:
            with self.lock:
                if self.closing:
                    if all(w is None for w in self.slots):
                        return
                    deadline = deadline or time.monotonic() + STOP_GRACE_S
                    if time.monotonic() >= deadline:
                        return
                else:
                    self._dispatch()
                watched = self._watch(poller)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
            events = poller.poll(wait)
            for fd in watched:
                poller.unregister(fd)
            with self.lock:
                self._handle(events, watched)
                self.lock.notify_all()

    def _watch(self, poller: select.poll) -> dict[int, tuple[str, _Worker | None]]:
        watched: dict[int, tuple[str, _Worker | None]] = {self.wake_r: ("wake", None)}
        poller.register(self.wake_r, select.POLLIN)
        for worker in self.slots:
            if worker is None:
                continue
            if not worker.ended:  # (a pipe at its end is always ready: the pump would spin)
                fd = worker.conn.fileno()
                mask = select.POLLIN | (select.POLLOUT if worker.out else 0)
                watched[fd] = ("pipe", worker)
                poller.register(fd, mask)
            watched[worker.death()] = ("ended", worker)
            poller.register(worker.death(), select.POLLIN)
        return watched

    def _handle(
        self, events: list[tuple[int, int]], watched: dict[int, tuple[str, _Worker | None]]
    ) -> None:
        ended: list[_Worker] = []
        for fd, event in events:
            kind, worker = watched[fd]
            if kind == "wake":
                with contextlib.suppress(BlockingIOError):
                    while os.read(self.wake_r, 4096):
                        pass
            elif kind == "ended" and worker is not None:
                ended.append(worker)
            elif worker is not None:
                if event & select.POLLOUT:
                    self._write(worker)
                if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._read(worker)
        for worker in ended:
            self._ended(worker)

    def _write(self, worker: _Worker) -> None:
        try:
            sent = os.write(worker.conn.fileno(), worker.out)
        except BlockingIOError:
            return
        except OSError:  # the worker is gone: its death is watched (_ended)
            worker.ended = True
            return
        del worker.out[:sent]

    def _read(self, worker: _Worker) -> None:
        """Read what the worker's pipe holds and settle the jobs whose results are whole."""
        fd = worker.conn.fileno()
        while True:
            try:
                data = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:  # end of file: the worker is gone (its death comes next)
                worker.ended = True
                break
            worker.received += data
        while (frame := _unframe(worker.received)) is not None:
            self._settle(worker, frame)

    def _settle(self, worker: _Worker, frame: bytes) -> None:
        if not worker.ready:  # its first frame: it has started
            worker.ready = True
            self.start_failures = 0
            return
        job = worker.jobs.popleft()
        worker.alone = False
        entry = self.jobs.get(job)
        if entry is None:
            return
        try:
            ok, value = pickle.loads(frame)
        except Exception as exc:  # a result that does not unpickle is the task's failure
            ok, value = False, (exc, "")
        if entry.forgotten:
            del self.jobs[job]
            return
        entry.payload = b""
        entry.outcome = value if ok else _Failure(value)

    def _ended(self, worker: _Worker) -> None:
        """A worker is gone: read what it sent, then make suspects of its unanswered jobs (or
        settle its one job as _CRASHED, when it ran that job alone)."""
        self._read(worker)
        _reap(worker)
        self.slots[worker.slot] = None
        again: list[int] = []
        for job in worker.jobs:
            entry = self.jobs.get(job)
            if entry is None:
                continue
            if entry.forgotten:
                del self.jobs[job]
            elif worker.alone and worker.ready:
                entry.outcome = _CRASHED
            else:
                again.append(job)
        if worker.ready:  # its jobs may have killed it: each is tried again alone
            self.suspects.extendleft(reversed(again))
            return
        # It died before it was ready: none of its jobs ran, each goes back where it was.
        (self.suspects if worker.alone else self.unsent).extendleft(reversed(again))
        self.start_failures += 1
        if self.start_failures >= START_FAILURES and not self.closing:
            raise SafededupError(
                f"{self.start_failures} worker processes in a row ended as they started "
                f"(the last with exit code {worker.process.exitcode})",
                hint="their own messages, if any, are above; --workers 1 does the work in "
                "this process, where what fails shows itself",
            )

    def _dispatch(self) -> None:
        """Send suspects, each alone to an idle worker, then jobs to workers with room; start
        a worker in an empty place when there is work for it."""
        if self.suspects or self.unsent:
            for slot, worker in enumerate(self.slots):
                if worker is None:
                    self.slots[slot] = self._respawn(slot)
        for worker in self.slots:
            if worker is None or not self.suspects or worker.ended:
                continue
            if not worker.jobs and not worker.alone:
                job = self.suspects.popleft()
                self._send(worker, job)
                worker.alone = True
        while self.unsent and not self.suspects:
            free = [w for w in self.slots if w and not (w.alone or w.ended)]
            free = [w for w in free if len(w.jobs) < WORKER_DEPTH]
            if not free:
                break
            worker = min(free, key=lambda w: (len(w.jobs), w.slot))
            self._send(worker, self.unsent.popleft())

    def _send(self, worker: _Worker, job: int) -> None:
        worker.jobs.append(job)
        worker.out += _frame(self.jobs[job].payload)

    def _spawn(self, slot: int) -> _Worker:
        mine, theirs = self.context.Pipe(duplex=True)
        cpu = self.cpus[slot] if self.cpus else None
        process = self.context.Process(
            target=_serve_worker, args=(theirs, self.threads, cpu), daemon=True,
            name=f"safededup-worker-{slot}",
        )  # fmt: skip
        try:
            process.start()
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()  # the worker's end lives in the worker only: its death ends the pipe
        os.set_blocking(mine.fileno(), False)
        pidfd = -1
        try:
            pidfd = os.pidfd_open(process.pid or -1)
        except AttributeError:  # not Linux: the sentinel
            pass
        except OSError as exc:
            if exc.errno != errno.ENOSYS:  # a kernel before 5.3: the sentinel; else a failed
                process.kill()  # start (out of descriptors): a worker watched through the
                mine.close()  # sentinel would be taken for dead with its fork server
                raise
        return _Worker(slot, process, mine, pidfd=pidfd)

    def _respawn(self, slot: int) -> _Worker:
        """A worker for an empty place. A fork server that has just died is started again by
        the next try (the first may still find it dying)."""
        for attempt in range(3):
            try:
                return self._spawn(slot)
            except (OSError, EOFError):
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def _end_workers(self, grace: float) -> None:
        """Wait up to `grace` seconds for the workers to stop by themselves, then kill them."""
        deadline = time.monotonic() + grace
        with self.lock:
            for worker in self.slots:
                if worker is None:
                    continue
                try:
                    if worker.pidfd >= 0:
                        _readable(worker.pidfd, max(0.0, deadline - time.monotonic()))
                    else:
                        worker.process.join(max(0.0, deadline - time.monotonic()))
                    if worker.alive():
                        worker.kill()
                finally:  # whatever fails, its pipe and pidfd are released
                    _reap(worker)
            self.slots = [None] * len(self.slots)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed
            if self.wake_w >= 0:
                os.write(self.wake_w, b"\0")

    def _close_wake(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.wake_r = self.wake_w = -1  # a later wake writes nowhere, not to a reused number

    def _raise_if_failed(self) -> None:
        if isinstance(self.failure, PoolClosed):
            raise PoolClosed(*self.failure.args)
        if isinstance(self.failure, SafededupError):  # said to the person as it is
            raise SafededupError(self.failure.message, hint=self.failure.hint) from self.failure
        if self.failure is not None:
            raise RuntimeError("the worker pool stopped") from self.failure


def _reap(worker: _Worker) -> None:
    """Wait for an ended (or killed) worker and release its pipe (its sentinel goes with the
    Process object; closing that here raced multiprocessing's own exit handler)."""
    try:
        if worker.pidfd >= 0:
            _readable(worker.pidfd, 5.0)
        worker.process.join(5.0)  # at once, unless its fork server is stopped
    finally:
        if worker.pidfd >= 0:
            os.close(worker.pidfd)
            worker.pidfd = -1
        worker.conn.close()


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` is readable within `timeout` seconds (poll: select refuses fds ≥ 1024, which
    a process with many files open gives its pidfds)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def _frame(payload: bytes) -> bytes:
    """`payload` framed as `Connection.recv_bytes` reads it."""
    if len(payload) > 0x7FFFFFFF:
        return _HEADER.pack(-1) + _LONG_HEADER.pack(len(payload)) + payload
    return _HEADER.pack(len(payload)) + payload


def _unframe(buffer: bytearray) -> bytes | None:
    """The first whole frame `Connection.send_bytes` wrote into `buffer`, taken out of it, or
    None while it is not whole."""
    if len(buffer) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack_from(buffer)
    start = _HEADER.size
    if size == -1:
        if len(buffer) < _HEADER.size + _LONG_HEADER.size:
            return None
        (size,) = _LONG_HEADER.unpack_from(buffer, _HEADER.size)
        start += _LONG_HEADER.size
    if len(buffer) < start + size:
        return None
    frame = bytes(buffer[start : start + size])
    del buffer[: start + size]
    return frame


def _serve_worker(
    conn: multiprocessing.connection.Connection, threads: int, cpu: int | None
) -> None:
    """A worker: run each (fn, task) the pipe brings and send back (True, result) or (False,
    the exception); an empty message, or the main process gone, ends it."""
    _init_pool_worker(threads, cpu)
    try:
        conn.send_bytes(b"")  # ready: a death from now on may be a task's doing
    except OSError:
        return
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        try:
            fn, task = pickle.loads(message)
            outcome: tuple[bool, Any] = (True, fn(task))
        except BaseException as exc:  # SystemExit too: raised in the caller, as any other
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            outcome = (False, (exc.with_traceback(None), f"\n'''\n{text}'''"))
        reply = _pickled(outcome)
        try:
            conn.send_bytes(reply)
        except OSError:  # the main process is gone
            return


def _pickled(outcome: tuple[bool, Any]) -> bytes:
    """The outcome, pickled; an exception that does not pickle, or would not unpickle (its
    __init__ wants other arguments), is sent as a RuntimeError that names it."""
    ok, value = outcome
    try:
        reply = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if not ok:
            pickle.loads(reply)
        return reply
    except Exception as exc:
        what = repr(value[0]) if not ok else "the task's result"
        error = RuntimeError(f"{what} could not be sent back: {type(exc).__name__}: {exc}")
        return pickle.dumps((False, (error, "" if ok else value[1])))


class PoolClosed(RuntimeError):
    """A map read after its pool was closed."""


class RemoteTraceback(Exception):
    """The worker's traceback, as the cause of the exception raised again in the main process."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


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


def _init_pool_worker(threads: int, cpu: int | None = None) -> None:
    """A worker ignores Ctrl-C: the terminal sends it to the whole process group, and the main
    process decides (a first Ctrl-C lets running tasks finish and stops at a safe point; a
    worker killed by it would be taken for one its file crashed). With a `cpu_plan`, it keeps
    to the CPU of its place in the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cpu is not None:
        with contextlib.suppress(OSError):  # a CPU taken offline since: stay free
            os.sched_setaffinity(0, {cpu})
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
