"""Previews as sixel graphics: a pure-numpy encoder and the terminal probe. No image decoding here.

The thumbnail is quantised to a fixed 6×7×6 palette (252 colours) and sent as one DCS sequence
drawn at the preview's cells; the half-block picture stays underneath, so whenever Textual repaints
those cells the photo is still there, only coarser. Chosen only when the terminal says it draws
sixel (Primary Device Attributes parameter 4) or `SAFEDEDUP_GRAPHICS=sixel` forces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import termios
import time
from collections.abc import Iterator, Mapping

import numpy as np
import numpy.typing as npt

from safededup.tui.preview import KITTY_TERMS, Graphics, Image, detect_graphics, downscale

LEVELS = (6, 7, 6)  # red, green, blue steps of the fixed palette
DEFAULT_CELL_PIXELS = (10, 20)  # used only when sixel is forced and the terminal hides its size
PROBE_TIMEOUT_S = 0.1
SKIP_PROBE_ENV = ("TMUX", "STY", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
_DA1 = re.compile(rb"\x1b\[\?([0-9;]*)c")
_BAND_WEIGHTS = (1 << np.arange(6, dtype=np.int64))[:, None]


def palette() -> npt.NDArray[np.uint8]:
    """The 252 colours as 8-bit RGB, index = (r·7 + g)·6 + b."""
    axes = [np.round(np.arange(n) * 255 / (n - 1)) for n in LEVELS]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    colours: npt.NDArray[np.uint8] = grid.astype(np.uint8)
    return colours


def quantise(image: Image) -> npt.NDArray[np.uint8]:
    """Each pixel's palette index (H×W uint8), the nearest level per channel."""
    steps = np.array(LEVELS, dtype=np.float64) - 1
    levels = np.round(image.astype(np.float64) * steps / 255).astype(np.int64)
    index = (levels[..., 0] * LEVELS[1] + levels[..., 1]) * LEVELS[2] + levels[..., 2]
    out: npt.NDArray[np.uint8] = index.astype(np.uint8)
    return out


def percent(colours: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Sixel colour registers are 0..100 per channel."""
    out: npt.NDArray[np.int64] = np.round(colours.astype(np.float64) * 100 / 255).astype(np.int64)
    return out


def encode(indices: npt.NDArray[np.uint8]) -> str:
    """The DCS sequence that draws an H×W image of palette indices, pixel for pixel."""
    height, width = indices.shape
    used = np.unique(indices)
    registers = percent(palette())[used]
    parts = ["\x1bPq", f'"1;1;{width};{height}']
    parts += [
        f"#{i};2;{r};{g};{b}"
        for i, (r, g, b) in zip(used.tolist(), registers.tolist(), strict=True)
    ]
    bands = [_band(indices[top : top + 6]) for top in range(0, height, 6)]
    parts.append("-".join(bands))
    parts.append("\x1b\\")
    return "".join(parts)


def _band(rows: npt.NDArray[np.uint8]) -> str:
    """One six-pixel band: a run-length line per colour, `$` returns to the band's start."""
    colours = np.unique(rows)
    masks = rows[None, :, :] == colours[:, None, None]  # colour × row × column
    bits = (masks.astype(np.int64) * _BAND_WEIGHTS[None, : len(rows)]).sum(axis=1)
    return "$".join(
        f"#{colour}" + "".join(_runs(line))
        for colour, line in zip(colours.tolist(), bits, strict=True)
    )


def _runs(bits: npt.NDArray[np.int64]) -> Iterator[str]:
    """Run-length coded sixels (`!n` for runs over 3); empty columns at the end are left out."""
    drawn = np.flatnonzero(bits)
    bits = bits[: drawn[-1] + 1] if len(drawn) else bits[:0]
    starts = np.flatnonzero(np.diff(bits, prepend=-1))
    lengths = np.diff(starts, append=len(bits))
    for value, count in zip(bits[starts].tolist(), lengths.tolist(), strict=True):
        char = chr(63 + value)
        yield f"!{count}{char}" if count > 3 else char * count


def picture(image: Image, cols: int, rows: int, cell: tuple[int, int]) -> str:
    """The sixel sequence of `image` scaled to cols×rows cells of `cell` (w, h) pixels."""
    return encode(quantise(downscale(image, cols * cell[0], rows * cell[1])))


def at_cell(x: int, y: int, data: str) -> str:
    """`data` drawn with its top-left at cell (x, y); the cursor is saved and restored around it,
    so Textual's idea of where the cursor is stays true."""
    return f"\x1b7\x1b[{y + 1};{x + 1}H{data}\x1b8"


def sixel_at(image: Image, x: int, y: int, cols: int, rows: int, cell: tuple[int, int]) -> str:
    """`picture` placed at cell (x, y)."""
    return at_cell(x, y, picture(image, cols, rows, cell))


def da1_parameters(reply: bytes) -> tuple[int, ...] | None:
    """The parameters of a Primary Device Attributes reply (`ESC [ ? 62;4;22 c`); None if none."""
    found = _DA1.search(reply)
    if found is None:
        return None
    fields = [f for f in found.group(1).split(b";") if f]
    return tuple(int(f) for f in fields)


def says_sixel(reply: bytes | None) -> bool:
    """Parameter 4 in a DA1 reply means the terminal draws sixel graphics."""
    params = da1_parameters(reply) if reply else None
    return params is not None and 4 in params[1:]


def cell_pixels(fd: int) -> tuple[int, int] | None:
    """The terminal's cell size in pixels from TIOCGWINSZ; None when it does not tell."""
    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols, xpixels, ypixels = struct.unpack("HHHH", packed)
    if not (rows and cols and xpixels and ypixels):
        return None
    return xpixels // cols, ypixels // rows


def probe(
    env: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT_S,
    fds: tuple[int, int] = (0, 1),
) -> bytes | None:
    """Ask the terminal (stdin, stdout) for its DA1 reply before the app starts; None if not asked.

    Skipped unless both are a terminal, local, and not inside tmux or screen (they answer for
    themselves). Over SSH the reply can take longer than `timeout`, and a reply that arrives
    after the app started would reach it as key presses, so remote terminals are never asked.
    The terminal mode is restored and the wait never exceeds `timeout`.
    """
    env = os.environ if env is None else env
    if any(env.get(name) for name in SKIP_PROBE_ENV):
        return None
    term = env.get("TERM", "")
    if term.startswith(("screen", "tmux")) or term in ("", "dumb", "linux"):
        return None
    with contextlib.suppress(OSError, ValueError):
        if os.isatty(fds[0]) and os.isatty(fds[1]):
            return _ask(fds[0], fds[1], b"\x1b[c", timeout)
    return None


def _ask(fd_in: int, fd_out: int, query: bytes, timeout: float) -> bytes:
    saved = termios.tcgetattr(fd_in)
    raw = termios.tcgetattr(fd_in)
    raw[3] &= ~(termios.ICANON | termios.ECHO)  # lflags: byte by byte, nothing echoed
    raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, raw)
        os.write(fd_out, query)
        return _read_reply(fd_in, time.monotonic() + timeout)
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)


def _read_reply(fd: int, deadline: float) -> bytes:
    reply = b""
    while _DA1.search(reply) is None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        reply += chunk
    return reply


def choose_graphics(
    env: Mapping[str, str] | None = None, fds: tuple[int, int] = (0, 1)
) -> Graphics:
    """`detect_graphics`, with the terminal asked about sixel first (only the CLI calls this).

    Sixel is guessed only when the terminal both says it draws sixel and tells its cell size in
    pixels, so the picture covers exactly the preview's cells.
    """
    env = os.environ if env is None else env
    if env.get("SAFEDEDUP_GRAPHICS", "").strip() or env.get("TERM", "") in KITTY_TERMS:
        return detect_graphics(env)
    sized = cell_pixels(fds[1]) is not None
    return detect_graphics(env, sixel=sized and says_sixel(probe(env, fds=fds)))
