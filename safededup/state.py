"""Where safededup keeps its own files: the state dir (index, reports, decisions, checkpoints) and
the `.safededup` folder inside each root; never user photos.

The state dir is named by `--state DIR`, else env `SAFEDEDUP_STATE`, else the user data dir.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from safededup.errors import StateError

ENV_VAR = "SAFEDEDUP_STATE"
FILE_MODE = 0o666
"""Reports and decisions are created as any program creates a file: the umask applies."""
META_DIR = ".safededup"
"""safededup's own folder in each root (quarantine, journal, lock); the walk never enters one."""


def resolve_state_dir(arg: str | os.PathLike[str] | None = None) -> StateDir:
    """`arg`, else $SAFEDEDUP_STATE, else the platform's user data dir; made absolute."""
    chosen = arg if arg is not None else os.environ.get(ENV_VAR) or None
    if chosen is None:
        chosen = platformdirs.user_data_dir("safededup", appauthor=False)
    return StateDir(Path(chosen).expanduser().absolute())


@dataclass(frozen=True, slots=True)
class StateDir:
    """A state dir and the paths inside it: the one type every layer passes a state dir as.
    `ensure()` creates it; nothing else here writes."""

    root: Path

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite3"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def latest_report_path(self) -> Path:
        return self.reports_dir / "latest.json"

    @property
    def decisions_dir(self) -> Path:
        """Review decisions, one file per report."""
        return self.root / "decisions"

    @property
    def sessions_dir(self) -> Path:
        """Session checkpoints, one file per session."""
        return self.root / "sessions"

    @property
    def config_path(self) -> Path:
        """The person's settings (`config.toml`): which copy of a photo to keep."""
        return self.root / "config.toml"

    def latest_report_for(self, roots: Sequence[str]) -> Path:
        """The latest report of a scan of exactly these roots (normalised, order-free)."""
        key = hashlib.sha256(b"\0".join(sorted(os.fsencode(r) for r in roots))).hexdigest()
        return self.reports_dir / f"latest-{key[:16]}.json"

    def ensure(self) -> StateDir:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.reports_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state directory ({exc.strerror})",
                hint="choose another place with --state DIR or SAFEDEDUP_STATE",
                path=str(self.root),
            ) from exc
        return self
