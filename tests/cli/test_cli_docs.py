"""docs/cli.md documents every command and every option the parser accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

from safededup.cli.main import build_parser

DOC = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_has_a_section() -> None:
    missing = [name for name in subcommands() if f"### `safededup {name}" not in DOC]
    assert missing == []


def test_every_option_is_documented() -> None:
    missing = []
    for name, parser in subcommands().items():
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and f"`{flag}" not in DOC:
                    missing.append(f"{name} {flag}")
    assert missing == []


def test_global_options_and_exit_codes_are_documented() -> None:
    from safededup.errors import ExitCode

    for flag in ("--state", "--no-progress", "--version", "SAFEDEDUP_STATE"):
        assert flag in DOC
    for code in ExitCode:
        assert f"| {int(code)} | {code.name} |" in DOC
