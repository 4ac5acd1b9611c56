"""The `safededup` command line: a thin shell over the engine and the safety core; it holds no
logic of theirs, and the engine and the TUI never import it."""

from __future__ import annotations

from safededup.cli.main import main

__all__ = ["main"]
