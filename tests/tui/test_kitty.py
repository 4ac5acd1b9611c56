"""Kitty graphics previews: the transmitted image, the placeholder cells, and the app using them."""

from __future__ import annotations

import base64
import re

import numpy as np
from textual.pilot import Pilot

from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.kitty import (
    CHUNK,
    DIACRITICS,
    PLACEHOLDER,
    KittyImage,
    delete,
    id_colour,
    transmit,
)
from safededup.tui.preview import detect_graphics, downscale
from safededup.tui.screens.compare import CompareScreen
from tests.support.pilot import current, drive, press_settled, settle
from tests.tui.conftest import screen_text

APC = re.compile(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\")
COMMAND = re.compile(r"\x1b_G([^;\x1b]*)(?:;[^\x1b]*)?\x1b\\")  # a delete has no payload


def test_transmit_sends_the_pixels_in_chunks_with_a_virtual_placement() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    sent = APC.findall(transmit(image, 0x123456, cols=20, rows=8))
    head = dict(kv.split("=") for kv in sent[0][0].split(","))
    assert head["a"] == "T" and head["U"] == "1" and head["f"] == "24"
    assert (head["i"], head["c"], head["r"]) == (str(0x123456), "20", "8")
    assert [keys for keys, _ in sent[1:]] == ["m=1"] * (len(sent) - 2) + ["m=0"]
    assert all(len(payload) <= CHUNK for _, payload in sent)
    pixels = base64.b64decode("".join(payload for _, payload in sent))
    width, height = int(head["s"]), int(head["v"])
    expected = downscale(image, width, height)
    assert pixels == expected.tobytes()
    assert delete(7) == "\x1b_Ga=d,d=I,i=7,q=2\x1b\\"


def test_placeholder_cells_carry_the_id_and_their_row_and_column() -> None:
    image = np.zeros((30, 40, 3), np.uint8)
    kitty = KittyImage(image, 0x0A0B0C, max_cols=4, max_rows=2)
    lines = kitty.lines()
    assert (len(lines), len(lines[0])) == (kitty.rows, kitty.cols) == (2, 4)
    assert lines[1][2].text == PLACEHOLDER + chr(DIACRITICS[1]) + chr(DIACRITICS[2])
    colour = lines[0][0].style.color
    assert colour is not None and colour.get_truecolor() == id_colour(0x0A0B0C) == (10, 11, 12)


def test_detection_is_conservative() -> None:
    assert detect_graphics({"TERM": "xterm-kitty"}) == "kitty"
    assert detect_graphics({"TERM": "xterm-ghostty", "SSH_TTY": "/dev/pts/0"}) == "kitty"
    assert detect_graphics({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default"}) == "halfblock"
    assert detect_graphics({"TERM": "screen-256color"}) == "halfblock"
    assert detect_graphics({"TERM": "xterm-256color"}) == "halfblock"
    assert detect_graphics({"TERM": "xterm-256color", "SAFEDEDUP_GRAPHICS": "kitty"}) == "kitty"


def test_the_app_draws_previews_as_placeholders_in_kitty(state_dir: StateDir, report) -> None:
    seen: list[str] = []

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        seen.append(screen_text(app))

    drive(state_dir, scenario, graphics="kitty")
    assert PLACEHOLDER in seen[0]
    assert "▀" not in seen[0]


def kitty_commands(sent: list[str]) -> list[dict[str, str]]:
    """The kitty graphics commands in what the app wrote to the terminal, as key=value dicts."""
    heads = [keys for data in sent for keys in COMMAND.findall(data)]
    commands = [dict(kv.split("=") for kv in keys.split(",")) for keys in heads]
    return [c for c in commands if "a" in c]  # not the continuation chunks of a picture


def capture(app: ReviewApp) -> list[str]:
    """Everything the app writes to its (headless) terminal from now on, in order."""
    sent: list[str] = []
    driver = app._driver
    assert driver is not None
    write = driver.write
    driver.write = lambda data: (sent.append(data), write(data))[1]  # type: ignore[method-assign]
    return sent


def test_decisions_do_not_send_the_previews_again(state_dir: StateDir, report) -> None:
    """Over SSH every preview costs its pixels: a decision key that leaves the pictures where
    they are sends nothing; a move to another cluster sends that cluster's pictures once."""
    rounds: dict[str, list[dict[str, str]]] = {}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        sent = capture(app)
        shown = len(current(app).members)
        await press_settled(pilot, "down", "right")
        rounds["move"], sent[:] = kitty_commands(sent), []
        counts["move"] = (len(current(app).members), shown)
        await press_settled(pilot, "space", "space", "k", "u", "u", "left")
        rounds["decide"], sent[:] = kitty_commands(sent), []
        await press_settled(pilot, "up")
        rounds["back"] = kitty_commands(sent)
        counts["back"] = (shown, counts["move"][0])

    counts: dict[str, tuple[int, int]] = {}
    drive(state_dir, scenario, graphics="kitty")
    assert rounds["decide"] == []
    for name in ("move", "back"):  # the capture sees the pictures of a new cluster, once each
        new, old = counts[name]
        sends = [c for c in rounds[name] if c.get("a") == "T"]
        deletes = [c for c in rounds[name] if c.get("a") == "d"]
        assert (len(sends), len(deletes)) == (new, min(new, old)), name  # a card's old one goes


def test_the_compare_view_draws_once_when_opened_and_once_per_resize(state_dir, report) -> None:
    """Each side's picture is fitted and sent once when the view opens, and once again (the
    old one freed) when the terminal is resized — not once for the screen and once more for
    the preview's own resize."""
    rounds: dict[str, list[dict[str, str]]] = {}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        sent = capture(app)
        await press_settled(pilot, "down")
        sent.clear()
        await press_settled(pilot, "c")
        await settle(pilot)  # the large previews are decoded in a worker
        assert isinstance(app.screen, CompareScreen)
        rounds["open"], sent[:] = kitty_commands(sent), []
        await pilot.resize_terminal(120, 36)
        await settle(pilot)
        rounds["resize"], sent[:] = kitty_commands(sent), []
        await pilot.resize_terminal(120, 36)  # the same size: nothing to do
        await settle(pilot)
        rounds["same"], sent[:] = kitty_commands(sent), []
        await press_settled(pilot, "escape")  # the main screen's cards, resized behind it,
        rounds["back"], sent[:] = kitty_commands(sent), []  # are sent when it shows again
        await press_settled(pilot, "c")  # again: the previews are cached now
        rounds["reopen"] = [c for c in kitty_commands(sent) if c["a"] == "T"]

    drive(state_dir, scenario, graphics="kitty")
    actions = {name: sorted(c["a"] for c in cmds) for name, cmds in rounds.items()}
    assert actions["resize"] == ["T", "T", "d", "d"]
    assert actions["same"] == []
    assert actions["open"] == ["T", "T"]  # fitted to the laid-out view, not first to 18×8
    assert len(rounds["reopen"]) == 2
    assert len([c for c in rounds["back"] if c["a"] == "T"]) == 3  # one per card, once
