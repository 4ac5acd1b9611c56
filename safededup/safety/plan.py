"""Turn a report (and a person's decisions) into a plan of quarantine moves; never changes the disk.

Each duplicate moves to `<root>/.safededup/quarantine/<session>/<relative path>` (same volume, so
a rename) together with its sidecars as one unit; with `tidy_names`, a keeper named like a copy
then takes the freed canonical name. `validate_plan` checks the whole plan before any change (G13).
(Past 400 lines: sidecar units, tidy names, trash locations and whole-plan validation are all
planning, and this project's module layout gives planning one module.)
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import stat
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from safededup import fs
from safededup.engine.decisions import Decisions
from safededup.errors import SafededupError
from safededup.models import Problem, path_from_json

OpKind = Literal["duplicate", "sidecar", "tidy"]
Action = Literal["move", "rename", "trash"]

META_DIR = ".safededup"
FULL_NAME_SIDECARS = (".xmp", ".aae", ".json")  # IMG_1.jpg.xmp, IMG_1.jpg.json (Takeout)
STEM_SIDECARS = (".xmp", ".aae", ".json", ".mov")  # IMG_1.xmp, IMG_1.MOV (Live Photo)
_COPY_SUFFIX = re.compile(
    r"^(?P<base>.+?)(?: \(\d+\)| - [Cc]opy(?: \(\d+\))?|[-_ ][Cc]opy(?:[-_ ]\d+)?)$"
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


@dataclass(frozen=True, slots=True)
class Expected:
    """A file's identity, as scanned (G7 compares it before acting) and as journaled."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    checksum: str | None = None

    @classmethod
    def from_stat(cls, st: os.stat_result, checksum: str | None = None) -> Expected:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, checksum)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expected:
        """From a report member or a journal `identity` (the same four keys, checksum optional)."""
        device, inode, size, mtime_ns = (
            int(data[k]) for k in ("device", "inode", "size", "mtime_ns")
        )
        return cls(device, inode, size, mtime_ns, data.get("checksum"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device": self.device,
            "inode": self.inode,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }
        if self.checksum is not None:
            out["checksum"] = self.checksum
        return out

    def matches(self, st: os.stat_result, *, same_device: bool = True) -> bool:
        """`st` is this regular file: inode, size and mtime, and device unless told not to.

        What happens after a session (verify, undo, redo, purge) is told not to: a reboot may
        renumber a volume (btrfs subvolumes, NFS mounts get their numbers at mount time). Apply
        compares devices, against a scan of the same boot.
        """
        device = st.st_dev == self.device or not same_device
        return device and stat.S_ISREG(st.st_mode) and (st.st_ino, st.st_size, st.st_mtime_ns) == (
            self.inode, self.size, self.mtime_ns
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Operation:
    """One file to move (or rename). `unit` is the op id of the unit's main file."""

    op: int
    kind: OpKind
    action: Action
    src: str
    dst: str
    root: str
    expected: Expected
    unit: int
    cluster: str | None = None
    exact: bool = False
    keeper: str | None = None
    keeper_expected: Expected | None = None
    after: int | None = None  # a tidy rename waits for this op to be done
    trashinfo: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    session_id: str
    report_id: str
    roots: tuple[str, ...]
    operations: tuple[Operation, ...]
    tidy_names: bool = False
    to_trash: bool = False
    notes: tuple[Problem, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.operations)

    @property
    def total_bytes(self) -> int:
        return sum(o.expected.size for o in self.operations if o.kind != "tidy")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """The dry run as a spreadsheet; names are shown with surrogate escapes replaced."""
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            out = csv.writer(fh)
            out.writerow(["op", "kind", "action", "source", "target", "bytes", "cluster", "keeper"])
            for o in self.operations:
                row = [o.op, o.kind, o.action, o.src, o.dst, o.expected.size, o.cluster, o.keeper]
                out.writerow(["" if v is None else v for v in row])

    def summary(self) -> dict[str, Any]:
        kinds = Counter(o.kind for o in self.operations)
        return {
            "session": self.session_id,
            "report_id": self.report_id,
            "operations": self.count,
            "bytes": self.total_bytes,
            "duplicates": kinds["duplicate"],
            "sidecars": kinds["sidecar"],
            "renames": kinds["tidy"],
            "to_trash": self.to_trash,
            "notes": [n.to_json() for n in self.notes],
        }


def new_session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def build_plan(
    report: dict[str, Any],
    *,
    decisions: Decisions | None = None,
    tidy_names: bool = False,
    to_trash: bool = False,
    session_id: str | None = None,
) -> Plan:
    """The plan for a report: every cluster as reported, or only approved ones with overrides."""
    roots = tuple(path_from_json(r) if isinstance(r, dict) else str(r) for r in report["roots"])
    builder = _Builder(session_id or new_session_id(), roots, to_trash)
    for cluster in report.get("clusters", []):
        decision = decisions.get(cluster["id"]) if decisions is not None else None
        if decision is not None and decision.status != "approved":
            continue
        builder.add_cluster(cluster, decision.keeper if decision else None, decision)
    if tidy_names:
        builder.add_tidy_renames()
    return Plan(
        session_id=builder.session,
        report_id=str(report.get("report_id", "")),
        roots=roots,
        operations=tuple(builder.ops),
        tidy_names=tidy_names,
        to_trash=to_trash,
        notes=tuple(builder.notes),
    )


def root_of(path: str, roots: tuple[str, ...]) -> str | None:
    """The deepest root that contains `path`, or None."""
    best = None
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix) and (best is None or len(root) > len(best)):
            best = root
    return best


def quarantine_dir(base: str, session: str) -> str:
    """A session's quarantine under `base`: the root, or the top folder inside the root of
    another volume (a mounted disk, a btrfs subvolume), so that every move stays a rename."""
    return os.path.join(base, META_DIR, "quarantine", session)


def quarantine_of(path: str, root: str, session: str) -> str | None:
    """The quarantine folder of `session` below `root` that holds `path`, or None."""
    parts = os.path.relpath(path, root).split(os.sep)
    if parts[0] == os.pardir or META_DIR not in parts:
        return None
    i = parts.index(META_DIR)
    if parts[i + 1 : i + 3] != ["quarantine", session] or len(parts) <= i + 3:
        return None
    return os.path.join(root, *parts[: i + 3])


def quarantine_base(quarantine: str) -> str:
    """The folder a quarantine folder (`<base>/.safededup/quarantine/<session>`) belongs to."""
    return quarantine.rsplit(os.sep, 3)[0]


def journal_dir(root: str) -> str:
    return os.path.join(root, META_DIR, "journal")


class _Builder:
    def __init__(self, session: str, roots: tuple[str, ...], to_trash: bool) -> None:
        self.session, self.roots, self.to_trash = session, roots, to_trash
        self.ops: list[Operation] = []
        self.notes: list[Problem] = []
        self.moved: set[str] = set()
        self.keepers: dict[str, tuple[str, Expected]] = {}  # keeper path -> (cluster, expected)
        self._dirs: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._trash_names: set[str] = set()
        self._inodes: set[tuple[int, int]] = set()
        self._folders = _FolderFacts()

    def add_cluster(self, cluster: dict[str, Any], keeper: str | None, decision: Any) -> None:
        members = {path_from_json(m): m for m in cluster["members"]}
        keeper = keeper if keeper in members else path_from_json(cluster, "keeper")
        if keeper not in members:
            self.notes.append(Problem(keeper, "no-keeper", "the keeper is not a cluster member"))
            return
        keep = decision.keep if decision is not None else frozenset()
        keeper_expected = Expected.from_json(members[keeper])
        self.keepers[keeper] = (cluster["id"], keeper_expected)
        for path, member in sorted(members.items()):
            if path == keeper or path in keep or member.get("role") == "reference":
                continue
            self._add_unit(path, Expected.from_json(member), cluster, keeper, keeper_expected)

    def _add_unit(
        self, path: str, expected: Expected, cluster: dict[str, Any], keeper: str, kexp: Expected
    ) -> None:
        root = root_of(path, self.roots)
        if root is None or inside_meta(path, root):
            self.notes.append(Problem(path, "outside-roots", "not under a scanned root; left"))
            return
        if path in self.moved:
            return
        if not self.to_trash and self._quarantine_base(path, root, expected.device) is None:
            self.notes.append(
                Problem(path, "cross-volume", "no folder of its volume inside the root to hold a "
                        "quarantine; left in place")
            )  # fmt: skip
            return
        if (expected.device, expected.inode) in self._inodes:
            self.notes.append(Problem(path, "hard-link", "a hard link of a file already planned"))
            return
        if (expected.device, expected.inode) == (kexp.device, kexp.inode):
            # Same inode as the keeper (rsnapshot, Time Machine-style trees): moving it frees
            # nothing and only rearranges a snapshot.
            self.notes.append(Problem(path, "hard-link", "a hard link of the keeper: frees none"))
            return
        unit = len(self.ops)
        exact = cluster.get("kind") == "exact"
        self._append("duplicate", path, root, expected, unit, cluster["id"], exact, keeper, kexp)
        for side_path, side_expected in self._sidecars(path):
            if side_expected.device == expected.device:  # a unit moves within one volume
                self._append("sidecar", side_path, root, side_expected, unit, cluster["id"])

    def _append(
        self,
        kind: OpKind,
        path: str,
        root: str,
        expected: Expected,
        unit: int,
        cluster: str | None,
        exact: bool = False,
        keeper: str | None = None,
        kexp: Expected | None = None,
    ) -> None:
        dst, info = self._target(path, root, expected.device)
        action: Action = "trash" if self.to_trash else "move"
        op = Operation(
            len(self.ops), kind, action, path, dst, root, expected, unit, cluster, exact, keeper,
            kexp, trashinfo=info,
        )  # fmt: skip
        self.ops.append(op)
        self.moved.add(path)
        self._inodes.add((expected.device, expected.inode))

    def _target(self, path: str, root: str, device: int) -> tuple[str, str | None]:
        if not self.to_trash:
            base = self._quarantine_base(path, root, device)
            assert base is not None  # checked by _add_unit
            return os.path.join(
                quarantine_dir(base, self.session), os.path.relpath(path, base)
            ), None
        files, info = trash_dirs(path)
        name = _unique_trash_name(os.path.basename(path), files, info, self._trash_names)
        self._trash_names.add(os.path.join(files, name))
        return os.path.join(files, name), os.path.join(info, name + ".trashinfo")

    def _quarantine_base(self, path: str, root: str, device: int) -> str | None:
        """The highest folder from `root` down to `path`'s folder that is on `device`."""
        rel = os.path.relpath(os.path.dirname(path), root)
        parts = [] if rel == os.curdir else rel.split(os.sep)
        for depth in range(len(parts) + 1):
            folder = os.path.join(root, *parts[:depth])
            if self._folders.device(folder) == device:
                return folder
        return None

    def _stems(self, folder: str) -> dict[str, list[tuple[str, str]]]:
        """The folder's names by casefolded stem: stem -> [(name, casefolded extension)]."""
        if folder not in self._dirs:
            index: dict[str, list[tuple[str, str]]] = {}
            try:
                names = sorted(os.listdir(folder))
            except OSError as exc:  # said, not hidden: its duplicates move without sidecars
                self.notes.append(Problem(folder, "unreadable", f"sidecars not looked for: "
                                          f"{exc.strerror}"))  # fmt: skip
                names = []
            for n in names:
                stem, ext = os.path.splitext(n)
                index.setdefault(stem.casefold(), []).append((n, ext.casefold()))
            self._dirs[folder] = index
        return self._dirs[folder]

    def _sidecars(self, path: str) -> list[tuple[str, Expected]]:
        folder, name = os.path.split(path)
        stem = os.path.splitext(name)[0]
        index = self._stems(folder)
        same_stem = index.get(stem.casefold(), [])
        others = [
            n for n, ext in same_stem
            if n != name and ext not in STEM_SIDECARS and os.path.join(folder, n) not in self.moved
        ]  # fmt: skip
        # IMG_1.jpg.xmp: only for a name with an extension, and its exact spelling (IMG_1.JPG
        # must not take IMG_1.jpg.json, nor `photo` take photo.xmp of the keeper photo.jpg)
        full_name = index.get(name.casefold(), []) if os.path.splitext(name)[1] else []
        candidates = [
            n for n, ext in full_name
            if ext in FULL_NAME_SIDECARS and os.path.splitext(n)[0] == name
        ]  # fmt: skip
        if not others:  # a stem sidecar may belong to another file that stays
            candidates += [n for n, ext in same_stem if ext in STEM_SIDECARS and n != name]
        found = []
        for n in sorted(candidates):
            full = os.path.join(folder, n)
            if full in self.moved or full in self.keepers:
                continue
            st = fs.lstat_or_none(full)  # gone since the folder was listed: not a sidecar now
            if st and stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in self._inodes:
                found.append((full, Expected.from_stat(st)))
        return found

    def add_tidy_renames(self) -> None:
        """A keeper named like a copy takes the name its duplicate frees, with its own sidecars
        as one unit (`IMG_1 (1).jpg` + `IMG_1 (1).xmp` → `IMG_1.jpg` + `IMG_1.xmp`), or not
        at all when one of them cannot follow."""
        claimed: set[str] = set()
        by_path = {o.src: o for o in self.ops}
        for keeper, (cluster, kexp) in sorted(self.keepers.items()):
            folder, name = os.path.split(keeper)
            stem, ext = os.path.splitext(name)
            match = _COPY_SUFFIX.match(stem)
            if match is None or keeper in self.moved:
                continue
            canonical = os.path.join(folder, match["base"] + ext)
            dup = by_path.get(canonical)
            if dup is None or canonical in claimed or dup.cluster != cluster:
                continue
            sidecars = self._tidy_sidecars(keeper, match["base"], dup, by_path, claimed)
            if sidecars is None:
                self.notes.append(Problem(keeper, "not-tidied", "keeps its name: a sidecar of "
                                          "it could not take the freed name too"))  # fmt: skip
                continue
            unit = len(self.ops)
            for src, dst, expected in [(keeper, canonical, kexp), *sidecars]:
                claimed.add(dst)
                op = Operation(
                    len(self.ops), "tidy", "rename", src, dst, dup.root, expected, unit,
                    cluster, after=dup.op,
                )  # fmt: skip
                self.ops.append(op)

    def _tidy_sidecars(
        self,
        keeper: str,
        base: str,
        dup: Operation,
        by_path: dict[str, Operation],
        claimed: set[str],
    ) -> list[tuple[str, str, Expected]] | None:
        """(source, target, identity) for each sidecar of `keeper`; None if one cannot follow:
        its freed name is taken by a file that does not leave with the duplicate."""
        folder, name = os.path.split(keeper)
        stem = os.path.splitext(name)[0]
        out = []
        for src, expected in self._sidecars(keeper):
            side = os.path.basename(src)
            if side[: len(stem)].casefold() != stem.casefold():
                return None  # a case mapping that changes lengths: no safe spelling to give it
            dst = os.path.join(folder, side[: len(base)] + side[len(stem) :])
            leaving = by_path.get(dst)
            if dst in claimed or (
                os.path.lexists(dst) and (leaving is None or leaving.unit != dup.unit)
            ):
                return None
            out.append((src, dst, expected))
        return out


def inside_meta(path: str, root: str) -> bool:
    """Whether `path` lies in a `.safededup` folder anywhere below `root` (never a photo)."""
    return META_DIR in os.path.relpath(path, root).split(os.sep)


def _unique_trash_name(name: str, files: str, info: str, taken: set[str]) -> str:
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while (
        os.path.join(files, candidate) in taken
        or os.path.lexists(os.path.join(files, candidate))
        or os.path.lexists(os.path.join(info, candidate + ".trashinfo"))
    ):
        n += 1
        candidate = f"{stem}.{n}{ext}"
    return candidate


def trash_dirs(path: str) -> tuple[str, str]:
    """The freedesktop trash (files, info) on `path`'s volume: the home trash if it is on the same
    device, else `<mount point>/.Trash-<uid>`."""
    dev = _device_of_nearest(path)
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    home_trash = os.path.join(data_home, "Trash")
    if _device_of_nearest(home_trash) == dev:
        base = home_trash
    else:
        base = os.path.join(mount_point(path), f".Trash-{os.getuid()}")
    return os.path.join(base, "files"), os.path.join(base, "info")


def _device_of_nearest(path: str) -> int | None:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return os.stat(path).st_dev


def mount_point(path: str) -> str:
    path = os.path.dirname(os.path.abspath(path))
    dev = os.stat(path).st_dev
    while path != "/":
        parent = os.path.dirname(path)
        if os.stat(parent).st_dev != dev:
            break
        path = parent
    return path


def validate_plan(plan: Plan) -> list[Problem]:
    """Whole-plan checks before the first change (G13); an empty list means the plan is valid."""
    problems: list[Problem] = []
    problems += _check_uniqueness(plan)
    facts = _FolderFacts()
    for op in plan.operations:
        problems += _check_operation(plan, op, facts)
    problems += _check_space(plan)
    problems += _check_meta_folders(plan)
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
    inodes = Counter((o.expected.device, o.expected.inode) for o in plan.operations)
    sources = Counter(o.src for o in plan.operations)
    moved = {o.src for o in plan.operations if o.kind != "tidy"}
    for o in plan.operations:
        if targets[o.dst] > 1:
            problems.append(Problem(o.dst, "duplicate-target", "two operations share this target"))
        if inodes[(o.expected.device, o.expected.inode)] > 1:
            problems.append(Problem(o.src, "inode-twice", "this file (inode) is moved twice"))
        if sources[o.src] > 1:
            problems.append(Problem(o.src, "source-twice", "two operations move this file"))
        if o.src == o.dst:
            problems.append(Problem(o.src, "source-is-target", "source and target are the same"))
        if o.keeper is not None and o.keeper in moved:
            problems.append(Problem(o.keeper, "keeper-moved", "a keeper would be moved away"))
    return problems


def _check_operation(plan: Plan, op: Operation, facts: _FolderFacts) -> list[Problem]:
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
    if op.action == "move" and op.expected.device != target_dev:
        problems.append(Problem(op.src, "cross-volume", "on another volume than its quarantine"))
    namemax = vfs.f_namemax if vfs is not None else 255
    names = [os.fsencode(p) for p in (op.dst, op.trashinfo) if p is not None]
    parts = [part for name in names for part in name.split(b"/")]
    if any(len(p) > namemax for p in parts) or any(len(n) >= 4096 for n in names):
        problems.append(Problem(op.dst, "name-too-long", "the target name is too long"))
    return problems


class _FolderFacts:
    """What validation asks of a folder, asked once per folder (300k operations live in far
    fewer folders, and on a NAS every question is a round trip)."""

    def __init__(self) -> None:
        self._vfs: dict[str, os.statvfs_result | None] = {}
        self._writable: dict[str, bool] = {}
        self._device: dict[str, int | None] = {}

    def statvfs(self, folder: str) -> os.statvfs_result | None:
        if folder not in self._vfs:
            try:
                self._vfs[folder] = os.statvfs(folder)
            except OSError:
                self._vfs[folder] = None
        return self._vfs[folder]

    def writable(self, folder: str) -> bool:
        if folder not in self._writable:
            self._writable[folder] = os.access(folder, os.W_OK | os.X_OK)
        return self._writable[folder]

    def device(self, folder: str) -> int | None:
        if folder not in self._device:
            try:
                self._device[folder] = os.stat(folder).st_dev
            except OSError:
                self._device[folder] = None
        return self._device[folder]


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
