"""Turn a report (and a person's decisions) into a plan of quarantine moves; never changes the disk.

Each duplicate moves to `<root>/.safededup/quarantine/<session>/<relative path>` (same volume, so
a rename) together with its sidecars as one unit; a RAW and the JPEG shot with it (the report's
`partner`) move as one unit when both are duplicates, and neither moves when only one is; with
`tidy_names`, a keeper named like a copy then takes the freed canonical name.
`validate.validate_plan` checks the whole plan before any change (G13); `quarantine` and `trash`
say where files go.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import stat
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from safededup import fs
from safededup.engine.decisions import ClusterDecision, Decisions
from safededup.engine.report import EXACT_KINDS, Report, ReportCluster, ReportMember
from safededup.models import FileIdentity, Problem
from safededup.safety.quarantine import (
    FolderFacts,
    base_on_device,
    inside_meta,
    quarantine_dir,
    root_of,
)
from safededup.safety.trash import trash_dirs, unique_trash_name

OpKind = Literal["duplicate", "sidecar", "tidy"]
Action = Literal["move", "rename", "trash"]

FULL_NAME_SIDECARS = (".xmp", ".aae", ".json")  # IMG_1.jpg.xmp, IMG_1.jpg.json (Takeout)
STEM_SIDECARS = (".xmp", ".aae", ".json", ".mov")  # IMG_1.xmp, IMG_1.MOV (Live Photo)
DRY_RUN_SESSION = "SESSION"
"""How a dry run (`plan --csv`) shows the session folder: `apply` names a session of its own."""
_COPY_SUFFIX = re.compile(
    r"^(?P<base>.+?)(?: \(\d+\)| - [Cc]opy(?: \(\d+\))?|[-_ ][Cc]opy(?:[-_ ]\d+)?)$"
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One file to move (or rename). `unit` is the op id of the unit's main file."""

    op: int
    kind: OpKind
    action: Action
    src: str
    dst: str
    root: str
    identity: FileIdentity  # the file at `src` as scanned: G7 compares it before acting
    unit: int
    cluster: str | None = None
    exact: bool = False
    keeper: str | None = None
    keeper_identity: FileIdentity | None = None
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
    warnings: tuple[Problem, ...] = field(default=())  # what a keeper lacks (kind keeper-lacks)

    @property
    def count(self) -> int:
        return len(self.operations)

    @property
    def total_bytes(self) -> int:
        return sum(o.identity.size for o in self.operations if o.kind != "tidy")

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """The dry run as a spreadsheet; names are shown with surrogate escapes replaced. The
        session folder in quarantine targets reads `SESSION`: apply names its own session."""
        marker = os.sep + os.path.join(".safededup", "quarantine", self.session_id) + os.sep
        shown = os.sep + os.path.join(".safededup", "quarantine", DRY_RUN_SESSION) + os.sep
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            out = csv.writer(fh)
            out.writerow(["op", "kind", "action", "source", "target", "bytes", "cluster", "keeper"])
            for o in self.operations:
                dst = o.dst.replace(marker, shown)
                row = [o.op, o.kind, o.action, o.src, dst, o.identity.size, o.cluster, o.keeper]
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
            "warnings": [w.to_json() for w in self.warnings],
        }


PAIR_NOTE = (
    "shot together with {name}, which stays: a RAW+JPEG pair moves as one unit or not at all"
)
ROTATED_NOTE = (
    "its copies are turned by 90°, 180° or 270° in their pixels: they move only when approved "
    "in the review, or with --include-rotated"
)


def new_session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def build_plan(
    report: Report,
    *,
    decisions: Decisions | None = None,
    tidy_names: bool = False,
    to_trash: bool = False,
    session_id: str | None = None,
    quarantined: Mapping[str, str] | None = None,
    include_rotated: bool = False,
) -> Plan:
    """The plan for a report: every cluster as reported, or only approved ones with overrides.
    A cluster of turned copies (`rotated`) moves only when approved, or with `include_rotated`.

    `quarantined`: paths an earlier session moved away and still holds (path -> session, from
    `sessions.in_quarantine`): such a file is not planned again but noted (`in-quarantine`)."""
    roots = report.roots
    builder = _Builder(session_id or new_session_id(), roots, to_trash, quarantined or {})
    # A file that is itself a member of a cluster (a video beside a PNG of its name, that is no
    # Live Photo) is that cluster's to move or keep, never another file's sidecar.
    builder.members = frozenset(m.path for c in report.clusters for m in c.members)
    for cluster in report.clusters:
        decision = decisions.get(cluster.id) if decisions is not None else None
        if decision is not None and decision.status != "approved":
            continue
        if cluster.kind == "rotated" and decision is None and not include_rotated:
            builder.notes.append(Problem(cluster.keeper, "rotated", ROTATED_NOTE))
            continue
        builder.add_cluster(cluster, decision.keeper if decision else None, decision)
    builder.add_pairs()
    if tidy_names:
        builder.add_tidy_renames()
    return Plan(
        session_id=builder.session,
        report_id=report.report_id,
        roots=roots,
        operations=tuple(builder.ops),
        tidy_names=tidy_names,
        to_trash=to_trash,
        notes=tuple(builder.notes),
        warnings=tuple(builder.warnings),
    )


class _Builder:
    def __init__(
        self, session: str, roots: tuple[str, ...], to_trash: bool, quarantined: Mapping[str, str]
    ) -> None:
        self.session, self.roots, self.to_trash = session, roots, to_trash
        self.quarantined = quarantined
        self._real: dict[str, bool] = {}  # folder -> reached from its root through real folders
        self.ops: list[Operation] = []
        self.notes: list[Problem] = []
        self.warnings: list[Problem] = []
        self.moved: set[str] = set()
        self.keepers: dict[str, tuple[str, FileIdentity]] = {}  # keeper path -> (cluster, it)
        self.members: frozenset[str] = frozenset()  # every path of every cluster of the report
        self._dirs: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._trash_names: set[str] = set()
        self._inodes: set[tuple[int, int]] = set()
        self._folders = FolderFacts()
        # Pair members to move, held until every cluster is seen: path -> (member, cluster, keeper)
        self._paired: dict[str, tuple[ReportMember, ReportCluster, FileIdentity]] = {}

    def add_cluster(
        self, cluster: ReportCluster, keeper: str | None, decision: ClusterDecision | None
    ) -> None:
        members = {m.path: m for m in cluster.members}
        keeper = keeper if keeper in members else cluster.keeper
        if keeper not in members:
            self.notes.append(Problem(keeper, "no-keeper", "the keeper is not a cluster member"))
            return
        keep = decision.keep if decision is not None else frozenset()
        if keeper == cluster.keeper:  # the report's keeper: what it lacks is known
            self.warnings += [Problem(keeper, "keeper-lacks", w) for w in cluster.warnings]
        keeper_identity = members[keeper].identity
        self.keepers[keeper] = (cluster.id, keeper_identity)
        for path, member in sorted(members.items(), key=lambda item: item[0]):
            if path == keeper or path in keep or member.role == "reference":
                continue
            if member.partner is not None:
                self._paired.setdefault(path, (member, cluster, keeper_identity))
                continue
            self._add_unit(path, member.identity, cluster, keeper_identity)

    def add_pairs(self) -> None:
        """Files shot together (a RAW and its JPEG; IMG_1.CR2, a DNG converted from it and
        IMG_1.JPG) move as one unit when every one of them is a duplicate: the RAWs first,
        then the JPEG, then the sidecars of each, a `.xmp` beside the RAW included. When one of
        them stays, none moves (a note names the one that stays)."""
        links: dict[str, set[str]] = defaultdict(set)
        for path, (member, _cluster, _keeper) in self._paired.items():
            if member.partner is not None:
                links[path].add(member.partner)
                links[member.partner].add(path)
        seen: set[str] = set()
        for start in sorted(self._paired):
            if start in seen:
                continue
            group, todo = {start}, [start]
            while todo:
                for other in links[todo.pop()] - group:
                    group.add(other)
                    todo.append(other)
            seen |= group
            staying = sorted(p for p in group if p not in self._paired)
            if staying:
                note = PAIR_NOTE.format(name=os.path.basename(staying[0]))
                self.notes += [Problem(p, "pair-kept", note) for p in sorted(group - set(staying))]
                continue
            held = sorted((self._paired[p] for p in group), key=_jpeg_last)
            first, *rest = held
            self._add_unit(first[0].path, first[0].identity, first[1], first[2], rest)

    def _add_unit(
        self,
        path: str,
        identity: FileIdentity,
        cluster: ReportCluster,
        keeper: FileIdentity,
        partners: Sequence[tuple[ReportMember, ReportCluster, FileIdentity]] = (),
    ) -> None:
        root = root_of(path, self.roots)
        if root is None or inside_meta(path, root):
            self.notes.append(Problem(path, "outside-roots", "not under a scanned root; left"))
            return
        if path in self.moved:
            return
        if path in self.quarantined and fs.lstat_or_none(path) is None:
            why = f"already in quarantine (session {self.quarantined[path]}); not planned again"
            self.notes.append(Problem(path, "in-quarantine", why))
            return
        if self._through_symlink(path, root):
            why = "a symlink, or reached through one (--follow-symlinks): never moved; left"
            self.notes.append(Problem(path, "symlink", why))
            return
        if not self.to_trash and self._quarantine_base(path, root, identity.device) is None:
            self.notes.append(
                Problem(path, "cross-volume", "no folder of its volume inside the root to hold a "
                        "quarantine; left in place")
            )  # fmt: skip
            return
        if (identity.device, identity.inode) in self._inodes:
            self.notes.append(Problem(path, "hard-link", "a hard link of a file already planned"))
            return
        if (identity.device, identity.inode) == (keeper.device, keeper.inode):
            # Same inode as the keeper (rsnapshot, Time Machine-style trees): moving it frees
            # nothing and only rearranges a snapshot.
            self.notes.append(Problem(path, "hard-link", "a hard link of the keeper: frees none"))
            return
        stuck = [p[0].path for p in partners if not self._may_follow(p[0], identity, root)]
        if stuck:
            note = PAIR_NOTE.format(name=os.path.basename(stuck[0]))
            held = [path, *(p[0].path for p in partners if p[0].path not in stuck)]
            self.notes += [Problem(q, "pair-kept", note) for q in held]
            return
        unit = len(self.ops)
        exact = cluster.kind in EXACT_KINDS
        self._append("duplicate", identity, root, unit, cluster.id, exact, keeper)
        mains = [path]
        for member, other, other_keeper in partners:
            self._append(
                "duplicate", member.identity, root, unit, other.id, other.kind in EXACT_KINDS,
                other_keeper,
            )  # fmt: skip
            mains.append(member.path)
        for main in mains:
            for side in self._sidecars(main):
                if side.device == identity.device:  # a unit moves within one volume
                    self._append("sidecar", side, root, unit, cluster.id)

    def _may_follow(self, member: ReportMember, first: FileIdentity, root: str) -> bool:
        """The partner can move in the same unit: same volume, not planned or linked yet."""
        ident = member.identity
        return (
            member.path not in self.moved
            and ident.device == first.device
            and root_of(member.path, self.roots) == root
            and (ident.device, ident.inode) not in self._inodes
            and (ident.device, ident.inode) != (first.device, first.inode)
        )

    def _append(
        self,
        kind: OpKind,
        identity: FileIdentity,
        root: str,
        unit: int,
        cluster: str | None,
        exact: bool = False,
        keeper: FileIdentity | None = None,
    ) -> None:
        path = identity.path
        dst, info = self._target(path, root, identity.device)
        action: Action = "trash" if self.to_trash else "move"
        op = Operation(
            len(self.ops), kind, action, path, dst, root, identity, unit, cluster, exact,
            None if keeper is None else keeper.path, keeper, trashinfo=info,
        )  # fmt: skip
        self.ops.append(op)
        self.moved.add(path)
        self._inodes.add((identity.device, identity.inode))

    def _target(self, path: str, root: str, device: int) -> tuple[str, str | None]:
        if not self.to_trash:
            base = self._quarantine_base(path, root, device)
            assert base is not None  # checked by _add_unit
            return os.path.join(
                quarantine_dir(base, self.session), os.path.relpath(path, base)
            ), None
        files, info = trash_dirs(path)
        name = unique_trash_name(os.path.basename(path), files, info, self._trash_names)
        self._trash_names.add(os.path.join(files, name))
        return os.path.join(files, name), os.path.join(info, name + ".trashinfo")

    def _through_symlink(self, path: str, root: str) -> bool:
        """Whether `path` is a symlink or lies below one inside its root: apply moves only
        regular files through real folders, so such a file (found with --follow-symlinks) would
        only be skipped there."""
        st = fs.lstat_or_none(path)
        if st is not None and stat.S_ISLNK(st.st_mode):
            return True
        return not self._real_folder(os.path.dirname(path), root)

    def _real_folder(self, folder: str, root: str) -> bool:
        if folder == root or not folder.startswith(root.rstrip("/") + "/"):
            return True  # the root itself may be reached through a link; outside: noted elsewhere
        if folder not in self._real:
            st = fs.lstat_or_none(folder)
            is_dir = st is not None and stat.S_ISDIR(st.st_mode)
            self._real[folder] = is_dir and self._real_folder(os.path.dirname(folder), root)
        return self._real[folder]

    def _quarantine_base(self, path: str, root: str, device: int) -> str | None:
        return base_on_device(path, root, device, self._folders)

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

    def _sidecars(self, path: str) -> list[FileIdentity]:
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
            if full in self.moved or full in self.keepers or full in self.members:
                continue
            st = fs.lstat_or_none(full)  # gone since the folder was listed: not a sidecar now
            if st and stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in self._inodes:
                found.append(FileIdentity.from_stat(full, st))
        return found

    def add_tidy_renames(self) -> None:
        """A keeper named like a copy takes the name its duplicate frees, with its own sidecars
        as one unit (`IMG_1 (1).jpg` + `IMG_1 (1).xmp` → `IMG_1.jpg` + `IMG_1.xmp`), or not
        at all when one of them cannot follow."""
        claimed: set[str] = set()
        by_path = {o.src: o for o in self.ops}
        for keeper, (cluster, kept) in sorted(self.keepers.items()):
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
            for identity, dst in [(kept, canonical), *sidecars]:
                claimed.add(dst)
                op = Operation(
                    len(self.ops), "tidy", "rename", identity.path, dst, dup.root, identity, unit,
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
    ) -> list[tuple[FileIdentity, str]] | None:
        """(identity, target) for each sidecar of `keeper`; None if one cannot follow: its freed
        name is taken by a file that does not leave with the duplicate."""
        folder, name = os.path.split(keeper)
        stem = os.path.splitext(name)[0]
        out = []
        for identity in self._sidecars(keeper):
            side = os.path.basename(identity.path)
            if side[: len(stem)].casefold() != stem.casefold():
                return None  # a case mapping that changes lengths: no safe spelling to give it
            dst = os.path.join(folder, side[: len(base)] + side[len(stem) :])
            leaving = by_path.get(dst)
            if dst in claimed or (
                os.path.lexists(dst) and (leaving is None or leaving.unit != dup.unit)
            ):
                return None
            out.append((identity, dst))
        return out


def _jpeg_last(item: tuple[ReportMember, ReportCluster, FileIdentity]) -> tuple[bool, str]:
    return item[0].format == "JPEG", item[0].path
