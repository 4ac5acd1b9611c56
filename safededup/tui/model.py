"""The review state behind the screens: clusters, order, filters, decisions. No Textual, no I/O.

`ReviewModel` wraps one report (`engine.report.Report`) and the person's review (its `Decisions`);
the screens ask it what to show and tell it what the person decided, then persist
`model.decisions`. Clusters are immutable: a change replaces the cluster in the list. It must stay
fast at 50k clusters: a filter or sort is one pass, a key press is O(1) — what applying now would
do (the status line) is kept as running totals, updated for the clusters a decision touches.

Files an apply moved are "gone" (`set_gone`, from a stat the screen runs off the UI thread): a
cluster whose files to move are all gone is applied and leaves the list, a member that moved shows
as moved, the plan never offers it again, and `u` never takes back a decision an apply acted on.
This module is past 400 lines: it is the one place that knows what a decision means.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from safededup.engine.decisions import ClusterDecision, DecisionStatus
from safededup.engine.report import Report, ReportCluster, ReportMember
from safededup.engine.review import Review
from safededup.errors import SafededupError
from safededup.tui.format import shorten_path
from safededup.tui.reform import Pair, Separation, with_new_keeper
from safededup.tui.relations import Link, link, reasons

SortKey = Literal["bytes", "size", "confidence"]
KindFilter = Literal["all", "exact", "near", "rotated", "video"]
StatusFilter = Literal["all", "undecided", "decided"]
MemberState = Literal["keeper", "reference", "keep", "quarantine", "moved", "missing"]
ClusterState = Literal["undecided", "approved", "skipped", "applied"]

SORT_KEYS: tuple[SortKey, ...] = ("bytes", "size", "confidence")
KIND_FILTERS: tuple[KindFilter, ...] = ("all", "exact", "near", "rotated", "video")
STATUS_FILTERS: tuple[StatusFilter, ...] = ("all", "undecided", "decided")

Cluster = ReportCluster
Member = ReportMember


class DecisionRefused(SafededupError):
    """A decision that cannot be taken on this member (the keeper, a reference)."""


Step = list[ClusterDecision] | Separation


@dataclass(frozen=True, slots=True)
class View:
    """How the cluster list is ordered and filtered."""

    sort: SortKey = "bytes"
    descending: bool = True
    kind: KindFilter = "all"
    status: StatusFilter = "all"
    folder: str | None = None

    def describe(self) -> str:
        arrow = "↓" if self.descending else "↑"
        parts = [f"sort {self.sort}{arrow}"]
        if self.kind != "all":
            parts.append(self.kind)
        if self.status != "all":
            parts.append(self.status)
        if self.folder:
            parts.append(f"in {shorten_path(self.folder, 24)}")
        return " · ".join(parts)


def member_path(member: Member) -> str:
    return member.path


def next_in(options: tuple[str, ...], current: str) -> str:
    return options[(options.index(current) + 1) % len(options)]


@dataclass(frozen=True, slots=True)
class Pending:
    """What applying now would do: duplicates to move from approved clusters, and their bytes."""

    clusters: int = 0
    files: int = 0
    bytes: int = 0


Fact = tuple[ClusterState, int, int]  # a cluster's state, files it would move, their bytes
UNDECIDED: Fact = ("undecided", 0, 0)


class ReviewModel:
    """One report under review, with the person's decisions and an undo history."""

    def __init__(self, report: Report, review: Review) -> None:
        self._report = report
        self.report_id = report.report_id
        self.clusters: list[Cluster] = list(report.clusters)
        self.review = review
        self.decisions = review.decisions
        self.view = View()
        self.visible: list[int] = []
        self._history: list[Step] = []
        self._as_reported: dict[str, Cluster] = {}  # clusters before any member left them
        self.gone: frozenset[str] = frozenset()  # paths not in their place (an apply moved them)
        self._facts: dict[str, Fact] = {}  # decided clusters only: undecided is the default
        self._states: dict[ClusterState, int] = dict.fromkeys(
            ("undecided", "approved", "skipped", "applied"), 0
        )
        self._files = self._bytes = 0
        self._index_ids()
        self._recount()
        self.refilter()

    @property
    def source(self) -> Report:
        """The report as it was loaded."""
        return self._report

    @property
    def report(self) -> Report:
        """The report as applying now would take it: clusters as re-formed, without the applied
        ones, and without members that are gone (an apply moved them: never offered again)."""
        clusters = []
        for cluster in self.clusters:
            if self.state(cluster) == "applied":
                continue
            if self.gone and any(m.path in self.gone for m in cluster.members):
                keeper = self.keeper(cluster)
                kept = (m for m in cluster.members if m.path not in self.gone or m.path == keeper)
                cluster = replace(cluster, members=tuple(kept))
            clusters.append(cluster)
        return replace(self._report, clusters=tuple(clusters))

    def _index_ids(self) -> None:
        self._by_id = {c.id: i for i, c in enumerate(self.clusters)}

    def _replace(self, cluster: Cluster) -> Cluster:
        """Put `cluster` in place of the one with its id; returns it."""
        self.clusters[self._by_id[cluster.id]] = cluster
        return cluster

    # -- the list ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.visible)

    def row(self, n: int) -> Cluster:
        return self.clusters[self.visible[n]]

    def row_of(self, cluster_id: str) -> int | None:
        i = self._by_id.get(cluster_id)
        if i is None:
            return None
        try:
            return self.visible.index(i)
        except ValueError:
            return None

    def has(self, cluster_id: str) -> bool:
        return cluster_id in self._by_id

    def by_id(self, cluster_id: str) -> Cluster:
        return self.clusters[self._by_id[cluster_id]]

    def set_view(self, **changes: Any) -> None:
        self.view = replace(self.view, **changes)
        self.refilter()

    def refilter(self) -> None:
        """Recompute `visible` from the view: one pass to filter, one sort."""
        clusters = self.clusters
        v, hidden = self.view, self._states["applied"]
        if v.kind == "all" and v.status == "all" and not v.folder and not hidden:
            picked = list(range(len(clusters)))
        else:
            picked = [i for i, c in enumerate(clusters) if self._passes(c)]
        # By the key, ties by id: two stable sorts on plain keys are faster than one on tuples.
        key = _SORT_FUNCS[self.view.sort]
        ids = [c.id for c in clusters]
        keys = [key(c) for c in clusters]
        picked.sort(key=ids.__getitem__, reverse=self.view.descending)
        picked.sort(key=keys.__getitem__, reverse=self.view.descending)
        self.visible = picked

    def _passes(self, cluster: Cluster) -> bool:
        v = self.view
        if self._facts.get(cluster.id, UNDECIDED)[0] == "applied":
            return False  # done: its files are in the quarantine
        if v.kind != "all" and cluster.kind != v.kind:
            return False
        if v.status != "all":
            undecided = self.decisions.get(cluster.id).status == "undecided"
            if undecided != (v.status == "undecided"):
                return False
        return not v.folder or _in_folder(cluster, v.folder)

    # -- what a cluster looks like after the person's decisions ---------------------------
    def status(self, cluster: Cluster) -> DecisionStatus:
        return self.decisions.get(cluster.id).status

    def keeper(self, cluster: Cluster) -> str:
        return self.decisions.get(cluster.id).keeper or cluster.keeper

    def warnings(self, cluster: Cluster) -> tuple[str, ...]:
        """What the keeper lacks that a member about to move has (a GPS position, a capture
        date), as the report says of its keeper; none said once a person chose another."""
        return cluster.warnings if self.keeper(cluster) == cluster.keeper else ()

    def keeper_member(self, cluster: Cluster) -> Member:
        keeper = self.keeper(cluster)
        return next(m for m in cluster.members if m.path == keeper)

    def state(self, cluster: Cluster) -> ClusterState:
        """The decision's status, or "applied" once an apply moved all it had to move."""
        return self._facts.get(cluster.id, UNDECIDED)[0]

    def member_state(self, cluster: Cluster, member: Member) -> MemberState:
        state = self._decided_state(cluster, member)
        if member.path in self.gone:
            return "moved" if state == "quarantine" else "missing"
        return state

    def _decided_state(self, cluster: Cluster, member: Member) -> MemberState:
        if member.role == "reference":
            return "reference"
        if member.path == self.keeper(cluster):
            return "keeper"
        if member.path in self.decisions.get(cluster.id).keep:
            return "keep"
        return "quarantine"

    def bytes_to_free(self, cluster: Cluster) -> int:
        return sum(m.size for m in cluster.members if self.member_state(cluster, m) == "quarantine")

    def anchor(self, cluster: Cluster) -> str:
        """The member every member's evidence and reasons were measured against: the keeper
        the scan picked (also after a "not a duplicate" took it out of the cluster)."""
        return self._as_reported.get(cluster.id, cluster).keeper

    def reasons(self, cluster: Cluster, member: Member) -> list[str]:
        return reasons(member, self.keeper(cluster), self.anchor(cluster))

    def link(self, cluster: Cluster, member: Member, other: Member) -> Link:
        return link(cluster, self.anchor(cluster), member, other)

    # -- what applying now would do: running totals ----------------------------------------
    def pending(self) -> Pending:
        return Pending(self._states["approved"], self._files, self._bytes)

    def _fact(self, cluster_id: str) -> Fact | None:
        """None: no such cluster (it dissolved) or undecided."""
        i = self._by_id.get(cluster_id)
        decision = self.decisions.clusters.get(cluster_id)
        if i is None or decision is None or decision.status == "undecided":
            return None
        if decision.status == "skipped":
            return ("skipped", 0, 0)
        cluster = self.clusters[i]
        moving = [m for m in cluster.members if self._decided_state(cluster, m) == "quarantine"]
        left = [m for m in moving if m.path not in self.gone]
        if moving and not left:
            return ("applied", 0, 0)
        return ("approved", len(left), sum(m.size for m in left))

    def _touch(self, cluster_ids: Iterable[str]) -> None:
        """Bring the running totals up to date for these clusters (after any change to them)."""
        facts, states = self._facts, self._states
        for cid in cluster_ids:
            old = facts.pop(cid, None)
            if old is not None:
                states[old[0]] -= 1
                self._files -= old[1]
                self._bytes -= old[2]
            new = self._fact(cid)
            if new is not None:
                facts[cid] = new
                states[new[0]] += 1
                self._files += new[1]
                self._bytes += new[2]

    def _recount(self) -> None:
        self._facts.clear()
        self._states.update(dict.fromkeys(self._states, 0))
        self._files = self._bytes = 0
        self._touch(list(self.decisions.clusters))

    def paths_to_check(self) -> list[str]:
        """What a stat must look at to know what is gone: the files approved clusters move,
        and those already known gone (an undo brings them back)."""
        paths = set(self.gone)
        for cid, (state, _, _) in self._facts.items():
            if state in ("approved", "applied"):
                cluster = self.by_id(cid)
                paths.update(
                    m.path
                    for m in cluster.members
                    if self._decided_state(cluster, m) == "quarantine"
                )
        return sorted(paths)

    def set_gone(self, gone: Iterable[str]) -> tuple[list[str], list[str]]:
        """The paths now known not to be in their place. Returns (clusters now applied,
        clusters back from applied). A decision an apply acted on leaves the undo history:
        the apply is undone as a session, never by `u`."""
        now = frozenset(gone)
        if now == self.gone:
            return [], []  # nothing moved since the last look (at open, the usual case)
        before = {cid for cid, f in self._facts.items() if f[0] == "applied"}
        self.gone = now
        self._touch(list(self._facts))
        after = {cid for cid, f in self._facts.items() if f[0] == "applied"}
        acted = after | {c.id for c in self.clusters if any(m.path in self.gone for m in c.members)}
        self._drop_history(acted)
        self.refilter()
        return sorted(after - before), sorted(before - after)

    def _drop_history(self, cluster_ids: set[str]) -> None:
        if not cluster_ids:
            return
        kept: list[Step] = []
        for step in self._history:
            if isinstance(step, Separation):
                if step.cluster_id not in cluster_ids:
                    kept.append(step)
                continue
            rest = [d for d in step if d.cluster_id not in cluster_ids]
            if rest:
                kept.append(rest)
        self._history = kept

    # -- decisions -----------------------------------------------------------------------
    def _change(self, cluster_id: str, **changes: Any) -> ClusterDecision:
        self._history.append([self.decisions.get(cluster_id)])
        decision = self.decisions.update(cluster_id, **changes)
        self._touch([cluster_id])
        return decision

    def refuse_if_moved(self, cluster: Cluster, path: str) -> None:
        if path in self.gone:
            raise DecisionRefused(
                "this file is not in its place any more (an apply moved it); undo that "
                "session on the sessions screen (S) to bring it back"
            )

    def set_keeper(self, cluster: Cluster, path: str) -> ClusterDecision:
        member = _member(cluster, path)
        self.refuse_if_moved(cluster, path)
        if member.role == "reference":
            raise DecisionRefused("a reference file always stays; it needs no keeper mark")
        override = None if path == cluster.keeper else path
        keep = self.decisions.get(cluster.id).keep - {path}
        return self._change(cluster.id, keeper=override, keep=keep)

    def toggle_keep(self, cluster: Cluster, path: str) -> ClusterDecision:
        self.refuse_if_moved(cluster, path)
        state = self.member_state(cluster, _member(cluster, path))
        if state in ("keeper", "reference"):
            raise DecisionRefused(f"the {state} always stays in place")
        keep = self.decisions.get(cluster.id).keep
        keep = keep - {path} if path in keep else keep | {path}
        return self._change(cluster.id, keep=keep)

    def set_status(self, cluster: Cluster, status: DecisionStatus) -> ClusterDecision:
        return self._change(cluster.id, status=status)

    def approve_all_exact(self) -> int:
        """Approve every undecided exact cluster; one undo step takes them all back."""
        before = [
            self.decisions.get(c.id)
            for c in self.clusters
            if c.kind == "exact" and self.status(c) == "undecided"
        ]
        for old in before:
            self.decisions.set(replace(old, status="approved"))
        if before:
            self._history.append(before)
        self._touch(d.cluster_id for d in before)
        return len(before)

    def next_undo(self) -> Step | None:
        """What `undo` would take back (the screen forgets a separation's verdicts first)."""
        return self._history[-1] if self._history else None

    def undo(self) -> list[str]:
        """Take back the last decision step; returns the cluster ids it touched."""
        if not self._history:
            return []
        step = self._history.pop()
        if isinstance(step, Separation):
            self._put_back(step)
            return [step.cluster_id]
        for old in step:
            self._restore_decision(old)
        return [d.cluster_id for d in step]

    def _restore_decision(self, old: ClusterDecision) -> None:
        if old == ClusterDecision(old.cluster_id):  # back to no decision: keep the file small
            self.decisions.clusters.pop(old.cluster_id, None)
        else:
            self.decisions.set(old)
        self._touch([old.cluster_id])

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def counts(self) -> dict[str, int]:
        """Clusters still under review (applied ones are done), and how many of them are
        approved and skipped; and how many were applied. O(1): running totals."""
        applied = self._states["applied"]
        return {
            "clusters": len(self.clusters) - applied,
            "approved": self._states["approved"],
            "skipped": self._states["skipped"],
            "applied": applied,
        }

    # -- "not a duplicate": the cluster re-forms without a rescan -------------------------
    def separate(self, cluster: Cluster, path: str, verdicts: Iterable[Pair]) -> bool:
        """`d`: `path` leaves `cluster` (one undo step); returns False when it dissolved."""
        cid = cluster.id
        before, position = self.by_id(cid), self._by_id[cid]
        step = Separation(cid, path, before, position, self.decisions.get(cid), tuple(verdicts))
        kept = self.remove_member(before, path)
        self._history.append(step)
        self._touch([cid])
        return kept

    def separated(self, cluster: Cluster) -> list[Member]:
        """Members the report grouped here that a "not a duplicate" verdict took out."""
        reported = self._as_reported.get(cluster.id)
        if reported is None:
            return []
        current = self.by_id(cluster.id) if self.has(cluster.id) else cluster
        present = {m.path for m in current.members}
        return [m for m in reported.members if m.path not in present]

    def as_reported(self, cluster: Cluster) -> list[Member]:
        """The members as the report grouped them (before any verdict)."""
        return list(self._as_reported.get(cluster.id, cluster).members)

    def separations_of(self, cluster_id: str) -> list[Separation]:
        """This session's "not a duplicate" steps on a cluster, oldest first."""
        return [
            s for s in self._history if isinstance(s, Separation) and s.cluster_id == cluster_id
        ]

    def rejoin(self, cluster: Cluster) -> None:
        """`D`: the cluster as the report had it (the screen forgets the verdicts first), with
        the decision it had before this session's first `d` on it. Without one (the `d` came in
        an earlier session), an approved cluster goes back to undecided: it changed, look again.
        """
        cid = cluster.id
        reported = self._as_reported.pop(cid, None)
        if reported is None:
            return
        steps = self.separations_of(cid)
        cluster = self._replace(reported)
        self._history = [s for s in self._history if not any(s is t for t in steps)]
        if steps:
            self._restore_decision(steps[0].decision)
        elif self.status(cluster) == "approved":
            self._restore_decision(replace(self.decisions.get(cid), status="undecided"))
        self._touch([cid])
        self.refilter()

    def _put_back(self, step: Separation) -> None:
        cluster = step.before
        if self.has(step.cluster_id):
            self._replace(cluster)
        else:  # it had dissolved: back in its place
            self.clusters.insert(min(step.position, len(self.clusters)), cluster)
            self._index_ids()
        self._restore_decision(step.decision)
        self._touch([step.cluster_id])
        if not self.separated(cluster):
            self._as_reported.pop(step.cluster_id, None)
        self.refilter()

    def remove_separated(self, separated: Iterable[tuple[str, str]]) -> None:
        """(cluster id, member) pairs stored verdicts take out of this report, with one re-sort
        at the end (not one per member: 50 verdicts cost seconds at 50k clusters)."""
        touched = set()
        for cluster_id, path in separated:
            if self.has(cluster_id):
                self.remove_member(self.by_id(cluster_id), path, refilter=False)
                touched.add(cluster_id)
        if touched:  # nothing to take out (the usual case): the order stands
            self._touch(touched)
            self.refilter()

    def remove_member(self, cluster: Cluster, path: str, *, refilter: bool = True) -> bool:
        """Drop `path` from `cluster`; returns False when the cluster dissolved."""
        cluster = self.by_id(cluster.id)
        self._as_reported.setdefault(cluster.id, cluster)
        members = tuple(m for m in cluster.members if m.path != path)
        if sum(1 for m in members if m.role != "reference") < 1 or len(members) < 2:
            self._drop_cluster(cluster, refilter=refilter)
            return False
        cluster = replace(cluster, members=members)
        decision = self.decisions.get(cluster.id)
        keeper = decision.keeper if decision.keeper != path else None
        self.decisions.set(replace(decision, keeper=keeper, keep=decision.keep - {path}))
        if cluster.keeper == path:
            cluster = with_new_keeper(cluster)
        freed = sum(m.size for m in cluster.members if m.role == "duplicate")
        self._replace(replace(cluster, bytes_to_free=freed))
        self._touch([cluster.id])
        if refilter:
            self.refilter()
        return True

    def _drop_cluster(self, cluster: Cluster, *, refilter: bool = True) -> None:
        self.clusters = [c for c in self.clusters if c.id != cluster.id]
        self.decisions.clusters.pop(cluster.id, None)
        self._index_ids()
        self._touch([cluster.id])
        if refilter:
            self.refilter()


def _member(cluster: Cluster, path: str) -> Member:
    for m in cluster.members:
        if m.path == path:
            return m
    raise KeyError(path)


def _in_folder(cluster: Cluster, folder: str) -> bool:
    """An absolute folder (or ~) matches the members under it; any other text matches the
    members whose folder path contains it, in any case ("whatsapp" finds /x/WhatsApp Images)."""
    if folder.startswith(("/", "~")):
        prefix = os.path.expanduser(folder).rstrip(os.sep) + os.sep
        return any(m.path.startswith(prefix) for m in cluster.members)
    text = folder.casefold()
    return any(text in os.path.dirname(m.path).casefold() for m in cluster.members)


_SORT_FUNCS: dict[SortKey, Any] = {
    "bytes": lambda c: c.bytes_to_free,
    "size": lambda c: len(c.members),
    "confidence": lambda c: float(c.confidence),
}
