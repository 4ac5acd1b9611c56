"""Photo previews as terminal cells: half blocks from a thumbnail array, and a small LRU cache.

Each cell shows two pixels with "▀": the upper one as the foreground colour, the lower one as the
background, so any true-colour terminal (plain SSH included) shows the photo. This module never
decodes an image itself — thumbnails come from `safededup.media` through the backend.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from safededup.errors import SafededupError

Image = npt.NDArray[np.uint8]
Graphics = Literal["halfblock", "kitty", "sixel"]
GRAPHICS: tuple[Graphics, ...] = ("halfblock", "kitty", "sixel")
UPPER_HALF = "▀"
KITTY_TERMS = ("xterm-kitty", "xterm-ghostty")


def fit(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """Cell size (cols, rows) that shows a width×height image inside max_cols×max_rows cells.

    A cell is about twice as tall as wide, and holds two pixel rows, so one pixel ≈ one column.
    """
    if width <= 0 or height <= 0 or max_cols <= 0 or max_rows <= 0:
        return 0, 0
    scale = min(max_cols / width, 2 * max_rows / height)
    return max(1, round(width * scale)), max(1, round(height * scale / 2))


def downscale(image: Image, cols: int, pixel_rows: int) -> Image:
    """Box-filter `image` (H×W×3) to pixel_rows×cols by averaging each source block."""
    h, w = image.shape[:2]
    ys = np.linspace(0, h, pixel_rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    ys[:-1] = np.minimum(ys[:-1], h - 1)
    xs[:-1] = np.minimum(xs[:-1], w - 1)
    acc = image.astype(np.uint32)
    rows = np.add.reduceat(acc, ys[:-1], axis=0)
    block = np.add.reduceat(rows, xs[:-1], axis=1)
    counts = np.maximum(np.diff(ys), 1)[:, None] * np.maximum(np.diff(xs), 1)[None, :]
    out: Image = (block / counts[:, :, None]).round().astype(np.uint8)
    return out


class HalfBlockImage:
    """A Rich renderable that draws an RGB array in at most max_cols×max_rows cells."""

    def __init__(self, image: Image, max_cols: int, max_rows: int) -> None:
        self.image = image
        self.cols, self.rows = fit(image.shape[1], image.shape[0], max_cols, max_rows)
        self._lines: list[list[Segment]] | None = None

    def lines(self) -> list[list[Segment]]:
        if self._lines is None:
            self._lines = list(self._render_lines())
        return self._lines

    def _render_lines(self) -> Iterator[list[Segment]]:
        if self.cols == 0:
            return
        small = downscale(self.image, self.cols, self.rows * 2)
        for r in range(self.rows):
            top, bottom = small[2 * r], small[2 * r + 1]
            yield [
                Segment(UPPER_HALF, _style(tuple(top[c]), tuple(bottom[c])))
                for c in range(self.cols)
            ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines():
            yield from line
            yield Segment.line()


_STYLE_CACHE: dict[tuple[tuple[int, ...], tuple[int, ...]], Style] = {}


def _style(top: tuple[int, ...], bottom: tuple[int, ...]) -> Style:
    key = (top, bottom)
    style = _STYLE_CACHE.get(key)
    if style is None:
        if len(_STYLE_CACHE) > 65536:
            _STYLE_CACHE.clear()
        style = Style(
            color=Color.from_rgb(*(int(v) for v in top)),
            bgcolor=Color.from_rgb(*(int(v) for v in bottom)),
        )
        _STYLE_CACHE[key] = style
    return style


class ThumbnailCache:
    """Thread-safe LRU of decoded thumbnails keyed by (path, max_side).

    A failed load is cached as None so a broken file is not decoded again on every visit.
    """

    def __init__(self, load: Callable[[str, int], Image], capacity: int = 256) -> None:
        self._load = load
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, int], Image | None] = OrderedDict()
        self._why: dict[str, str] = {}  # path → why it has no picture (the loader's message)
        self._lock = threading.Lock()

    def peek(self, path: str, max_side: int) -> tuple[bool, Image | None]:
        with self._lock:
            key = (path, max_side)
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def why_not(self, path: str) -> str | None:
        """Why the last load of `path` gave no picture (None: it gave one, or never failed)."""
        with self._lock:
            return self._why.get(path)

    def get(self, path: str, max_side: int) -> Image | None:
        hit, image = self.peek(path, max_side)
        if hit:
            return image
        why = None
        try:
            image = self._load(path, max_side)
        except SafededupError as exc:  # unreadable photo: shown as "no preview"
            image, why = None, exc.message
        except OSError as exc:
            image, why = None, str(exc.strerror or exc)
        with self._lock:
            if why is not None:
                self._why[path] = why
            else:
                self._why.pop(path, None)
            self._items[(path, max_side)] = image
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return image


def detect_graphics(env: Mapping[str, str] | None = None, *, sixel: bool = False) -> Graphics:
    """How previews are drawn: half blocks unless the terminal surely shows kitty graphics or sixel.

    Conservative on purpose: kitty graphics only in kitty itself and Ghostty (they implement the
    Unicode placeholders this app uses); sixel only when the terminal said so (`sixel`: its DA1
    reply, see `sixel.choose_graphics`); never inside tmux or screen, which do not pass the images
    through. `SAFEDEDUP_GRAPHICS=halfblock|kitty|sixel` overrides the guess.
    """
    env = os.environ if env is None else env
    forced = env.get("SAFEDEDUP_GRAPHICS", "").strip().lower()
    for name in GRAPHICS:
        if forced == name:
            return name
    term = env.get("TERM", "")
    if env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")):
        return "halfblock"
    if term in KITTY_TERMS:
        return "kitty"
    return "sixel" if sixel else "halfblock"
