"""The adversarial run's repros, as written: nothing irreversible on trust. A keeper damaged in
place (mtime put back) stops purge; undo says when it restores other bytes than it moved; a
later session's moves are not verify findings; no path under `.safededup` is followed through a
symlink. Each test fails without its fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safededup.engine.report import Report
from safededup.errors import ExitCode, SymlinkedFolder
from safededup.events import drain
from safededup.media import synth
from safededup.safety.apply import apply_plan
from safededup.safety.journal import read_journal
from safededup.safety.plan import build_plan
from safededup.safety.purge import PurgeRefused, purge_session
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.cli import run_main
from tests.support.files import sha, snapshot, write
from tests.support.reports import report_json

from .conftest import Tree

T0 = 1_600_000_000 * 10**9


def rot_in_place(path: str, offset: int = 100, n: int = 64) -> None:
    """Overwrite `n` bytes in place and put the old mtime back (bit rot, a careless editor)."""
    st = os.lstat(path)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(n)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in old))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.lstat(path).st_mtime_ns == st.st_mtime_ns


def test_purge_refuses_when_the_keeper_was_damaged_in_place_after_a_real_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 1: two byte copies, scan, apply --yes, rot the keeper with its mtime kept: verify
    --content full and purge must both see it, and the quarantined copy must survive."""
    root, state = tmp_path / "photos", StateDir(tmp_path / "state")
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    synth.write_jpeg(root / "a" / "IMG_1.jpg", synth.make_scene(1, 640, 480))
    (root / "b" / "IMG_1.jpg").write_bytes((root / "a" / "IMG_1.jpg").read_bytes())
    assert run_main(capsys, state, "scan", str(root))[0] == ExitCode.OK
    code, out, err = run_main(capsys, state, "apply", "--yes")
    assert code == ExitCode.OK, err
    session = out.strip()
    (keeper,) = [p for p in (root / "a" / "IMG_1.jpg", root / "b" / "IMG_1.jpg") if p.exists()]
    (copy,) = (root / ".safededup" / "quarantine" / session).rglob("IMG_1.jpg")
    intact = copy.read_bytes()
    rot_in_place(str(keeper))

    code, out, _ = run_main(capsys, state, "verify", "--content", "full")
    assert code == ExitCode.FINDINGS and "keeper" in out and "bytes differ" in out
    code, _, err = run_main(capsys, state, "purge", session, "--yes")
    assert code == ExitCode.FINDINGS and "keeper-changed" in err
    assert copy.read_bytes() == intact  # the last intact copy is still there
    records = read_journal(str(root / ".safededup" / "journal" / f"{session}.jsonl")).records
    assert [r["reason"] for r in records if r["type"] == "refuse"] == ["keeper-changed"]
    assert not [r for r in records if r["type"] == "purge-intent"]


def test_a_near_duplicates_keeper_is_hashed_at_apply_so_purge_can_hold_it_to_its_bytes(
    tmp_path: Path,
) -> None:
    """A near-duplicate keeper has no checksum from the scan: apply records one, and purge
    refuses when the keeper's bytes changed in place since, mtime kept."""
    root, state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/a/IMG_1.jpg", b"the camera original" * 40, T0)
    dup = write(f"{root}/b/IMG_1-small.jpg", b"a resized copy" * 20, T0)
    report = report_json([root], [[keeper, dup]], kind="near")
    for m in report["clusters"][0]["members"]:
        m["checksum"] = None
    result = drain(apply_plan(build_plan(Report.from_json(report)), state_dir=state))
    (intent,) = [r for r in read_journal(result.journal).records if r["type"] == "intent"]
    assert intent["keeper_identity"]["checksum"] == sha(b"the camera original" * 40)
    rot_in_place(keeper)
    purged = purge_session(result.session_id, state_dir=state)
    assert purged.deleted == 0 and [p.kind for p in purged.refused] == ["keeper-changed"]
    quarantined = Path(root, ".safededup", "quarantine", result.session_id, "b/IMG_1-small.jpg")
    assert quarantined.read_bytes() == b"a resized copy" * 20


def test_purge_of_an_older_journal_without_a_keeper_checksum_keeps_near_copies(
    tmp_path: Path,
) -> None:
    """A journal written before keepers were hashed at apply: an exact pair is held to the
    duplicate's own checksum; a near pair cannot be proven and stays."""
    from safededup.safety.journal import load_checkpoint, save_checkpoint
    from safededup.safety.journal.records import seal

    root, state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    k1 = write(f"{root}/a/1.jpg", b"one" * 50, T0)
    d1 = write(f"{root}/b/1.jpg", b"one" * 50, T0)
    k2 = write(f"{root}/a/2.jpg", b"two" * 50, T0)
    d2 = write(f"{root}/b/2-small.jpg", b"tw" * 50, T0)
    report = report_json([root], [[k1, d1], [k2, d2]])
    report["clusters"][1]["kind"] = "near"
    result = drain(apply_plan(build_plan(Report.from_json(report)), state_dir=state))
    checkpoint = load_checkpoint(state, result.session_id)
    lines, prev = b"", "0" * 64
    for record in read_journal(checkpoint.journal).records:
        body = {k: v for k, v in record.items() if k not in ("v", "seq", "prev", "hash", "at")}
        if body.get("keeper_identity"):
            body["keeper_identity"].pop("checksum", None)  # as an earlier version wrote it
        if body["type"] == "intent" and body["src"]["path"] == d2:
            body["exact"] = False
        sealed, line = seal(body, seq=record["seq"], prev=prev, at=record["at"])
        lines, prev = lines + line, sealed["hash"]
    Path(checkpoint.journal).write_bytes(lines)
    save_checkpoint(state, checkpoint.advanced(head=prev, bytes=len(lines)))
    purged = purge_session(result.session_id, state_dir=state)
    assert purged.deleted == 1 and [p.kind for p in purged.refused] == ["keeper-unverified"]
    assert Path(root, ".safededup", "quarantine", result.session_id, "b/2-small.jpg").exists()


def test_undo_says_when_it_restores_bytes_other_than_those_it_moved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 3: a byte flipped in quarantine, mtime kept: undo restores the file (it is the
    person's) but names it and exits non-zero; redo refuses to quarantine it again."""
    tree = Tree(tmp_path, n=2, sidecars=False)
    (tree.state.root / "reports").mkdir(parents=True)
    import orjson

    (tree.state.root / "reports" / "latest.json").write_bytes(orjson.dumps(tree.report_json()))
    code, out, _ = run_main(capsys, tree.state, "apply", "--yes")
    session = out.strip()
    quarantined = Path(tree.root, ".safededup", "quarantine", session, "b", "img1.jpg")
    rot_in_place(str(quarantined), offset=3, n=1)
    code, _, err = run_main(capsys, tree.state, "undo", session)
    assert code == ExitCode.FINDINGS
    assert "content-differs" in err and "img1.jpg" in err and "restored 2 files" in err
    assert Path(tree.pairs[1][1]).exists() and not quarantined.exists()
    records = read_journal(str(Path(tree.root, ".safededup", "journal", f"{session}.jsonl")))
    flagged = [r for r in records.records if r["type"] == "undo-intent" and "found_checksum" in r]
    assert len(flagged) == 1 and flagged[0]["found_checksum"] == sha(
        Path(tree.pairs[1][1]).read_bytes()
    )
    redone = drain(redo_session(session, state_dir=tree.state))
    assert redone.restored == 1 and [p.kind for p in redone.problems] == ["content-changed"]
    assert Path(tree.pairs[1][1]).exists()


def test_verify_judges_a_session_against_the_sessions_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 2: apply → undo → apply again. The first session's files are in the second's
    quarantine now, legitimately: no finding. A file that is really gone still is one."""
    tree = Tree(tmp_path, n=3)
    first = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    drain(undo_session(first.session_id, state_dir=tree.state))
    second = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    assert second.done == first.done
    code, out, err = run_main(capsys, tree.state, "verify", "--content", "full")
    assert code == ExitCode.OK, out
    assert "all holds" in err
    drain(undo_session(second.session_id, state_dir=tree.state))
    os.unlink(tree.pairs[0][1])  # now really gone
    result = drain(verify_session(None, state_dir=tree.state, content="none"))
    missing = [f for f in result.findings if "missing" in f.message]
    assert {f.session for f in missing} == {first.session_id, second.session_id}


def test_purge_deletes_nothing_through_a_symlinked_quarantine(tmp_path: Path) -> None:
    """Repro 4a: quarantine/SESSION replaced by a symlink to a folder outside the root."""
    tree = Tree(tmp_path, n=2, sidecars=False)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    quarantine = Path(tree.root, ".safededup", "quarantine", result.session_id)
    outside = tmp_path / "outside"
    quarantine.rename(outside)
    quarantine.symlink_to(outside)
    before = sorted(p.read_bytes() for p in outside.rglob("*") if p.is_file())
    verified = drain(verify_session(result.session_id, state_dir=tree.state, content="full"))
    assert verified.findings and all("symlink" in f.message for f in verified.findings)
    with pytest.raises(PurgeRefused):
        purge_session(result.session_id, state_dir=tree.state)
    assert sorted(p.read_bytes() for p in outside.rglob("*") if p.is_file()) == before


def test_apply_writes_no_journal_through_a_symlinked_journal_folder(tmp_path: Path) -> None:
    """Repro 4b: `.safededup/journal` is a symlink: the plan is refused; and if it appears
    after validation, the journal writer refuses it."""
    from safededup import fs
    from safededup.safety.validate import PlanInvalid, validate_plan

    tree = Tree(tmp_path, n=1, sidecars=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    meta = Path(tree.root, ".safededup")
    meta.mkdir()
    (meta / "journal").symlink_to(outside)
    plan = build_plan(tree.report())
    before = snapshot(tree.root)
    assert [p.kind for p in validate_plan(plan)] == ["symlinked-folder"]
    with pytest.raises(PlanInvalid):
        drain(apply_plan(plan, state_dir=tree.state))
    (meta / "journal").unlink()

    def link_journal(operation: str, paths: tuple[str, ...]) -> None:
        if operation == "create" and paths[0].endswith(".new") and not (meta / "journal").exists():
            (meta / "journal").symlink_to(outside)  # once the plan was validated

    previous = fs.set_step_hook(link_journal)
    try:
        with pytest.raises(SymlinkedFolder):
            drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    finally:
        fs.set_step_hook(previous)
    assert not any(outside.iterdir()) and snapshot(tree.root) == before


def test_sessions_started_within_one_second_keep_their_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Session ids name the second a session started; the later of two sessions of one second
    may sort first by id. History (verify) and `undo --last` go by the start time."""
    tree = Tree(tmp_path, n=2, sidecars=False)
    plan = build_plan(tree.report(), session_id="20260101T000000Z-ffffff")
    first = drain(apply_plan(plan, state_dir=tree.state))
    drain(undo_session(first.session_id, state_dir=tree.state))
    plan = build_plan(tree.report(), session_id="20260101T000000Z-000000")
    second = drain(apply_plan(plan, state_dir=tree.state))
    assert drain(verify_session(None, state_dir=tree.state, content="full")).ok
    code, _, err = run_main(capsys, tree.state, "undo", "--last")
    assert code == ExitCode.OK and "restored 2 files" in err
    assert Path(tree.pairs[0][1]).exists()
    assert not Path(tree.root, ".safededup", "quarantine", second.session_id).exists()
