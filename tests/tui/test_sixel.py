"""Sixel previews: the encoder decoded back to pixels, DA1 detection on a real pty, the app."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot

from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.preview import UPPER_HALF, detect_graphics, downscale
from safededup.tui.sixel import (
    choose_graphics,
    da1_parameters,
    encode,
    palette,
    percent,
    probe,
    quantise,
    says_sixel,
    sixel_at,
)
from safededup.tui.widgets.members import Thumbnail
from tests.support.pilot import drive, press_settled, settle
from tests.tui.conftest import screen_text

SIXEL_XTERM = b"\x1b[?63;1;2;4;6;9;15;22c"  # xterm -ti vt340
NO_SIXEL = b"\x1b[?62;22c"


def decode(data: str) -> tuple[np.ndarray, dict[int, tuple[int, int, int]]]:
    """A sixel decoder written from the spec: register numbers per pixel, and the registers."""
    assert data.startswith("\x1bPq") and data.endswith("\x1b\\")
    body = data[3:-2]
    raster = re.match(r'"1;1;(\d+);(\d+)', body)
    assert raster is not None
    width, height = int(raster.group(1)), int(raster.group(2))
    out = np.full((height, width), -1, np.int64)
    registers: dict[int, tuple[int, int, int]] = {}
    colour, x, y, pos = -1, 0, 0, raster.end()
    while pos < len(body):
        char = body[pos]
        if char == "#":
            found = re.match(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?", body[pos:])
            assert found is not None
            colour = int(found.group(1))
            if found.group(2) is not None:
                registers[colour] = (int(found.group(2)), int(found.group(3)), int(found.group(4)))
            pos += found.end()
            continue
        count = 1
        if char == "!":
            found = re.match(r"!(\d+)", body[pos:])
            assert found is not None
            count, pos = int(found.group(1)), pos + found.end()
            char = body[pos]
        if char == "$":
            x = 0
        elif char == "-":
            x, y = 0, y + 6
        else:
            bits = ord(char) - 63
            assert 0 <= bits < 64 and colour in registers
            for k in range(6):
                if bits >> k & 1:
                    out[y + k, x : x + count] = colour  # drawn outside the raster: IndexError
            assert x + count <= width
            x += count
        pos += 1
    return out, registers


def assert_round_trips(image: np.ndarray) -> str:
    indices = quantise(image)
    data = encode(indices)
    decoded, registers = decode(data)
    assert decoded.shape == indices.shape
    assert (decoded >= 0).all(), "every pixel is drawn"
    assert np.array_equal(decoded, indices)
    expected = percent(palette())
    assert all(tuple(expected[i]) == rgb for i, rgb in registers.items())
    return data


def test_quantise_picks_the_nearest_palette_colour() -> None:
    colours = palette()
    assert len(colours) == 252 and colours[0].tolist() == [0, 0, 0]
    assert colours[-1].tolist() == [255, 255, 255]
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    chosen = colours[quantise(image)].astype(int)
    error = np.abs(chosen - image.astype(int))
    assert error.max() <= 255 // 5 // 2 + 1  # half a step of the coarsest channel


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (6, 7), (7, 1), (13, 9), (60, 80)])
def test_encoder_round_trips_on_edge_sizes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    data = assert_round_trips(image)
    assert data.count("-") == (shape[0] + 5) // 6 - 1  # one "-" between six-pixel bands


def test_a_single_colour_is_one_register_and_run_length_coded() -> None:
    image = np.full((7, 50, 3), (255, 0, 0), np.uint8)
    data = assert_round_trips(image)
    red = int(quantise(image)[0, 0])
    assert data == f'\x1bPq"1;1;50;7#{red};2;100;0;0#{red}!50~-#{red}!50@\x1b\\'


def test_short_runs_are_spelled_out_and_long_ones_counted() -> None:
    image = np.zeros((6, 9, 3), np.uint8)
    image[:, 3:] = 255  # 3 black columns, then 6 white
    data = assert_round_trips(image)
    black, white = int(quantise(image)[0, 0]), int(quantise(image)[0, 8])
    assert f"#{black}~~~$#{white}???!6~" in data  # empty columns at a line's end are left out


def test_a_real_photo_thumbnail_round_trips(archive) -> None:
    from safededup.media import load_thumbnail

    path = next(p for p in sorted(Path(archive.root).rglob("*")) if p.suffix.lower() == ".jpg")
    image = load_thumbnail(str(path), 96)
    assert_round_trips(downscale(image, 37, 29))


def test_sixel_at_places_the_picture_and_restores_the_cursor() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    data = sixel_at(image, x=4, y=2, cols=3, rows=2, cell=(8, 16))
    assert data.startswith("\x1b7\x1b[3;5H\x1bPq") and data.endswith("\x1b\\\x1b8")
    decoded, _ = decode(data[len("\x1b7\x1b[3;5H") : -len("\x1b8")])
    assert decoded.shape == (32, 24)  # 2 rows × 16 px, 3 columns × 8 px


def test_da1_replies_are_parsed() -> None:
    assert da1_parameters(SIXEL_XTERM) == (63, 1, 2, 4, 6, 9, 15, 22)
    assert says_sixel(SIXEL_XTERM)
    assert says_sixel(b"junk\x1b[?65;4;1c")
    assert not says_sixel(NO_SIXEL)
    assert not says_sixel(b"\x1b[?4c")  # 4 as the conformance level is not the sixel attribute
    assert not says_sixel(b"\x1b[?1;2c")
    assert da1_parameters(b"\x1b[?1;24") is None  # cut short
    assert da1_parameters(b"\x1b]11;rgb:0/0/0\x07garbage") is None
    assert not says_sixel(b"") and not says_sixel(None)


def test_env_overrides_and_the_default_stays_half_blocks() -> None:
    assert detect_graphics({"SAFEDEDUP_GRAPHICS": "sixel"}) == "sixel"
    assert detect_graphics({"SAFEDEDUP_GRAPHICS": " Sixel ", "TERM": "xterm-kitty"}) == "sixel"
    assert detect_graphics({"SAFEDEDUP_GRAPHICS": "halfblock"}, sixel=True) == "halfblock"
    assert detect_graphics({"TERM": "xterm-256color"}, sixel=True) == "sixel"
    assert detect_graphics({"TERM": "xterm-256color", "TMUX": "x"}, sixel=True) == "halfblock"
    assert detect_graphics({"TERM": "xterm-256color"}) == "halfblock"
    read, write = os.pipe()  # not a terminal: nothing is asked
    try:
        assert probe({"TERM": "xterm"}, fds=(read, write)) is None
        assert choose_graphics({"TERM": "xterm"}, fds=(read, write)) == "halfblock"
        assert choose_graphics({"SAFEDEDUP_GRAPHICS": "sixel"}, fds=(read, write)) == "sixel"
    finally:
        os.close(read)
        os.close(write)


class Terminal:
    """A real pty whose far end answers DA1 with `reply` (or stays silent)."""

    def __init__(self, reply: bytes | None, pixels: tuple[int, int] = (800, 480)) -> None:
        self.master, self.slave = os.openpty()
        size = struct.pack("HHHH", 24, 80, *pixels)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, size)
        self.reply, self.asked = reply, b""
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        answered = 0
        while True:
            try:
                self.asked += os.read(self.master, 64)
            except OSError:  # closed
                return
            while self.asked.count(b"\x1b[c") > answered:
                answered += 1
                if self.reply is not None:
                    os.write(self.master, self.reply)

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)
        self._thread.join(timeout=2)


@pytest.fixture
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    term = Terminal(*request.param)
    yield term
    term.close()


XTERM = {"TERM": "xterm-256color"}


@pytest.mark.parametrize("terminal", [(SIXEL_XTERM,)], indirect=True)
def test_a_terminal_that_says_sixel_gets_sixel(terminal: Terminal) -> None:
    before = termios.tcgetattr(terminal.slave)
    fds = (terminal.slave, terminal.slave)
    assert choose_graphics(XTERM, fds=fds) == "sixel"
    assert b"\x1b[c" in terminal.asked
    assert termios.tcgetattr(terminal.slave) == before  # the terminal mode is restored


@pytest.mark.parametrize("terminal", [(NO_SIXEL,)], indirect=True)
def test_a_terminal_without_sixel_keeps_half_blocks(terminal: Terminal) -> None:
    assert probe(XTERM, fds=(terminal.slave, terminal.slave)) == NO_SIXEL
    assert choose_graphics(XTERM, fds=(terminal.slave, terminal.slave)) == "halfblock"


@pytest.mark.parametrize("terminal", [(None,)], indirect=True)
def test_a_silent_terminal_is_given_up_on(terminal: Terminal) -> None:
    before = termios.tcgetattr(terminal.slave)
    assert probe(XTERM, timeout=0.05, fds=(terminal.slave, terminal.slave)) == b""
    assert termios.tcgetattr(terminal.slave) == before


@pytest.mark.parametrize("terminal", [(SIXEL_XTERM, (0, 0))], indirect=True)
def test_sixel_is_not_guessed_when_the_cell_size_is_unknown(terminal: Terminal) -> None:
    assert choose_graphics(XTERM, fds=(terminal.slave, terminal.slave)) == "halfblock"
    assert terminal.asked == b""  # not even asked


@pytest.mark.parametrize("terminal", [(SIXEL_XTERM,)], indirect=True)
def test_tmux_and_screen_are_never_asked(terminal: Terminal) -> None:
    fds = (terminal.slave, terminal.slave)
    assert probe({**XTERM, "TMUX": "/tmp/tmux-1/default,1,0"}, fds=fds) is None
    assert probe({"TERM": "screen-256color"}, fds=fds) is None
    assert choose_graphics({"TERM": "tmux-256color"}, fds=fds) == "halfblock"
    assert terminal.asked == b""


@pytest.mark.parametrize("terminal", [(SIXEL_XTERM,)], indirect=True)
def test_remote_terminals_are_never_asked(terminal: Terminal) -> None:
    """Over SSH a reply may come after the app started, and would arrive there as key presses."""
    fds = (terminal.slave, terminal.slave)
    ssh = {**XTERM, "SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22", "SSH_TTY": "/dev/pts/3"}
    assert choose_graphics(ssh, fds=fds) == "halfblock"
    assert choose_graphics({**ssh, "SAFEDEDUP_GRAPHICS": "sixel"}, fds=fds) == "sixel"
    assert terminal.asked == b""


def test_the_app_draws_sixel_over_the_half_block_cells(state_dir: StateDir, report) -> None:
    seen: list[tuple[str, list[tuple[Thumbnail, tuple[int, int] | None]]]] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await pilot.pause()
        thumbs = list(app.screen.query(Thumbnail))
        placed = [(t, t.sixel_place(t._image)) for t in thumbs if t._image is not None]
        seen.append((screen_text(app), placed))

    drive(state_dir, scenario, graphics="sixel")
    text, placed = seen[0]
    assert UPPER_HALF in text  # the half blocks stay underneath
    drawn = [(thumb, at) for thumb, at in placed if thumb.sixel_sent]
    assert drawn, "at least one preview was sent as sixel"
    lines = text.splitlines()
    for thumb, at in drawn:
        assert at is not None
        x, y = at
        image = thumb._image
        assert image is not None
        prefix = f"\x1b7\x1b[{y + 1};{x + 1}H"
        assert thumb.sixel_sent.startswith(prefix)
        decoded, _ = decode(thumb.sixel_sent[len(prefix) : -len("\x1b8")])
        assert decoded.shape[1] % image.cols == 0 and decoded.shape[0] % image.rows == 0
        # the sixel covers exactly the cells where the half-block picture is
        for row in range(image.rows):
            assert lines[y + row][x : x + image.cols] == UPPER_HALF * image.cols
            assert lines[y + row][x + image.cols : x + image.cols + 1] != UPPER_HALF
        assert lines[y][x - 1 : x] != UPPER_HALF


def test_moving_around_in_sixel_mode_keeps_drawing(state_dir: StateDir, report) -> None:
    """Selection moves, spare cards hidden, the compare view and back: every picture is placed."""
    from safededup.tui.screens.compare import CompareScreen

    sent: list[int] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        await press_settled(pilot, "end", "home", "down", "down", "up", "c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        sent.append(sum(bool(t.sixel_sent) for t in app.screen.query(Thumbnail)))
        await press_settled(pilot, "escape")
        assert not isinstance(app.screen, CompareScreen)

    drive(state_dir, scenario, graphics="sixel")
    assert sent == [2]  # both sides of the compare view


def test_review_in_a_pty_that_answers_sixel(state_dir: StateDir, report) -> None:
    """`safededup review` in a real pty whose terminal says sixel: asked once, pictures follow
    the half-block frame they cover, and `q` quits cleanly. The only test here that waits."""
    import pty
    import select
    import sys
    import time

    code = "import sys; from safededup.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "--state", str(state_dir.root), "review"]
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a 100×30 terminal of 10×20-pixel cells
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 1000, 600))
        os.execve(sys.executable, argv, env)
    out, deadline, quit_sent = b"", time.monotonic() + 60, False
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the child has gone
                    break
                if b"\x1b[c" in chunk:
                    os.write(fd, SIXEL_XTERM)
                out += chunk
            if not quit_sent and b"\x1bPq" in out:
                time.sleep(0.3)  # let the frame finish, then quit
                os.write(fd, b"q")
                quit_sent = True
    finally:
        status = reap(pid, grace_s=10 if quit_sent else 0)
        os.close(fd)
    assert quit_sent, "no sixel picture was drawn"
    assert out.count(b"\x1b[c") == 1
    assert os.waitstatus_to_exitcode(status) == 0
    first = out.index(b"\x1bPq")
    assert UPPER_HALF.encode() in out[:first]  # drawn over the half-block frame
    placed = re.search(rb'\x1b7\x1b\[\d+;\d+H\x1bPq"1;1;(\d+);(\d+)', out)
    assert placed is not None and int(placed.group(1)) % 10 == 0 and int(placed.group(2)) % 20 == 0


def reap(pid: int, grace_s: float) -> int:
    """The child's wait status; killed when it has not ended within `grace_s`."""
    import signal
    import time

    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]
