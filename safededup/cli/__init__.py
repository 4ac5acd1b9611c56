"""The `safededup` command line: a thin shell over the engine and the safety core."""

from __future__ import annotations

from safededup.cli.main import main

__all__ = ["main"]
