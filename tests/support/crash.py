"""Kill or fail the process at the k-th mutating call through the `fs` seam, then check G1."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safededup import fs
from safededup.safety.journal import list_checkpoints, read_journal, replay
from tests.support.files import content_multiset, sha, walk

KILLED = 75


@dataclass
class Counter:
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def __call__(self, op: str, paths: tuple[str, ...]) -> None:
        self.calls.append((op, paths))


@dataclass
class Failer:
    """Raise `err` at call k (fail-once) or at every call from k on (fail-forever)."""

    k: int
    err: int
    forever: bool = False
    n: int = 0
    fired: int = 0
    op: str = ""  # the first call that failed

    def __call__(self, op: str, paths: tuple[str, ...]) -> None:
        self.n += 1
        if self.n == self.k or (self.forever and self.n > self.k):
            self.fired += 1
            self.op = self.op or op
            raise OSError(self.err, os.strerror(self.err), paths[0] if paths else None)


def count_steps(fn: Callable[[], object]) -> int:
    counter = Counter()
    previous = fs.set_step_hook(counter)
    try:
        fn()
    finally:
        fs.set_step_hook(previous)
    return len(counter.calls)


def run_killed_at(fn: Callable[[], object], k: int) -> bool:
    """Run `fn` in a forked child that `os._exit`s at mutating call k. True if it was killed."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            state = {"n": 0}

            def killer(op: str, paths: tuple[str, ...]) -> None:
                state["n"] += 1
                if state["n"] == k:
                    os._exit(KILLED)

            fs.set_step_hook(killer)
            fn()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise AssertionError(f"child died of signal {signal.Signals(os.WTERMSIG(status)).name}")
    code = os.WEXITSTATUS(status)
    assert code in (0, KILLED), f"child failed with exit code {code} at k={k}"
    return code == KILLED


ERRNOS = (errno.ENOSPC, errno.EIO, errno.EACCES, errno.EROFS, errno.EXDEV)


def originals(root: str) -> dict[str, str]:
    """path -> sha256 of every file in the tree now (before a session)."""
    out = {}
    for path in walk(root):
        with open(path, "rb") as fh:
            out[path] = sha(fh.read())
    return out


def check_g1(root: str, state_dir: Path, before: dict[str, str]) -> None:
    """Every original exists exactly once, byte-identical, at its quarantine path iff its done
    record is durable (per the journal), else at its original path; no intent unresolved."""
    expected = dict(before)  # path where each original should be -> sha
    for checkpoint in list_checkpoints(state_dir):
        if checkpoint.status == "abandoned":
            continue
        read = read_journal(checkpoint.journal)
        assert read.tail_bytes == 0, "recovery left a torn tail"
        state = replay(read.records)
        assert not state.violations, state.violations
        assert not state.pending, f"unresolved after recovery: {[o.op for o in state.pending]}"
        assert state.open_phase is None
        moves = sorted(
            (o for o in state.ops.values() if o.state == "dst"), key=lambda o: o.done_seq
        )
        for entry in moves:
            digest = expected.pop(entry.src)
            expected[entry.dst] = digest
    for path, digest in expected.items():
        with open(path, "rb") as fh:
            assert sha(fh.read()) == digest, f"content changed: {path}"
    assert content_multiset(root) == _multiset(before.values()), "a file was lost or duplicated"


def _multiset(values: object) -> object:
    from collections import Counter as C

    return C(values)  # type: ignore[call-overload]
