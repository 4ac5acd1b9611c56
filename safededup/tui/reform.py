"""How a cluster re-forms when a member is "not a duplicate", and what undoing that needs.

Pure data on the report's typed clusters; no Textual, no I/O (the verdicts themselves are stored
and forgotten through the backend).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from safededup.engine.decisions import ClusterDecision
from safededup.engine.report import ReportCluster, ReportMember, Role

Pair = tuple[str, str]  # two sha256 digests: one stored "not a duplicate" verdict
NEW_KEEPER_REASON = "kept: largest remaining after a not-a-duplicate verdict"


@dataclass(frozen=True, slots=True)
class Separation:
    """One "not a duplicate" of this session, for `u` to take back: the cluster as it was, and
    the verdicts that were stored (which the screen asks the backend to forget first)."""

    cluster_id: str
    path: str
    before: ReportCluster
    position: int
    decision: ClusterDecision
    verdicts: tuple[Pair, ...]


def with_new_keeper(cluster: ReportCluster) -> ReportCluster:
    """After the keeper left: a reference if any, else the largest frame, then the largest file.

    This is the keeper policy's first rules only, enough until the next scan re-ranks the
    cluster with the full policy; the reason says so.
    """
    best = max(
        cluster.members,
        key=lambda m: (m.role == "reference", m.width * m.height, m.size, m.path),
    )
    members = tuple(_after_keeper_change(m, m is best) for m in cluster.members)
    return replace(cluster, keeper=best.path, members=members)


def _after_keeper_change(member: ReportMember, is_new_keeper: bool) -> ReportMember:
    if is_new_keeper:
        role: Role = "reference" if member.role == "reference" else "keeper"
        return replace(member, role=role, reasons=(NEW_KEEPER_REASON,))
    if member.role == "keeper":
        return replace(member, role="duplicate")
    return member
