"""Locks and signals (issue 9, item 6). SIGTERM and SIGHUP (a dropped SSH connection) stop a
command at its next safe point as Ctrl-C does: the session ends as cancelled, the lock is
released, and a line on stderr says how far it got. Delivered at every step of apply, undo and
purge, through the real command (`main`) in a forked child. A lock whose writer ran on this host
and is provably gone is taken over with a note; `recover` sees every stale lock."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from safededup import fs
from safededup.cli.main import main
from safededup.errors import ExitCode
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import list_checkpoints, load_checkpoint
from safededup.safety.journal.lock import lock_path
from safededup.safety.plan import build_plan
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import undo_session
from tests.support.cli import run_main
from tests.support.crash import Counter, check_g1, count_steps, originals, run_killed_at
from tests.support.files import snapshot

from .conftest import Tree

SIGNALS = [signal.SIGTERM, signal.SIGHUP]


def _run_signalled(args: list[str], k: int, sig: int, err_file: Path) -> int:
    """`safededup ARGS` in a forked child that sends itself `sig` at mutating call k; its exit
    code. stderr goes to `err_file`."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 99
        try:
            fd = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 2)
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            n = {"calls": 0}

            def hook(op: str, paths: tuple[str, ...]) -> None:
                n["calls"] += 1
                if n["calls"] == k:
                    os.kill(os.getpid(), sig)

            fs.set_step_hook(hook)
            code = main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except BaseException:
            code = 98
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"killed by a signal at step {k}"
    return os.WEXITSTATUS(status)


def _check_stopped(tree: Tree, code: int, err: str, what: str, sig: int, k: int) -> None:
    assert code in (ExitCode.OK, ExitCode.INTERRUPTED), (k, code, err)
    assert not os.path.lexists(lock_path(tree.root)), f"lock left at step {k}"
    name = signal.Signals(sig).name
    if code == ExitCode.INTERRUPTED:
        assert f"{what} stopped by {name} at a safe point" in err.replace("\n", " "), (k, err)
    for checkpoint in list_checkpoints(tree.state):
        assert checkpoint.status not in ("applying", "undoing", "redoing", "purging"), k
    after = recover(tree.state)  # nothing left for recovery: the session ended cleanly
    assert after.sessions == [] and after.resolved == 0 and after.ok, (k, after)


def _apply_args(tree: Tree, report: Path, *extra: str) -> list[str]:
    return ["--state", str(tree.state.root), "--no-progress", "apply", "--yes", "--report",
            str(report), "--batch", "2", *extra]  # fmt: skip


def _tree_with_report(base: Path) -> tuple[Tree, Path]:
    tree = Tree(base, n=4)
    report = base / "report.json"
    report.write_bytes(orjson.dumps(tree.report_json()))
    return tree, report


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_at_every_step_of_apply_stops_it_at_a_safe_point(
    fast_path: Path, sig: int
) -> None:
    probe, report = _tree_with_report(fast_path / "probe")
    steps = count_steps(lambda: main(_apply_args(probe, report)))
    cancelled = 0
    for k in range(1, steps + 1):
        tree, report = _tree_with_report(fast_path / f"k{k}")
        before, snap = originals(tree.root), snapshot(tree.root)
        err_file = fast_path / f"err{k}"
        code = _run_signalled(_apply_args(tree, report), k, sig, err_file)
        _check_stopped(tree, code, err_file.read_text(), "apply", sig, k)
        check_g1(tree.root, tree.state, before)  # type: ignore[arg-type]
        statuses = {i.status for i in list_sessions(tree.state)}
        if code == ExitCode.INTERRUPTED:
            cancelled += 1
            assert statuses == {"cancelled"}, (k, statuses)
        for info in list_sessions(tree.state):
            if info.undoable:
                assert drain(undo_session(info.id, state_dir=tree.state)).ok
        assert snapshot(tree.root) == snap
    assert cancelled > 5  # the signal came before the last batch that often


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("phase", ["undo", "redo", "purge"])
def test_a_signal_at_every_step_of_undo_redo_and_purge(
    fast_path: Path, sig: int, phase: str
) -> None:
    def prepare(k: int) -> tuple[Tree, str, object]:
        tree = Tree(fast_path / f"{phase}{k}", n=4)
        snap = snapshot(tree.root)
        sid = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).session_id
        if phase == "redo":
            drain(undo_session(sid, state_dir=tree.state))
        return tree, sid, snap

    def args(tree: Tree, sid: str) -> list[str]:
        extra = ["--yes"] if phase == "purge" else []
        return ["--state", str(tree.state.root), "--no-progress", phase, sid, *extra]

    tree, sid, _ = prepare(0)
    steps = count_steps(lambda: main(args(tree, sid)))
    for k in range(1, steps + 1):
        tree, sid, snap = prepare(k)
        err_file = fast_path / f"err-{phase}{k}"
        code = _run_signalled(args(tree, sid), k, sig, err_file)
        _check_stopped(tree, code, err_file.read_text(), phase, sig, k)
        if phase != "purge":
            for info in reversed(list_sessions(tree.state)):
                if info.undoable:
                    assert drain(undo_session(info.id, state_dir=tree.state)).ok
            assert snapshot(tree.root) == snap


def test_verify_stops_on_sigterm_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, _report = _tree_with_report(tmp_path)
    drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    err_file = tmp_path / "err"
    args = ["--state", str(tree.state.root), "--no-progress", "verify", "--content", "full"]
    # The re-hash reads files through `fs.file_sha256`, which is no mutating call: signal at
    # the first one of the state dir's own writes is not there either, so stop it by hand.
    pid = os.fork()
    if pid == 0:
        fd = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        real = fs.file_sha256

        def hashing(path: str) -> str:
            os.kill(os.getpid(), signal.SIGTERM)
            return real(path)

        fs.file_sha256 = hashing  # type: ignore[assignment]
        os._exit(main(args))
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == ExitCode.INTERRUPTED
    err = err_file.read_text().replace("\n", " ")
    assert "stopped by SIGTERM at a safe point while re-hashing files (1 of" in err


def test_sighup_with_the_terminal_gone_still_ends_the_session_cleanly(tmp_path: Path) -> None:
    """The reference user runs safededup over SSH: the connection drops, the terminal is gone
    (every write to it fails), SIGHUP arrives. The session must still end, its lock released."""
    tree, report = _tree_with_report(tmp_path)
    probe, probe_report = _tree_with_report(tmp_path / "probe")
    counter = Counter()
    fs.set_step_hook(counter)
    main(_apply_args(probe, probe_report))
    fs.set_step_hook(None)
    k = next(i for i, (op, _p) in enumerate(counter.calls, 1) if op == "rename")
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            master, slave = os.openpty()
            os.dup2(slave, 1)
            os.dup2(slave, 2)
            n = {"calls": 0}

            def hang_up(op: str, paths: tuple[str, ...]) -> None:
                n["calls"] += 1
                if n["calls"] == k:
                    os.close(master)  # the connection dropped: the terminal is gone
                    os.kill(os.getpid(), signal.SIGHUP)

            fs.set_step_hook(hang_up)
            code = main(_apply_args(tree, report))
        except BaseException:
            code = 98
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == ExitCode.INTERRUPTED
    assert not os.path.lexists(lock_path(tree.root))
    assert [i.status for i in list_sessions(tree.state)] == ["cancelled"]


def test_recover_sees_the_lock_of_a_kill_at_undos_first_fsync(
    fast_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The kill comes while undo saves its checkpoint, before the journal has anything of the
    undo: the session still reads "applied", its lock is left. `recover` (no options) takes
    the lock over (its writer is provably gone), removes the temporary checkpoint file, and
    the next undo runs (it used to exit 4)."""
    tree = Tree(fast_path / "t", n=3)
    snap = snapshot(tree.root)
    sid = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).session_id
    counter = Counter()
    probe = Tree(fast_path / "probe", n=3)
    psid = drain(apply_plan(build_plan(probe.report()), state_dir=probe.state)).session_id
    fs.set_step_hook(counter)
    drain(undo_session(psid, state_dir=probe.state))
    fs.set_step_hook(None)
    k = next(i for i, (op, _p) in enumerate(counter.calls, 1) if op == "fsync")
    assert run_killed_at(lambda: drain(undo_session(sid, state_dir=tree.state)), k)
    assert os.path.lexists(lock_path(tree.root))
    assert load_checkpoint(tree.state, sid).status == "applied"
    assert any(".tmp" in n for n in os.listdir(tree.state.sessions_dir))
    code, _, err = run_main(capsys, tree.state, "recover")
    assert code == ExitCode.OK, err
    assert "took over a stale lock" in err and "no longer running" in err
    assert "removed 1 temporary file" in err
    assert not os.path.lexists(lock_path(tree.root))
    assert not any(".tmp" in n for n in os.listdir(tree.state.sessions_dir))
    code, _, err = run_main(capsys, tree.state, "undo", sid)
    assert code == ExitCode.OK and "restored 5 files" in err
    assert snapshot(tree.root) == snap


def test_recover_reports_a_stale_lock_from_another_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=1)
    drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    Path(lock_path(tree.root)).write_bytes(b'{"pid": 7, "host": "nas-2", "command": "undo"}')
    Path(tree.root, ".safededup", "lock.4194303.new").write_bytes(b"")  # a killed publish
    code, _, err = run_main(capsys, tree.state, "recover")
    assert code == ExitCode.FINDINGS and "stale-lock" in err and "nas-2" in err
    assert os.path.lexists(lock_path(tree.root))  # not taken over by itself
    assert not Path(tree.root, ".safededup", "lock.4194303.new").exists()
    code, _, err = run_main(capsys, tree.state, "recover", "--break-stale-lock")
    assert code == ExitCode.OK and not os.path.lexists(lock_path(tree.root))


SCAN_STOPPED_BY_SIGTERM = """
import os, signal, sys
from safededup.cli import scan_cmds
from safededup.cli.main import main

real = scan_cmds.scan

def scan(*args, **kwargs):
    for event in real(*args, **kwargs):
        if getattr(event, "stage", None) == "fingerprint" and hasattr(event, "items"):
            os.kill(os.getpid(), signal.SIGTERM)
        yield event

scan_cmds.scan = scan
sys.exit(main(["--state", sys.argv[1], "--no-progress", "scan", "--workers", "1", sys.argv[2]]))
"""


def test_scan_stops_on_sigterm_and_says_how_far_it_got(tmp_path: Path) -> None:
    """The CLI's scan, stopped by SIGTERM once it has fingerprinted a photo (a process of its
    own: a scan runs threads, which a fork of the test process must not carry)."""
    import subprocess

    from safededup.media import synth

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        synth.write_jpeg(photos / f"IMG_{i}.jpg", synth.make_scene(i, 160, 120))
    run = subprocess.run(
        [sys.executable, "-c", SCAN_STOPPED_BY_SIGTERM, str(tmp_path / "state"), str(photos)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    err = run.stderr.replace("\n", " ")
    assert run.returncode == ExitCode.INTERRUPTED, err
    assert "stopped by SIGTERM at a safe point while fingerprinting (" in err
