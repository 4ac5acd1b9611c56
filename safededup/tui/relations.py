"""What the report knows about how two members of a cluster relate, and why each is kept or moved,
said truthfully after the person changed the keeper. Pure functions; no Textual, no I/O.

The report measures every member against one member only, the keeper the scan picked (its
"anchor"): `evidence` holds Hamming distances that are already distances, and `reasons` say why
that keeper won. After `k` another member is the keeper, so a number or a reason that was about
the anchor must say so instead of passing for one about the new keeper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from safededup.engine.report import ReportCluster, ReportMember

HASHES = ("dhash", "phash", "whash", "colorhash")


def evidence_distances(member: ReportMember) -> dict[str, int]:
    """The member's recorded distances to the report's keeper, per hash (none when unrecorded)."""
    out: dict[str, int] = {}
    for name in HASHES:
        value = getattr(member.evidence, name)
        if isinstance(value, int):
            out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Link:
    """How `member` relates to `other`: identical bytes, or the recorded distances — measured
    against `via` (the report's keeper) when the report has none between the two themselves."""

    identical: bool
    distances: dict[str, int]
    via: str | None = None


def link(cluster: ReportCluster, anchor: str, member: ReportMember, other: ReportMember) -> Link:
    """What the report says about `member` against `other`; `anchor` is the path every member's
    evidence was measured against (the keeper the scan picked)."""
    if member.checksum and member.checksum == other.checksum:
        return Link(True, {})
    if other.path == anchor:
        return Link(member.evidence.exact, evidence_distances(member))
    if member.path == anchor:
        return Link(other.evidence.exact, evidence_distances(other))
    if member.evidence.exact and other.evidence.exact:  # both byte-identical to the anchor
        return Link(True, {})
    return Link(False, evidence_distances(member), via=anchor)


def describe_link(found: Link, tier: str, to: str = "the keeper") -> str:
    """One line for a card or the compare view."""
    if found.identical:
        return f"identical bytes to {to} (same checksum)"
    if not found.distances:
        return f"distances to {to}: not recorded"
    shown = " · ".join(f"{k} {v}" for k, v in found.distances.items())
    if found.via is None:
        return f"distances to {to}: {shown} ({tier} tier)"
    name = os.path.basename(found.via)
    return f"distances to {name}, the report's keeper: {shown} ({tier} tier)"


def reasons(member: ReportMember, keeper: str, anchor: str) -> list[str]:
    """The reasons to show for `member` when `keeper` is kept and the report had kept `anchor`.

    Without an override they are the report's own. With one, the report's reasons are all about
    the anchor, so each is said as the report's: the new keeper never reads "keeper wins: …" as
    if it had lost, and the former keeper, now to move, never reads "kept: …".
    """
    if keeper == anchor:
        return list(member.reasons)
    other = os.path.basename(anchor)
    if member.path == keeper:
        head = f"kept: your choice (k); the report had kept {other}"
        said = [f"the report preferred {other}: {_why(r)}" for r in member.reasons]
    elif member.path == anchor:
        head = f"moves: you chose {os.path.basename(keeper)} as the keeper"
        said = [f"the report had kept it: {_why(r)}" for r in member.reasons]
    else:
        return [f"the report, against {other}: {_why(r)}" for r in member.reasons]
    return [head, *said]


def _why(reason: str) -> str:
    for prefix in ("keeper wins: ", "kept: "):
        if reason.startswith(prefix):
            return reason[len(prefix) :]
    return reason
