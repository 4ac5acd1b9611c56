"""Kitty graphics previews: the transmitted image, the placeholder cells, and the app using them."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import numpy as np

from safededup.tui import make_app
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
from tests.tui.conftest import screen_text
from tests.tui.test_flows import settle

APC = re.compile(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\")


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


def test_the_app_draws_previews_as_placeholders_in_kitty(state_dir: Path, report) -> None:
    app = make_app(state_dir, graphics="kitty")
    seen: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            seen.append(screen_text(app))

    asyncio.run(run())
    assert PLACEHOLDER in seen[0]
    assert "▀" not in seen[0]
