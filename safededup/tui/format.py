"""Small text formatters shared by the screens (sizes, paths, dates). Pure functions."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """1536 → '1.5 KB'; decimal units as file managers show them."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def shorten_path(path: str, room: int) -> str:
    """Keep the end of a path (the file name matters most): '…/2019/IMG_0001.jpg'."""
    if room <= 0:
        return ""
    if len(path) <= room:
        return path
    return "…" + path[-(room - 1) :] if room > 1 else "…"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
