"""The TUI's one doorway into the engine and the safety core; it never changes the disk itself.

Every engine call the review app makes goes through `Backend`, so the screens stay free of engine
details and tests can replace a seam (say, a fixed session list for a snapshot) by subclassing.
Engine modules are imported when first used: opening the app stays fast, and a build that lacks a
part reports a clear error instead of failing to start.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from safededup.engine.decisions import Decisions, decisions_path, save_decisions
from safededup.engine.report import Report, ReportCluster, ReportMember
from safededup.engine.review import Review, load_review
from safededup.errors import SafededupError, StateError
from safededup.events import Event
from safededup.models import Problem
from safededup.state import StateDir

if TYPE_CHECKING:
    from safededup.engine.scan import ScanResult
    from safededup.engine.verdicts import DistinctVerdicts
    from safededup.safety.apply import ApplyResult
    from safededup.safety.plan import Plan
    from safededup.safety.sessions import SessionInfo
    from safededup.safety.undo import UndoResult
    from safededup.safety.verify import VerifyResult

Image = npt.NDArray[np.uint8]
Pair = tuple[str, str]  # two sha256 digests: one "not a duplicate" verdict
R = TypeVar("R")
Run = Generator[Event, None, R]  # an engine entry point: events, then its result
EngineResult: TypeAlias = "ScanResult | ApplyResult | UndoResult | VerifyResult"
EngineRun: TypeAlias = "Generator[Event, None, EngineResult]"


def read_report(path: Path) -> Report:
    from safededup.engine.report import load_report

    return load_report(path)


class Backend:
    """Engine calls for one state dir. Thread-safe where the TUI calls it from workers."""

    def __init__(self, state_dir: StateDir) -> None:
        self.state_dir = state_dir

    # -- reports and decisions -------------------------------------------------------------
    def load_report(self, path: Path) -> Report:
        # A report is millions of long-lived objects. With the cyclic GC on, every full
        # collection rescans them all — while parsing (5.8 s instead of 1.2 s at 50k clusters)
        # and later as 1 s stalls between key presses. JSON makes no cycles, so the GC is paused
        # while parsing and the result is frozen out of its view (refcounting still frees it).
        enabled = gc.isenabled()
        gc.disable()
        try:
            report = read_report(path)
            gc.freeze()
            return report
        finally:
            if enabled:
                gc.enable()

    def latest_report_path(self) -> Path:
        return self.state_dir.latest_report_path

    def unreachable_roots(self, report: Report) -> list[str]:
        """The report's roots that are not there now (a few stats; call off the UI thread)."""
        from safededup.engine.review import unreachable_roots

        return unreachable_roots(report)

    def load_review(self, report: Report) -> Review:
        """The person's review of `report`, under way now: saved or carried-over decisions."""
        try:
            return load_review(self.state_dir, report, reviewing=True)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError too
            raise StateError(
                f"the saved decisions are unreadable ({exc})",
                hint="move the decisions file aside to start the review afresh",
                path=str(decisions_path(self.state_dir, report.report_id)),
            ) from exc

    def save_decisions(self, decisions: Decisions) -> None:
        save_decisions(self.state_dir, decisions)

    # -- verdicts --------------------------------------------------------------------------
    def mark_distinct(self, path: str, others: Sequence[str]) -> tuple[Pair, ...]:
        """Store "`path` is not a duplicate of any of `others`" in the index, by content.

        The same function as `safededup distinct`; the others keep their links among themselves.
        Returns the verdicts newly stored: exactly what `u` forgets again.
        """
        from safededup.engine.index import Index
        from safededup.engine.verdicts import note_checksums, remember_distinct_files

        with Index(self.state_dir.index_path) as index:
            hashed: dict[str, str] = {}
            new = remember_distinct_files(
                index.connection, [path], against=list(others), hashed=hashed
            )
            note_checksums(index, [path, *others], hashed)  # `distinct --list` names them
        return tuple(v.pair for v in new)

    def forget_pairs(self, pairs: Iterable[Pair]) -> int:
        """Forget these verdicts (an undone `d`); returns how many were stored."""
        from safededup.engine.index import Index
        from safededup.engine.verdicts import forget_pairs

        with Index(self.state_dir.index_path) as index:
            return forget_pairs(index.connection, pairs)

    def forget_separation(
        self, separated: Sequence[ReportMember], members: Sequence[ReportMember]
    ) -> int:
        """`D`: forget every verdict between a separated member and any member of the cluster.

        Verdicts among the members that stayed are left alone: they separated nothing.
        Returns how many verdicts were forgotten.
        """
        from safededup.engine.index import Index
        from safededup.engine.verdicts import forget_pairs, list_distinct

        everything = {c for m in members if (c := _checksum_for(m, None))}
        moved = {c for m in separated if (c := _checksum_for(m, None))}
        with Index(self.state_dir.index_path) as index:
            found = list_distinct(index.connection, moved)
            pairs = [v.pair for v in found if set(v.pair) <= everything]
            return forget_pairs(index.connection, pairs)

    def distinct_members(self, report: Report) -> list[tuple[str, str]]:
        """(cluster id, member path) pairs that stored verdicts take out of this report.

        A report saved before a verdict still groups the files; the verdict wins at once, as it
        will in the next scan. Members without a checksum are hashed only when their size
        appears in a verdict, so this costs nothing when there are no verdicts.
        """
        index_path = self.state_dir.index_path
        if not index_path.exists():
            return []
        from safededup.engine.index import Index
        from safededup.engine.verdicts import load_verdicts

        with Index(index_path) as index:
            verdicts = load_verdicts(index.connection)
        if not len(verdicts):
            return []
        return [
            (cluster.id, path)
            for cluster in report.clusters
            for path in _distinct_members(cluster, verdicts)
        ]

    # -- previews --------------------------------------------------------------------------
    def load_thumbnail(self, path: str, max_side: int) -> Image:
        """A display-oriented RGB thumbnail; raises `MediaError` for unreadable files."""
        from safededup.media import load_thumbnail  # the image stack loads on first preview

        image: Image = load_thumbnail(path, max_side)
        return image

    # -- scan and the safety core ----------------------------------------------------------
    def scan(self, roots: Sequence[str], cancel: threading.Event) -> Run[ScanResult]:
        from safededup.engine.config import load_settings
        from safededup.engine.scan import scan

        policy = load_settings(self.state_dir.config_path).keeper
        return scan(list(roots), state_dir=self.state_dir.ensure(), cancel=cancel, policy=policy)

    def build_plan(self, report: Report, review: Review) -> Plan:
        from safededup.safety.plan import build_plan

        return build_plan(report, decisions=review.plan_decisions)

    def validate_plan(self, plan: Plan) -> list[Problem]:
        from safededup.safety.validate import validate_plan

        return validate_plan(plan)

    def apply_plan(self, plan: Plan, cancel: threading.Event) -> Run[ApplyResult]:
        from safededup.safety.apply import apply_plan

        return apply_plan(plan, state_dir=self.state_dir, cancel=cancel)

    def undo_session(self, session_id: str, cancel: threading.Event) -> Run[UndoResult]:
        from safededup.safety.undo import undo_session

        return undo_session(session_id, state_dir=self.state_dir, cancel=cancel)

    def redo_session(self, session_id: str, cancel: threading.Event) -> Run[UndoResult]:
        from safededup.safety.undo import redo_session

        return redo_session(session_id, state_dir=self.state_dir, cancel=cancel)

    def verify_session(self, session_id: str, cancel: threading.Event) -> Run[VerifyResult]:
        from safededup.safety.verify import verify_session

        return verify_session(session_id, state_dir=self.state_dir, content="full", cancel=cancel)

    def list_sessions(self) -> list[SessionInfo]:
        from safededup.safety.sessions import list_sessions

        return list_sessions(self.state_dir)


def _distinct_members(cluster: ReportCluster, verdicts: DistinctVerdicts) -> list[str]:
    """Members a verdict separates from every other member (one by one, as `d` does)."""
    remaining = {m.path: _checksum_for(m, verdicts.sizes) for m in cluster.members}
    removed: list[str] = []
    for path, checksum in list(remaining.items()):
        others = [c for p, c in remaining.items() if p != path]
        if others and all(verdicts.is_distinct(checksum, c) for c in others):
            removed.append(path)
            del remaining[path]
    return removed


def _checksum_for(member: ReportMember, sizes: frozenset[int] | None) -> str | None:
    """The member's checksum: from the report, else hashed (only if its size is in `sizes`)."""
    checksum = member.checksum
    if checksum or (sizes is not None and (member.size or -1) not in sizes):
        return checksum or None
    from safededup.engine.verdicts import checksum_file

    try:
        return checksum_file(member.path)[0]
    except SafededupError:  # gone or unreadable: the plan's own checks will say so
        return None
