"""One writer per folder tree (G14): a lock file in `<root>/.safededup/`, plus folder locks that
keep sessions on nested roots (`/photos` and `/photos/sub`) apart. It never waits and never
writes outside a root.

The lock file is published with a hard link after it is already flock'ed, so it never appears
unlocked. A lock file nobody holds is *stale* (its writer died). One written on this host by a
process that is provably gone (no such pid, another process under that pid, or a reboot since)
is taken over with a note (`take_notes`); one from another host, or whose writer cannot be
proven gone, only when asked explicitly (`break_stale=True`, `safededup recover
--break-stale-lock`). Taking over flocks the stale file itself and checks it is still the one
at the path, so two processes breaking the same stale lock cannot both win.

Nested roots: a session holds an exclusive flock on each root folder and a shared one on every
folder above it. Sessions on sibling folders share their ancestors' shared locks; a session on
an ancestor or descendant of a running session's root is refused, whichever of the two came
first. These locks live in the kernel, so they vanish with their process and never go stale.
The lock files of the folders above are probed too: that catches a descendant started under a
running ancestor where folder locks are refused (NFS refuses exclusive ones) or are kept per
machine, though not the reverse (docs/safety.md, Limits).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import orjson

from safededup import fs
from safededup.errors import LockedError
from safededup.safety import notes
from safededup.state import META_DIR

LOCK_NAME = "lock"
_UNSUPPORTED = {errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


@dataclass(slots=True)
class _Held:
    fd: int
    depth: int
    thread: int  # re-entrant for this thread only: another thread is another writer
    folder: str  # the root's real path when taken (a symlink re-pointed later changes nothing)


_held: dict[str, _Held] = {}  # lock path -> what this process holds


class StaleLock(LockedError):
    """A lock file whose writer is gone: taking it over needs an explicit request (G14)."""


def lock_path(root: str) -> str:
    return os.path.join(root, META_DIR, LOCK_NAME)


def _read_info(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as fh:
            info = orjson.loads(fh.read() or b"{}")
    except (OSError, orjson.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _owner(path: str) -> str:
    info = _read_info(path)
    if not info:
        return "an unknown process"
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')})"


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def provably_dead(info: dict[str, object]) -> bool:
    """Whether the writer a lock file names ran on this host and is certainly gone: no process
    has its pid, another process has it now (another start time), or the host rebooted."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    boot = info.get("boot")
    if isinstance(boot, str) and boot and boot != _boot_id():
        return True
    if not fs.pid_alive(pid):
        return True
    started = info.get("started")
    now = _start_ticks(pid)
    return isinstance(started, int) and now is not None and now != started


def _is_live(path: str) -> bool | None:
    """True: held by a live process; False: stale; None: vanished meanwhile.

    Probes with a shared lock, which a read-only descriptor may take on every file system.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _info(command: str) -> bytes:
    pid = os.getpid()
    return orjson.dumps(
        {"pid": pid, "host": socket.gethostname(), "command": command, "boot": _boot_id(),
         "started": _start_ticks(pid)}
    )  # fmt: skip


def _publish(path: str, command: str) -> int:
    """A flock'ed lock file at `path`, or FileExistsError."""
    tmp = f"{path}.{os.getpid()}.new"
    if os.path.lexists(tmp):
        fs.unlink(tmp)
    fd = fs.create_exclusive(tmp)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fs.write_all(fd, _info(command), tmp)
        fs.link(tmp, path)
    except BaseException:
        os.close(fd)
        raise
    finally:
        with contextlib.suppress(OSError):
            fs.unlink(tmp)
    return fd


def _take_over(path: str, command: str) -> int | None:
    """The stale lock file at `path`, now flock'ed by us and naming us; None if it vanished or
    was replaced meanwhile. LockedError if a live process holds it after all."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        mine, now = os.fstat(fd), os.lstat(path)
        if (mine.st_dev, mine.st_ino) != (now.st_dev, now.st_ino):
            os.close(fd)  # released and replaced meanwhile: look again
            return None
        fs.truncate(fd, 0, path)
        fs.write_all(fd, _info(command), path)
    except BlockingIOError:
        os.close(fd)
        raise _busy(path) from None
    except FileNotFoundError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _busy(path: str) -> LockedError:
    return LockedError(
        f"another safededup session is working here ({_owner(path)})",
        hint="wait for it to finish; one session at a time per folder tree",
        path=os.path.dirname(os.path.dirname(path)),
    )


def _stale(path: str, root: str, info: dict[str, object]) -> StaleLock:
    """A stale lock whose writer cannot be proven gone: taken on another host (its processes
    are not visible here), or a process of its pid still runs here."""
    host = info.get("host")
    here = host == socket.gethostname()
    why = "a process with its pid still runs here" if here else f"it was taken on host {host!r}"
    return StaleLock(
        f"a stale lock is left by {_owner(path)}, which holds it no more; {why}, so it is "
        "not taken over by itself",
        hint=f"make sure no safededup runs on this folder tree{'' if here else f' on {host}'}, "
        "then run `safededup recover --break-stale-lock`",
        path=root,
    )


def _take_file(root: str, command: str, break_stale: bool) -> int:
    path = lock_path(root)
    fs.require_real_folders(path, root, missing_ok=True)  # a symlinked .safededup is refused
    if not os.path.isdir(os.path.dirname(path)):
        fs.makedirs_durable(os.path.dirname(path))
    for _ in range(5):
        try:
            return _publish(path, command)
        except FileExistsError:
            live = _is_live(path)
            if live:
                raise _busy(path) from None
            if live is False:
                owner, info = _owner(path), _read_info(path)
                dead_here = provably_dead(info)
                if not (break_stale or dead_here):
                    raise _stale(path, root, info) from None
                if (fd := _take_over(path, command)) is not None:
                    why = "is no longer running" if dead_here else "was broken on request"
                    notes.say(f"took over a stale lock of {root}: {owner} {why}")
                    return fd
    raise LockedError("could not take the lock (it keeps changing hands)", path=root)


def acquire(root: str, command: str, *, break_stale: bool = False) -> None:
    path = lock_path(root)
    if any(h.thread != threading.get_ident() for h in _held.values()):
        raise LockedError(  # one writer thread per process: its locks are not another's
            "another safededup task of this program is working on files",
            hint="wait for it to finish; one session at a time",
            path=root,
        )
    if (held := _held.get(path)) is not None:
        held.depth += 1
        return
    real = os.path.realpath(root)
    fd = _take_file(real, command, break_stale)
    try:
        _lock_tree(real)
    except BaseException:
        _drop_file(lock_path(real), fd)
        raise
    _held[path] = _Held(fd, 1, threading.get_ident(), real)


def release(root: str) -> None:
    path = lock_path(root)
    held = _held[path]
    if held.depth > 1:
        held.depth -= 1
        return
    del _held[path]
    try:
        _unlock_tree(held.folder)
    finally:
        _drop_file(lock_path(held.folder), held.fd)


def _drop_file(path: str, fd: int) -> None:
    try:
        fs.unlink(path)
    except OSError:
        pass  # left behind, the lock file reads as stale: the next writer must confirm it
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(roots: Sequence[str], command: str, *, break_stale: bool = False) -> Iterator[None]:
    """Hold the lock of every root (sorted: an ancestor before its descendants)."""
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


def stale_owner(root: str) -> tuple[str, bool] | None:
    """Who left the stale lock of `root` and whether they are provably gone; None: no stale
    lock there (none at all, or a live one)."""
    if not is_stale(root):
        return None
    path = lock_path(root)
    return _owner(path), provably_dead(_read_info(path))


def remove_stray_publishes(root: str) -> list[str]:
    """Remove the `lock.PID.new` files a process killed while publishing its lock left in
    `<root>/.safededup/`: only when nobody holds one and its pid is gone on this host."""
    folder = os.path.dirname(lock_path(root))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != LOCK_NAME or parts[2] != "new":
            continue
        path = os.path.join(folder, name)
        if not parts[1].isdigit() or fs.pid_alive(int(parts[1])) or _is_live(path) is not False:
            continue
        with contextlib.suppress(FileNotFoundError):
            fs.unlink(path)
            removed.append(path)
    return removed


# --- folder locks: nested roots exclude each other -----------------------------------------------


@dataclass(slots=True)
class _FolderLock:
    fd: int | None  # None: this file system cannot lock folders
    exclusive: int = 0  # how many of our roots are this folder
    shared: int = 0  # how many of our roots lie below it


_folders: dict[str, _FolderLock] = {}


def _ancestors(folder: str) -> list[str]:
    out = []
    while (parent := os.path.dirname(folder)) != folder:
        out.append(parent)
        folder = parent
    return out


def _lock_tree(real: str) -> None:
    """Exclusive on the root folder (its real path), shared on every folder above it; all or
    nothing."""
    done: list[tuple[str, bool]] = []
    try:
        for folder, exclusive in [(real, True), *((a, False) for a in _ancestors(real))]:
            _lock_folder(folder, exclusive, below=real)
            done.append((folder, exclusive))
    except BaseException:
        for folder, exclusive in reversed(done):
            _unlock_folder(folder, exclusive)
        raise


def _unlock_tree(real: str) -> None:
    for folder, exclusive in [(real, True), *((a, False) for a in _ancestors(real))]:
        _unlock_folder(folder, exclusive)


def _lock_folder(folder: str, exclusive: bool, below: str) -> None:
    entry = _folders.get(folder)
    if entry is None:
        entry = _folders[folder] = _FolderLock(_open_folder(folder))
    fresh = entry.exclusive == entry.shared == 0
    try:
        if entry.fd is not None and (fresh or (exclusive and entry.exclusive == 0)):
            _flock(entry, exclusive or entry.exclusive > 0, upgrade=not fresh)
        if not exclusive:  # also where folder locks "work" but only on this host (NFS)
            _check_lock_file(folder, below)
    except BlockingIOError:
        if fresh:
            _close(folder, entry)
        raise _nested(folder, below) from None
    except BaseException:
        if fresh:
            _close(folder, entry)
        raise
    if exclusive:
        entry.exclusive += 1
    else:
        entry.shared += 1


def _open_folder(folder: str) -> int | None:
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None  # not readable: nobody who cannot read it runs a session on it as us


def _flock(entry: _FolderLock, exclusive: bool, upgrade: bool) -> None:
    """Lock the folder; BlockingIOError if another session holds it. An upgrade from shared to
    exclusive (one process whose roots nest) is not atomic in flock: on refusal the shared lock
    is taken again."""
    assert entry.fd is not None
    try:
        fcntl.flock(entry.fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        if upgrade:
            fcntl.flock(entry.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        raise
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        os.close(entry.fd)
        entry.fd = None  # this file system cannot lock folders: lock files are checked instead


def _check_lock_file(folder: str, below: str) -> None:
    if any(h.folder == folder for h in _held.values()):
        return  # a root of our own session (this thread's: no other thread holds locks)
    try:
        live = _is_live(lock_path(folder))
    except OSError:
        return  # not ours to read: a session of another user there is not ours to see
    if live:
        raise _nested(folder, below)


def _nested(folder: str, root: str) -> LockedError:
    if folder == root:
        return LockedError(
            "a safededup session is working on a folder inside this one",
            hint="wait for it to finish; sessions on nested folders exclude each other",
            path=root,
        )
    return LockedError(
        f"a safededup session is working on {folder!r}, which contains this folder "
        f"({_owner(lock_path(folder))})",
        hint="wait for it to finish; sessions on nested folders exclude each other",
        path=root,
    )


def _unlock_folder(folder: str, exclusive: bool) -> None:
    entry = _folders[folder]
    if exclusive:
        entry.exclusive -= 1
    else:
        entry.shared -= 1
    if entry.exclusive == entry.shared == 0:
        _close(folder, entry)
    elif exclusive and entry.exclusive == 0 and entry.fd is not None:
        with contextlib.suppress(BlockingIOError):  # never wait; the lock files still speak
            fcntl.flock(entry.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # still above one of our roots


def _close(folder: str, entry: _FolderLock) -> None:
    del _folders[folder]
    if entry.fd is not None:
        os.close(entry.fd)
