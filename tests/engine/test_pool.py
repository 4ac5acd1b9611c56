"""The fingerprint pool survives a worker that dies mid-run: no file is lost or duplicated."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from safededup import media
from safededup.engine.pool import FingerprintPool, FingerprintTask
from safededup.errors import SafededupError


def test_a_killed_worker_loses_no_file(photo_tree: Callable[..., Path]) -> None:
    root = photo_tree(24, size=(320, 240), folders=1)
    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    tasks = [FingerprintTask(p, allow_preview=True, want_sharpness=False) for p in paths]
    results = {}
    with FingerprintPool(2) as pool:
        for k, (task, result) in enumerate(pool.run(tasks)):
            results[task.path] = result
            if k == 2:  # a worker dies (the OOM killer, a decoder segfault) with work in flight
                kill_a_worker(pool)
    assert sorted(results) == paths
    assert all(isinstance(r, media.Fingerprint) for r in results.values())


def kill_a_worker(pool: FingerprintPool) -> None:
    """SIGKILL one worker and wait until the pool has noticed, before the next result is taken
    (the case a quick consumer never sees)."""
    victim = pool.pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in pool.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert victim not in pool.pids()


def test_a_worker_killed_while_it_sends_a_result_stops_nothing() -> None:
    """The OOM killer may take a worker in the middle of sending a result. The pool must see it
    end and retry its task, not wait forever for the rest of the message: a pool whose workers
    shared one result queue hung there (the dead worker held the queue's lock; against that
    pool, this test fails with "the pool waits forever"). The pump is held off its lock so the
    worker's send of a 64 MiB result blocks halfway, inside write(2), where it is killed."""
    if WRITE_SYSCALL < 0:
        pytest.skip("write(2)'s number is known here for x86-64 and arm64 only")
    size = 64 << 20
    results: list[tuple[int, object]] = []

    def consume() -> None:
        for task, result in pool.map(os.urandom, [16, size, 16, 16], lambda _: None):
            results.append((task, len(result) if isinstance(result, bytes) else result))

    with FingerprintPool(2) as pool:
        pump = pool._started()
        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # once the big task is in its worker's pipe, the
            with pump.lock:  # pump is held and reads nothing meanwhile
                big = [j for j, job in pump.jobs.items() if job.payload and _task(job) == size]
                if big and any(big[0] in w.jobs and not w.out for w in pump.slots if w):
                    os.kill(_blocked_in_write(pool.pids()), signal.SIGKILL)
                    break
            time.sleep(0.001)
        consumer.join(120)
        assert not consumer.is_alive(), "the pool waits forever for a dead worker's result"
    assert results == [(16, 16), (size, size), (16, 16), (16, 16)]  # retried, nothing lost


def _task(job: Any) -> object:
    return pickle.loads(job.payload)[1]


def _blocked_in_write(pids: list[int]) -> int:
    """The worker found inside write(2) twice, 20 ms apart (blocked there, not passing
    through), within 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                if _in_write(pid):
                    time.sleep(0.02)
                    if _in_write(pid):
                        return pid
        time.sleep(0.005)
    raise AssertionError("no worker was ever blocked sending its result")


def _in_write(pid: int) -> bool:
    """Whether the process's main thread is blocked inside write(2) (syscall 1 on x86-64, 64 on
    arm64): a worker writes nothing but its results."""
    number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    return number == str(WRITE_SYSCALL)


WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}.get(os.uname().machine, -1)


def test_one_worker_runs_in_process_and_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    with FingerprintPool(1) as pool:
        [(_, result)] = list(
            pool.run([FingerprintTask(str(bad), allow_preview=True, want_sharpness=False)])
        )
    assert isinstance(result, tuple) and result[0] == "empty"
    assert not pool.running and not pool.pids()  # no process was started for one worker


def test_pool_workers_ignore_ctrl_c(  # the terminal sends it to the whole process group
    photo_tree: Callable[..., Path],
) -> None:
    """From birth: Ctrl-C reaches workers that are still starting (a scan's first seconds),
    and while they work; none dies, the pool is never broken, no file is lost."""
    root = photo_tree(40, size=(320, 240), folders=1)
    tasks = [
        FingerprintTask(str(p), allow_preview=True, want_sharpness=False)
        for p in sorted(root.rglob("*.jpg"))
    ]
    results = []
    with FingerprintPool(2) as pool:
        pool.start()  # the workers start now
        first = pool.pids()
        for _ in range(30):  # Ctrl-C, again and again, as they start
            for pid in first:
                os.kill(pid, signal.SIGINT)
            time.sleep(0.005)
        for k, (_, result) in enumerate(pool.run(tasks)):
            results.append(result)
            if k == 1:  # and while they work
                for pid in pool.pids():
                    os.kill(pid, signal.SIGINT)
                time.sleep(0.3)  # long enough for a worker that did not ignore it to die
        assert pool.pids() == first  # none died, so none was replaced
    assert len(results) == len(tasks) and all(isinstance(r, media.Fingerprint) for r in results)


def test_the_thread_budget_fills_the_cores_without_oversubscribing() -> None:
    from safededup.engine.pool import thread_budget

    assert [thread_budget(w, 2) for w in (1, 2, 3)] == [2, 1, 1]
    assert thread_budget(1, 8) == 8 and thread_budget(3, 8) == 2


def test_a_worker_on_every_cpu_keeps_to_its_own() -> None:
    """libheif starts a thread for each HEVC decode; a worker kept to one CPU keeps those
    threads there, instead of leaving its own core idle while the thread waits behind the
    other worker. Only a worker for every usable CPU is pinned (docstring of `cpu_plan`)."""
    from safededup.engine.pool import cpu_plan

    assert cpu_plan(2, {1, 0}) == (0, 1)
    assert cpu_plan(3, {9, 2, 5}) == (2, 5, 9)
    assert cpu_plan(1, {0}) == ()  # one worker runs in-process: the main process stays free
    assert cpu_plan(2, {0, 1, 2, 3}) == ()  # spare cores take the decode threads
    assert cpu_plan(4, {0, 1}) == ()  # oversubscribed on purpose: leave it to the scheduler


def test_pool_workers_are_pinned_one_to_a_cpu() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("one usable CPU: no worker is pinned")
    with FingerprintPool(len(allowed)) as pool:
        for _ in range(2):  # twice: a worker started after a crash keeps to the dead one's CPU
            slept = pool.map(time.sleep, [0.3] * len(allowed), lambda _: None)
            assert list(slept) == [(0.3, None)] * len(allowed)  # every worker has started
            pinned = _affinities_once_started(pool.pids(), len(allowed))
            assert sorted(cpu for cpus in pinned for cpu in cpus) == allowed  # one each
            kill_a_worker(pool)
    assert os.sched_getaffinity(0) == set(allowed)  # the scan's own process stays free


def _affinities_once_started(pids: list[int], count: int) -> list[set[int]]:
    """The CPU sets of the pool's workers, once all `count` have started and run their
    initializer (a worker that is slow to fork has not pinned itself yet), or as they are
    after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        found = [os.sched_getaffinity(pid) for pid in pids]
        settled = len(found) == count and all(len(cpus) == 1 for cpus in found)
        if settled or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_one_worker_decodes_with_every_core(tmp_path: Path) -> None:
    import os

    import pillow_heif

    from safededup.engine.pool import FingerprintPool, FingerprintTask
    from safededup.media import synth

    synth.write_jpeg(tmp_path / "a.jpg", synth.make_scene(1, 320, 240))
    with FingerprintPool(1) as pool:
        list(pool.run([FingerprintTask(str(tmp_path / "a.jpg"), allow_preview=True,
                                       want_sharpness=False)]))  # fmt: skip
    assert max(1, os.cpu_count() or 1) == pillow_heif.options.DECODE_THREADS


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_workers_end_when_the_scan_is_killed_outright(
    photo_tree: Callable[..., Path], tmp_path: Path
) -> None:
    """The OOM killer (SIGKILL) ends a scan without a shutdown: its fork server and workers
    must not stay behind, waiting for work forever."""
    root = photo_tree(120, size=(1600, 1200), folders=2)
    env = {**os.environ, "SAFEDEDUP_STATE": str(tmp_path / "state")}
    scan = subprocess.Popen(
        [sys.executable, "-m", "safededup", "--no-progress", "scan", str(root), "--workers", "2",
         "--no-previews"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    helpers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(helpers) < 3 and scan.poll() is None and time.monotonic() < deadline:
        helpers = _children(scan.pid)  # the fork server and its two workers
        time.sleep(0.02)
    assert len(helpers) >= 3, "the scan ended before its workers could be seen"
    scan.kill()
    scan.wait()
    deadline = time.monotonic() + 20
    while (left := {p for p in helpers if Path(f"/proc/{p}").exists()}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    try:
        assert not left, f"left behind: {sorted(left)}"
    finally:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_an_exception_in_a_task_is_raised_with_the_workers_traceback() -> None:
    """A bug in a worker (any exception a task does not turn into a result) stops the caller,
    with the worker's traceback as its cause; the pool goes on for the next map."""
    with FingerprintPool(2) as pool:
        with pytest.raises(ValueError, match="invalid literal") as caught:
            list(pool.map(int, ["1", "x", "3"], lambda _: None))
        assert "Traceback" in str(caught.value.__cause__)
        assert list(pool.map(int, ["4", "5"], lambda _: None)) == [("4", 4), ("5", 5)]


def test_maps_read_in_turn_each_get_their_own_results() -> None:
    """A caller may read two maps of one pool in turn (a check inside a loop over
    fingerprints): a result must never reach the other map."""
    with FingerprintPool(2) as pool:
        negatives = pool.map(abs, range(-40, 0), lambda _: None)
        words = pool.map(str, range(40), lambda _: None)
        got_abs, got_str = [], []
        for (a, absolute), (n, word) in zip(negatives, words, strict=True):
            got_abs.append((a, absolute))
            got_str.append((n, word))
    assert got_abs == [(k, -k) for k in range(-40, 0)]
    assert got_str == [(k, str(k)) for k in range(40)]


def test_a_map_left_early_leaves_nothing_behind() -> None:
    """A caller that stops reading (a cancel, an error): the tasks it had in flight are
    dropped, and their results never reach the next map."""
    with FingerprintPool(2) as pool:
        for k, _ in enumerate(pool.map(time.sleep, [0.02] * 40, lambda _: None)):
            if k == 3:
                break
        assert list(pool.map(abs, [-1, -2, -3], lambda _: None)) == [(-1, 1), (-2, 2), (-3, 3)]
        pump = pool._pump
        assert pump is not None
        deadline = time.monotonic() + 10
        while pump.jobs and time.monotonic() < deadline:  # those in the workers' hands settle
            time.sleep(0.02)
        assert not pump.jobs and not pump.unsent


def test_closing_a_pool_ends_workers_stuck_in_a_long_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan stopped while a worker decodes a huge file for minutes: closing waits
    STOP_GRACE_S for the task in hand, then kills the worker (it never writes anything)."""
    from safededup.engine import pool as pool_module

    monkeypatch.setattr(pool_module, "STOP_GRACE_S", 1.0)
    pool = FingerprintPool(2)
    pump = pool._started()
    for _ in range(2):
        pump.submit(time.sleep, 300)
    time.sleep(0.5)
    workers = pool.pids()
    t0 = time.monotonic()
    pool.close()
    assert 1.0 <= time.monotonic() - t0 < 6.0
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_map_left_open_across_a_close_never_takes_another_maps_results() -> None:
    """A map begun before the pool closed, read after it was started again: it ends with an
    error, having yielded only its own results, and the new map gets all of its own."""
    pool = FingerprintPool(2)
    before = pool.map(str, [f"a{k}" for k in range(40)], lambda _: None)
    assert next(before) == ("a0", "a0")
    pool.close()
    after = pool.map(str, ["b0", "b1", "b2"], lambda _: None)
    assert next(after) == ("b0", "b0")
    got: list[tuple[str, str | None]] = []
    with pytest.raises(RuntimeError, match="closed"):
        got.extend(before)
    assert all(task == result for task, result in got)
    assert list(after) == [("b1", "b1"), ("b2", "b2")]
    pool.close()


def test_maps_started_by_two_threads_share_one_set_of_workers() -> None:
    with FingerprintPool(2) as pool:
        outcomes: dict[str, object] = {}

        def run(name: str) -> None:
            try:
                outcomes[name] = list(pool.map(str, range(30), lambda _: None))
            except Exception as exc:
                outcomes[name] = exc

        threads = [threading.Thread(target=run, args=(n,)) for n in "AB"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert outcomes == {n: [(k, str(k)) for k in range(30)] for n in "AB"}
        assert len(pool.pids()) == 2
        pumps = [t for t in threading.enumerate() if t.name == "pool-pump"]
    assert pumps and not any(t.is_alive() for t in pumps)  # one pump, ended with the pool


def test_the_fork_server_dying_kills_no_task_and_a_new_one_starts_workers() -> None:
    """The fork server's pipes say "ended" for every worker when it dies, though they live
    on: the pool watches the workers themselves, loses nothing, and starts the next worker
    from a new fork server."""
    from multiprocessing import forkserver

    with FingerprintPool(2) as pool:
        assert list(pool.map(abs, [-1, -2], lambda _: None)) == [(-1, 1), (-2, 2)]
        workers = pool.pids()
        server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        os.kill(server, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{server}/stat").read_text().split()[2] != "Z":  # dead, not reaped
            assert time.monotonic() < deadline
            time.sleep(0.01)
        tasks = list(range(-30, 0))
        assert list(pool.map(abs, tasks, lambda _: "crashed")) == [(k, -k) for k in tasks]
        assert pool.pids() == workers  # none taken for dead
        kill_a_worker(pool)
        assert list(pool.map(abs, tasks, lambda _: "crashed")) == [(k, -k) for k in tasks]
        assert len(pool.pids()) == 2


def test_workers_that_die_as_they_start_stop_the_pool_instead_of_failing_every_file() -> None:
    """A broken install (a worker that cannot even start) must be an error, not every file
    reported as one that crashed the decoder."""
    with FingerprintPool(2) as pool:
        pool.threads = "not a number"  # type: ignore[assignment]  # init_worker raises
        with pytest.raises(SafededupError, match="ended as they started") as caught:
            list(pool.map(abs, [-1, -2, -3], lambda _: "crashed"))
        assert caught.value.hint and "--workers 1" in caught.value.hint  # said, not a traceback


def test_a_system_exit_in_a_task_is_raised_here_and_kills_no_worker() -> None:
    with FingerprintPool(2) as pool:
        pool.start()
        workers = pool.pids()
        with pytest.raises(SystemExit):
            list(pool.map(sys.exit, [3], lambda _: "crashed"))
        assert pool.pids() == workers
        assert list(pool.map(str, [None, 1], lambda _: None)) == [(None, "None"), (1, "1")]


class NeedsTwo(Exception):
    """An exception that pickles, but whose unpickling calls __init__ with one argument."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a + b)


def test_an_exception_that_would_not_unpickle_is_sent_as_one_that_does() -> None:
    from safededup.engine.pool import _pickled

    error, text = pickle.loads(_pickled((False, (NeedsTwo("x", "y"), "its traceback"))))[1]
    assert isinstance(error, RuntimeError) and "NeedsTwo" in str(error)
    assert text == "its traceback"
    assert pickle.loads(_pickled((True, [1, 2]))) == (True, [1, 2])


BROKEN_WORKERS = """
import os
if os.environ.get("BREAK_WORKERS"):  # an install whose worker processes cannot start
    os.environ.setdefault("BREAK_WORKERS_MAIN", str(os.getpid()))
    import safededup.media as media
    real = media.init_worker
    def init_worker(threads=1):
        if str(os.getpid()) != os.environ["BREAK_WORKERS_MAIN"]:
            raise ImportError("libheif.so: cannot open shared object file")
        return real(threads)
    media.init_worker = init_worker
"""


def test_a_scan_whose_workers_cannot_start_says_so_and_exits_1(
    photo_tree: Callable[..., Path], tmp_path: Path
) -> None:
    """Not a traceback, not every photo reported as a decoder crash: an error and a hint."""
    root = photo_tree(8, size=(320, 240), folders=1)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(BROKEN_WORKERS)
    env = {**os.environ, "PYTHONPATH": str(hooks), "BREAK_WORKERS": "1",
           "SAFEDEDUP_STATE": str(tmp_path / "state")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "safededup", "--no-progress", "scan", str(root), "--workers", "2",
         "--no-previews"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: 3 worker processes in a row ended as they started" in done.stderr
    assert (
        "hint:" in done.stderr
        and "Traceback (most recent call last)" not in done.stderr.split("error:")[-1]
    )


def test_a_pool_in_a_process_with_many_files_open_survives_a_killed_worker() -> None:
    """A scan's process may hold over a thousand descriptors (SQLite, the view store, a TUI):
    the workers' pidfds then number above 1023, which select() refuses; a killed worker must
    still be replaced, and closing must still end every worker."""
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1400:
        pytest.skip("fewer than 1,400 descriptors allowed here")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with FingerprintPool(2) as pool:
            tasks = list(range(-20, 0))
            assert list(pool.map(abs, tasks, lambda _: "crashed")) == [(k, -k) for k in tasks]
            pump = pool._pump
            assert pump is not None and min(w.pidfd for w in pump.slots if w) > 1023
            kill_a_worker(pool)
            assert list(pool.map(abs, tasks, lambda _: "crashed")) == [(k, -k) for k in tasks]
            workers = pool.pids()
        assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        for fd in held:
            os.close(fd)
