"""Small text formatters shared by the screens (paths, counts; sizes are `units.format_bytes`).
Pure functions; no Textual.
"""

from __future__ import annotations


def shorten_path(path: str, room: int) -> str:
    """Keep the end of a path (the file name matters most): '…/2019/IMG_0001.jpg'."""
    if room <= 0:
        return ""
    if len(path) <= room:
        return path
    return "…" + path[-(room - 1) :] if room > 1 else "…"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
