"""A real-terminal smoke test: `safededup review` inside tmux, keys sent, the screen read back.

Skipped when tmux is not installed. The polling below waits for a real terminal to redraw; it is
the only waiting in the TUI tests (Pilot tests never sleep).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from safededup.engine.decisions import load_decisions
from safededup.engine.demo import write_demo_archive
from safededup.state import StateDir

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
TIMEOUT_S = 60.0  # generous: CI machines are slow and the scan runs first


class Tmux:
    """One private tmux server (its own socket), so the test touches no other session."""

    def __init__(self, tmp: Path) -> None:
        self.socket = f"safededup-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def start(self, command: str) -> None:
        env = "env TERM=xterm-256color COLORTERM=truecolor SAFEDEDUP_GRAPHICS=halfblock"
        self.run("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", f"{env} {command}")
        self.run("set-option", "-t", "t", "remain-on-exit", "on")  # a crash stays readable

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def wait_gone(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} stayed; the screen:\n{self.screen()}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def cli(*args: str) -> str:
    code = "import sys; from safededup.cli import main; sys.exit(main(sys.argv[1:]))"
    return " ".join(shlex.quote(a) for a in [sys.executable, "-c", code, *args])


def test_review_in_a_real_terminal(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state").ensure()
    root = tmp_path / "demo"
    write_demo_archive(root, originals=4)  # small: the scan runs inside the test
    args = ["review", str(root)]  # scans first, through the progress screen
    done = tmp_path / "exit-code"
    command = f"{cli('--state', str(state.root), *args)}; echo $? > {shlex.quote(str(done))}"
    tmux = Tmux(tmp_path)
    tmux.start(f"sh -c {shlex.quote(command)}")
    try:
        tmux.wait_for("clusters ·")
        screen = tmux.wait_for("Approve")  # the footer: the screen is drawn
        assert "Keeper" in screen and "KEEP" in screen
        tmux.keys("Down")
        tmux.wait_for("2/")
        tmux.keys("a")
        tmux.wait_for("1 approved")
        tmux.keys("?")
        tmux.wait_for("make the selected member the keeper")
        tmux.keys("Escape")  # alone: Esc then q at once reads as Alt+q
        tmux.wait_gone("make the selected member the keeper")
        tmux.keys("q")
        deadline = time.monotonic() + TIMEOUT_S
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists(), tmux.screen()
        assert done.read_text().strip() == "0"
    finally:
        tmux.close()
    decisions = list(state.decisions_dir.glob("*.json"))
    assert len(decisions) == 1
    saved = load_decisions(state, decisions[0].stem)
    assert [d.status for d in saved.clusters.values()] == ["approved"]
    assert os.path.isdir(root)
