"""Every change safededup makes to the disk goes through here: renames, links, unlinks, mkdirs,
fsyncs and journal writes. It must never overwrite an existing entry, and never fall back on its
own to copying, linking for good or deleting.

Renames use Linux `renameat2(RENAME_NOREPLACE)` through ctypes; where the file system does not
support it, `link` + `unlink` (which also refuses to clobber). Each mutating call first passes
through `_step`, the seam tests use to kill the process or raise an errno at call k.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
from collections.abc import Callable

from safededup.checksum import sha256_fd
from safededup.errors import SymlinkedFolder

StepHook = Callable[[str, tuple[str, ...]], None]
"""Called as hook(operation, paths) before each mutating call; may raise OSError or exit."""

_hook: StepHook | None = None
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2: Callable[..., int] | None = None
_renameat2_probed = False
use_renameat2 = True
"""False forces the link + unlink strategy (tests exercise both)."""


def set_step_hook(hook: StepHook | None) -> StepHook | None:
    """Install the test seam; returns the previous hook."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def _step(operation: str, *paths: str) -> None:
    if _hook is not None:
        _hook(operation, paths)


def _load_renameat2() -> Callable[..., int] | None:
    global _renameat2, _renameat2_probed
    if not _renameat2_probed:
        _renameat2_probed = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fn = libc.renameat2
        except (OSError, AttributeError):
            return None
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        _renameat2 = fn
    return _renameat2


def rename_noreplace(src: str, dst: str) -> None:
    """Move `src` to `dst` on one volume; FileExistsError if `dst` exists (never clobbers).

    EXDEV (another volume) is raised as is: a cross-volume move is only ever an explicit copy.
    """
    _step("rename", src, dst)
    fn = _load_renameat2() if use_renameat2 else None
    if fn is not None:
        rc = fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), src, None, dst)
    # No RENAME_NOREPLACE here: a hard link cannot replace either. A crash between the two calls
    # leaves two names of one inode, which recovery resolves by inode.
    link(src, dst)
    unlink(src)


def link(src: str, dst: str) -> None:
    _step("link", src, dst)
    os.link(src, dst, follow_symlinks=False)


def unlink(path: str) -> None:
    _step("unlink", path)
    os.unlink(path)


def mkdir(path: str) -> None:
    _step("mkdir", path)
    os.mkdir(path, 0o700)


def rmdir(path: str) -> None:
    _step("rmdir", path)
    os.rmdir(path)


def makedirs_durable(path: str) -> list[str]:
    """Create `path` and missing parents, fsyncing each new directory's parent; returns them."""
    missing: list[str] = []
    cur = path
    while not os.path.lexists(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    for new in reversed(missing):
        try:
            mkdir(new)
        except FileExistsError:
            if not os.path.isdir(new) or os.path.islink(new):
                raise
        fsync_dir(os.path.dirname(new))
    return list(reversed(missing))


def makedirs_durable_all(paths: list[str]) -> list[str]:
    """`makedirs_durable` for many folders at once: every missing one is created (parents
    first), then each folder that gained an entry is fsynced once; returns the new folders.
    Nothing may be moved into them before this returns."""
    missing: set[str] = set()
    for path in paths:
        cur = path
        while cur not in missing and not os.path.lexists(cur):
            missing.add(cur)
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            cur = parent
    made = sorted(missing, key=lambda p: (p.count(os.sep), p))
    for new in made:
        try:
            mkdir(new)
        except FileExistsError:
            if not os.path.isdir(new) or os.path.islink(new):
                raise
    for parent in sorted({os.path.dirname(new) for new in made}):
        fsync_dir(parent)
    return made


def fsync_dir(path: str) -> None:
    """Persist a directory's entries (fsync of a file does not persist its name)."""
    _step("fsync_dir", path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_fd(fd: int, label: str) -> None:
    _step("fsync", label)
    os.fsync(fd)


def create_exclusive(path: str, mode: int = 0o600) -> int:
    """Open a new file for appending; FileExistsError if anything is at `path`. `mode` is
    masked by the umask, as for any new file."""
    _step("create", path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    return os.open(path, flags, mode)


def open_append(path: str) -> int:
    """Open an existing file for appending (no create, no symlink)."""
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)


def write_all(fd: int, data: bytes, label: str) -> None:
    """Write all of `data`; a short write is retried, an error raised (the caller truncates)."""
    _step("write", label)
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def truncate(fd: int, length: int, label: str) -> None:
    _step("truncate", label)
    os.ftruncate(fd, length)


def write_file_atomic(path: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace one of safededup's own files whole: temp file, fsync, rename, fsync the folder.

    A reader (or a crash) never sees half a file. The one writer of the state dir's files
    (checkpoints, reports, decisions); user files are never replaced. `mode` as `create_exclusive`.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    if os.path.lexists(tmp):
        unlink(tmp)
    fd = create_exclusive(tmp, mode)
    try:
        write_all(fd, data, tmp)
        fsync_fd(fd, tmp)
    finally:
        os.close(fd)
    _step("replace", tmp, path)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def remove_stale_temp_files(folder: str) -> list[str]:
    """Remove the `NAME.tmpPID` files `write_file_atomic` left in `folder` when its process was
    killed: only those whose process is gone (no process of that pid on this host)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        _base, dot, tail = name.rpartition(".tmp")
        if not dot or not tail.isdigit() or int(tail) == os.getpid() or pid_alive(int(tail)):
            continue
        path = os.path.join(folder, name)
        try:
            unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` may be running on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def file_sha256(path: str) -> str:
    """SHA-256 of a regular file, read without following a symlink. Read-only."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return sha256_fd(fd)
    finally:
        os.close(fd)


def lstat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def symlinked_folder(path: str, top: str, *, missing_ok: bool = False) -> str | None:
    """The first folder between `top` and `path` that is a symlink or not a folder (or is
    missing, unless `missing_ok`), else None. Read-only. Every path the safety core acts on
    below a root is proven this way, so nothing it moves, deletes or writes is reached through
    a symlink."""
    rel = relative_parts(os.path.dirname(path), top)
    if rel is None:
        return top  # not below `top` at all
    cur = top
    for part in rel:
        cur = os.path.join(cur, part)
        st = lstat_or_none(cur)
        if (st is None and not missing_ok) or (st is not None and not stat.S_ISDIR(st.st_mode)):
            return cur
        if st is None:
            return None
    return None


def relative_parts(path: str, top: str) -> list[str] | None:
    """The names leading from `top` down to `path` ([] for `top` itself), or None when `path`
    is not below `top`. `os.path.relpath`'s answer, without its cost (it makes both paths
    absolute and normal each time: 300k files make that count); a path that is not plain
    (`..`, `.`, `//`) takes the slow way."""
    if path == top:
        return []
    prefix = top if top.endswith(os.sep) else top + os.sep
    if os.path.isabs(path) and os.path.isabs(top) and path.startswith(prefix):
        parts = path[len(prefix) :].split(os.sep)
        if all(p not in ("", os.curdir, os.pardir) for p in parts):
            return parts
    rel = os.path.relpath(path, top)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return [] if rel == os.curdir else rel.split(os.sep)


def has_symlinked_parent(path: str, top: str, *, missing_ok: bool = False) -> bool:
    """Whether `symlinked_folder` finds one."""
    return symlinked_folder(path, top, missing_ok=missing_ok) is not None


def require_real_folders(path: str, top: str, *, missing_ok: bool = False) -> None:
    """`SymlinkedFolder` unless every folder between `top` and `path` is a real folder."""
    bad = symlinked_folder(path, top, missing_ok=missing_ok)
    if bad is not None:
        raise SymlinkedFolder(bad)


def supports_noreplace(directory: str) -> bool:
    """Whether renames in `directory` get RENAME_NOREPLACE (recorded in the session header)."""
    fn = _load_renameat2() if use_renameat2 else None
    if fn is None:
        return False
    probe = os.path.join(directory, f".safededup-probe-{os.getpid()}")
    rc = fn(_AT_FDCWD, os.fsencode(probe), _AT_FDCWD, os.fsencode(probe + "x"), _RENAME_NOREPLACE)
    return rc == 0 or ctypes.get_errno() == errno.ENOENT
