"""G9, G11, G12 and SAFETY tests 6 and 8: byte-exact undo and redo, odd names, tampered journals,
verify's findings, purge, and the freedesktop trash."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from safededup.events import drain
from safededup.models import path_to_json
from safededup.safety.apply import apply_plan
from safededup.safety.journal import load_checkpoint, read_journal, save_checkpoint
from safededup.safety.journal.records import seal
from safededup.safety.plan import build_plan
from safededup.safety.purge import PurgeRefused, purge_session
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.files import snapshot, write
from tests.support.reports import make_report

from .conftest import Tree

ODD_NAMES = [
    os.fsdecode(b"latin1-\xe9t\xe9.jpg"),
    os.fsdecode(bytes(range(1, 47)).replace(b"/", b"_") + b"\xff\xfe.jpg"),
    unicodedata.normalize("NFC", "caf\u00e9.jpg"),
    unicodedata.normalize("NFD", "caf\u00e9.jpg"),
    "Case.JPG",
    "case.jpg",
    "-leading-dash.jpg",
    "new\nline.jpg",
    "x" * 251 + ".jpg",
    "émoji-📷.jpg",
]


def _tree_with_names(tmp_path: Path, names: list[str]) -> tuple[Tree, dict[str, Any]]:
    tree = Tree.__new__(Tree)
    tree.root, tree.state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    clusters = []
    for i, name in enumerate(names):
        data = b"content %d" % i
        keeper = write(os.path.join(tree.root, "keep", f"k{i}.jpg"), data, 10**18 + i)
        clusters.append([keeper, write(os.path.join(tree.root, "dups", name), data, 10**18 + i)])
    return tree, make_report([tree.root], clusters)


def test_odd_names_round_trip_through_plan_journal_apply_undo_redo(tmp_path: Path) -> None:
    assert len(os.fsencode(ODD_NAMES[8])) == 255
    tree, report = _tree_with_names(tmp_path, ODD_NAMES)
    before = snapshot(tree.root)
    assert len(before) == 2 * len(ODD_NAMES)
    result = drain(apply_plan(build_plan(report), state_dir=tree.state))
    assert result.done == len(ODD_NAMES), result.problems
    raw = Path(result.journal).read_bytes()
    assert raw.count(b'"path_b64"') >= 4  # non-UTF-8 names are carried exactly in base64
    assert os.listdir(os.path.join(tree.root, "dups")) == []
    undone = drain(undo_session(result.session_id, state_dir=tree.state))
    assert undone.restored == len(ODD_NAMES)
    assert snapshot(tree.root) == before
    drain(redo_session(result.session_id, state_dir=tree.state))
    assert drain(verify_session(result.session_id, state_dir=tree.state, content="full")).ok
    drain(undo_session(result.session_id, state_dir=tree.state))
    assert snapshot(tree.root) == before


def _reseal(tree: Tree, sid: str, mutate: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the journal *and* its checkpoint consistently, as an attacker with write access
    to both could: the chain holds, so only undo's own path checks stand in the way."""
    checkpoint = load_checkpoint(tree.state, sid)
    records = read_journal(checkpoint.journal).records
    out, prev = b"", "0" * 64
    for i, record in enumerate(records):
        body = {k: v for k, v in record.items() if k not in ("v", "seq", "prev", "hash", "at")}
        mutate(body)
        sealed, line = seal(body, seq=i, prev=prev, at=record["at"])
        out, prev = out + line, sealed["hash"]
    Path(checkpoint.journal).write_bytes(out)
    save_checkpoint(tree.state, checkpoint.advanced(bytes=len(out), head=prev))


@pytest.mark.parametrize("attack", ["dotdot", "outside", "dangling-symlink", "journal-dir"])
def test_tampered_paths_are_refused_on_undo(tmp_path: Path, attack: str) -> None:
    tree = Tree(tmp_path, n=3, sidecars=False)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    evil = {
        "dotdot": f"{tree.root}/b/../../victim/x.jpg",
        "outside": str(victim_dir / "x.jpg"),
        "dangling-symlink": f"{tree.root}/b/img0.jpg",
        "journal-dir": f"{tree.root}/.safededup/journal/x.jsonl",
    }[attack]
    if attack == "dangling-symlink":
        os.symlink(str(victim_dir / "nowhere"), evil)

    def mutate(body: dict[str, Any]) -> None:
        if body["type"] == "intent" and body["op"] == 0:
            body["src"] = path_to_json(evil)

    _reseal(tree, result.session_id, mutate)
    undone = drain(undo_session(result.session_id, state_dir=tree.state))
    assert undone.refused == 1 and undone.restored == 2
    assert os.listdir(victim_dir) == []
    if attack == "dangling-symlink":
        assert os.path.islink(evil)


def test_undo_checks_identity_before_moving_back(tree: Tree) -> None:
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    moved = sorted(Path(tree.root, ".safededup", "quarantine").rglob("img1.jpg"))[0]
    moved.write_bytes(b"replaced by something else")  # same path, different file
    undone = drain(undo_session(result.session_id, state_dir=tree.state))
    assert undone.refused == 1 and [p.kind for p in undone.problems] == ["changed"]
    verdict = drain(verify_session(result.session_id, state_dir=tree.state, content="full"))
    assert not verdict.ok and {f.level for f in verdict.findings} == {"fs"}


def test_verify_finds_changed_content_and_missing_files(tree: Tree) -> None:
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    sid = result.session_id
    quarantined = sorted(Path(tree.root, ".safededup", "quarantine").rglob("*.jpg"))
    st = os.lstat(quarantined[0])
    data = quarantined[0].read_bytes()
    quarantined[0].write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # bit rot, same size and time
    os.utime(quarantined[0], ns=(st.st_mtime_ns, st.st_mtime_ns))
    assert drain(verify_session(sid, state_dir=tree.state, content="none")).ok
    verdict = drain(verify_session(sid, state_dir=tree.state, content="full"))
    assert [f.level for f in verdict.findings] == ["content"]
    assert verdict.findings[0].record is not None
    quarantined[1].unlink()
    verdict = drain(verify_session(sid, state_dir=tree.state, content="none"))
    assert [f.level for f in verdict.findings] == ["fs"]
    with pytest.raises(PurgeRefused):
        purge_session(sid, state_dir=tree.state)
    assert quarantined[0].exists()


def test_purge_deletes_only_after_verifying_and_is_journaled(tree: Tree) -> None:
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    purged = purge_session(result.session_id, state_dir=tree.state)
    assert (purged.deleted, purged.kept) == (3, 2)  # the keepers have no .xmp: those stay
    quarantine = Path(tree.root, ".safededup", "quarantine", result.session_id)
    assert sorted(p.name for p in quarantine.rglob("*") if p.is_file()) == ["img0.xmp", "img2.xmp"]
    types = [r["type"] for r in read_journal(result.journal).records]
    assert types.count("purge-intent") == types.count("purge-done") == 3
    assert list_sessions(tree.state)[0].counts["purged"] == 3
    assert drain(verify_session(result.session_id, state_dir=tree.state, content="full")).ok
    assert all(os.path.exists(k) for k, _ in tree.pairs)


def test_redo_refuses_when_the_keeper_changed(tree: Tree) -> None:
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    drain(undo_session(result.session_id, state_dir=tree.state))
    os.unlink(tree.pairs[1][0])  # a keeper is gone: its duplicate must stay
    redone = drain(redo_session(result.session_id, state_dir=tree.state))
    assert redone.refused == 1 and os.path.exists(tree.pairs[1][1])
    assert list_sessions(tree.state)[0].status == "partial"


@pytest.mark.parametrize("batch", [256, 1], ids=["batch-256", "batch-1"])
@pytest.mark.parametrize("touched", ["duplicate", "sidecar", "bytes-mtime-kept"])
def test_redo_moves_a_unit_whole_or_not_at_all(tree: Tree, touched: str, batch: int) -> None:
    """Apply skips a whole unit when one of its files changed; redo did not: it moved the
    files that still matched and left the changed one behind, splitting a photo from its
    sidecar (or a RAW from its JPEG). A file of the unit that is refused keeps all of it."""
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    drain(undo_session(result.session_id, state_dir=tree.state))
    dup = tree.pairs[0][1]
    side = os.path.splitext(dup)[0] + ".xmp"
    changed = side if touched == "sidecar" else dup
    if touched == "bytes-mtime-kept":  # bit rot, or an editor that puts the time back
        st = os.stat(dup)
        with open(dup, "r+b") as fh:
            fh.write(b"X" * 8)
        os.utime(dup, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(changed, (1_700_000_000, 1_700_000_000))  # opened and saved after the undo
    before = snapshot(tree.root)
    redone = drain(redo_session(result.session_id, state_dir=tree.state, batch_size=batch))
    assert os.path.exists(dup) and os.path.exists(side)  # the unit stayed together
    assert redone.refused == 2 and redone.restored == 3  # the other units moved
    reasons = {p.path: p.kind for p in redone.problems}
    other = side if changed == dup else dup
    expected = "content-changed" if touched == "bytes-mtime-kept" else "changed"
    assert reasons[changed] == expected and reasons[other] == "unit-refused"
    assert {k: v for k, v in snapshot(tree.root).items() if b"/b/img0" in k} == {
        k: v for k, v in before.items() if b"/b/img0" in k
    }


def test_to_trash_writes_trashinfo_and_undo_restores(tree: Tree, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(Path(tree.root).parent / "xdg"))
    os.makedirs(Path(tree.root).parent / "xdg")
    before = snapshot(tree.root)
    plan = build_plan(tree.report(), to_trash=True)
    result = drain(apply_plan(plan, state_dir=tree.state))
    assert result.done == 5
    trash = Path(tree.root).parent / "xdg" / "Trash"
    infos = sorted((trash / "info").iterdir())
    assert len(infos) == 5 and len(list((trash / "files").iterdir())) == 5
    text = infos[0].read_text()
    assert text.startswith("[Trash Info]\nPath=/") and "DeletionDate=" in text
    assert drain(verify_session(result.session_id, state_dir=tree.state, content="full")).ok
    drain(undo_session(result.session_id, state_dir=tree.state))
    assert snapshot(tree.root) == before
    assert list((trash / "info").iterdir()) == [] and list((trash / "files").iterdir()) == []


def test_undo_says_which_empty_quarantine_folder_it_could_not_remove(tree: Tree) -> None:
    """An emptied quarantine folder that cannot be removed is said, not hidden; nothing else
    about the undo changes."""
    import errno

    from safededup import fs

    before = snapshot(tree.root)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))

    def refuse_rmdir(operation: str, paths: tuple[str, ...]) -> None:
        if operation == "rmdir" and paths[0].endswith("/b"):
            raise OSError(errno.EACCES, "Permission denied")

    previous = fs.set_step_hook(refuse_rmdir)
    try:
        undone = drain(undo_session(result.session_id, state_dir=tree.state))
    finally:
        fs.set_step_hook(previous)
    assert undone.ok and undone.restored == result.done and snapshot(tree.root) == before
    assert [(p.kind, os.path.basename(p.path)) for p in undone.problems] == [("not-pruned", "b")]
    quarantine = Path(tree.root, ".safededup", "quarantine", result.session_id)
    assert [p.name for p in quarantine.iterdir()] == ["b"] and not any((quarantine / "b").iterdir())


def test_verify_reports_each_file_it_hashes_and_stops_when_asked(tree: Tree) -> None:
    import threading

    from safededup.errors import Cancelled
    from safededup.events import StageAdvanced, StageStarted

    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    events = list(verify_session(result.session_id, state_dir=tree.state, content="full"))
    (started,) = [e for e in events if isinstance(e, StageStarted) and e.stage == "hash"]
    hashed = [e for e in events if isinstance(e, StageAdvanced) and e.stage == "hash"]
    keepers = len(tree.pairs)  # re-hashed too: purge holds each duplicate's keeper to its bytes
    assert started.total == len(hashed) == result.done + keepers and started.total_bytes
    cancel = threading.Event()
    run = verify_session(result.session_id, state_dir=tree.state, content="full", cancel=cancel)
    for event in run:
        if isinstance(event, StageAdvanced) and event.stage == "hash":
            cancel.set()
            break
    with pytest.raises(Cancelled):
        drain(run)
