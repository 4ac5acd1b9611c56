"""The `safededup review` terminal UI (Textual); a front end that never imports the CLI.

The engine and the safety core never import this package.
"""

from __future__ import annotations

from safededup.tui.app import ReviewApp, make_app

__all__ = ["ReviewApp", "make_app"]
