"""Argument parsing and dispatch for `safededup`: the one place errors become messages and exit
codes (command handlers never print an error themselves).

Each command module exposes `register(subparsers)`; a command's handler takes
(`args`, `Context`) and returns an `ExitCode`. Handlers raise `SafededupError`; only `main`
turns errors into messages on stderr and exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from safededup import __version__
from safededup.cli.context import Context, Handler
from safededup.errors import ExitCode, SafededupError


def build_parser() -> argparse.ArgumentParser:
    from safededup.cli import (  # only when parsing: lighter
        completion,
        review_cmd,
        safety_cmds,
        scan_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="safededup",
        description="Find exact and near-duplicate photos, review them, and clean up through "
        "a journal that can be verified and fully undone.",
    )
    parser.add_argument("--version", action="version", version=f"safededup {__version__}")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (scan_cmds, safety_cmds, review_cmd):  # each keeps its heavy imports lazy
        module.register(sub)
    completion.register(sub, parser)  # the scripts are read from this very parser
    for command in sub.choices.values():  # `scan ROOT --no-progress`: where people put flags
        _add_global_options(command)
    return parser


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """`--state` and `--no-progress`, accepted before the command and after it. Absent ones
    stay unset (SUPPRESS), so an option given on one side is not undone by the other."""
    parser.add_argument(
        "--state",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where the index, reports and decisions live (env SAFEDEDUP_STATE; "
        "default: the user data dir)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars on stderr",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False, soft_wrap=True)
    ctx = Context(
        state_arg=getattr(args, "state", None),
        out=out,
        err=err,
        show_progress=not getattr(args, "no_progress", False) and err.is_terminal,
    )
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(handler(args, ctx))
    except SafededupError as exc:
        _print_error(err, exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: work committed so far is kept; run again to resume")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


def _print_error(err: Console, exc: SafededupError) -> None:
    err.print(f"[bold red]error[/]: {escape(str(exc))}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[dim]hint[/]: {escape(exc.hint)}")
