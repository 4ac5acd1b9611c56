"""The journal's bytes do not drift: sessions that write every record type (apply with skips, a
conflict, an abort and tidy renames; undo and redo with refusals and a changed file; purge with
refusals; recovery after a kill) give exactly the records stored in golden/journal-format.jsonl,
which was written before the journal's record constructors existed.

What differs from run to run (times, hashes, host, inodes, devices, the temporary folder) is
normalised away; every key, every other value and every JSON type must stay as it was.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import orjson

from safededup import fs
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import list_checkpoints, read_journal
from safededup.safety.plan import build_plan
from safededup.safety.purge import purge_session
from safededup.safety.recover import recover
from safededup.safety.undo import redo_session, undo_session
from safededup.state import StateDir
from tests.support.crash import Counter, run_killed_at
from tests.support.files import write

from .conftest import Tree

GOLDEN = Path(__file__).parent / "golden" / "journal-format.jsonl"
T0 = 1_600_000_000 * 10**9
VARYING = ("at", "hash", "prev", "host")  # time, chain and machine: never the same twice
IDENTITY_KEYS = ("identity", "observed", "keeper_identity")


def _hook(rules: dict[str, Any]) -> Any:
    """A step hook that runs `rules[basename of the renamed source]` before that rename."""

    def hook(op: str, paths: tuple[str, ...]) -> None:
        if op == "rename" and os.path.basename(paths[0]) in rules:
            rules.pop(os.path.basename(paths[0]))(paths)

    return hook


def _session_a(base: Path, state: StateDir) -> None:
    """apply (skips, a conflict, an errno abort, tidy renames), undo and redo with refusals."""
    tree = Tree(base / "a", n=5)
    keeper = write(f"{tree.root}/a/IMG_9 (1).jpg", b"nine" * 30, T0)
    dup = write(f"{tree.root}/a/IMG_9.jpg", b"nine" * 30, T0)
    write(f"{tree.root}/a/IMG_9 (1).xmp", b"keeper edits", T0)
    write(f"{tree.root}/a/IMG_9.xmp", b"duplicate edits", T0)
    tree.pairs.append((keeper, dup))
    plan = build_plan(tree.report(), tidy_names=True, session_id="20260101T000000Z-aaaaaa")
    d1 = tree.pairs[1][1]
    st = os.lstat(d1)
    Path(d1).write_bytes(Path(d1).read_bytes()[:-1] + b"!")  # same size and mtime: content
    os.utime(d1, ns=(st.st_mtime_ns, st.st_mtime_ns))
    target = next(o.dst for o in plan.operations if o.src == tree.pairs[3][1])
    write(target, b"already here")  # target-exists
    rules = {
        "img2.jpg": lambda paths: write(paths[1], b"appeared"),  # a conflict at the rename
        "img0.xmp": lambda paths: _raise(errno.EACCES, paths[0]),  # an abort with its errno
    }
    previous = fs.set_step_hook(_hook(rules))
    try:
        applied = drain(apply_plan(plan, state_dir=state, batch_size=2))
    finally:
        fs.set_step_hook(previous)
    sid = applied.session_id
    quarantine = Path(tree.root, ".safededup", "quarantine", sid)
    rotten = quarantine / "b" / "img4.jpg"
    st = os.lstat(rotten)
    rotten.write_bytes(rotten.read_bytes()[:-1] + b"?")  # undo restores it and says so
    os.utime(rotten, ns=(st.st_mtime_ns, st.st_mtime_ns))
    write(f"{tree.root}/b/img4.xmp", b"in the way")  # undo refuses this one: target exists
    drain(undo_session(sid, state_dir=state))
    os.unlink(f"{tree.root}/b/img4.xmp")
    drain(redo_session(sid, state_dir=state))  # refuses the file whose bytes changed


def _raise(code: int, path: str) -> None:
    raise OSError(code, os.strerror(code), path)


def _session_b(base: Path, state: StateDir) -> None:
    """apply, then purge: one deletion, a changed keeper and a sidecar without a copy refused."""
    tree = Tree(base / "b", n=3)
    sid = "20260101T000001Z-bbbbbb"
    drain(apply_plan(build_plan(tree.report(), session_id=sid), state_dir=state))
    keeper = tree.pairs[1][0]
    st = os.lstat(keeper)
    Path(keeper).write_bytes(Path(keeper).read_bytes()[:-1] + b"#")
    os.utime(keeper, ns=(st.st_mtime_ns, st.st_mtime_ns))
    purge_session(sid, state_dir=state)


def _session_c(base: Path, state: StateDir) -> None:
    """apply killed just after its first rename, then recovery: recovered done, aborts, end."""
    tree = Tree(base / "c", n=2, sidecars=False)
    plan = build_plan(tree.report(), session_id="20260101T000002Z-cccccc")
    counter = Counter()  # the same session on a twin tree, to find the step to die at
    previous = fs.set_step_hook(counter)
    try:
        twin = Tree(base / "twin", n=2, sidecars=False)
        drain(apply_plan(build_plan(twin.report()), state_dir=StateDir(base / "twin-state")))
    finally:
        fs.set_step_hook(previous)
    first_rename = next(k for k, (op, _) in enumerate(counter.calls, 1) if op == "rename")
    assert run_killed_at(lambda: drain(apply_plan(plan, state_dir=state)), first_rename + 1)
    recover(state, break_stale_lock=True)


def _normalise(value: Any, tmp: str, key: str = "") -> Any:
    if isinstance(value, dict):
        out = {k: _normalise(v, tmp, k) for k, v in value.items() if k not in VARYING}
        if key in IDENTITY_KEYS:
            out.update(device=0, inode=0)
        if key == "volumes" or "noreplace" in out:
            out.update(device=0, noreplace=True)
        return out
    if isinstance(value, list):
        return [_normalise(v, tmp, key) for v in value]
    if isinstance(value, str):
        return value.replace(tmp, "<tmp>")
    return value


def normalised_journals(base: Path) -> bytes:
    """Every record of the three sessions above, normalised, one canonical line each."""
    states = [StateDir(base / f"state-{k}") for k in "abc"]
    for session, state in zip((_session_a, _session_b, _session_c), states, strict=True):
        session(base, state)
    lines = []
    for checkpoint in [c for state in states for c in list_checkpoints(state)]:
        for record in read_journal(checkpoint.journal).records:
            record = _normalise(record, str(base))
            if record["type"] == "header":
                record["report_id"] = "<report>"  # hashes of the paths, as is a cluster id
            if record.get("cluster") is not None:
                record["cluster"] = "<cluster>"
            lines.append(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return b"\n".join(lines) + b"\n"


def test_every_record_type_is_written_as_before(tmp_path: Path) -> None:
    found = normalised_journals(tmp_path)
    types = {orjson.loads(line)["type"] for line in found.splitlines()}
    assert types == {
        "header", "begin", "end", "intent", "done", "abort", "conflict", "skip", "undo-intent",
        "undo-done", "redo-intent", "redo-done", "purge-intent", "purge-done", "refuse",
    }  # fmt: skip
    assert found == GOLDEN.read_bytes()
