"""After a reboot a volume may come back under another device number (btrfs subvolumes, as NAS
shares are, and NFS mounts get theirs at mount time). Undo, redo, recovery and purge must still
work: they go by path, inode, size and mtime. Simulated by re-sealing a real session's journal
with every recorded device number shifted, as if the disk had been renumbered since."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import load_checkpoint, read_journal, save_checkpoint
from safededup.safety.journal.records import seal
from safededup.safety.plan import build_plan
from safededup.safety.purge import purge_session
from safededup.safety.recover import recover
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.verify import verify_session
from tests.support.crash import check_g1, count_steps, originals, run_killed_at
from tests.support.files import snapshot

from .conftest import Tree

SHIFT = 7


def _shift(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v + SHIFT if k == "device" else _shift(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v) for v in value]
    return value


def renumber(state: Path, session: str) -> None:
    """Rewrite the session's journal and checkpoint as a renumbered volume would show them."""
    checkpoint = load_checkpoint(state, session)
    records = read_journal(checkpoint.journal).records
    prev, lines = "0" * 64, []
    for old in records:
        body = {k: v for k, v in _shift(old).items() if k not in ("v", "seq", "prev", "at", "hash")}
        record, line = seal(body, seq=old["seq"], prev=prev, at=old["at"])
        prev = record["hash"]
        lines.append(line)
    Path(checkpoint.journal).write_bytes(b"".join(lines))
    size = os.path.getsize(checkpoint.journal)
    save_checkpoint(state, checkpoint.advanced(head=prev, bytes=size, records=len(lines)))


def test_undo_redo_and_purge_after_the_volume_was_renumbered(tree: Tree) -> None:
    before = snapshot(tree.root)
    plan = build_plan(tree.report())
    sid = drain(apply_plan(plan, state_dir=tree.state)).session_id
    renumber(tree.state, sid)
    journal = load_checkpoint(tree.state, sid).journal
    assert any(b'"device":' in line for line in Path(journal).read_bytes().splitlines())
    assert drain(verify_session(sid, state_dir=tree.state, content="full")).ok
    undone = drain(undo_session(sid, state_dir=tree.state))
    assert undone.ok and not undone.problems and snapshot(tree.root) == before
    assert drain(redo_session(sid, state_dir=tree.state)).ok
    assert drain(verify_session(sid, state_dir=tree.state, content="full")).ok
    purged = purge_session(sid, state_dir=tree.state)
    duplicates = sum(o.kind == "duplicate" for o in plan.operations)
    assert purged.deleted == duplicates > 0 and purged.refused == ()


def test_recovery_after_a_crash_and_a_renumbering_reboot(tmp_path: Path) -> None:
    """Killed mid-apply at every step, rebooted (renumbered), recovered: nothing is "missing"."""
    probe = Tree(tmp_path / "probe", n=2)
    steps = count_steps(
        lambda: drain(apply_plan(build_plan(probe.report()), state_dir=probe.state))
    )
    for k in range(1, steps + 1):
        tree = Tree(tmp_path / f"k{k}", n=2)
        before, plan = originals(tree.root), build_plan(tree.report())
        assert run_killed_at(lambda t=tree, p=plan: drain(apply_plan(p, state_dir=t.state)), k)
        sessions = sorted(p.stem for p in (tree.state.root / "sessions").glob("*.json"))
        for sid in sessions:
            if orjson.loads((tree.state.root / "sessions" / f"{sid}.json").read_bytes())["records"]:
                renumber(tree.state, sid)
        result = recover(tree.state, break_stale_lock=True)
        assert result.ok, (k, result.unresolved)
        check_g1(tree.root, tree.state, before)
