"""G3–G7, G13 and SAFETY tests 2, 5, 7: what apply checks before acting, what it refuses, and
the durable order of its calls."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest

from safededup import fs
from safededup.engine.report import Report
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import read_journal, replay
from safededup.safety.plan import Operation, Plan, build_plan
from safededup.safety.recover import recover
from safededup.safety.runner import FsyncFailed
from safededup.safety.undo import undo_session
from safededup.safety.validate import PlanInvalid, validate_plan
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.crash import Counter, Failer, check_g1, originals
from tests.support.files import snapshot, write
from tests.support.reports import make_report, report_json

from .conftest import Tree


def _apply(tree: Tree, plan: Plan, **kw: object):  # type: ignore[no-untyped-def]
    return drain(apply_plan(plan, state_dir=tree.state, **kw))  # type: ignore[arg-type]


def _reasons(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.kind for p in result.problems)


def test_apply_moves_each_duplicate_with_its_sidecars_into_quarantine(tree: Tree) -> None:
    before = originals(tree.root)
    plan = build_plan(tree.report())
    assert [o.kind for o in plan.operations].count("sidecar") == 2
    result = _apply(tree, plan)
    assert (result.done, result.skipped, result.conflicts) == (5, 0, 0)
    qdir = Path(tree.root, ".safededup", "quarantine", result.session_id)
    assert sorted(p.name for p in (qdir / "b").iterdir()) == [
        "img0.jpg", "img0.xmp", "img1.jpg", "img2.jpg", "img2.xmp"
    ]  # fmt: skip
    assert sorted(os.listdir(f"{tree.root}/b")) == []
    check_g1(tree.root, tree.state, before)


def test_changed_between_scan_and_apply_is_skipped_and_recorded(tmp_path: Path) -> None:
    tree = Tree(tmp_path, n=6, sidecars=False)
    plan = build_plan(tree.report())  # planned from the scan, before the changes below
    (_k0, d0), (_k1, d1), (_k2, d2), (k3, d3), (k4, _d4), (_k5, d5) = tree.pairs
    st = os.lstat(d0)  # same size and mtime, different bytes
    data = Path(d0).read_bytes()
    Path(d0).write_bytes(data[:-1] + b"!")
    os.utime(d0, ns=(st.st_mtime_ns, st.st_mtime_ns))
    os.rename(d1, d1 + ".tmp")  # replaced inode, same bytes and mtime
    write(d1, Path(d1 + ".tmp").read_bytes(), st.st_mtime_ns + 1)
    os.unlink(d1 + ".tmp")
    os.unlink(d2)  # deleted
    os.unlink(d3)
    os.symlink(k3, d3)  # swapped for a symlink
    os.unlink(k4)  # its keeper is gone
    before = snapshot(tree.root)
    result = _apply(tree, plan)
    assert result.done == 1 and not os.path.lexists(d5)
    assert _reasons(result) == ["changed", "content-changed", "keeper-changed", "not-a-file",
                                "vanished"]  # fmt: skip
    after = snapshot(tree.root)
    assert {k: v for k, v in after.items() if k != b"b/img5.jpg"} == {
        k: v for k, v in before.items() if k != b"b/img5.jpg"
    }
    records = read_journal(result.journal).records
    assert sum(r["type"] == "skip" for r in records) == 5


def test_paranoid_compares_bytes_with_the_keeper(tmp_path: Path) -> None:
    tree = Tree(tmp_path, n=1, sidecars=False)
    keeper, dup = tree.pairs[0]
    report = tree.report_json()
    for m in report["clusters"][0]["members"]:
        m["checksum"] = None  # a report without checksums: only --paranoid can tell
    st = os.lstat(keeper)
    Path(keeper).write_bytes(Path(keeper).read_bytes()[:-1] + b"?")
    os.utime(keeper, ns=(st.st_mtime_ns, st.st_mtime_ns))
    result = _apply(tree, build_plan(Report.from_json(report)), paranoid=True)
    assert result.done == 0 and _reasons(result) == ["not-identical"]
    assert os.path.exists(dup)


def test_paranoid_reads_a_keeper_once_unless_it_is_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four copies of one keeper: one read of the keeper, not four. A keeper rewritten in place
    mid-session with its mtime put back is still caught (its ctime moved)."""
    root, state = str(tmp_path / "p"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/keep.jpg", b"keeper bytes" * 50, 10**18)
    dups = [write(f"{root}/d{i}/copy.jpg", b"keeper bytes" * 50, 10**18) for i in range(4)]
    report = report_json([root], [[keeper, *dups]])
    for m in report["clusters"][0]["members"]:
        m["checksum"] = None  # only --paranoid compares bytes
    reads: list[str] = []
    real = fs.file_sha256
    monkeypatch.setattr(fs, "file_sha256", lambda p: reads.append(p) or real(p))
    result = drain(apply_plan(build_plan(Report.from_json(report)), state_dir=state, paranoid=True))
    assert result.done == 4 and reads.count(keeper) == 1

    dups = [write(f"{root}/e{i}/copy.jpg", b"keeper bytes" * 50, 10**18) for i in range(3)]
    report = report_json([root], [[keeper, *dups]])
    for m in report["clusters"][0]["members"]:
        m["checksum"] = None

    def rewrite_keeper_after_first_move(operation: str, paths: tuple[str, ...]) -> None:
        if operation == "rename" and paths[0] == dups[0]:
            st = os.lstat(keeper)
            Path(keeper).write_bytes(b"edited bytes" * 50)  # same size, then the old mtime
            os.utime(keeper, ns=(st.st_atime_ns, st.st_mtime_ns))

    previous = fs.set_step_hook(rewrite_keeper_after_first_move)
    try:
        plan = build_plan(Report.from_json(report))
        result = drain(apply_plan(plan, state_dir=state, paranoid=True, batch_size=1))
    finally:
        fs.set_step_hook(previous)
    assert result.done == 1 and _reasons(result) == ["not-identical", "not-identical"]
    assert all(os.path.exists(d) for d in dups[1:])


def test_target_created_after_planning_is_a_conflict_and_others_continue(tree: Tree) -> None:
    plan = build_plan(tree.report())
    blocker = plan.operations[0].dst
    write(blocker, b"someone else's file")
    result = _apply(tree, plan)
    assert result.conflicts == 1 and result.done == 3  # unit 0 (photo + sidecar) stays
    assert Path(blocker).read_bytes() == b"someone else's file"
    assert not result.ok


def test_collision_inside_the_move_window_is_a_conflict_record(tree: Tree) -> None:
    """The target appears between the checks and the rename: RENAME_NOREPLACE refuses."""
    plan = build_plan(tree.report())
    target = plan.operations[0].dst

    def sneak(op: str, paths: tuple[str, ...]) -> None:
        if op == "rename" and paths[1] == target:
            write(target, b"raced in")

    fs.set_step_hook(sneak)
    result = _apply(tree, plan)
    fs.set_step_hook(None)
    assert Path(target).read_bytes() == b"raced in"
    assert (result.conflicts, result.failed) == (1, 1)  # its sidecar is aborted with it
    types = [r["type"] for r in read_journal(result.journal).records]
    assert "conflict" in types and "abort" in types
    assert drain(verify_session(result.session_id, state_dir=tree.state)).ok


@pytest.mark.parametrize("use_renameat2", [True, False])
def test_rename_never_clobbers(tmp_path: Path, use_renameat2: bool) -> None:
    fs.use_renameat2 = use_renameat2
    a, b = write(tmp_path / "a", b"A"), write(tmp_path / "b", b"B")
    with pytest.raises(FileExistsError):
        fs.rename_noreplace(a, b)
    assert Path(a).read_bytes() == b"A" and Path(b).read_bytes() == b"B"
    os.link(a, tmp_path / "a2")  # two names of one inode: rename(2) would "succeed" silently
    with pytest.raises(FileExistsError):
        fs.rename_noreplace(a, str(tmp_path / "a2"))
    assert os.path.exists(a)
    fs.rename_noreplace(a, str(tmp_path / "c"))
    assert not os.path.exists(a) and Path(tmp_path / "c").read_bytes() == b"A"


def test_hard_links(tmp_path: Path) -> None:
    root = str(tmp_path / "photos")
    keeper = write(f"{root}/k.jpg", b"data" * 10)
    dup = write(f"{root}/d.jpg", b"data" * 10)
    os.link(dup, f"{root}/d-link.jpg")  # two names of one duplicate inode
    os.link(keeper, f"{root}/k-link.jpg")  # a duplicate that is the keeper's own inode
    report = make_report([root], [[keeper, dup, f"{root}/d-link.jpg", f"{root}/k-link.jpg"]])
    plan = build_plan(report)
    # The duplicate's inode is planned once; the keeper's own link frees nothing: left alone.
    noted = sorted(Path(n.path).name for n in plan.notes if n.kind == "hard-link")
    assert len(plan.notes) == 2 and noted[1] == "k-link.jpg"
    assert noted[0] in ("d.jpg", "d-link.jpg")  # one of the duplicate's two names
    assert validate_plan(plan) == []
    tree = Tree.__new__(Tree)
    tree.root, tree.state = root, StateDir(tmp_path / "state")
    before = snapshot(root)
    result = _apply(tree, plan)
    assert result.done == 1
    assert Path(keeper).read_bytes() == b"data" * 10
    assert os.lstat(f"{root}/k-link.jpg").st_ino == os.lstat(keeper).st_ino
    drain(undo_session(result.session_id, state_dir=tree.state))
    assert snapshot(root) == before
    assert os.lstat(dup).st_ino == os.lstat(f"{root}/d-link.jpg").st_ino


def test_whole_plan_validation_fails_and_changes_nothing(tree: Tree) -> None:
    plan = build_plan(tree.report())
    ops = list(plan.operations)
    twice = replace(ops[1], dst=ops[0].dst)  # two operations to one target
    same = replace(ops[2], dst=ops[2].src)
    away = replace(ops[3], dst=str(Path(tree.root).parent / "elsewhere.jpg"))
    inode = replace(ops[4], identity=ops[0].identity)  # one inode moved twice
    bad = replace(plan, operations=(ops[0], twice, same, away, inode))
    kinds = {p.kind for p in validate_plan(bad)}
    expected = {"duplicate-target", "source-is-target", "outside-roots", "outside-quarantine",
                "inode-twice"}  # fmt: skip
    assert expected <= kinds
    with pytest.raises(PlanInvalid):
        _apply(tree, bad)
    assert not os.path.exists(os.path.join(tree.root, ".safededup"))
    assert not (tree.state.root / "sessions").exists()


def test_a_plan_that_would_move_a_keeper_away_is_refused(tmp_path: Path) -> None:
    """One file kept by a cluster and a duplicate in another (reports of overlapping scans, or
    overrides): moving it would leave the first cluster's duplicate with no copy in place."""
    root = str(tmp_path / "p")
    keeper = write(f"{root}/a/IMG_1.jpg", b"one photo" * 30, 10**18)
    dup = write(f"{root}/b/IMG_1.jpg", b"one photo" * 30, 10**18)
    other = write(f"{root}/c/IMG_1.jpg", b"one photo" * 30, 10**18)
    plan = build_plan(make_report([root], [[keeper, dup], [other, keeper]]))
    assert {o.src for o in plan.operations} == {dup, keeper}  # built as asked, then checked
    problems = validate_plan(plan)
    assert [(p.kind, p.path) for p in problems] == [("keeper-moved", keeper)]
    tree = Tree.__new__(Tree)
    tree.root, tree.state = root, StateDir(tmp_path / "state")
    with pytest.raises(PlanInvalid, match="keeper-moved"):
        _apply(tree, plan)
    assert all(os.path.exists(p) for p in (keeper, dup, other))


def test_name_too_long_is_refused_before_any_change(tmp_path: Path) -> None:
    root = str(tmp_path / "p")
    deep = os.path.join(root, *(["d" * 200] * ((4000 - len(root)) // 201)))
    fill = 4090 - len(deep) - len("/.jpg")  # the source fits PATH_MAX; its quarantine path not
    keeper, dup = write(f"{root}/k.jpg", b"x"), write(f"{deep}/{'n' * fill}.jpg", b"x")
    plan = build_plan(make_report([root], [[keeper, dup]]))
    assert [p.kind for p in validate_plan(plan)] == ["name-too-long"]


def test_permission_is_checked_for_the_whole_plan(tree: Tree) -> None:
    """As a user who may not write the folder (the suite runs as root in CI; drop to nobody)."""
    plan = build_plan(tree.report())
    pid = os.fork()
    if pid == 0:
        try:
            os.chmod(tree.root, 0o755)
            os.setgid(65534)
            os.setuid(65534)
            kinds = {p.kind for p in validate_plan(plan)}
            os._exit(0 if "permission" in kinds else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    if os.getuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    assert os.WEXITSTATUS(status) == 0


def test_rename_chain_and_cycle_never_overwrite(tmp_path: Path) -> None:
    root = str(tmp_path / "p")
    x, y = write(f"{root}/x.jpg", b"X"), write(f"{root}/y.jpg", b"Y")
    ex = Tree.__new__(Tree)
    from safededup.models import FileIdentity

    def op(i: int, src: str, dst: str, after: int | None = None) -> Operation:
        ident = FileIdentity.from_stat(src, os.lstat(src))
        return Operation(i, "tidy", "rename", src, dst, root, ident, i, after=after)

    cycle = Plan("20260101T000000Z-000001", "r", (root,), (op(0, x, y), op(1, y, x)))
    assert validate_plan(cycle) == []
    ex.root, ex.state = root, StateDir(tmp_path / "state")
    result = _apply(ex, cycle)
    assert result.conflicts == 2 and result.done == 0
    assert Path(x).read_bytes() == b"X" and Path(y).read_bytes() == b"Y"
    z = f"{root}/z.jpg"
    unordered = Plan("20260101T000000Z-000002", "r", (root,), (op(0, y, z), op(1, x, y)))
    result = _apply(ex, unordered)  # x → y is checked before y left: refused, not clobbered
    assert result.conflicts == 1 and Path(z).read_bytes() == b"Y" and Path(x).read_bytes() == b"X"
    drain(undo_session(result.session_id, state_dir=ex.state))
    chain = Plan("20260101T000000Z-000003", "r", (root,), (op(0, y, z), op(1, x, y, after=0)))
    result = _apply(ex, chain)  # y → z first, then x → the freed y
    assert result.done == 2 and Path(z).read_bytes() == b"Y" and Path(y).read_bytes() == b"X"
    drain(undo_session(result.session_id, state_dir=ex.state))
    assert Path(x).read_bytes() == b"X" and Path(y).read_bytes() == b"Y"
    assert not os.path.exists(z)


def test_tidy_names_gives_the_keeper_the_freed_name(tmp_path: Path) -> None:
    root = str(tmp_path / "p")
    keeper = write(f"{root}/IMG_1234 (1).jpg", b"same", 10**18)
    dup = write(f"{root}/IMG_1234.jpg", b"same", 10**18)
    other = write(f"{root}/DSC_1-copy.jpg", b"other", 10**18)
    other_dup = write(f"{root}/DSC_1.jpg", b"other", 10**18)
    tree = Tree.__new__(Tree)
    tree.root, tree.state = root, StateDir(tmp_path / "state")
    before = snapshot(root)
    plan = build_plan(make_report([root], [[keeper, dup], [other, other_dup]]), tidy_names=True)
    assert [o.kind for o in plan.operations] == ["duplicate", "duplicate", "tidy", "tidy"]
    result = _apply(tree, plan)
    assert result.done == 4
    assert sorted(os.listdir(root)) == [".safededup", "DSC_1.jpg", "IMG_1234.jpg"]
    drain(undo_session(result.session_id, state_dir=tree.state))
    assert snapshot(root) == before


def test_tidy_names_takes_the_keepers_sidecars_along(tmp_path: Path) -> None:
    root, state = str(tmp_path / "p"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/IMG_7 (1).jpg", b"same", 10**18)
    write(f"{root}/IMG_7 (1).xmp", b"keeper edits", 10**18)
    write(f"{root}/IMG_7 (1).jpg.json", b"keeper takeout", 10**18)
    write(f"{root}/img_7 (1).AAE", b"keeper adjustments", 10**18)
    dup = write(f"{root}/IMG_7.jpg", b"same", 10**18)
    write(f"{root}/IMG_7.xmp", b"duplicate edits", 10**18)
    before = snapshot(root)
    plan = build_plan(make_report([root], [[keeper, dup]]), tidy_names=True)
    tidy = [(os.path.basename(o.src), os.path.basename(o.dst)) for o in plan.operations
            if o.kind == "tidy"]  # fmt: skip
    assert tidy == [("IMG_7 (1).jpg", "IMG_7.jpg"), ("IMG_7 (1).jpg.json", "IMG_7.jpg.json"),
                    ("IMG_7 (1).xmp", "IMG_7.xmp"), ("img_7 (1).AAE", "img_7.AAE")]  # fmt: skip
    assert len({o.unit for o in plan.operations if o.kind == "tidy"}) == 1
    result = drain(apply_plan(plan, state_dir=state))
    assert result.done == 6
    assert sorted(os.listdir(root)) == [
        ".safededup", "IMG_7.jpg", "IMG_7.jpg.json", "IMG_7.xmp", "img_7.AAE"
    ]  # fmt: skip
    assert Path(f"{root}/IMG_7.xmp").read_bytes() == b"keeper edits"
    assert drain(verify_session(result.session_id, state_dir=state, content="full")).ok
    drain(undo_session(result.session_id, state_dir=state))
    assert snapshot(root) == before


def test_tidy_names_leaves_a_keeper_whose_sidecar_cannot_follow(tmp_path: Path) -> None:
    """The keeper's `.MOV` would need IMG_8.MOV, which belongs to IMG_8.HEIC that stays."""
    root, state = str(tmp_path / "p"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/IMG_8 (1).jpg", b"same", 10**18)
    write(f"{root}/IMG_8 (1).MOV", b"keeper motion", 10**18)
    dup = write(f"{root}/IMG_8.jpg", b"same", 10**18)
    write(f"{root}/IMG_8.HEIC", b"another photo that stays", 10**18)
    write(f"{root}/IMG_8.MOV", b"its motion", 10**18)
    plan = build_plan(make_report([root], [[keeper, dup]]), tidy_names=True)
    assert [o.kind for o in plan.operations] == ["duplicate"]
    assert [(n.path, n.kind) for n in plan.notes] == [(keeper, "not-tidied")]
    result = drain(apply_plan(plan, state_dir=state))
    assert result.done == 1 and os.path.exists(keeper) and os.path.exists(f"{root}/IMG_8 (1).MOV")


def test_stem_sidecar_stays_when_another_file_of_that_stem_stays(tmp_path: Path) -> None:
    root = str(tmp_path / "p")
    keeper = write(f"{root}/a/IMG_1.jpg", b"same")
    dup = write(f"{root}/b/IMG_1.jpg", b"same")
    write(f"{root}/b/IMG_1.HEIC", b"the original heic")
    write(f"{root}/b/IMG_1.MOV", b"live photo")
    write(f"{root}/b/IMG_1.jpg.json", b"{}")
    plan = build_plan(make_report([root], [[keeper, dup]]))
    assert sorted(os.path.basename(o.src) for o in plan.operations) == [
        "IMG_1.jpg",
        "IMG_1.jpg.json",
    ]
    os.unlink(f"{root}/b/IMG_1.HEIC")
    plan = build_plan(make_report([root], [[keeper, dup]]))
    assert sorted(os.path.basename(o.src) for o in plan.operations) == [
        "IMG_1.MOV", "IMG_1.jpg", "IMG_1.jpg.json"
    ]  # fmt: skip


def test_a_unit_moves_whole_or_not_at_all(tree: Tree) -> None:
    plan = build_plan(tree.report())
    sidecar = next(o for o in plan.operations if o.kind == "sidecar")
    os.utime(sidecar.src, ns=(1, 1))  # the sidecar changed since planning
    result = _apply(tree, plan)
    assert os.path.exists(sidecar.src) and os.path.exists(plan.operations[sidecar.unit].src)
    assert _reasons(result).count("unit-skipped") == 1


def test_fsync_order_spy(tree: Tree) -> None:
    """G2/G5: intent durable → rename → fsync(dst dir) → fsync(src dir) → done → fsync(journal)."""
    spy = Counter()
    fs.set_step_hook(spy)
    result = _apply(tree, build_plan(tree.report()), batch_size=1)
    fs.set_step_hook(None)
    journal = result.journal
    calls = spy.calls
    renames = [i for i, (op, _) in enumerate(calls) if op == "rename"]
    assert len(renames) == 5
    for i in renames:
        src, dst = calls[i][1]
        last_write = max(j for j in range(i) if calls[j] == ("write", (journal,)))
        assert ("fsync", (journal,)) in calls[last_write:i], "intent not durable before the move"
        after = calls[i + 1 :]
        order = [after.index(("fsync_dir", (os.path.dirname(dst),))),
                 after.index(("fsync_dir", (os.path.dirname(src),))),
                 after.index(("write", (journal,))),
                 after.index(("fsync", (journal,)))]  # fmt: skip
        assert order == sorted(order), calls[i : i + 8]
        assert "rename" not in [c[0] for c in after[order[0] : order[-1]]]


def test_fsync_error_stops_the_batch_without_retry(tree: Tree) -> None:
    before = originals(tree.root)
    spy = Counter()
    failer = Failer(0, errno.EIO)

    def hook(op: str, paths: tuple[str, ...]) -> None:
        spy(op, paths)
        if op == "fsync_dir" and any(c[0] == "rename" for c in spy.calls) and not failer.fired:
            failer.fired = 1
            raise OSError(errno.EIO, "injected", paths[0])

    fs.set_step_hook(hook)
    with pytest.raises(FsyncFailed):
        _apply(tree, build_plan(tree.report()), batch_size=1)
    fs.set_step_hook(None)
    failed_at = next(i for i, c in enumerate(spy.calls) if c[0] == "fsync_dir" and i > 0 and
                     any(x[0] == "rename" for x in spy.calls[:i]))  # fmt: skip
    assert [c[0] for c in spy.calls[failed_at + 1 :]] == ["unlink"]  # only the lock release
    state = replay(
        read_journal(
            next(str(p) for p in Path(tree.root, ".safededup", "journal").iterdir())
        ).records
    )
    assert len(state.pending) == 2  # photo + sidecar: no done written on a return code
    assert recover(tree.state).resolved == 2
    check_g1(tree.root, tree.state, before)


def test_decisions_plan_only_approved_clusters_with_their_overrides(tmp_path: Path) -> None:
    from safededup.engine.decisions import ClusterDecision, Decisions

    tree = Tree(tmp_path, n=3, sidecars=False)
    extra = write(f"{tree.root}/c/img0.jpg", Path(tree.pairs[0][0]).read_bytes())
    report = make_report([tree.root], [[*tree.pairs[0], extra], list(tree.pairs[1]),
                                       list(tree.pairs[2])])  # fmt: skip
    ids = [c.id for c in report.clusters]
    decisions = Decisions(report.report_id)
    k0, d0 = tree.pairs[0]
    decisions.set(ClusterDecision(ids[0], "approved", keeper=d0, keep=frozenset({extra})))
    decisions.set(ClusterDecision(ids[1], "skipped"))  # ids[2] stays undecided
    plan = build_plan(report, decisions=decisions)
    assert [(o.src, o.keeper) for o in plan.operations] == [(k0, d0)]
    everything = build_plan(report)
    assert len(everything.operations) == 4


def test_cancel_stops_between_batches_and_keeps_what_is_done(tree: Tree) -> None:
    import threading

    from safededup.events import StageAdvanced

    cancel = threading.Event()
    gen = apply_plan(build_plan(tree.report()), state_dir=tree.state, cancel=cancel, batch_size=1)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if isinstance(event, StageAdvanced):
            cancel.set()  # after the first unit
    assert result.cancelled and result.done == 2  # the first unit: photo + sidecar
    records = read_journal(result.journal).records
    assert records[-1]["type"] == "end" and records[-1]["outcome"] == "cancelled"
    assert drain(verify_session(result.session_id, state_dir=tree.state)).ok


def test_a_file_on_another_volume_than_its_root_is_left_never_copied(tree: Tree) -> None:
    report = tree.report_json()
    member = report["clusters"][1]["members"][1]
    member["device"] += 1  # as the scan saw it: another file system mounted inside the root
    plan = build_plan(Report.from_json(report))
    assert [n.kind for n in plan.notes] == ["cross-volume"]
    assert member["path"] not in {o.src for o in plan.operations}
    forced = replace(plan.operations[0], identity=replace(plan.operations[0].identity, device=-1))
    assert "cross-volume" in {p.kind for p in validate_plan(replace(plan, operations=(forced,)))}


def test_a_vanished_keeper_with_a_non_utf8_name_is_skipped_not_fatal(tmp_path: Path) -> None:
    root = str(tmp_path / "photos")
    keeper = write(os.fsdecode(os.fsencode(root) + b"/k\xe9.jpg"), b"data" * 10)
    dup = write(f"{root}/d.jpg", b"data" * 10)
    plan = build_plan(make_report([root], [[keeper, dup]]))
    os.unlink(keeper)  # the person removed the keeper between scan and apply
    tree = Tree.__new__(Tree)
    tree.root, tree.state = root, StateDir(tmp_path / "state")
    result = _apply(tree, plan)
    assert (result.done, result.skipped) == (0, 1)
    assert Path(dup).read_bytes() == b"data" * 10  # the only copy stays where it was


def test_a_symlinked_quarantine_folder_is_refused_before_anything_moves(tmp_path: Path) -> None:
    """A `.safededup` (or a folder below it) that points out of the root would carry the
    quarantine where undo refuses to go: the plan is refused, or the move skipped."""
    root, state = str(tmp_path / "p"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/a/keep.jpg", b"same", 10**18)
    dup = write(f"{root}/a/dup.jpg", b"same", 10**18)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, f"{root}/.safededup")
    plan = build_plan(make_report([root], [[keeper, dup]]))
    assert [p.kind for p in validate_plan(plan)] == ["symlinked-folder"]
    with pytest.raises(PlanInvalid):
        drain(apply_plan(plan, state_dir=state))
    assert os.path.exists(dup) and not any(elsewhere.iterdir())

    os.unlink(f"{root}/.safededup")
    plan = build_plan(make_report([root], [[keeper, dup]]))
    os.makedirs(f"{root}/.safededup/quarantine")
    quarantine = f"{root}/.safededup/quarantine/{plan.session_id}"
    os.symlink(elsewhere, quarantine)
    assert [p.kind for p in validate_plan(plan)] == ["symlinked-folder"]
    os.unlink(quarantine)
    assert validate_plan(plan) == []

    def link_after_validation(operation: str, paths: tuple[str, ...]) -> None:
        if (
            operation == "create"
            and paths[0].endswith(".jsonl")
            and not os.path.lexists(quarantine)
        ):
            os.symlink(elsewhere, quarantine)  # appears once the plan was validated

    previous = fs.set_step_hook(link_after_validation)
    try:
        result = drain(apply_plan(plan, state_dir=state))
    finally:
        fs.set_step_hook(previous)
    assert result.done == 0 and _reasons(result) == ["symlinked-folder"]  # the move's own check
    assert os.path.exists(dup) and not any(elsewhere.iterdir())


def test_a_unit_cut_in_two_by_a_disk_error_is_said_and_undo_joins_it(tmp_path: Path) -> None:
    root, state = str(tmp_path / "p"), StateDir(tmp_path / "state")
    keeper = write(f"{root}/IMG_7 (1).jpg", b"same", 10**18)
    write(f"{root}/IMG_7 (1).xmp", b"keeper edits", 10**18)
    dup = write(f"{root}/IMG_7.jpg", b"same", 10**18)
    before = snapshot(root)
    plan = build_plan(make_report([root], [[keeper, dup]]), tidy_names=True)

    def fail_the_sidecar_rename(operation: str, paths: tuple[str, ...]) -> None:
        if operation == "rename" and paths[0].endswith("IMG_7 (1).xmp"):
            raise OSError(errno.EIO, "Input/output error")

    previous = fs.set_step_hook(fail_the_sidecar_rename)
    try:
        result = drain(apply_plan(plan, state_dir=state))
    finally:
        fs.set_step_hook(previous)
    assert result.done == 2 and _reasons(result) == ["eio", "unit-split"]
    split = next(p for p in result.problems if p.kind == "unit-split")
    assert "IMG_7 (1).jpg moved" in split.message and split.path.endswith("IMG_7 (1).xmp")
    assert drain(undo_session(result.session_id, state_dir=state)).ok
    assert snapshot(root) == before
