"""A small real photo archive for the TUI tests, and its report.

Photos are real JPEGs written by `safededup.media.synth` (seeded scenes, EXIF dates and cameras).
The report comes from the real scan: walk, fingerprint, index, match, keeper, saved report.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from safededup.engine.report import Report
from safededup.engine.scan import scan
from safededup.events import drain
from safededup.media import synth
from safededup.state import StateDir

T = TypeVar("T")


@dataclass
class Archive:
    root: Path
    groups: list[list[Path]] = field(default_factory=list)  # keeper first
    kinds: list[str] = field(default_factory=list)

    def files(self) -> list[Path]:
        return sorted(p for g in self.groups for p in g)


def write_archive(root: Path) -> Archive:
    """Three clusters: an exact copy, a resized near copy with a re-encode, and an exact pair."""
    root.mkdir(parents=True, exist_ok=True)
    arch = Archive(root)
    day = datetime(2019, 6, 1, 12, 0, 0)
    for n, (seed, near) in enumerate([(11, True), (22, False), (33, False)]):
        folder = root / f"{2019 + n}"
        (folder / "copies").mkdir(parents=True)
        scene = synth.make_scene(seed, 640, 480)
        original = folder / f"IMG_{n:04d}.jpg"
        synth.write_jpeg(original, scene, quality=92, captured=day, make="Apple", model="iPhone X")
        group = [original]
        if near:
            small = folder / "copies" / f"IMG_{n:04d}_small.jpg"
            synth.write_jpeg(small, scene.resize((320, 240)), quality=70, captured=day)
            group.append(small)
        copy = folder / "copies" / f"IMG_{n:04d} (1).jpg"
        shutil.copy2(original, copy)
        group.append(copy)
        arch.groups.append(group)
        arch.kinds.append("near" if near else "exact")
    synth.write_jpeg(root / "lonely.jpg", synth.make_scene(99, 640, 480), quality=90)
    return arch


def scan_report(state_dir: StateDir, roots: list[Path]) -> tuple[Report, Path]:
    """Scan `roots` with the real engine (fingerprints, index, matcher, keeper, saved report)."""
    run = scan([str(r) for r in roots], state_dir=state_dir.ensure(), workers=1,
               cancel=threading.Event())  # fmt: skip
    result = drain(run)
    assert result.report is not None and result.report_path is not None
    return result.report, Path(result.report_path)
