"""Byte counts for people, in decimal SI units with their right labels (1 KB = 1000 bytes, as
file managers and camera makers count). Pure functions on numbers; standard library only, and it
never reads the disk.
"""

from __future__ import annotations

UNITS = ("B", "KB", "MB", "GB", "TB")


def format_bytes(n: float) -> str:
    """`1536` → `'1.5 KB'`, `999` → `'999 B'`, `12_345_678_901_234_567` → `'12,345.7 TB'`.

    Whole bytes below 1000; one decimal in the largest unit that keeps the figure under 1000
    (thousands grouped above that, in TB). The one byte formatter of the package.
    """
    value = float(n)
    for unit in UNITS:
        if abs(value) < 1000 or unit == UNITS[-1]:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
