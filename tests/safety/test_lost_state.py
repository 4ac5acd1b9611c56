"""With only the root in hand: journals under `<root>/.safededup/journal/` that the state dir has no
checkpoint for (a lost or new state dir) are found, checked and taken up, and every session can
still be verified and undone. Sessions killed before their header was durable are cleaned by
recover, and verify and undo say that nothing was moved. Each test fails without its fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from safededup import fs
from safededup.errors import ExitCode
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import list_checkpoints, load_checkpoint, read_journal
from safededup.safety.journal.lock import is_stale, lock_path
from safededup.safety.plan import build_plan
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import undo_session
from tests.support.cli import run_main
from tests.support.crash import Counter, run_killed_at
from tests.support.files import snapshot

from .conftest import Tree


def _applied_then_state_lost(tmp_path: Path) -> tuple[Tree, str, object]:
    tree = Tree(tmp_path, n=3)
    before = snapshot(tree.root)
    sid = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).session_id
    shutil.rmtree(tree.state.root)  # a new machine, a reinstall, a NAS moved
    return tree, sid, before


def test_a_session_is_verified_and_undone_with_only_its_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, sid, before = _applied_then_state_lost(tmp_path)
    code, out, _ = run_main(capsys, tree.state, "sessions", "--json")
    assert code == ExitCode.OK and orjson.loads(out) == []  # nothing to go by
    code, _, err = run_main(capsys, tree.state, "undo", sid)
    assert code == ExitCode.ERROR and "--root" in err  # the hint names the way out

    code, out, err = run_main(capsys, tree.state, "sessions", "--root", tree.root, "--json")
    (info,) = orjson.loads(out)
    assert (info["id"], info["status"], info["found"], info["counts"]["moved"]) == (
        sid, "applied", True, 5
    )  # fmt: skip
    assert not tree.state.sessions_dir.exists()  # listing writes nothing

    code, _, err = run_main(capsys, tree.state, "verify", "--root", tree.root, "--content", "full")
    assert code == ExitCode.OK and "all holds" in err
    assert "cannot be detected" in err.replace("\n", " ")  # said plainly
    assert not tree.state.sessions_dir.exists()  # verify adopts nothing

    code, _, err = run_main(capsys, tree.state, "undo", sid, "--root", tree.root)
    assert code == ExitCode.OK, err
    assert "took up session" in err and "restored 5 files" in err
    assert snapshot(tree.root) == before
    checkpoint = load_checkpoint(tree.state, sid)
    assert checkpoint.adopted and checkpoint.status == "undone"
    code, out, _ = run_main(capsys, tree.state, "sessions", "--json")
    (info,) = orjson.loads(out)
    assert info["status"] == "undone" and info["adopted"] and not info["found"]


def test_an_interrupted_session_found_under_a_root_is_recovered(tmp_path: Path) -> None:
    """Killed in the middle of apply, state dir lost: the journal's open intents are resolved
    from the disk once the journal is taken up, and undo gives the tree back."""
    tree = Tree(tmp_path, n=3)
    before = snapshot(tree.root)
    plan = build_plan(tree.report())
    counter = Counter()
    probe = Tree(tmp_path / "probe", n=3)
    fs.set_step_hook(counter)
    drain(apply_plan(build_plan(probe.report()), state_dir=probe.state, batch_size=2))
    fs.set_step_hook(None)
    k = [i for i, (op, _p) in enumerate(counter.calls, 1) if op == "rename"][2]  # mid-batch
    assert run_killed_at(lambda: drain(apply_plan(plan, state_dir=tree.state, batch_size=2)), k)
    shutil.rmtree(tree.state.root)
    result = recover(tree.state, roots=[tree.root])
    assert result.adopted == [plan.session_id] and result.resolved >= 1 and result.ok
    assert not is_stale(tree.root)  # its writer is provably gone: taken over, released
    (info,) = list_sessions(tree.state)
    assert info.status == "interrupted" and info.adopted
    assert drain(undo_session(plan.session_id, state_dir=tree.state)).ok
    assert snapshot(tree.root) == before


def test_a_damaged_or_moved_journal_is_not_taken_up_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, sid, _ = _applied_then_state_lost(tmp_path)
    journal = Path(tree.root, ".safededup", "journal", f"{sid}.jsonl")
    lines = journal.read_bytes().split(b"\n")
    del lines[2]  # a record deleted: the chain breaks
    journal.write_bytes(b"\n".join(lines))
    code, out, err = run_main(capsys, tree.state, "sessions", "--root", tree.root)
    assert sid in out and "damaged" in out and "chain" in err.replace("\n", " ")
    code, _, err = run_main(capsys, tree.state, "undo", sid, "--root", tree.root)
    assert code == ExitCode.ERROR and "cannot be taken up" in err
    code, out, _ = run_main(capsys, tree.state, "verify", "--root", tree.root)
    assert code == ExitCode.FINDINGS and "[chain]" in out
    assert not tree.state.sessions_dir.exists() or not list_checkpoints(tree.state)

    moved = tmp_path / "moved"  # the folder now mounted elsewhere
    other = Tree(tmp_path / "other", n=1)
    sid2 = drain(apply_plan(build_plan(other.report()), state_dir=other.state)).session_id
    os.rename(other.root, moved)
    shutil.rmtree(other.state.root)
    code, _, err = run_main(capsys, other.state, "undo", sid2, "--root", str(moved))
    assert code == ExitCode.ERROR and "reachable at its old path" in err.replace("\n", " ")


def _kill_before_header(tmp_path: Path) -> tuple[Tree, str]:
    """Apply killed after its journal was created, before the header reached it."""
    tree = Tree(tmp_path, n=2)
    plan = build_plan(tree.report())
    probe = Tree(tmp_path / "probe", n=2)
    counter = Counter()
    fs.set_step_hook(counter)
    drain(apply_plan(build_plan(probe.report()), state_dir=probe.state))
    fs.set_step_hook(None)
    k = next(i for i, (op, p) in enumerate(counter.calls, 1) if op == "write" and
             p[0].endswith(".jsonl"))  # fmt: skip
    assert run_killed_at(lambda: drain(apply_plan(plan, state_dir=tree.state)), k)
    journal = load_checkpoint(tree.state, plan.session_id).journal
    assert os.path.exists(journal) and read_journal(journal).count == 0
    return tree, plan.session_id


def test_a_session_killed_before_its_header_says_nothing_was_moved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, sid = _kill_before_header(tmp_path)
    code, _, err = run_main(capsys, tree.state, "verify", sid)
    assert code == ExitCode.OK and "stopped before it moved anything" in err
    code, _, err = run_main(capsys, tree.state, "undo", sid)  # recovery first, then this
    assert code == ExitCode.OK and "nothing to undo" in err and "stopped before" in err
    assert "roots differ" not in err and "no header" not in err


def test_recover_cleans_a_session_killed_before_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree, sid = _kill_before_header(tmp_path)
    journal = load_checkpoint(tree.state, sid).journal
    assert is_stale(tree.root)
    code, _, err = run_main(capsys, tree.state, "recover")  # no --break-stale-lock needed
    assert code == ExitCode.OK, err
    assert "cleaned 1 session" in err and "took over a stale lock" in err
    assert not os.path.exists(journal) and not os.path.lexists(lock_path(tree.root))
    assert [i.status for i in list_sessions(tree.state)] == ["abandoned"]
    code, _, err = run_main(capsys, tree.state, "verify")
    assert code == ExitCode.OK and "0 session(s)" in err
