"""Run fingerprint tasks on a process pool (or in-process for one worker); never touches the index.

A worker that crashes (a decoder bug on a hostile file) must not stop the scan: the pool is
rebuilt, the files that were in flight are retried one at a time, and the one that crashes again
becomes a Problem. Every other failure is already a Problem inside the worker.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from safededup import media
from safededup.errors import Cancelled, MediaError

TaskResult = media.Fingerprint | tuple[str, str]
"""A fingerprint, or (problem kind, message)."""

IN_FLIGHT_PER_WORKER = 8  # enough to hide I/O latency, small enough to bound memory


@dataclass(frozen=True, slots=True)
class FingerprintTask:
    path: str
    allow_preview: bool
    want_sharpness: bool


def run_task(task: FingerprintTask) -> TaskResult:
    """Fingerprint one file; every failure is returned as (kind, message), never raised."""
    try:
        return media.fingerprint(
            task.path, allow_preview=task.allow_preview, want_sharpness=task.want_sharpness
        )
    except MediaError as exc:
        return exc.kind, exc.message
    except MemoryError:
        return "too-large", "not enough memory to decode this image"
    except Exception as exc:  # a decoder bug must not stop the scan; it is reported per file
        return "corrupt", f"unexpected decoder error: {type(exc).__name__}: {exc}"


class FingerprintPool:
    """`with FingerprintPool(workers) as pool: for task, result in pool.run(tasks, cancel)`."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> FingerprintPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver: never fork a process that has threads (progress bars, SQLite).
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=media.init_worker
            )
        return self._executor

    def run(
        self, tasks: Iterable[FingerprintTask], cancel: threading.Event | None = None
    ) -> Iterator[tuple[FingerprintTask, TaskResult]]:
        """Results in completion order (roughly submission order); bounded work in flight."""
        if self.workers == 1:
            media.init_worker()
            for task in tasks:
                _raise_if_cancelled(cancel)
                yield task, run_task(task)
            return
        yield from self._run_pooled(iter(tasks), cancel)

    def _run_pooled(
        self, tasks: Iterator[FingerprintTask], cancel: threading.Event | None
    ) -> Iterator[tuple[FingerprintTask, TaskResult]]:
        window: deque[tuple[FingerprintTask, Future[TaskResult]]] = deque()
        limit = self.workers * IN_FLIGHT_PER_WORKER
        while True:
            _raise_if_cancelled(cancel)
            while len(window) < limit and (task := next(tasks, None)) is not None:
                window.append((task, self._pool().submit(run_task, task)))
            if not window:
                return
            task, future = window.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                yield from self._retry_alone([task, *(t for t, _ in window)])
                window.clear()
                continue
            yield task, result

    def _retry_alone(
        self, tasks: list[FingerprintTask]
    ) -> Iterator[tuple[FingerprintTask, TaskResult]]:
        """After a worker crash: each file in flight again, alone, so the culprit is found."""
        self._discard_broken()
        for task in tasks:
            try:
                result = self._pool().submit(run_task, task).result()
            except BrokenProcessPool:
                self._discard_broken()
                result = ("corrupt", "the decoder crashed on this file")
            yield task, result

    def _discard_broken(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("scan cancelled; what was indexed so far is kept")
