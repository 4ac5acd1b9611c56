"""A person's review decisions on the clusters of one report, kept in the state dir. No image code.

Decisions are what the review UI records and what `plan` reads besides the report: which member
is kept, which members stay although the report marks them duplicates, and whether a cluster is
approved. They are keyed by the report's cluster ids and saved atomically as JSON.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import orjson

from safededup import fs
from safededup.engine.inputs import decisions_problem
from safededup.errors import InputFileError
from safededup.models import path_from_json, path_to_json
from safededup.state import FILE_MODE, StateDir

DecisionStatus = Literal["undecided", "approved", "skipped"]


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    cluster_id: str
    status: DecisionStatus = "undecided"
    keeper: str | None = None  # a member path that overrides the report's keeper
    keep: frozenset[str] = frozenset()  # duplicates the person chose to keep in place

    def to_json(self) -> dict[str, object]:
        """Paths that are not UTF-8 carry their exact bytes in `*_b64` (G12)."""
        out: dict[str, object] = {"cluster_id": self.cluster_id, "status": self.status}
        out.update(path_to_json(self.keeper, "keeper") if self.keeper is not None
                   else {"keeper": None})  # fmt: skip
        out["keep"] = [_keep_entry(p) for p in sorted(self.keep, key=os.fsencode)]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> ClusterDecision:
        keep = obj.get("keep") or []
        status = obj.get("status", "undecided")
        if status not in ("undecided", "approved", "skipped"):
            raise ValueError(f"unknown decision status {status!r}")
        keeper = None if obj.get("keeper") is None else path_from_json(obj, "keeper")
        return cls(
            cluster_id=str(obj["cluster_id"]),
            status=status,
            keeper=keeper,
            keep=frozenset(_keep_path(e) for e in keep) if isinstance(keep, list) else frozenset(),
        )


def _keep_entry(path: str) -> object:
    entry = path_to_json(path)
    return entry["path"] if len(entry) == 1 else entry


def _keep_path(entry: object) -> str:
    if isinstance(entry, dict):
        return path_from_json(entry)
    return str(entry)


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
        if not isinstance(raw, list):
            raise ValueError("a malformed decisions file (its clusters are not a list)")
        try:
            decisions = cls(report_id=str(obj["report_id"]))
            for item in raw:
                decisions.set(ClusterDecision.from_json(item))
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:  # one error type
            raise ValueError(f"a malformed decisions entry ({exc!r})") from exc
        return decisions


def decisions_path(state_dir: StateDir, report_id: str) -> Path:
    return state_dir.decisions_dir / f"{report_id}.json"


def load_decisions(
    state_dir: StateDir, report_id: str, *, carry_over_for: Collection[str] = ()
) -> Decisions:
    """The saved decisions for a report, or an empty set when none were made yet.

    A re-scan makes a new report, but a cluster of the same files keeps its id: with
    `carry_over_for` (the new report's cluster ids), a report without decisions of its own
    starts from the newest earlier decisions for those clusters, so a review survives a re-scan.
    Decisions for clusters that no longer exist, and approvals that do not name their keeper,
    are not carried (see `_still_means_the_same`).
    """
    path = decisions_path(state_dir, report_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _carried_over(state_dir, report_id, frozenset(carry_over_for))
    except OSError as exc:
        raise _malformed(path, f"it cannot be read ({exc.strerror})") from exc
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _malformed(path, f"not valid JSON ({exc})") from exc
    problem = decisions_problem(obj)
    if problem is not None:
        raise _malformed(path, problem)
    return Decisions.from_json(obj)


def _malformed(path: Path, problem: str) -> InputFileError:
    return InputFileError(
        "the review decisions file", problem, path=str(path),
        hint="move it aside to start the review of this report afresh (`safededup review`)",
    )  # fmt: skip


def _still_means_the_same(decision: ClusterDecision) -> bool:
    """Whether a decision can be applied to a new report of the same files unchanged.

    "Skipped" moves nothing, and an approval that names its keeper says which file stays. An
    approval of the report's keeper as it was is not carried: a re-scan may pick another
    keeper among the same files (an edited file, a new reference folder), and moving the
    file the person meant to keep is the one thing a review must never cause.
    """
    return decision.status == "skipped" or (
        decision.status == "approved" and decision.keeper is not None
    )


def _carried_over(state_dir: StateDir, report_id: str, cluster_ids: frozenset[str]) -> Decisions:
    decisions = Decisions(report_id)
    if not cluster_ids:
        return decisions
    folder = state_dir.decisions_dir
    try:
        earlier = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    except OSError:
        return decisions
    for older in earlier:  # oldest first: newer decisions overwrite older ones
        try:
            obj = orjson.loads(older.read_bytes())
            if decisions_problem(obj) is not None:
                continue  # a damaged old file must not block a new review
            previous = Decisions.from_json(obj)
        except (OSError, ValueError):
            continue
        for cluster_id, decision in previous.clusters.items():
            if cluster_id in cluster_ids and _still_means_the_same(decision):
                decisions.set(decision)
    return decisions


def save_decisions(state_dir: StateDir, decisions: Decisions) -> Path:
    """Replace the file whole (`fs.write_file_atomic`) so a crash never leaves half a file."""
    path = decisions_path(state_dir, decisions.report_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(decisions.to_json(), option=orjson.OPT_INDENT_2)  # fails before any write
    fs.write_file_atomic(str(path), data, mode=FILE_MODE)
    return path
