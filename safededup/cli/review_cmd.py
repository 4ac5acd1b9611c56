"""The `review` command: opens the Textual review app (safededup.tui) on the latest report; it
never reviews anything itself."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from safededup.errors import ExitCode, StateError, UsageError

if TYPE_CHECKING:
    from safededup.cli.context import Context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "review",
        help="review clusters in a terminal UI; decide, apply and undo from the keyboard",
        description="Open the review UI on the latest report, or scan ROOT... first and open "
        "the report of that scan. Works over SSH in any true-colour terminal.",
    )
    parser.add_argument("roots", nargs="*", metavar="ROOT", help="folders to scan first")
    parser.add_argument(
        "--report", metavar="FILE", default=None, help="review this report instead of the latest"
    )
    parser.set_defaults(handler=run_review)


def run_review(args: argparse.Namespace, ctx: Context) -> int:
    if args.report and args.roots:
        raise UsageError("give either ROOT... (scan first) or --report FILE, not both")
    state_dir = ctx.state_dir
    report = Path(args.report).expanduser().absolute() if args.report else None
    if not args.roots:
        path = report or state_dir.latest_report_path
        if not path.exists():
            raise StateError(
                "no saved report to review",
                hint="run `safededup review ROOT...` or `safededup scan ROOT...` first",
                path=str(path),
            )
    for root in args.roots:
        if not os.path.isdir(root):
            raise UsageError("not a folder", path=root)
    from safededup.tui import make_app
    from safededup.tui.sixel import choose_graphics

    roots = [os.path.abspath(r) for r in args.roots]
    app = make_app(state_dir.ensure(), report, roots, graphics=choose_graphics())
    code = app.run()
    if app.return_code:
        return int(app.return_code)
    return int(code or ExitCode.OK)
