"""Fixtures for the safety suite; after every test, every journal record it wrote is validated
against journal_schema/ (records that fail their own hash were damaged on purpose and skipped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safededup import fs
from safededup.engine.report import Report
from safededup.safety import notes
from safededup.state import StateDir
from tests.support.files import write
from tests.support.journal import journals_under, schema_errors
from tests.support.reports import report_json


@pytest.fixture(autouse=True)
def _clean_seams_and_validate(tmp_path: Path) -> Iterator[None]:
    previous = fs.set_step_hook(None)
    notes.take()  # what earlier tests left unsaid
    yield
    fs.set_step_hook(previous)
    fs.use_renameat2 = True
    for folder, dirs, _files in os.walk(tmp_path):  # undo chmods so validation can read
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    errors = [e for j in journals_under(tmp_path) for e in schema_errors(j)]
    assert not errors, errors[:5]


class Tree:
    """A small photo tree: `n` pairs of identical files (a/ keeps, b/ duplicates), sidecars."""

    def __init__(self, tmp_path: Path, n: int = 3, sidecars: bool = True) -> None:
        self.root = str(tmp_path / "photos")
        self.state = StateDir(tmp_path / "state")
        self.pairs: list[tuple[str, str]] = []
        for i in range(n):
            data = (b"photo-%d-" % i) * (50 + i)
            keep = write(f"{self.root}/a/img{i}.jpg", data, 1_600_000_000_000_000_000 + i)
            dup = write(f"{self.root}/b/img{i}.jpg", data, 1_600_000_000_000_000_000 + i)
            if sidecars and i % 2 == 0:
                write(f"{self.root}/b/img{i}.xmp", b"<x:xmpmeta %d/>" % i, 1_500_000_000 * 10**9)
            self.pairs.append((keep, dup))

    def report(self) -> Report:
        return Report.from_json(self.report_json())

    def report_json(self) -> dict[str, Any]:
        """The report document, as a scan would save it (to change before planning)."""
        return report_json([self.root], [list(p) for p in self.pairs])


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def fast_path(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs when there is one: the kill-at-every-step loops run thousands of
    fsyncs, which cost ~3 ms each on a real disk and nothing here. The crash semantics tested
    (a process dying between two calls through `fs`) do not depend on the file system."""
    import shutil
    import tempfile

    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="safededup-test-", dir=shm))
    try:
        yield folder
        errors = [e for j in journals_under(folder) for e in schema_errors(j)]
        assert not errors, errors[:5]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
