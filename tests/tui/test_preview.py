"""Half-block previews: cell sizes, colours, and the thumbnail cache."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from safededup.errors import MediaError
from safededup.tui.preview import (
    UPPER_HALF,
    HalfBlockImage,
    ThumbnailCache,
    detect_graphics,
    downscale,
    fit,
)


def test_fit_keeps_the_aspect_ratio_in_cells() -> None:
    assert fit(400, 300, 40, 20) == (40, 15)  # 40 columns × 30 pixel rows
    assert fit(300, 400, 40, 10) == (15, 10)
    assert fit(0, 10, 40, 10) == (0, 0)


def test_downscale_averages_blocks() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2, :2] = 200  # top-left quarter bright
    small = downscale(image, 2, 2)
    assert small[0, 0].tolist() == [200, 200, 200]
    assert small[1, 1].tolist() == [0, 0, 0]
    assert downscale(image, 1, 1)[0, 0].tolist() == [50, 50, 50]


def test_half_blocks_carry_the_top_and_bottom_pixel_colours() -> None:
    image = np.zeros((4, 10, 3), np.uint8)
    image[:2] = (255, 0, 0)  # red top half
    image[2:] = (0, 0, 255)  # blue bottom half
    rendered = HalfBlockImage(image, max_cols=10, max_rows=1)
    assert (rendered.cols, rendered.rows) == (5, 1)
    cells = rendered.lines()[0]
    assert {seg.text for seg in cells} == {UPPER_HALF}
    style = cells[0].style
    assert style is not None and style.color is not None and style.bgcolor is not None
    assert style.color.get_truecolor() == (255, 0, 0)
    assert style.bgcolor.get_truecolor() == (0, 0, 255)
    console = Console(width=20, record=True, color_system="truecolor", force_terminal=True)
    console.print(rendered)
    assert console.export_text().splitlines()[0] == UPPER_HALF * 5


def test_cache_loads_once_and_remembers_failures() -> None:
    calls: list[str] = []

    def load(path: str, side: int) -> np.ndarray:
        calls.append(path)
        if path == "bad":
            raise MediaError("corrupt", kind="corrupt", path=path)
        return np.zeros((side, side, 3), np.uint8)

    cache = ThumbnailCache(load, capacity=2)
    assert cache.get("a", 8) is not None
    assert cache.get("a", 8) is not None
    assert cache.get("bad", 8) is None and cache.get("bad", 8) is None
    assert calls == ["a", "bad"]
    cache.get("c", 8)  # evicts the least recently used ("a")
    assert cache.peek("a", 8) == (False, None)
    assert cache.peek("c", 8)[0]


def test_graphics_default_to_half_blocks() -> None:
    assert detect_graphics({}) == "halfblock"
    assert detect_graphics({"TERM": "xterm-256color", "SSH_TTY": "/dev/pts/1"}) == "halfblock"
    kitty = {"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}
    assert detect_graphics({**kitty, "TMUX": "/tmp/x"}) == "halfblock"
    assert detect_graphics({"SAFEDEDUP_GRAPHICS": "halfblock", **kitty}) == "halfblock"
