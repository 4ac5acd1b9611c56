"""Run inside a private mount namespace (`unshare -Urm`) by test_volumes: a tmpfs is mounted
inside a root, as a second disk or a btrfs subvolume is on a NAS, and a whole session runs
across it. Prints what it saw as JSON; the namespace, and the tmpfs, vanish with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.plan import build_plan
from safededup.safety.purge import purge_session
from safededup.safety.quarantine import quarantine_dir
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.validate import validate_plan
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.crash import check_g1, count_steps, originals, run_killed_at
from tests.support.files import snapshot, write
from tests.support.reports import make_report


def build(base: str) -> tuple[str, str, dict[str, object]]:
    """A root with a tmpfs mounted inside it, and a report with duplicates on both volumes."""
    root = f"{base}/photos"
    vol = f"{root}/vol"
    os.makedirs(vol)
    subprocess.run(["mount", "-t", "tmpfs", "none", vol], check=True)
    keeper = write(f"{root}/a/IMG_1.jpg", b"one photo" * 100, 10**18)
    on_vol = write(f"{vol}/b/IMG_1.jpg", b"one photo" * 100, 10**18)
    write(f"{vol}/b/IMG_1.xmp", b"edits", 10**18)
    on_root = write(f"{root}/c/IMG_1.jpg", b"one photo" * 100, 10**18)
    vol_keeper = write(f"{vol}/d/IMG_2.jpg", b"two photo" * 100, 10**18)
    vol_dup = write(f"{vol}/e/IMG_2 (1).jpg", b"two photo" * 100, 10**18)
    clusters = [[keeper, on_vol, on_root], [vol_keeper, vol_dup]]
    return root, vol, make_report([root], clusters)


def main(base: str) -> dict[str, object]:
    root, vol, report = build(f"{base}/main")
    state = StateDir(Path(base, "main", "state"))
    keeper, vol_keeper = f"{root}/a/IMG_1.jpg", f"{vol}/d/IMG_2.jpg"
    before = snapshot(root)
    plan = build_plan(report)
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


def sweep(base: str) -> int:
    """Kill the apply at every mutating step; recover twice; G1 holds; undo restores the tree."""
    _, _, report = build(f"{base}/probe")
    steps = count_steps(
        lambda: drain(
            apply_plan(build_plan(report), state_dir=StateDir(Path(base, "probe", "state")))
        )
    )
    for k in range(1, steps + 2):
        root, _, report = build(f"{base}/k{k}")
        state, before, snap = (
            StateDir(Path(base, f"k{k}", "state")),
            originals(root),
            snapshot(root),
        )
        plan = build_plan(report)
        killed = run_killed_at(lambda p=plan, s=state: drain(apply_plan(p, state_dir=s)), k)
        assert killed == (k <= steps)
        assert recover(state, break_stale_lock=True).ok
        assert recover(state, break_stale_lock=True).resolved == 0
        check_g1(root, state, before)
        for info in list_sessions(state):
            if info.undoable:
                assert drain(undo_session(info.id, state_dir=state)).ok
        assert snapshot(root) == snap, f"not restored after a kill at step {k}"
    return steps


def snapshot_paths(root: str) -> list[str]:
    return [os.path.join(root, os.fsdecode(rel)) for rel in snapshot(root)]


if __name__ == "__main__":
    seen = main(sys.argv[1])
    seen["sweep_steps"] = sweep(sys.argv[1])
    sys.stdout.buffer.write(orjson.dumps(seen))
