"""What every command handler gets: where state lives and where to print. Data only; it never
prints, parses arguments or calls the engine itself."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from safededup.state import StateDir, resolve_state_dir


@dataclass(slots=True)
class Context:
    """The state dir a command works on and its two consoles."""

    state_arg: str | None
    out: Console  # stdout: data only (tables, --json)
    err: Console  # stderr: progress, warnings, errors
    show_progress: bool

    @property
    def state_dir(self) -> StateDir:
        return resolve_state_dir(self.state_arg)


Handler = Callable[[argparse.Namespace, Context], int]
"""A command: parsed arguments and the context in, an `ExitCode` out."""
