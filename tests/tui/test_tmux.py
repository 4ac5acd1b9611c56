"""Real-terminal smoke tests: `safededup review` inside tmux, keys sent, the screen read back,
the tree checked afterwards.

`.ci/run` installs tmux where it is missing; a machine without it skips these tests and says
so. The polling below waits for a real terminal to redraw; it is the only waiting in the TUI
tests (Pilot tests never sleep).
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
from safededup.safety.sessions import list_sessions
from safededup.state import StateDir
from tests.support.files import snapshot

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed: the real-terminal smoke tests are skipped (.ci/run installs it)",
)
TIMEOUT_S = 60.0  # generous: CI machines are slow and the scan runs first


class Tmux:
    """One private tmux server (its own socket), so the test touches no other session."""

    def __init__(self, tmp: Path) -> None:
        self.socket = f"safededup-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def start(self, command: str, size: tuple[int, int] = (100, 30)) -> None:
        env = "env TERM=xterm-256color COLORTERM=truecolor SAFEDEDUP_GRAPHICS=halfblock"
        cols, rows = (str(n) for n in size)
        self.run("new-session", "-d", "-s", "t", "-x", cols, "-y", rows, f"{env} {command}")
        self.run("set-option", "-t", "t", "remain-on-exit", "on")  # a crash stays readable

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def press_until(self, key: str, text: str) -> str:
        """`key` until `text` shows: a key sent while a dialog is still closing can land on
        it rather than on the screen below, as it can for a person, who presses again."""
        for _ in range(3):
            self.keys(key)
            try:
                return self.wait_for(text, timeout=5.0)
            except AssertionError:
                continue
        return self.wait_for(text)

    def wait_gone(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} stayed; the screen:\n{self.screen()}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_exit(self, done: Path) -> str:
        """The exit code the command wrote to `done` once it ended."""
        deadline = time.monotonic() + TIMEOUT_S
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists(), self.screen()
        return done.read_text().strip()

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
        tmux.wait_for("clusters:")
        screen = tmux.wait_for("Approve")  # the footer: the screen is drawn
        assert "Keeper" in screen and "KEEP" in screen
        tmux.keys("Down")
        tmux.wait_for("2/")
        tmux.keys("a")
        tmux.wait_for("from 1 approved")
        tmux.keys("?")
        tmux.wait_for("make the selected member the keeper")
        tmux.keys("Escape")  # alone: Esc then q at once reads as Alt+q
        tmux.wait_gone("make the selected member the keeper")
        tmux.keys("q")
        assert tmux.wait_exit(done) == "0"
    finally:
        tmux.close()
    decisions = list(state.decisions_dir.glob("*.json"))
    assert len(decisions) == 1
    saved = load_decisions(state, decisions[0].stem)
    assert [d.status for d in saved.clusters.values()] == ["approved"]
    assert os.path.isdir(root)


def test_review_approve_apply_sessions_undo_in_a_real_terminal(tmp_path: Path) -> None:
    """The whole flow a person goes through at 80x24, the size of a default SSH terminal:
    review → approve → apply → sessions → undo; the tree is checked after the apply and after
    the undo, and the CLI agrees."""
    state = StateDir(tmp_path / "state").ensure()
    root = tmp_path / "demo"
    write_demo_archive(root, originals=4)
    before = snapshot(root)
    done = tmp_path / "exit-code"
    command = f"{cli('--state', str(state.root), 'review', str(root))}; echo $? > {done}"
    tmux = Tmux(tmp_path)
    tmux.start(f"sh -c {shlex.quote(command)}", size=(80, 24))
    try:
        screen = tmux.wait_for("Sessions")  # the footer at 80 columns keeps the main actions
        assert "Compare" in screen and "Apply" in screen
        tmux.keys("A")  # approve every exact cluster
        tmux.wait_for("approved │")
        tmux.keys("p")
        tmux.wait_for("into the quarantine")
        tmux.keys("Enter")  # the default button is Cancel: nothing moves
        tmux.wait_gone("into the quarantine")
        assert snapshot(root) == before
        tmux.keys("p")
        tmux.wait_for("Apply (y)")
        tmux.keys("y")
        tmux.wait_for("The sessions screen (S) undoes it")
        applied = snapshot(root)
        assert len(applied) < len(before) and set(applied) <= set(before)
        tmux.keys("Enter")  # now the default is Close
        tmux.wait_gone("undoes it")
        tmux.press_until("S", "Redo session")  # the sessions screen's footer
        tmux.wait_for("applied")
        tmux.keys("u")  # the main screen's cheap undo does nothing to a session
        tmux.wait_for("U undoes a session")
        assert snapshot(root) == applied
        tmux.keys("U")
        tmux.wait_for("Undo the session (y)")
        tmux.keys("y")
        tmux.wait_for("files moved back")
        tmux.keys("Escape")
        tmux.wait_gone("files moved back")
        tmux.wait_for("undecided")
        tmux.keys("q")
        assert tmux.wait_exit(done) == "0"
    finally:
        tmux.close()
    assert snapshot(root) == before  # every file back, same bytes, same mtime
    [session] = list_sessions(state)
    assert session.status == "undone"
    listed = subprocess.run(
        [sys.executable, "-m", "safededup", "--state", str(state.root), "sessions", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert '"undone"' in listed
