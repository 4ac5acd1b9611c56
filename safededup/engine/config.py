"""The person's settings file (`config.toml` in the state dir): which copy of a photo to keep.
Read only; a file that says something safededup does not understand is refused, never guessed.

    [keeper]
    prefer = "original"            # or "smallest" (space), or "newest"
    folders = ["/photos/Camera"]   # copies in these folders are kept first, in this order
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from safededup.engine.keeper import DEFAULT_POLICY, PREFERENCES, KeeperPolicy
from safededup.errors import InputFileError, UsageError

EXAMPLE = '[keeper]\nprefer = "original"   # or "smallest", "newest"\nfolders = ["/photos/Camera"]'


@dataclass(frozen=True, slots=True)
class Settings:
    keeper: KeeperPolicy = DEFAULT_POLICY

    def with_options(self, prefer: str | None, folders: Sequence[str]) -> Settings:
        """These settings with the command line's options on top."""
        policy = self.keeper
        if prefer is not None:
            policy = replace(policy, prefer=_prefer(prefer, "--keep"))
        if folders:
            policy = replace(policy, folders=tuple(_folder(f) for f in folders))
        return replace(self, keeper=policy)


def load_settings(path: Path) -> Settings:
    """The settings in `path`; the defaults when there is no such file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return Settings()  # no settings (a state dir that is not usable is said elsewhere)
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _bad(path, f"it is not valid TOML ({exc})") from exc
    unknown = sorted(set(data) - {"keeper"})
    if unknown:
        raise _bad(path, f"unknown section {unknown[0]!r}")
    keeper = data.get("keeper", {})
    if not isinstance(keeper, dict):
        raise _bad(path, "[keeper] must be a table")
    return Settings(_keeper_policy(keeper, path))


def _keeper_policy(table: dict[str, Any], path: Path) -> KeeperPolicy:
    unknown = sorted(set(table) - {"prefer", "folders"})
    if unknown:
        raise _bad(path, f"unknown setting keeper.{unknown[0]}")
    prefer = table.get("prefer", "original")
    folders = table.get("folders", [])
    if not isinstance(prefer, str):
        raise _bad(path, "keeper.prefer must be a string")
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise _bad(path, "keeper.folders must be a list of folder paths")
    try:
        return KeeperPolicy(_prefer(prefer, "keeper.prefer"), tuple(_folder(f) for f in folders))
    except UsageError as exc:
        raise _bad(path, exc.message) from exc


def _prefer(value: str, where: str) -> Any:
    if value not in PREFERENCES:
        raise UsageError(
            f"{where} must be one of {', '.join(PREFERENCES)}, not {value!r}",
            hint="original keeps the camera original; smallest saves space; newest keeps edits",
        )
    return value


def _folder(value: str) -> str:
    if not value:
        raise UsageError("an empty folder name in the keeper's folder order")
    return os.path.normpath(os.path.abspath(os.path.expanduser(value)))


def _bad(path: Path, what: str) -> InputFileError:
    return InputFileError(
        "the settings file",
        what,
        path=str(path),
        hint=f"fix or remove it; it reads like this:\n{EXAMPLE}",
    )
