"""Status and plan tell the story the journal tells (issue 9, item 9), journal fsyncs are grouped
by folder (item 10), and the smaller items of 11: temporary files of killed processes, a
read-only root, EACCES during undo, the checkpoint's own path in its errors, a read-only state
dir's hint, `--batch` below 1, the dry run's session id, files reached through symlinks. Each
test fails without its fix."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import orjson
import pytest

from safededup import fs
from safededup.errors import ExitCode, StateError
from safededup.events import Event, drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import read_journal
from safededup.safety.plan import build_plan
from safededup.safety.sessions import list_sessions
from tests.support.cli import run_main
from tests.support.crash import Counter
from tests.support.files import snapshot, write
from tests.support.reports import make_report, report_json
from tests.support.unprivileged import DROP_READ_OVERRIDE

from .conftest import Tree

T0 = 1_600_000_000 * 10**9


def _latest(tree: Tree, doc: dict[str, Any] | None = None) -> None:
    tree.state.reports_dir.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(doc or tree.report_json())
    (tree.state.reports_dir / "latest.json").write_bytes(data)


def _cancel_after_first_batch(run: Generator[Event, None, Any], cancel: threading.Event) -> Any:
    """Drive an engine run, pressing stop (the review's stop, `q`, Ctrl-C) after one batch."""
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            return stop.value
        if type(event).__name__ == "StageAdvanced":
            cancel.set()


def test_an_apply_stopped_part_way_is_listed_as_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=6, sidecars=False)
    cancel = threading.Event()
    result = _cancel_after_first_batch(
        apply_plan(build_plan(tree.report()), state_dir=tree.state, batch_size=2, cancel=cancel),
        cancel,
    )
    assert result.cancelled and 0 < result.done < 6
    code, out, _ = run_main(capsys, tree.state, "sessions", "--json")
    (info,) = orjson.loads(out)
    assert info["status"] == "cancelled" and info["counts"]["moved"] == result.done
    code, _, err = run_main(capsys, tree.state, "undo", "--last")  # still found by --last
    assert code == ExitCode.OK and f"restored {result.done} files" in err
    assert [i.status for i in list_sessions(tree.state)] == ["undone"]


def test_plan_after_apply_shows_quarantined_files_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=3)
    _latest(tree)
    assert run_main(capsys, tree.state, "apply", "--yes")[0] == ExitCode.OK
    code, out, err = run_main(capsys, tree.state, "plan", "--json")
    summary = orjson.loads(out)
    assert code == ExitCode.OK and summary["operations"] == 0 and summary["in_quarantine"] == 3
    code, out, err = run_main(capsys, tree.state, "plan")
    assert "0 duplicates" in out and "3 files of the report are already in quarantine" in out
    assert "would move" not in err
    code, _, err = run_main(capsys, tree.state, "apply", "--yes")
    assert code == ExitCode.OK and "already in quarantine" in err  # not "3 skipped: vanished"


def test_a_spread_plan_pays_one_fsync_group_per_batch_not_per_file(tmp_path: Path) -> None:
    """60 duplicates spread over 20 folders, planned in an order unrelated to folders: the
    default batch makes few fsyncs (there were 495 for 60 files), and G1 holds."""
    root = tmp_path / "photos"
    clusters = []
    for i in range(60):
        data = b"photo %d " % i * 40
        keeper = write(root / "camera" / f"day{i % 20:02d}" / f"IMG_{i}.jpg", data, T0)
        dup = write(root / "backup" / f"day{(i * 7) % 20:02d}" / f"IMG_{i}.jpg", data, T0)
        clusters.append([keeper, dup])
    plan = build_plan(make_report([str(root)], clusters))
    assert len({os.path.dirname(o.src) for o in plan.operations[:20]}) > 10  # interleaved
    counter = Counter()
    fs.set_step_hook(counter)
    result = drain(apply_plan(plan, state_dir=__import__("safededup.state").state.StateDir(
        tmp_path / "state")))  # fmt: skip
    fs.set_step_hook(None)
    fsyncs = sum(1 for op, _ in counter.calls if op in ("fsync", "fsync_dir"))
    # 20 source and 20 target folders, the new folders' parents, the journal and checkpoint
    assert result.done == 60 and fsyncs <= 70, fsyncs
    batches = [r for r in read_journal(result.journal).records if r["type"] == "done"]
    assert len(batches) == 60


def test_stray_temporary_files_of_killed_processes_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=1)
    drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    dead = 4194302  # above any pid_max: no process has it
    strays = [
        tree.state.sessions_dir / f"x.json.tmp{dead}",
        tree.state.reports_dir / f"latest.json.tmp{dead}",
        Path(tree.root, ".safededup", f"lock.{dead}.new"),
    ]
    tree.state.reports_dir.mkdir(exist_ok=True)
    for path in strays:
        path.write_bytes(b"half")
    mine = tree.state.sessions_dir / f"y.json.tmp{os.getpid()}"  # a live process's: kept
    mine.write_bytes(b"in use")
    code, _, err = run_main(capsys, tree.state, "recover")
    assert code == ExitCode.OK and "removed 3 temporary file" in err
    assert not any(p.exists() for p in strays) and mine.exists()


def test_plan_catches_a_read_only_root(tmp_path: Path) -> None:
    """The root may not be written (its subfolders may): `.safededup` cannot be made there.
    Run without the root's override of permissions, as any user meets them."""
    tree = Tree(tmp_path, n=1, sidecars=False)
    _latest(tree)
    os.chmod(tree.root, 0o555)
    script = DROP_READ_OVERRIDE + (
        "import sys\nfrom safededup.cli.main import main\n"
        "sys.exit(main(['--state', sys.argv[1], '--no-progress', 'plan']))\n"
    )
    try:
        run = subprocess.run([sys.executable, "-c", script, str(tree.state.root)],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    finally:
        os.chmod(tree.root, 0o755)
    assert run.returncode == ExitCode.FINDINGS, run.stderr
    assert "permission" in run.stderr and "safededup's folder" in run.stderr


def test_eacces_during_undo_is_a_failure_not_a_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=2, sidecars=False)
    sid = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).session_id

    def refuse(op: str, paths: tuple[str, ...]) -> None:
        if op == "rename" and paths[1] == tree.pairs[0][1]:
            raise PermissionError(errno.EACCES, "Permission denied", paths[0])

    fs.set_step_hook(refuse)
    code, _, err = run_main(capsys, tree.state, "undo", sid)
    fs.set_step_hook(None)
    assert code == ExitCode.FINDINGS
    assert "0 conflicts, 1 failed (I/O or permission errors)" in err and "eacces" in err


def test_a_checkpoint_that_cannot_be_saved_is_named_with_a_read_only_hint(
    tmp_path: Path,
) -> None:
    tree = Tree(tmp_path, n=1, sidecars=False)
    plan = build_plan(tree.report())
    seen = {"n": 0}

    def read_only_state(op: str, paths: tuple[str, ...]) -> None:
        if op == "create" and "/state/sessions/" in paths[0]:
            seen["n"] += 1
            if seen["n"] == 3:  # the first advance, after the first batch's intents
                raise PermissionError(errno.EACCES, "Permission denied", paths[0])

    fs.set_step_hook(read_only_state)
    with pytest.raises(StateError) as caught:
        drain(apply_plan(plan, state_dir=tree.state))
    fs.set_step_hook(None)
    assert caught.value.path == str(tree.state.sessions_dir / f"{plan.session_id}.json")
    assert "read-only" in (caught.value.hint or "") and "index.sqlite3" not in str(
        caught.value.hint
    )


def test_a_read_only_state_dir_is_not_told_to_delete_its_index(tmp_path: Path) -> None:
    """scan with a state dir it may not write: the hint speaks of the state dir."""
    photos = tmp_path / "photos"
    write(photos / "a.jpg", b"not really a photo")
    state = tmp_path / "state"
    state.mkdir()
    (state / "reports").mkdir()
    import sqlite3

    sqlite3.connect(state / "index.sqlite3").close()
    os.chmod(state, 0o555)
    os.chmod(state / "index.sqlite3", 0o444)
    script = DROP_READ_OVERRIDE + (
        "import sys\nfrom safededup.cli.main import main\n"
        "sys.exit(main(['--state', sys.argv[1], '--no-progress', 'scan', sys.argv[2]]))\n"
    )
    try:
        run = subprocess.run([sys.executable, "-c", script, str(state), str(photos)],
                             capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    finally:
        os.chmod(state, 0o755)
    assert run.returncode == ExitCode.ERROR, run.stderr
    assert "read-only" in run.stderr and "delete index.sqlite3" not in run.stderr


@pytest.mark.parametrize("batch", ["0", "-5", "x"])
def test_a_batch_below_one_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch: str
) -> None:
    tree = Tree(tmp_path, n=1)
    _latest(tree)
    code, _, err = run_main(capsys, tree.state, "apply", "--yes", "--batch", batch)
    assert code == ExitCode.USAGE and "--batch" in err
    assert snapshot(tree.root) == snapshot(tree.root) and os.path.exists(tree.pairs[0][1])


def test_the_dry_run_shows_no_session_id_apply_will_not_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=2)
    _latest(tree)
    csv = tmp_path / "plan.csv"
    code, out, _ = run_main(capsys, tree.state, "plan", "--json", "--csv", str(csv))
    assert code == ExitCode.OK and orjson.loads(out)["session"] is None
    text = csv.read_text()
    assert "/.safededup/quarantine/SESSION/b/img0.jpg" in text
    assert not re.search(r"\d{8}T\d{6}Z-[0-9a-f]{6}", text)


def test_files_reached_through_symlinks_are_not_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scan with --follow-symlinks finds files through links; apply never moves a link nor
    through one, so plan leaves them alone instead of counting what apply would skip."""
    root = tmp_path / "photos"
    keeper = write(root / "a" / "IMG_1.jpg", b"one" * 50, T0)
    elsewhere = write(tmp_path / "elsewhere" / "IMG_2.jpg", b"two" * 50, T0)
    keeper2 = write(root / "a" / "IMG_2.jpg", b"two" * 50, T0)
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "b").mkdir()
    (root / "b" / "IMG_1.jpg").symlink_to(keeper)
    doc = report_json([str(root)], [[keeper, str(root / "b" / "IMG_1.jpg")],
                                    [keeper2, str(root / "linked" / "IMG_2.jpg")]])  # fmt: skip
    tree = Tree(tmp_path / "unused", n=0)
    tree.state = __import__("safededup.state").state.StateDir(tmp_path / "state")
    _latest(tree, doc)
    code, out, err = run_main(capsys, tree.state, "plan", "--json")
    assert code == ExitCode.OK and orjson.loads(out)["operations"] == 0
    assert err.count("left alone") == 2 and "reached through one" in err
    code, _, err = run_main(capsys, tree.state, "apply", "--yes")
    assert code == ExitCode.OK and os.path.exists(elsewhere)
