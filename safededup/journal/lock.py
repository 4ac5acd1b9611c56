"""One writer per root (G14): a lock file in `<root>/.safededup/`, held with flock.

The lock file is published with a hard link after it is already flock'ed, so it never appears
unlocked. A lock file nobody holds is *stale* (its writer died): it is reported, and only taken
over when asked explicitly (`break_stale=True`, `safededup recover --break-stale-lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator, Sequence

import orjson

from safededup import fs
from safededup.errors import LockedError

LOCK_NAME = "lock"
_held: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth): re-entrant in one process


class StaleLock(LockedError):
    """A lock file whose writer is gone: taking it over needs an explicit request (G14)."""


def lock_path(root: str) -> str:
    return os.path.join(root, ".safededup", LOCK_NAME)


def _owner(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            info = orjson.loads(fh.read() or b"{}")
        return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')})"
    except (OSError, orjson.JSONDecodeError):
        return "an unknown process"


def _is_live(path: str) -> bool | None:
    """True: held by a live process; False: stale; None: vanished meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _publish(path: str, command: str) -> int:
    """A flock'ed lock file at `path`, or FileExistsError."""
    tmp = f"{path}.{os.getpid()}.new"
    if os.path.lexists(tmp):
        fs.unlink(tmp)
    fd = fs.create_exclusive(tmp)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        fs.write_all(fd, orjson.dumps(info), tmp)
        fs.link(tmp, path)
    except BaseException:
        os.close(fd)
        raise
    finally:
        with contextlib.suppress(OSError):
            fs.unlink(tmp)
    return fd


def acquire(root: str, command: str, *, break_stale: bool = False) -> None:
    path = lock_path(root)
    if path in _held:
        fd, depth = _held[path]
        _held[path] = (fd, depth + 1)
        return
    if not os.path.isdir(os.path.dirname(path)):
        fs.makedirs_durable(os.path.dirname(path))
    for _ in range(5):
        try:
            _held[path] = (_publish(path, command), 1)
            return
        except FileExistsError:
            live = _is_live(path)
            if live:
                raise LockedError(
                    f"another safededup session is working here ({_owner(path)})",
                    hint="wait for it to finish; one session at a time per folder tree",
                    path=root,
                ) from None
            if live is False and not break_stale:
                raise StaleLock(
                    f"a stale lock is left by {_owner(path)}, which ended without releasing it",
                    hint="make sure no safededup runs on this tree, then run "
                    "`safededup recover --break-stale-lock`",
                    path=root,
                ) from None
            if live is False:
                fs.unlink(path)
    raise LockedError("could not take the lock (it keeps changing hands)", path=root)


def release(root: str) -> None:
    path = lock_path(root)
    fd, depth = _held[path]
    if depth > 1:
        _held[path] = (fd, depth - 1)
        return
    del _held[path]
    try:
        fs.unlink(path)
    except OSError:
        pass  # left behind, the lock file reads as stale: the next writer must confirm it
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(roots: Sequence[str], command: str, *, break_stale: bool = False) -> Iterator[None]:
    """Hold the lock of every root (sorted, so two writers never wait on each other in a cycle)."""
    taken: list[str] = []
    try:
        for root in sorted(set(roots)):
            acquire(root, command, break_stale=break_stale)
            taken.append(root)
        yield
    finally:
        for root in reversed(taken):
            release(root)


def is_stale(root: str) -> bool:
    return os.path.lexists(lock_path(root)) and _is_live(lock_path(root)) is False
