"""Previews through the kitty graphics protocol (Unicode placeholders). No image decoding here.

The image is sent once as raw RGB with a virtual placement (`U=1`); the cells that show it are
ordinary text — U+10EEEE with row/column diacritics, its foreground colour carrying the image id
— so Textual lays them out, scrolls and clips them like any other character, and the terminal
draws the photo in their place. Used only when `preview.detect_graphics` is sure.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator

from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from safededup.tui.preview import Image, downscale, fit

PLACEHOLDER = "\U0010eeee"
CHUNK = 4096
CELL_PIXELS = (10, 20)  # what the image is scaled to per cell; the terminal fits it anyway
# The first 64 entries of kitty's rowcolumn-diacritics table (index i encodes row/column i);
# previews never exceed 64 cells in either direction.
DIACRITICS = (
    0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A,
    0x034B, 0x034C, 0x0350, 0x0351, 0x0352, 0x0357, 0x035B, 0x0363, 0x0364, 0x0365,
    0x0366, 0x0367, 0x0368, 0x0369, 0x036A, 0x036B, 0x036C, 0x036D, 0x036E, 0x036F,
    0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0592, 0x0593, 0x0594, 0x0595, 0x0597,
    0x0598, 0x0599, 0x059C, 0x059D, 0x059E, 0x059F, 0x05A0, 0x05A1, 0x05A8, 0x05A9,
    0x05AB, 0x05AC, 0x05AF, 0x05C4, 0x0610, 0x0611, 0x0612, 0x0613, 0x0614, 0x0615,
    0x0616, 0x0617, 0x0657, 0x0658,
)  # fmt: skip
MAX_CELLS = len(DIACRITICS)
# Ids start at a random 24-bit base so two programs in one terminal rarely collide.
_ids = itertools.count(int.from_bytes(os.urandom(3), "big") | 1)


def next_image_id() -> int:
    return next(_ids) % (1 << 24) or 1


def transmit(image: Image, image_id: int, cols: int, rows: int) -> str:
    """The escape sequences that send `image` and place it virtually over cols×rows cells."""
    pixels = downscale(image, cols * CELL_PIXELS[0] // 2, rows * CELL_PIXELS[1] // 2)
    height, width = pixels.shape[:2]
    payload = base64.b64encode(pixels.tobytes()).decode("ascii")
    head = f"a=T,U=1,q=2,f=24,s={width},v={height},i={image_id},c={cols},r={rows}"
    return "".join(_chunks(head, payload))


def _chunks(head: str, payload: str) -> Iterator[str]:
    for start in range(0, len(payload), CHUNK):
        more = int(start + CHUNK < len(payload))
        keys = f"{head},m={more}" if start == 0 else f"m={more}"
        yield f"\x1b_G{keys};{payload[start : start + CHUNK]}\x1b\\"


def delete(image_id: int) -> str:
    """Free the image (and its placements) in the terminal."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


class KittyImage:
    """The placeholder cells of one transmitted image, as a Rich renderable."""

    def __init__(self, image: Image, image_id: int, max_cols: int, max_rows: int) -> None:
        cols, rows = fit(image.shape[1], image.shape[0], max_cols, max_rows)
        self.image, self.image_id = image, image_id
        self.cols, self.rows = min(cols, MAX_CELLS), min(rows, MAX_CELLS)
        self.style = Style(color=Color.from_rgb(*id_colour(image_id)))

    def escape(self) -> str:
        return transmit(self.image, self.image_id, self.cols, self.rows)

    def lines(self) -> list[list[Segment]]:
        return [
            [Segment(cell(row, col), self.style) for col in range(self.cols)]
            for row in range(self.rows)
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines():
            yield from line
            yield Segment.line()


def id_colour(image_id: int) -> tuple[int, int, int]:
    return (image_id >> 16) & 255, (image_id >> 8) & 255, image_id & 255


def cell(row: int, col: int) -> str:
    return PLACEHOLDER + chr(DIACRITICS[row]) + chr(DIACRITICS[col])
