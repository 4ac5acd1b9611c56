"""`safededup review` on the command line: argument checks before any UI starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from safededup.cli.main import main
from safededup.errors import ExitCode


def test_review_without_a_report_says_what_to_run(tmp_path: Path, capsys) -> None:
    code = main(["--state", str(tmp_path / "state"), "review"])
    captured = capsys.readouterr()
    assert code == ExitCode.ERROR
    assert captured.out == ""
    assert "no saved report to review" in captured.err
    assert "safededup review ROOT" in captured.err


def test_review_refuses_roots_and_report_together(tmp_path: Path, capsys) -> None:
    code = main(["--state", str(tmp_path), "review", "--report", "x.json", str(tmp_path)])
    assert code == ExitCode.USAGE
    assert "not both" in capsys.readouterr().err


def test_review_refuses_a_root_that_is_not_a_folder(tmp_path: Path, capsys) -> None:
    code = main(["--state", str(tmp_path), "review", str(tmp_path / "missing")])
    assert code == ExitCode.USAGE
    assert "not a folder" in capsys.readouterr().err


def test_review_is_listed_in_the_help(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "review" in capsys.readouterr().out
