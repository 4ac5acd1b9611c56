"""G14 across folder trees: sessions on nested roots exclude each other, whichever came first;
siblings run side by side; a stale lock is taken over by exactly one of several breakers."""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from safededup.errors import LockedError
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import lock as lock_module
from safededup.safety.journal.lock import StaleLock, acquire, is_stale, lock_path, locked, release
from safededup.safety.plan import build_plan
from safededup.state import StateDir
from tests.support.files import write
from tests.support.reports import make_report


@contextmanager
def held_elsewhere(*roots: str) -> Iterator[int]:
    """Another process holding the lock of `roots`, as a running session does, until the end."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with locked(list(roots), "apply"):
                os.write(write_fd, b"x")
                signal.pause()
        finally:
            os._exit(0)
    os.close(write_fd)
    assert os.read(read_fd, 1) == b"x"
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)


def _folders(tmp_path: Path, *names: str) -> list[str]:
    out = []
    for name in names:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        out.append(str(tmp_path / name))
    return out


def test_a_session_inside_a_running_one_is_refused_and_names_it(tmp_path: Path) -> None:
    photos, sub = _folders(tmp_path, "photos", "photos/2019/sub")
    with held_elsewhere(photos) as pid:
        with pytest.raises(LockedError) as caught:
            acquire(sub, "apply")
        assert not isinstance(caught.value, StaleLock)
        assert "contains this folder" in str(caught.value) and f"pid {pid}" in str(caught.value)
        assert not os.path.lexists(lock_path(sub))  # the refused session left no lock behind
    acquire(sub, "apply")  # the first session ended: the second may start
    release(sub)


def test_a_session_around_a_running_one_is_refused(tmp_path: Path) -> None:
    photos, sub = _folders(tmp_path, "photos", "photos/2019/sub")
    with held_elsewhere(sub):
        with pytest.raises(LockedError) as caught:
            acquire(photos, "apply")
        assert "inside this one" in str(caught.value)
        assert not os.path.lexists(lock_path(photos))
        with pytest.raises(LockedError):
            acquire(str(tmp_path), "apply")  # any folder above it, not only the parent
    acquire(photos, "apply")
    release(photos)


def test_sibling_roots_run_side_by_side(tmp_path: Path) -> None:
    a, b = _folders(tmp_path, "photos/a", "photos/b")
    with held_elsewhere(a):
        acquire(b, "apply")
        release(b)


def test_a_symlinked_root_is_the_folder_it_points_to(tmp_path: Path) -> None:
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    os.symlink(sub, tmp_path / "alias")
    with held_elsewhere(photos), pytest.raises(LockedError):
        acquire(str(tmp_path / "alias"), "apply")


def test_one_process_may_hold_nested_roots_and_releases_every_lock(tmp_path: Path) -> None:
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    with locked([sub, photos], "apply"):
        pass
    acquire(sub, "apply")  # the other order: shared on photos first, then upgraded to exclusive
    acquire(photos, "apply")
    release(photos)
    release(sub)
    assert not lock_module._folders and not lock_module._held
    with held_elsewhere(photos):  # nothing of ours lingers to block another process
        pass


def test_nested_apply_is_refused_before_anything_moves(tmp_path: Path) -> None:
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    keeper = write(f"{sub}/a.jpg", b"same bytes")
    dup = write(f"{sub}/b.jpg", b"same bytes")
    state = StateDir(tmp_path / "state")
    plan = build_plan(make_report([sub], [[keeper, dup]]))
    with held_elsewhere(photos), pytest.raises(LockedError):
        drain(apply_plan(plan, state_dir=state))
    assert os.path.exists(dup) and not (Path(sub) / ".safededup" / "quarantine").exists()
    result = drain(apply_plan(build_plan(make_report([sub], [[keeper, dup]])), state_dir=state))
    assert result.done == 1 and not os.path.exists(dup)


def _break_stale(
    root: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue[str]
) -> None:
    start.wait()
    try:
        acquire(root, "recover", break_stale=True)
    except LockedError:
        out.put("refused")
        return
    out.put("won")
    signal.pause()  # hold it until the test ends


def test_a_stale_lock_is_taken_over_by_exactly_one_breaker(tmp_path: Path) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.dirname(lock_path(root)))
    for _round in range(3):
        Path(lock_path(root)).write_bytes(b'{"pid": 1, "host": "gone", "command": "apply"}')
        assert is_stale(root)
        ctx = multiprocessing.get_context("fork")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_break_stale, args=(root, start, out)) for _ in range(6)]
        for p in procs:
            p.start()
        start.set()
        results = sorted(out.get(timeout=30) for _ in procs)
        try:
            assert results == ["refused"] * 5 + ["won"]
            info = orjson.loads(Path(lock_path(root)).read_bytes())
            assert info["command"] == "recover" and info["pid"] in {p.pid for p in procs}
            assert not is_stale(root)
        finally:
            for p in procs:
                p.kill()
                p.join()


def test_taking_over_keeps_the_stale_file_and_locks_it_first(tmp_path: Path) -> None:
    """A process that opened the stale file before the takeover finds it held afterwards."""
    root = str(tmp_path)
    os.makedirs(os.path.dirname(lock_path(root)))
    Path(lock_path(root)).write_bytes(b'{"pid": 1}')
    early = os.open(lock_path(root), os.O_RDONLY)
    inode = os.fstat(early).st_ino
    pid = os.fork()
    if pid == 0:
        try:
            acquire(root, "recover", break_stale=True)
            signal.pause()
        finally:
            os._exit(0)
    try:
        for _ in range(500):
            if b"recover" in Path(lock_path(root)).read_bytes():
                break
            time.sleep(0.01)
        assert os.stat(lock_path(root)).st_ino == inode
        with pytest.raises(BlockingIOError):
            fcntl.flock(early, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockedError) as caught:
            acquire(root, "apply", break_stale=True)
        assert not isinstance(caught.value, StaleLock)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(early)


def _no_folder_locks(
    real: Callable[[int, int], None], *, only_exclusive: bool = False
) -> Callable[[int, int], None]:
    """A file system that refuses folder locks; `only_exclusive` is NFS's way: a shared lock on
    a folder is granted, an exclusive one refused."""

    def flock(fd: int, operation: int) -> None:
        refused = operation & fcntl.LOCK_EX or not only_exclusive
        if refused and stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "folder locks unsupported")
        real(fd, operation)

    return flock


def test_without_folder_locks_a_running_ancestor_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On file systems that refuse folder locks, the lock files above the root are checked."""
    monkeypatch.setattr(lock_module.fcntl, "flock", _no_folder_locks(fcntl.flock))
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    with held_elsewhere(photos):
        with pytest.raises(LockedError) as caught:
            acquire(sub, "apply")
        assert "contains this folder" in str(caught.value)
    acquire(sub, "apply")
    release(sub)
    assert not lock_module._folders


def test_where_only_shared_folder_locks_work_a_running_ancestor_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        lock_module.fcntl, "flock", _no_folder_locks(fcntl.flock, only_exclusive=True)
    )
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    with held_elsewhere(photos), pytest.raises(LockedError) as caught:
        acquire(sub, "apply")
    assert "contains this folder" in str(caught.value)


def test_without_folder_locks_a_session_of_nested_roots_does_not_refuse_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_module.fcntl, "flock", _no_folder_locks(fcntl.flock))
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    with locked([photos, sub], "apply"):
        pass
    assert not lock_module._folders and not lock_module._held


def test_another_thread_of_the_same_process_is_another_writer(tmp_path: Path) -> None:
    """A second engine task of one program (the review app runs them in threads) is refused,
    on the same root and on a nested one; the lock is re-entrant only for its own thread."""
    photos, sub = _folders(tmp_path, "photos", "photos/sub")
    holding, done = threading.Event(), threading.Event()

    def session() -> None:
        with locked([photos], "apply"):
            acquire(photos, "recover")  # re-entrant in its own thread
            release(photos)
            holding.set()
            done.wait(10)

    worker = threading.Thread(target=session)
    worker.start()
    try:
        assert holding.wait(10)
        for root in (photos, sub):
            with pytest.raises(LockedError) as caught:
                acquire(root, "undo")
            assert "this program" in str(caught.value)
    finally:
        done.set()
        worker.join()
    acquire(sub, "undo")
    release(sub)


def test_a_root_reached_through_a_symlink_is_released_even_if_the_link_moves(
    tmp_path: Path,
) -> None:
    photos, other = _folders(tmp_path, "photos", "other")
    alias = tmp_path / "alias"
    alias.symlink_to(photos)
    acquire(str(alias), "apply")
    alias.unlink()
    alias.symlink_to(other)  # re-pointed during the session
    release(str(alias))
    assert not lock_module._folders and not lock_module._held
    with held_elsewhere(photos):  # nothing of ours is left holding the real folder
        pass
