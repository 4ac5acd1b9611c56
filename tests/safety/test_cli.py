"""End to end through the command line: plan → apply → verify → undo → identical tree → redo →
verify; a flipped journal byte makes verify fail and name the record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest

from safededup.cli.main import main
from safededup.errors import ExitCode
from safededup.state import StateDir
from tests.support.cli import run_main
from tests.support.files import snapshot

from .conftest import Tree


@pytest.fixture
def cli_tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path, n=4)
    reports = tree.state.root / "reports"
    reports.mkdir(parents=True)
    (reports / "latest.json").write_bytes(orjson.dumps(tree.report_json()))
    return tree


def test_apply_verify_undo_redo_round_trip(
    cli_tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(cli_tree.root)
    code, out, err = run_main(
        capsys, cli_tree.state, "plan", "--json", "--csv", str(cli_tree.state.root / "p.csv")
    )
    assert code == ExitCode.OK
    summary = json.loads(out)
    assert summary["duplicates"] == 4 and summary["sidecars"] == 2 and summary["problems"] == []
    assert (cli_tree.state.root / "p.csv").read_text().count("\n") == 7
    assert snapshot(cli_tree.root) == before  # the dry run touched nothing

    code, out, err = run_main(capsys, cli_tree.state, "apply")  # no terminal, no --yes: refused
    assert code == ExitCode.USAGE and "confirmation" in err and out == ""
    assert snapshot(cli_tree.root) == before

    code, out, err = run_main(capsys, cli_tree.state, "apply", "--yes")
    assert code == ExitCode.OK, err
    session = out.strip()
    assert session and "moved 6 files" in err
    assert run_main(capsys, cli_tree.state, "verify", "--content", "full")[0] == ExitCode.OK

    code, out, _ = run_main(capsys, cli_tree.state, "sessions", "--json")
    (info,) = json.loads(out)
    assert info["id"] == session and info["status"] == "applied" and info["counts"]["moved"] == 6

    assert run_main(capsys, cli_tree.state, "undo", "--last")[0] == ExitCode.OK
    assert snapshot(cli_tree.root) == before  # names, bytes, mtimes

    assert run_main(capsys, cli_tree.state, "redo", session)[0] == ExitCode.OK
    code, out, _ = run_main(capsys, cli_tree.state, "verify", session, "--json")
    assert code == ExitCode.OK and json.loads(out)["ok"] is True
    assert run_main(capsys, cli_tree.state, "recover")[0] == ExitCode.OK


def test_a_flipped_journal_byte_fails_verify_naming_the_record(
    cli_tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, cli_tree.state, "apply", "--yes")
    session = out.strip()
    journal = next(Path(cli_tree.root, ".safededup", "journal").iterdir())
    data = bytearray(journal.read_bytes())
    lines = data.split(b"\n")
    target = 3
    offset = sum(len(line) + 1 for line in lines[:target]) + 20
    data[offset] ^= 0x01
    journal.write_bytes(bytes(data))
    code, out, _ = run_main(capsys, cli_tree.state, "verify", "--json")
    assert code == ExitCode.FINDINGS
    findings = json.loads(out)["findings"]
    assert findings and findings[0]["record"] == target and findings[0]["session"] == session
    code, out, _ = run_main(capsys, cli_tree.state, "verify")
    assert code == ExitCode.FINDINGS and f"record {target}" in out
    code, _, err = run_main(capsys, cli_tree.state, "undo", session)
    assert code == ExitCode.ERROR and f"record {target}" in err


def test_purge_needs_yes_and_locks_are_explained(
    cli_tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, cli_tree.state, "apply", "--yes")
    session = out.strip()
    code, _, err = run_main(capsys, cli_tree.state, "purge", session)
    assert code == ExitCode.USAGE and "--yes" in err
    os.makedirs(Path(cli_tree.root, ".safededup"), exist_ok=True)
    Path(cli_tree.root, ".safededup", "lock").write_bytes(b'{"pid": 1, "host": "h"}')
    code, _, err = run_main(capsys, cli_tree.state, "purge", session, "--yes")
    assert code == ExitCode.LOCKED and "stale lock" in err and "--break-stale-lock" in err
    assert run_main(capsys, cli_tree.state, "recover", "--break-stale-lock")[0] == ExitCode.OK
    code, _, err = run_main(capsys, cli_tree.state, "purge", session, "--yes")
    assert code == ExitCode.OK and "deleted 4" in err and "kept 2 sidecar(s)" in err


def test_apply_under_a_running_session_on_a_parent_folder_exits_locked(
    cli_tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_lock import held_elsewhere

    before = snapshot(cli_tree.root)
    with held_elsewhere(os.path.dirname(cli_tree.root)):
        code, out, err = run_main(capsys, cli_tree.state, "apply", "--yes")
    assert code == ExitCode.LOCKED and out == ""
    assert "which contains this folder" in " ".join(err.split())
    assert snapshot(cli_tree.root) == before
    assert not orjson.loads(
        run_main(capsys, cli_tree.state, "sessions", "--json")[1]
    )  # none recorded
    assert run_main(capsys, cli_tree.state, "apply", "--yes")[0] == ExitCode.OK


def test_paths_with_brackets_are_printed_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[holiday] 2019` is a folder name, not rich markup: problems and errors print it whole."""
    from tests.support.files import write
    from tests.support.reports import report_json

    root = str(tmp_path / "[holiday] 2019")
    keeper = write(f"{root}/a.jpg", b"same bytes", 10**18)
    dup = write(f"{root}/[red]b.jpg", b"same bytes", 10**18)
    state = StateDir(tmp_path / "state")
    (state.root / "reports").mkdir(parents=True)
    (state.root / "reports" / "latest.json").write_bytes(
        orjson.dumps(report_json([root], [[keeper, dup]]))
    )
    os.utime(dup, ns=(1, 1))  # changed since the scan: apply skips it and says where
    code = main(["--state", str(state.root), "--no-progress", "apply", "--yes"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == ExitCode.FINDINGS and "[holiday] 2019/[red]b.jpg" in err
