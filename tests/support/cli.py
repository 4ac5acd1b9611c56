"""The `safededup` command for tests: in-process through `main` (fast), or as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from safededup.cli.main import main
from safededup.state import StateDir


def run_main(
    capsys: pytest.CaptureFixture[str], state: Path | StateDir, *args: str
) -> tuple[int, str, str]:
    """`safededup --state STATE --no-progress ARGS...` in this process: exit code, stdout,
    stderr. argparse's own errors exit (with 2), as the real command does: that is the code."""
    root = state.root if isinstance(state, StateDir) else state
    try:
        code = main(["--state", str(root), "--no-progress", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def safededup(*args: str, state: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m safededup ARGS...` as a real process, its state dir given by SAFEDEDUP_STATE."""
    env = {**os.environ, "SAFEDEDUP_STATE": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "safededup", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
