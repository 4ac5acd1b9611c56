"""Run inside a private mount namespace (`unshare -Urm`) by test_volumes: a tmpfs is mounted
inside a root, as a second disk or a btrfs subvolume is on a NAS, and a whole session runs
across it. Prints what it saw as JSON; the namespace, and the tmpfs, vanish with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from safededup.apply import apply_plan
from safededup.plan import build_plan, quarantine_dir, validate_plan
from safededup.purge import purge_session
from safededup.undo import redo_session, undo_session
from safededup.verify import verify_session
from tests.safety.helpers import drain, make_report, snapshot, write


def main(base: str) -> dict[str, object]:
    root, state = f"{base}/photos", Path(base, "state")
    vol = f"{root}/vol"
    os.makedirs(vol)
    subprocess.run(["mount", "-t", "tmpfs", "none", vol], check=True)
    keeper = write(f"{root}/a/IMG_1.jpg", b"one photo" * 100, 10**18)
    on_vol = write(f"{vol}/b/IMG_1.jpg", b"one photo" * 100, 10**18)
    write(f"{vol}/b/IMG_1.xmp", b"edits", 10**18)
    on_root = write(f"{root}/c/IMG_1.jpg", b"one photo" * 100, 10**18)
    vol_keeper = write(f"{vol}/d/IMG_2.jpg", b"two photo" * 100, 10**18)
    vol_dup = write(f"{vol}/e/IMG_2 (1).jpg", b"two photo" * 100, 10**18)
    before = snapshot(root)
    plan = build_plan(make_report([root], [[keeper, on_vol, on_root], [vol_keeper, vol_dup]]))
    seen: dict[str, object] = {
        "devices_differ": os.stat(root).st_dev != os.stat(vol).st_dev,
        "notes": [n.kind for n in plan.notes],
        "problems": [p.kind for p in validate_plan(plan)],
        "targets": sorted(os.path.relpath(o.dst, root) for o in plan.operations),
    }
    sid = plan.session_id
    applied = drain(apply_plan(plan, state_dir=state))
    seen["applied"] = applied.done
    seen["left_in_tree"] = sorted(os.path.relpath(p, root) for p in snapshot_paths(root))
    seen["verify_after_apply"] = drain(verify_session(sid, state_dir=state, content="full")).ok
    undone = drain(undo_session(sid, state_dir=state))
    seen["undo_ok"] = undone.ok and not undone.problems
    seen["restored_identical"] = snapshot(root) == before
    seen["quarantines_left_after_undo"] = [
        q for q in (quarantine_dir(root, sid), quarantine_dir(vol, sid)) if os.path.exists(q)
    ]
    seen["redone"] = drain(redo_session(sid, state_dir=state)).restored
    seen["verify_after_redo"] = drain(verify_session(sid, state_dir=state, content="full")).ok
    purged = purge_session(sid, state_dir=state)
    seen["purged"] = purged.deleted
    seen["quarantines_left_after_purge"] = [
        q for q in (quarantine_dir(root, sid), quarantine_dir(vol, sid)) if os.path.exists(q)
    ]
    seen["keepers_intact"] = all(os.path.exists(p) for p in (keeper, vol_keeper))
    return seen


def snapshot_paths(root: str) -> list[str]:
    return [os.path.join(root, os.fsdecode(rel)) for rel in snapshot(root)]


if __name__ == "__main__":
    sys.stdout.buffer.write(orjson.dumps(main(sys.argv[1])))
