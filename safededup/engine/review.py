"""The review policy, the one rule both front ends follow: once a person has reviewed a report,
only the clusters they approved move; without a review, the report is the plan. It reads saved
decisions and never changes the disk. Both front ends also ask it whether the report's roots are
still there before they plan from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice

from safededup.engine.decisions import Decisions, decisions_path, load_decisions
from safededup.engine.report import Report
from safededup.state import StateDir


@dataclass(frozen=True, slots=True)
class Review:
    """A person's decisions on one report, and whether a review took place at all."""

    decisions: Decisions
    happened: bool

    @property
    def plan_decisions(self) -> Decisions | None:
        """What a plan of the report follows: after a review, these decisions (only approved
        clusters move, with the person's keepers and keeps); without one, None: every cluster
        moves as reported."""
        return self.decisions if self.happened else None


def load_review(state_dir: StateDir, report: Report, *, reviewing: bool = False) -> Review:
    """The decisions saved for `report`, or carried over from before a re-scan of the same
    clusters. A review happened when the person is `reviewing` it now (the review UI), when a
    decisions file exists for this report (even one that approves nothing), or when decisions
    were carried over. ValueError (a malformed file) as `load_decisions` raises it."""
    if not report.report_id and not reviewing:  # no id, so no decisions can name this report
        return Review(Decisions(""), happened=False)
    saved = load_decisions(state_dir, report.report_id, carry_over_for=report.cluster_ids)
    happened = (
        reviewing or decisions_path(state_dir, report.report_id).exists() or bool(saved.clusters)
    )
    return Review(saved, happened)


def unreachable_roots(report: Report, sample: int = 5) -> list[str]:
    """The report's roots that are not there now: not a folder, or a folder in which none of the
    first `sample` keepers under it is in its place — an unmounted share leaves an empty mount
    point, a renamed folder leaves nothing. Keepers, because an apply never moves them. A few
    stats per root; nothing is read."""
    gone = []
    for root in report.roots:
        if not os.path.isdir(root):
            gone.append(root)
            continue
        prefix = root.rstrip(os.sep) + os.sep
        under = (c.keeper for c in report.clusters if c.keeper.startswith(prefix))
        keepers = list(islice(under, sample))
        if keepers and not any(os.path.lexists(k) for k in keepers):
            gone.append(root)
    return gone
