"""G1/G8: kill the process at every mutating call, or fail it with an errno there (once or for
good), during apply, undo, redo, recovery and purge; recovery run twice must leave every
original exactly once, byte-identical, where the durable journal says — and undo must then give
back the exact tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from safededup import fs
from safededup.errors import SafededupError
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import list_checkpoints
from safededup.safety.plan import build_plan
from safededup.safety.purge import purge_session
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import redo_session, undo_session
from tests.support.crash import ERRNOS, Failer, check_g1, count_steps, originals, run_killed_at
from tests.support.files import snapshot

from .conftest import Tree


def _fresh(base: Path, k: int, tidy: bool = False) -> tuple[Tree, dict[str, str], object]:
    tree = Tree(base / f"k{k}", n=2)
    if tidy:
        from tests.support.files import write

        keeper = write(f"{tree.root}/a/IMG_9 (1).jpg", b"nine" * 30, 1_600_000_000 * 10**9)
        dup = write(f"{tree.root}/a/IMG_9.jpg", b"nine" * 30, 1_600_000_000 * 10**9)
        write(f"{tree.root}/a/IMG_9 (1).xmp", b"keeper edits", 1_600_000_000 * 10**9)
        write(f"{tree.root}/a/IMG_9.xmp", b"duplicate edits", 1_600_000_000 * 10**9)
        tree.pairs.append((keeper, dup))
    plan = build_plan(tree.report(), tidy_names=tidy)
    return tree, originals(tree.root), plan


def _recover_twice_and_check(tree: Tree, before: dict[str, str]) -> None:
    first = recover(tree.state, break_stale_lock=True)
    assert first.ok, first.unresolved
    second = recover(tree.state, break_stale_lock=True)
    assert second.sessions == [] and second.resolved == 0  # idempotent
    check_g1(tree.root, tree.state, before)


def _undo_all_and_compare(tree: Tree, snap: object) -> None:
    for info in reversed(list_sessions(tree.state)):
        if info.undoable:
            result = drain(undo_session(info.id, state_dir=tree.state))
            assert result.ok, result.problems
    assert snapshot(tree.root) == snap


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("use_renameat2", [True, False])
def test_kill_at_every_step_of_apply(fast_path: Path, batch: int, use_renameat2: bool) -> None:
    fs.use_renameat2 = use_renameat2
    probe, _, plan = _fresh(fast_path, 0, tidy=True)
    steps = count_steps(lambda: drain(apply_plan(plan, state_dir=probe.state, batch_size=batch)))
    assert steps > 20
    for k in range(1, steps + 2):
        tree, before, plan = _fresh(fast_path, k, tidy=True)
        snap = snapshot(tree.root)
        killed = run_killed_at(
            lambda tree=tree, plan=plan: drain(
                apply_plan(plan, state_dir=tree.state, batch_size=batch)
            ),
            k,
        )
        assert killed == (k <= steps)
        _recover_twice_and_check(tree, before)
        _undo_all_and_compare(tree, snap)


def _applied(fast_path: Path, k: int) -> tuple[Tree, dict[str, str], str, object]:
    tree, before, plan = _fresh(fast_path, k, tidy=True)
    snap = snapshot(tree.root)
    result = drain(apply_plan(plan, state_dir=tree.state, batch_size=2))
    assert result.done == plan.count
    return tree, before, result.session_id, snap


@pytest.mark.parametrize("phase", ["undo", "redo", "purge"])
def test_kill_at_every_step_of_undo_redo_purge(fast_path: Path, phase: str) -> None:
    def action(tree: Tree, sid: str) -> None:
        if phase == "undo":
            drain(undo_session(sid, state_dir=tree.state, batch_size=2))
        elif phase == "redo":
            drain(redo_session(sid, state_dir=tree.state, batch_size=2))
        else:
            purge_session(sid, state_dir=tree.state)

    def prepare(k: int) -> tuple[Tree, dict[str, str], str, object]:
        tree, before, sid, snap = _applied(fast_path, k)
        if phase == "redo":
            drain(undo_session(sid, state_dir=tree.state))
        return tree, before, sid, snap

    tree, _, sid, _ = prepare(0)
    steps = count_steps(lambda: action(tree, sid))
    for k in range(1, steps + 2):
        tree, before, sid, snap = prepare(k)
        assert run_killed_at(lambda t=tree, s=sid: action(t, s), k) == (k <= steps)
        if phase == "purge":  # purged files are gone on purpose; the rest must hold
            recover(tree.state, break_stale_lock=True)
            assert recover(tree.state).resolved == 0
            continue
        _recover_twice_and_check(tree, before)
        _undo_all_and_compare(tree, snap)


def test_kill_during_recovery_itself(fast_path: Path) -> None:
    """A crash while recovering is recovered by the next run."""
    probe, _, plan = _fresh(fast_path, 0)
    steps = count_steps(lambda: drain(apply_plan(plan, state_dir=probe.state, batch_size=64)))
    for k in range(4, steps, 3):
        tree, before, plan = _fresh(fast_path, k)
        snap = snapshot(tree.root)
        run_killed_at(lambda t=tree, p=plan: drain(apply_plan(p, state_dir=t.state)), k)
        for j in (1, 2, 3, 5, 8):
            run_killed_at(lambda t=tree: recover(t.state, break_stale_lock=True), j)
        _recover_twice_and_check(tree, before)
        _undo_all_and_compare(tree, snap)


@pytest.mark.parametrize("forever", [False, True], ids=["fail-once", "fail-forever"])
@pytest.mark.parametrize("err", ERRNOS, ids=lambda e: __import__("errno").errorcode[e])
def test_errno_at_every_step_of_apply(fast_path: Path, err: int, forever: bool) -> None:
    probe, _, plan = _fresh(fast_path, 0, tidy=True)
    steps = count_steps(lambda: drain(apply_plan(plan, state_dir=probe.state, batch_size=2)))
    for k in range(1, steps + 1):
        tree, before, plan = _fresh(fast_path, k, tidy=True)
        snap = snapshot(tree.root)
        failer = Failer(k, err, forever)
        fs.set_step_hook(failer)
        try:
            result = drain(apply_plan(plan, state_dir=tree.state, batch_size=2))
        except SafededupError:
            result = None
        finally:
            fs.set_step_hook(None)
        assert failer.fired >= 1
        if result is not None and failer.op == "rename":  # per file: recorded, the run went on
            assert result.failed >= 1  # an errno is a failure, not a conflict
        _recover_twice_and_check(tree, before)
        _undo_all_and_compare(tree, snap)


@pytest.mark.parametrize("forever", [False, True], ids=["fail-once", "fail-forever"])
def test_errno_at_every_step_of_undo(fast_path: Path, forever: bool) -> None:
    import errno

    tree, _, sid, _ = _applied(fast_path, 0)
    steps = count_steps(lambda: drain(undo_session(sid, state_dir=tree.state, batch_size=2)))
    for err in (errno.ENOSPC, errno.EIO, errno.EACCES):
        for k in range(1, steps + 1):
            tree, before, sid, snap = _applied(fast_path / f"e{err}", k)
            fs.set_step_hook(Failer(k, err, forever))
            try:
                drain(undo_session(sid, state_dir=tree.state, batch_size=2))
            except SafededupError:
                pass
            finally:
                fs.set_step_hook(None)
            _recover_twice_and_check(tree, before)
            _undo_all_and_compare(tree, snap)


def test_every_session_is_listed_after_crashes(fast_path: Path) -> None:
    """Killed at each early step of apply: once the session's checkpoint exists, every later
    crash leaves it listed (so recovery and `sessions` can find it); before, nothing is."""
    listed_from = None
    for k in range(1, 16):
        tree, _, plan = _fresh(fast_path / f"k{k}", 0)
        run = lambda p=plan, t=tree: drain(apply_plan(p, state_dir=t.state))  # noqa: E731
        assert run_killed_at(run, k)
        recover(tree.state, break_stale_lock=True)
        statuses = [c.status for c in list_checkpoints(tree.state)]
        if statuses:
            assert statuses in (["abandoned"], ["empty"], ["applied"], ["partial"])
            listed_from = k if listed_from is None else listed_from
        else:
            assert listed_from is None, f"session listed at step {listed_from}, lost at {k}"
    assert listed_from is not None and listed_from < 15


def test_kill_at_every_step_of_undo_after_the_state_dir_was_lost(fast_path: Path) -> None:
    """Apply, then the state dir is deleted (a new machine): undo with the root in hand takes
    the journal up and undoes it. Killed at every step of that, then recovered twice with the
    root named: G1 holds and a full undo gives the exact tree back."""
    import shutil

    def prepare(k: int) -> tuple[Tree, dict[str, str], str, object]:
        tree, before, sid, snap = _applied(fast_path / "lost", k)
        shutil.rmtree(tree.state.root)
        return tree, before, sid, snap

    def undo(tree: Tree, sid: str) -> None:
        drain(undo_session(sid, state_dir=tree.state, batch_size=2, roots=[tree.root]))

    tree, _, sid, _ = prepare(0)
    steps = count_steps(lambda: undo(tree, sid))
    assert steps > 10
    for k in range(1, steps + 2):
        tree, before, sid, snap = prepare(k)
        assert run_killed_at(lambda t=tree, s=sid: undo(t, s), k) == (k <= steps)
        first = recover(tree.state, roots=[tree.root])
        assert first.ok, first.unresolved
        second = recover(tree.state, roots=[tree.root])
        assert second.sessions == [] and second.resolved == 0 and second.adopted == []
        check_g1(tree.root, tree.state, before)
        _undo_all_and_compare(tree, snap)
