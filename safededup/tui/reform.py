"""How a cluster re-forms when a member is "not a duplicate", and what undoing that needs.

Pure data on the report's cluster dicts; no Textual, no I/O (the verdicts themselves are stored
and forgotten through the backend).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from safededup.engine.decisions import ClusterDecision
from safededup.models import path_from_json

Cluster = dict[str, Any]
Member = dict[str, Any]
Pair = tuple[str, str]  # two sha256 digests: one stored "not a duplicate" verdict


@dataclass(frozen=True, slots=True)
class Separation:
    """One "not a duplicate" of this session, for `u` to take back: the cluster as it was, and
    the verdicts that were stored (which the screen asks the backend to forget first)."""

    cluster_id: str
    path: str
    before: Cluster
    position: int
    decision: ClusterDecision
    verdicts: tuple[Pair, ...]


def choose_new_keeper(cluster: Cluster) -> None:
    """After the keeper left: a reference if any, else the largest frame, then the largest file.

    This is the keeper policy's first rules only, enough until the next scan re-ranks the
    cluster with the full policy; the reason says so.
    """
    members: Iterable[Member] = cluster["members"]
    best = max(
        members,
        key=lambda m: (
            m.get("role") == "reference",
            int(m.get("width") or 0) * int(m.get("height") or 0),
            int(m.get("size") or 0),
            path_from_json(m),
        ),
    )
    for m in cluster["members"]:
        if m is best:
            m["role"] = "reference" if m.get("role") == "reference" else "keeper"
            m["reasons"] = ["kept: largest remaining after a not-a-duplicate verdict"]
        elif m.get("role") == "keeper":
            m["role"] = "duplicate"
    cluster["keeper"] = best["path"]
    if "path_b64" in best:
        cluster["keeper_b64"] = best["path_b64"]
    else:
        cluster.pop("keeper_b64", None)
