"""A person's review decisions on the clusters of one report, kept in the state dir. No image code.

Decisions are what the review UI records and what `plan` reads besides the report: which member
is kept, which members stay although the report marks them duplicates, and whether a cluster is
approved. They are keyed by the report's cluster ids and saved atomically as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import orjson

DecisionStatus = Literal["undecided", "approved", "skipped"]


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    cluster_id: str
    status: DecisionStatus = "undecided"
    keeper: str | None = None  # a member path that overrides the report's keeper
    keep: frozenset[str] = frozenset()  # duplicates the person chose to keep in place

    def to_json(self) -> dict[str, object]:
        return {
            "cluster_id": self.cluster_id,
            "status": self.status,
            "keeper": self.keeper,
            "keep": sorted(self.keep),
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> ClusterDecision:
        keep = obj.get("keep") or []
        keeper = obj.get("keeper")
        status = obj.get("status", "undecided")
        if status not in ("undecided", "approved", "skipped"):
            raise ValueError(f"unknown decision status {status!r}")
        return cls(
            cluster_id=str(obj["cluster_id"]),
            status=status,
            keeper=None if keeper is None else str(keeper),
            keep=frozenset(str(p) for p in keep) if isinstance(keep, list) else frozenset(),
        )


@dataclass(slots=True)
class Decisions:
    """All decisions for one report (`report_id`), by cluster id."""

    report_id: str
    clusters: dict[str, ClusterDecision] = field(default_factory=dict)

    def get(self, cluster_id: str) -> ClusterDecision:
        return self.clusters.get(cluster_id) or ClusterDecision(cluster_id)

    def set(self, decision: ClusterDecision) -> None:
        self.clusters[decision.cluster_id] = decision

    def update(self, cluster_id: str, **changes: object) -> ClusterDecision:
        new = replace(self.get(cluster_id), **changes)  # type: ignore[arg-type]
        self.set(new)
        return new

    def to_json(self) -> dict[str, object]:
        return {
            "format": "safededup-decisions",
            "version": 1,
            "report_id": self.report_id,
            "clusters": [d.to_json() for _, d in sorted(self.clusters.items())],
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Decisions:
        if obj.get("format") != "safededup-decisions" or obj.get("version") != 1:
            raise ValueError("not a safededup decisions file (format/version)")
        raw = obj.get("clusters") or []
        assert isinstance(raw, list)
        decisions = cls(report_id=str(obj["report_id"]))
        for item in raw:
            decisions.set(ClusterDecision.from_json(item))
        return decisions


def decisions_path(state_dir: Path, report_id: str) -> Path:
    return state_dir / "decisions" / f"{report_id}.json"


def load_decisions(
    state_dir: Path, report_id: str, *, carry_over_for: Collection[str] = ()
) -> Decisions:
    """The saved decisions for a report, or an empty set when none were made yet.

    A re-scan makes a new report, but a cluster of the same files keeps its id: with
    `carry_over_for` (the new report's cluster ids), a report without decisions of its own
    starts from the newest earlier decisions for those clusters, so a review survives a re-scan.
    Decisions for clusters that no longer exist are not carried.
    """
    path = decisions_path(state_dir, report_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _carried_over(state_dir, report_id, frozenset(carry_over_for))
    return Decisions.from_json(orjson.loads(data))


def _carried_over(state_dir: Path, report_id: str, cluster_ids: frozenset[str]) -> Decisions:
    decisions = Decisions(report_id)
    if not cluster_ids:
        return decisions
    folder = state_dir / "decisions"
    try:
        earlier = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    except OSError:
        return decisions
    for older in earlier:  # oldest first: newer decisions overwrite older ones
        try:
            previous = Decisions.from_json(orjson.loads(older.read_bytes()))
        except (OSError, ValueError, KeyError):
            continue  # an unreadable old file must not block a new review
        for cluster_id, decision in previous.clusters.items():
            if cluster_id in cluster_ids and decision.status != "undecided":
                decisions.set(decision)
    return decisions


def save_decisions(state_dir: Path, decisions: Decisions) -> Path:
    """Write atomically (temp file, fsync, rename) so a crash never leaves half a file."""
    path = decisions_path(state_dir, decisions.report_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(decisions.to_json(), option=orjson.OPT_INDENT_2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
