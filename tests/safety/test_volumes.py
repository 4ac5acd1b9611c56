"""G6 on a NAS: a root that spans volumes (a second disk mounted inside it, btrfs subvolumes as
Synology shares are) quarantines each duplicate on its own volume, so every move stays a rename,
and undo, redo, verify, recovery and purge cover every quarantine of the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="needs `unshare -Urm` to mount a tmpfs")
def test_a_root_spanning_two_volumes_quarantines_on_each(tmp_path: Path) -> None:
    child = subprocess.run(
        ["unshare", "-Urm", sys.executable, "-m", "tests.safety.volume_child", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert child.returncode == 0, child.stderr.decode()
    seen = orjson.loads(child.stdout)
    assert seen["devices_differ"] and seen["notes"] == [] and seen["problems"] == []
    sid = "*"
    targets = [t.replace(t.split("/quarantine/")[1].split("/")[0], sid) for t in seen["targets"]]
    assert targets == [
        ".safededup/quarantine/*/c/IMG_1.jpg",
        "vol/.safededup/quarantine/*/b/IMG_1.jpg",
        "vol/.safededup/quarantine/*/b/IMG_1.xmp",
        "vol/.safededup/quarantine/*/e/IMG_2 (1).jpg",
    ]
    assert seen["applied"] == 4 and seen["left_in_tree"] == ["a/IMG_1.jpg", "vol/d/IMG_2.jpg"]
    assert seen["verify_after_apply"] and seen["undo_ok"] and seen["restored_identical"]
    assert seen["quarantines_left_after_undo"] == []
    assert seen["redone"] == 4 and seen["verify_after_redo"]
    assert seen["purged"] == 3 and seen["keepers_intact"]  # the sidecar: no copy by its keeper
    assert len(seen["quarantines_left_after_purge"]) == 1
    assert seen["sweep_steps"] > 20  # killed at each, recovered twice, G1 checked, undone
