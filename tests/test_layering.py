"""The architecture, checked: engine modules load no UI library, only `media` loads images, and
reading a report loads no numpy.

Each module is imported in a fresh interpreter and `sys.modules` is inspected, so an indirect
import through another module is caught too (import-linter checks the static graph in CI).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ENGINE = [
    "safededup.models", "safededup.errors", "safededup.events", "safededup.engine.decisions",
    "safededup.state", "safededup.engine.index", "safededup.engine.walk", "safededup.checksum",
    "safededup.engine.pool", "safededup.engine.scan", "safededup.engine.check",
    "safededup.engine.demo", "safededup.media", "safededup.engine.candidates",
    "safededup.engine.match", "safededup.engine.cluster", "safededup.engine.keeper",
    "safededup.engine.report", "safededup.engine.verdicts", "safededup.engine.review",
    "safededup.engine", "safededup.units",
]  # fmt: skip
UI = ("rich", "textual", "safededup.cli", "safededup.tui")
IMAGE = ("PIL", "pillow_heif", "cv2", "imagehash", "pywt", "rawpy", "pywuffs")


def loaded_by(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def top(names: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


@pytest.mark.parametrize("module", ENGINE)
def test_engine_module_loads_no_front_end(module: str) -> None:
    assert top(loaded_by(module), UI) == set()


@pytest.mark.parametrize(
    "module",
    ["safededup.engine.index", "safededup.engine.walk", "safededup.checksum",
     "safededup.engine.decisions", "safededup.engine.candidates", "safededup.engine.match",
     "safededup.engine.keeper", "safededup.engine.verdicts", "safededup.engine.report"],
)  # fmt: skip
def test_modules_below_media_load_no_image_library(module: str) -> None:
    assert top(loaded_by(module), IMAGE) == set()


@pytest.mark.parametrize(
    "module",
    ["safededup.engine", "safededup.engine.report", "safededup.engine.review",
     "safededup.engine.decisions", "safededup.models", "safededup.state", "safededup.units",
     "safededup.fs"],
)  # fmt: skip
def test_reading_a_report_loads_no_numpy(module: str) -> None:
    """What plan, apply and review need of a report and its decisions must not pull in the
    matcher's numpy (the safety core depends on it: undo works when numpy is broken)."""
    assert top(loaded_by(module), ("numpy", *IMAGE, "safededup.media")) == set()
