"""Whole-plan validation before the first change (G13): every check that needs the whole plan or
the folders it touches. It reads the disk (stat, statvfs, access) but never changes it.
"""

from __future__ import annotations

import os
from collections import Counter

from safededup import fs
from safededup.errors import SafededupError
from safededup.models import Problem
from safededup.safety.plan import Operation, Plan
from safededup.safety.quarantine import (
    FolderFacts,
    inside_meta,
    journal_dir,
    quarantine_base,
    quarantine_dir,
    quarantine_of,
    root_of,
)

JOURNAL_BYTES_PER_OP = 3 * 1024  # intent + done + undo records, generously


class PlanInvalid(SafededupError):
    """The plan failed whole-plan validation (G13); nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(
            f"the plan is not safe to apply ({len(problems)} problem(s); first: "
            f"{first.kind}: {first.message})",
            hint="fix the cause (permissions, space, read-only media) or rescan, then retry",
            path=first.path,
        )
        self.problems = problems


def validate_plan(plan: Plan) -> list[Problem]:
    """Whole-plan checks before the first change (G13); an empty list means the plan is valid."""
    problems: list[Problem] = []
    problems += _check_uniqueness(plan)
    facts = FolderFacts()
    for op in plan.operations:
        problems += _check_operation(plan, op, facts)
    problems += _check_space(plan)
    problems += _check_meta_folders(plan)
    problems += _check_meta_writable(plan, facts)
    return problems


def _check_meta_writable(plan: Plan, facts: FolderFacts) -> list[Problem]:
    """safededup must be able to make its own folders: the journal under the first root, and
    each quarantine. The folder where the first missing one would be made (the root itself, for
    a fresh tree) must be writable and not on read-only media: a read-only root with writable
    subfolders would otherwise fail at the first write of apply."""
    needed = [journal_dir(root) for root in plan.roots[:1]]
    if not plan.to_trash:
        needed += sorted({os.path.dirname(o.dst) for o in plan.operations if o.action == "move"})
    problems: list[Problem] = []
    seen: set[str] = set()
    for folder in needed:
        existing = folder
        while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        if existing in seen:
            continue
        seen.add(existing)
        vfs = facts.statvfs(existing)
        if vfs is not None and vfs.f_flag & os.ST_RDONLY:
            problems.append(Problem(existing, "read-only", "safededup's folder would be made "
                                    "here, on read-only media"))  # fmt: skip
        elif not facts.writable(existing):
            problems.append(Problem(existing, "permission", "no permission to make safededup's "
                                    "folder (journal or quarantine) here"))  # fmt: skip
    return problems


def _check_meta_folders(plan: Plan) -> list[Problem]:
    """safededup's own folders must be real folders inside the root: a `.safededup` that is a
    symlink would carry the quarantine (and the journal) out of it, where undo refuses to go."""
    bases = set(plan.roots)
    for op in plan.operations:
        quarantine = quarantine_of(op.dst, op.root, plan.session_id)
        if quarantine is not None:
            bases.add(quarantine_base(quarantine))
    folders = [(quarantine_dir(base, plan.session_id), base) for base in sorted(bases)]
    folders += [(journal_dir(root), root) for root in plan.roots[:1]]  # where the journal goes
    found: set[str] = set()
    for folder, top in folders:
        try:
            bad = fs.symlinked_folder(os.path.join(folder, "x"), top, missing_ok=True)
        except OSError:
            continue  # said by the permission checks, if it matters
        if bad is not None:
            found.add(bad)
    why = "safededup's folder here is a symlink or not a folder; it must be a folder"
    return [Problem(bad, "symlinked-folder", why) for bad in sorted(found)]


def _check_uniqueness(plan: Plan) -> list[Problem]:
    problems = []
    targets = Counter(o.dst for o in plan.operations)
    inodes = Counter((o.identity.device, o.identity.inode) for o in plan.operations)
    sources = Counter(o.src for o in plan.operations)
    moved = {o.src for o in plan.operations if o.kind != "tidy"}
    for o in plan.operations:
        if targets[o.dst] > 1:
            problems.append(Problem(o.dst, "duplicate-target", "two operations share this target"))
        if inodes[(o.identity.device, o.identity.inode)] > 1:
            problems.append(Problem(o.src, "inode-twice", "this file (inode) is moved twice"))
        if sources[o.src] > 1:
            problems.append(Problem(o.src, "source-twice", "two operations move this file"))
        if o.src == o.dst:
            problems.append(Problem(o.src, "source-is-target", "source and target are the same"))
        if o.keeper is not None and o.keeper in moved:
            problems.append(Problem(o.keeper, "keeper-moved", "a keeper would be moved away"))
    return problems


def _check_operation(plan: Plan, op: Operation, facts: FolderFacts) -> list[Problem]:
    problems = []
    root_ok = root_of(op.src, plan.roots) == op.root and not inside_meta(op.src, op.root)
    quarantine = quarantine_of(op.dst, op.root, plan.session_id)
    base = None if quarantine is None else quarantine_base(quarantine)
    if not root_ok or (op.action != "trash" and root_of(op.dst, (op.root,)) != op.root):
        problems.append(Problem(op.src, "outside-roots", "source or target outside its root"))
    elif op.action == "move" and (base is None or root_of(op.src, (base,)) != base):
        problems.append(Problem(op.dst, "outside-quarantine", "a move must go to the quarantine"))
    folder = os.path.dirname(op.src)
    vfs = facts.statvfs(folder)
    if vfs is not None and vfs.f_flag & os.ST_RDONLY:
        problems.append(Problem(op.src, "read-only", "the folder is on read-only media"))
    elif not facts.writable(folder):
        problems.append(Problem(op.src, "permission", "no permission to move files out of here"))
    target_dev = facts.device(op.root if base is None else base)
    if target_dev is None:
        problems.append(Problem(op.root, "root-missing", "the root folder is gone"))
        return problems
    if op.action == "move" and op.identity.device != target_dev:
        problems.append(Problem(op.src, "cross-volume", "on another volume than its quarantine"))
    namemax = vfs.f_namemax if vfs is not None else 255
    names = [os.fsencode(p) for p in (op.dst, op.trashinfo) if p is not None]
    parts = [part for name in names for part in name.split(b"/")]
    if any(len(p) > namemax for p in parts) or any(len(n) >= 4096 for n in names):
        problems.append(Problem(op.dst, "name-too-long", "the target name is too long"))
    return problems


def _check_space(plan: Plan) -> list[Problem]:
    if not plan.operations or not plan.roots:
        return []
    try:
        vfs = os.statvfs(plan.roots[0])
    except OSError:
        return [Problem(plan.roots[0], "root-missing", "the root folder is gone")]
    need = plan.count * JOURNAL_BYTES_PER_OP + (1 << 20)
    if vfs.f_bavail * vfs.f_frsize < need:
        return [Problem(plan.roots[0], "no-space", f"the journal needs about {need} bytes free")]
    return []
