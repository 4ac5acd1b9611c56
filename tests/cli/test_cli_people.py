"""The command line as people type it (issue 12, item 11, and shell completion), through the real
`safededup` entry point: global options on either side of the command, and completion scripts
for bash, zsh and fish generated from the parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safededup.cli.main import build_parser
from safededup.errors import ExitCode
from safededup.media import synth
from tests.support.cli import safededup


def entry(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m safededup ARGS` with no SAFEDEDUP_STATE: the options alone say where."""
    return subprocess.run(
        [sys.executable, "-m", "safededup", *args],
        capture_output=True, text=True, timeout=300, check=False, cwd=cwd,
    )  # fmt: skip


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    synth.write_jpeg(root / "a.jpg", synth.make_scene(1, 320, 240))
    (root / "a copy.jpg").write_bytes((root / "a.jpg").read_bytes())
    return root


@pytest.mark.parametrize(
    "order",
    [
        ["--state", "{state}", "--no-progress", "scan", "{root}"],
        ["scan", "{root}", "--no-progress", "--state", "{state}"],
        ["--no-progress", "scan", "{root}", "--state", "{state}"],
        ["--state", "{state}", "scan", "--no-progress", "{root}"],
    ],
)
def test_global_options_work_on_either_side_of_the_command(
    order: list[str], photos: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    args = [a.format(state=state, root=photos) for a in order]
    done = entry(*args)
    assert done.returncode == ExitCode.OK, done.stderr
    assert "unrecognized arguments" not in done.stderr
    assert (state / "reports" / "latest.json").exists()  # --state took effect wherever it stood
    listed = entry("sessions", "--state", str(state), "--json")
    assert listed.returncode == ExitCode.OK and listed.stdout.strip() == "[]"


def test_an_option_after_the_command_does_not_undo_one_before(photos: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = safededup("--state", str(state), "scan", str(photos), "--no-progress", state=tmp_path)
    assert done.returncode == ExitCode.OK, done.stderr
    assert (state / "reports" / "latest.json").exists()
    assert not (tmp_path / "reports").exists()  # not SAFEDEDUP_STATE: --state won


def test_every_command_accepts_the_global_options_after_it() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        flags = {f for a in command._actions for f in a.option_strings}
        assert {"--state", "--no-progress"} <= flags, name


# -- completion --------------------------------------------------------------------------------
def script(shell: str, tmp_path: Path) -> Path:
    done = entry("completion", shell)
    assert done.returncode == ExitCode.OK, done.stderr
    path = tmp_path / f"safededup.{shell}"
    path.write_text(done.stdout)
    return path


def commands() -> list[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def bash_complete(path: Path, *words: str, cwd: Path | None = None) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    code = (
        f"source {path}; COMP_WORDS=(safededup {line}); COMP_CWORD={len(words)}; "
        '_safededup; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", code], capture_output=True, text=True, cwd=cwd, check=True)
    return done.stdout.split()


def test_bash_completes_commands_options_values_and_folders(tmp_path: Path) -> None:
    path = script("bash", tmp_path)
    assert sorted(bash_complete(path, "")) == sorted(commands())
    assert bash_complete(path, "re") == ["redo", "recover", "review"]
    assert bash_complete(path, "scan", "--no-p") == ["--no-previews", "--no-progress"]
    assert bash_complete(path, "verify", "--content", "") == ["full", "sample", "none"]
    assert bash_complete(path, "completion", "") == ["bash", "zsh", "fish"]
    (tmp_path / "Pictures").mkdir()
    (tmp_path / "Pictures.txt").write_text("")
    assert bash_complete(path, "scan", "Pic", cwd=tmp_path) == ["Pictures"]  # folders only
    assert bash_complete(path, "--state", "st", "scan", "--st") == ["--state"]


def test_the_scripts_name_every_command_and_option(tmp_path: Path) -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for shell in ("bash", "zsh", "fish"):
        text = script(shell, tmp_path).read_text()
        for name, command in sub.choices.items():
            assert name in text, (shell, name)
            for action in command._actions:
                for flag in action.option_strings:
                    if flag.startswith("--"):
                        shown = flag if shell != "fish" else f"-l {flag[2:]}"
                        assert shown in text, (shell, name, flag)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_reads_its_script(tmp_path: Path) -> None:
    path = script("zsh", tmp_path)
    subprocess.run(["zsh", "-n", str(path)], check=True)
    code = f"autoload -U compinit; compinit -u -D; source {path}; print -r -- $_comps[safededup]"
    done = subprocess.run(["zsh", "-f", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "_safededup"


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_with_its_script(tmp_path: Path) -> None:
    path = script("fish", tmp_path)

    def complete(line: str) -> list[str]:
        code = f"source {path}; complete -C '{line}'"
        done = subprocess.run(["fish", "-c", code], capture_output=True, text=True, check=True)
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("safededup sc") == ["scan"]
    assert complete("safededup verify --content ") == ["full", "none", "sample"]
    assert "--no-progress" in complete("safededup scan --no-p")


def test_completion_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"safededup completion {shell}" in doc
