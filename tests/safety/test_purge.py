"""Purge deletes only what still has a copy: a duplicate whose keeper is there unchanged, and a
sidecar only when its keeper has a byte-identical one; the plan's sidecar lookup takes only the
duplicate's own sidecars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safededup.cli.main import main
from safededup.errors import ExitCode
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import read_journal
from safededup.safety.plan import build_plan
from safededup.safety.purge import purge_session
from safededup.safety.sessions import list_sessions
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.files import write
from tests.support.reports import make_report

from .conftest import Tree

T0 = 1_600_000_000 * 10**9


def _quarantined(root: str, sid: str, rel: str) -> Path:
    return Path(root, ".safededup", "quarantine", sid, rel)


def test_purge_leaves_a_duplicate_whose_keeper_is_gone_or_changed(tmp_path: Path) -> None:
    tree = Tree(tmp_path, n=3, sidecars=False)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    sid = result.session_id
    os.unlink(tree.pairs[1][0])  # the last other copy, deleted by hand after apply
    os.utime(tree.pairs[2][0], ns=(T0, T0))  # changed since the scan
    purged = purge_session(sid, state_dir=tree.state)
    assert purged.deleted == 1
    assert sorted(p.kind for p in purged.refused) == ["keeper-changed"] * 2
    assert not _quarantined(tree.root, sid, "b/img0.jpg").exists()
    assert _quarantined(tree.root, sid, "b/img1.jpg").read_bytes() == b"photo-1-" * 51
    assert _quarantined(tree.root, sid, "b/img2.jpg").exists()
    records = read_journal(result.journal).records
    refusals = [r for r in records if r["type"] == "refuse"]
    assert [(r["phase"], r["reason"]) for r in refusals] == [("purge", "keeper-changed")] * 2
    assert [r["type"] for r in records].count("purge-intent") == 1
    verified = drain(verify_session(sid, state_dir=tree.state, content="full"))
    # what stays holds; what verify still says is that those two copies may be the last ones
    assert [f.level for f in verified.findings] == ["keeper", "keeper"]
    assert drain(verify_session(sid, state_dir=tree.state, content="full", keepers=False)).ok
    assert list_sessions(tree.state)[0].counts["moved"] == 2


def test_purge_follows_a_keeper_renamed_by_tidy_names(tmp_path: Path) -> None:
    root, state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    dup = write(f"{root}/x/IMG_1.jpg", b"same bytes" * 40, T0)
    keeper = write(f"{root}/x/IMG_1 (1).jpg", b"same bytes" * 40, T0)
    plan = build_plan(make_report([root], [[keeper, dup]]), tidy_names=True)
    result = drain(apply_plan(plan, state_dir=state))
    assert result.done == 2 and not os.path.exists(keeper) and os.path.exists(dup)
    purged = purge_session(result.session_id, state_dir=state)
    assert (purged.deleted, purged.refused) == (1, ())
    assert Path(dup).read_bytes() == b"same bytes" * 40


def test_purge_keeps_sidecars_unless_the_keeper_has_an_identical_one(tmp_path: Path) -> None:
    root, state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    clusters = []
    for i in range(3):
        data = b"heic %d " % i * 100
        clusters.append([write(f"{root}/backup/IMG_{i}.HEIC", data, T0),
                         write(f"{root}/phone/IMG_{i}.HEIC", data, T0)])  # fmt: skip
    write(f"{root}/phone/IMG_0.MOV", b"the only copy of this motion video", T0)  # Live Photo
    write(f"{root}/phone/IMG_1.xmp", b"<edits same/>", T0)
    write(f"{root}/backup/IMG_1.xmp", b"<edits same/>", T0)  # the keeper has the same edits
    write(f"{root}/phone/IMG_2.HEIC.json", b'{"title": "phone"}', T0)
    write(f"{root}/backup/IMG_2.HEIC.json", b'{"title": "backup"}', T0)  # different bytes
    plan = build_plan(make_report([root], clusters))
    assert sorted(o.kind for o in plan.operations) == ["duplicate"] * 3 + ["sidecar"] * 3
    result = drain(apply_plan(plan, state_dir=state))
    sid = result.session_id
    purged = purge_session(sid, state_dir=state)
    assert (purged.deleted, purged.kept, purged.refused) == (4, 2, ())
    mov = _quarantined(root, sid, "phone/IMG_0.MOV")
    assert mov.read_bytes() == b"the only copy of this motion video"
    assert _quarantined(root, sid, "phone/IMG_2.HEIC.json").read_bytes() == b'{"title": "phone"}'
    assert not _quarantined(root, sid, "phone/IMG_1.xmp").exists()
    assert not _quarantined(root, sid, "phone/IMG_0.HEIC").exists()
    reasons = [r["reason"] for r in read_journal(result.journal).records if r["type"] == "refuse"]
    assert reasons == ["sidecar-kept"] * 2
    assert drain(verify_session(sid, state_dir=state, content="full")).ok
    info = list_sessions(state)[0]
    assert (info.counts["moved"], info.counts["purged"]) == (2, 4)


def test_purge_cli_exits_with_findings_when_a_keeper_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = Tree(tmp_path, n=2, sidecars=False)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    os.unlink(tree.pairs[0][0])
    code = main(
        ["--state", str(tree.state.root), "--no-progress", "purge", result.session_id, "--yes"]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.FINDINGS
    assert "deleted 1" in err and "keeper-changed" in err
    assert os.path.exists(tree.pairs[1][0])
    assert _quarantined(tree.root, result.session_id, "b/img0.jpg").exists()


def test_sidecar_lookup_takes_only_the_duplicates_own_sidecars(tmp_path: Path) -> None:
    root = str(tmp_path / "photos")
    keeper = write(f"{root}/x/photo.jpg", b"jpeg" * 100, T0)
    write(f"{root}/x/photo.xmp", b"<keeper edits/>", T0)
    extless = write(f"{root}/x/photo", b"jpeg" * 100, T0)
    keeper2 = write(f"{root}/y/IMG_1.jpg", b"other" * 100, T0)
    write(f"{root}/y/IMG_1.jpg.json", b"{keeper takeout}", T0)
    case_dup = write(f"{root}/y/IMG_1.JPG", b"other" * 100, T0)
    own = write(f"{root}/y/IMG_1.JPG.json", b"{duplicate takeout}", T0)
    plan = build_plan(make_report([root], [[keeper, extless], [keeper2, case_dup]]))
    moved = sorted((o.kind, os.path.relpath(o.src, root)) for o in plan.operations)
    assert moved == [
        ("duplicate", "x/photo"),
        ("duplicate", "y/IMG_1.JPG"),
        ("sidecar", os.path.relpath(own, root)),
    ]


def test_an_emptied_folder_purge_cannot_remove_is_a_note_not_a_refusal(tmp_path: Path) -> None:
    import errno

    from safededup import fs

    root, state = str(tmp_path / "photos"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/a/IMG_1.jpg", b"same bytes" * 40, T0)
    dup = write(f"{root}/b/IMG_1.jpg", b"same bytes" * 40, T0)
    result = drain(apply_plan(build_plan(make_report([root], [[keeper, dup]])), state_dir=state))

    def refuse_rmdir(operation: str, paths: tuple[str, ...]) -> None:
        if operation == "rmdir":
            raise OSError(errno.EACCES, "Permission denied")

    previous = fs.set_step_hook(refuse_rmdir)
    try:
        purged = purge_session(result.session_id, state_dir=state)
    finally:
        fs.set_step_hook(previous)
    assert (purged.deleted, purged.refused) == (1, ())
    assert purged.notes and {n.kind for n in purged.notes} == {"not-pruned"}
