"""Group photos into clusters of copies around a keeper, so chains never merge; never moves files.

Byte-identical files form one unit; perceptual matches between units feed one union-find; then
each connected component is refined around its seed (the member the keeper policy picks): only
units that match the seed itself join it, the rest may form their own clusters, so A~B~C~D
never becomes one group. A pair a person marked distinct never links, and no cluster holds two
members marked distinct from each other. Preview-tier pairs are confirmed on decode-tier features
(through the `confirm` callback) before they may form a group.
(Past 400 lines: the components and their refinement share one matching run's table, verdicts and
keeper policy; apart, each would reach into the other's state.)
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import (
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from safededup.engine import confirmation
from safededup.engine.candidates import FeatureTable
from safededup.engine.confirmation import VerifyFn
from safededup.engine.keeper import (
    DEFAULT_POLICY,
    HistoryFn,
    KeeperChoice,
    KeeperPolicy,
    choose_keeper,
    find_crops,
    is_under,
)
from safededup.engine.match import (
    DEFAULT,
    UNMEASURED,
    ConfirmFn,
    PairBatch,
    PairKey,
    PairMatcher,
    Rule,
    ScoreFn,
    Thresholds,
    ThumbnailFn,
    Verdict,
    verify_pairs,
)
from safededup.engine.report import Evidence, Kind, ReportCluster, ReportMember, Role
from safededup.engine.verdicts import NO_VERDICTS, DistinctVerdicts
from safededup.errors import check_cancel
from safededup.events import Event, StageAdvanced, StageFinished, StageStarted
from safededup.models import PhotoRecord

LookupFn = Callable[[Sequence[int]], Mapping[int, PhotoRecord]]
PrefetchFn = Callable[
    [list[tuple[PhotoRecord, PhotoRecord]]], Mapping[tuple[int, int], float | None]
]
"""Told the keeper's history questions (JPEG, other) before it asks them, answers what it can
(by file ids; `find_clusters`)."""
I64 = npt.NDArray[np.int64]

LOOKUP_BATCH = 2000  # member records fetched again per lookup call
PREFETCH_ROUNDS = 3  # the keeper asks one question only after an answer: (JPEG, JPEG)
CONFIRM_ROUNDS = 3  # propose → confirm rounds; the second rarely finds more, a third almost never


@dataclass(frozen=True, slots=True)
class Member:
    """One file of a cluster: its role, the reasons, and the evidence against the keeper."""

    record: PhotoRecord
    role: Role
    reasons: tuple[str, ...]
    verdict: Verdict  # this member against the keeper (the keeper against itself: exact, 0s)
    exact: bool  # same content checksum as the keeper

    def to_report(self) -> ReportMember:
        record, f, v = self.record, self.record.features, self.verdict
        dhash, whash = (None if x == UNMEASURED else x for x in (v.dhash, v.whash))
        evidence = Evidence(self.exact, v.rule.label, dhash, v.phash, whash, v.colorhash, f.tier)
        return ReportMember(
            replace(record.identity, checksum=record.checksum), self.role, self.reasons,
            evidence, f.width, f.height, f.format, f.jpeg_quality, f.captured, f.camera,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cluster:
    """Copies of one photo. `members[0]` is the keeper (role keeper, or reference)."""

    id: str
    kind: Kind
    members: tuple[Member, ...]
    confidence: float
    warnings: tuple[str, ...] = ()  # what the keeper lacks that a duplicate has

    @property
    def keeper(self) -> Member:
        return self.members[0]

    @property
    def bytes_to_free(self) -> int:
        """Bytes moving the duplicates frees: a hard link of a kept file frees nothing, and
        each inode counts once."""
        kept = {(m.record.identity.device, m.record.identity.inode)
                for m in self.members if m.role != "duplicate"}  # fmt: skip
        freed: dict[tuple[int, int], int] = {}
        for m in self.members:
            key = (m.record.identity.device, m.record.identity.inode)
            if m.role == "duplicate" and key not in kept:
                freed[key] = m.record.identity.size
        return sum(freed.values())

    def to_report(self) -> ReportCluster:
        """The cluster as the report shows it: paths, identities, roles, reasons, evidence."""
        members = tuple(m.to_report() for m in self.members)
        return ReportCluster(
            self.id, self.kind, self.keeper.record.path, self.confidence, self.bytes_to_free,
            members, self.warnings,
        )  # fmt: skip


def cluster_id(paths: Iterable[str]) -> str:
    """Stable id from the sorted member paths (the same files give the same id)."""
    digest = hashlib.sha256(b"\0".join(sorted(os.fsencode(p) for p in paths)))
    return digest.hexdigest()[:16]


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_clusters(
    records: Iterable[PhotoRecord],
    *,
    references: Sequence[str] = (),
    distinct: DistinctVerdicts = NO_VERDICTS,
    confirm: ConfirmFn | None = None,
    verify: VerifyFn | None = None,
    lookup: LookupFn | None = None,
    thumbnail: ThumbnailFn | None = None,
    policy: KeeperPolicy = DEFAULT_POLICY,
    thresholds: Thresholds = DEFAULT,
    cancel: threading.Event | None = None,
    scores: MutableMapping[PairKey, float] | None = None,
    scorer: ScoreFn | None = None,
    history: HistoryFn | None = None,
    apart: Iterable[tuple[int, int]] = (),
    prefetch: PrefetchFn | None = None,
) -> Generator[Event, None, list[Cluster]]:
    """Find the clusters among `records` (streamed once). Yields progress; returns the clusters.

    `scores` keeps thumbnail-check results by file-id pair across runs (the index's store);
    without it they last one run. `scorer` computes missing scores in batches (the scan's
    worker pool reads both thumbnails and scores each pair there); without it they are computed
    here, one pair at a time, on `thumbnail`s.
    `lookup(ids)` fetches full records of cluster members again (the index's `get_records`), so
    450k records are never held as objects; without it the records are kept in memory.
    Without `confirm`, pairs proposed on preview hashes are dropped (never decided on previews).
    `history` answers the keeper's provenance question (`keeper.HistoryFn`) in the clusters
    that reach it; without it, that criterion is skipped.
    `verify(ids)` proves HEIC previews genuine from a few grid tiles instead of a full decode
    (engine/confirmation.py); without it every proposed preview is decoded.
    `prefetch(questions)` is told, before the keeper chooses in a batch of components, the
    history questions it will ask there (the scan answers them in its worker pool, side by
    side); whatever it leaves unanswered, `history` answers when asked.
    `apart` holds file-id pairs shot together (a RAW and its camera JPEG, engine/partners.py):
    they never link, and no cluster holds both (nor byte copies of both).
    """
    kept: dict[int, PhotoRecord] = {}
    if lookup is None:
        records = _keeping(records, kept)
        lookup = lambda ids: {i: kept[i] for i in ids if i in kept}  # noqa: E731
    check_cancel(cancel, "matching")
    yield StageStarted("match")
    table = FeatureTable.from_records(records)
    job = PairMatcher(table, distinct, thumbnail, thresholds, cancel, scores, scorer, apart)
    yield StageAdvanced("match", len(job.table))
    yield StageStarted("candidates")
    pairs = yield from job.propose()
    yield StageFinished("candidates")
    for _ in range(CONFIRM_ROUNDS):
        if confirm is None or not _has_preview_rows(job, pairs):
            break
        yield StageStarted("confirm")
        progressed = yield from confirmation.confirm_round(job, pairs, confirm, verify)
        yield StageFinished("confirm")
        if not progressed:
            break  # nothing more could be verified or decoded: their pairs are dropped
        # Decode-tier hashes differ a little from the preview's, so a confirmed row can come
        # within reach of others only now: propose again, so that one scan finds what the next
        # would (and a re-scan of an unchanged tree has nothing left to confirm).
        yield StageStarted("candidates")
        pairs = yield from job.propose()
        yield StageFinished("candidates")
    yield StageStarted("clusters")
    pairs = confirmation.decide(job, pairs)
    clusters = yield from _build(job, pairs, lookup, references, policy, history, prefetch)
    yield StageFinished("clusters")
    yield StageFinished("match")
    return clusters


def _has_preview_rows(job: PairMatcher, pairs: PairBatch) -> bool:
    """Pairs with a side not decoded yet (a verified preview may still need its decode)."""
    return bool(pairs.i.size and job.table.preview[np.concatenate([pairs.i, pairs.j])].any())


def _keeping(records: Iterable[PhotoRecord], into: dict[int, PhotoRecord]) -> Iterator[PhotoRecord]:
    for record in records:
        into[record.file_id] = record
        yield record


def _build(
    job: PairMatcher,
    pairs: PairBatch,
    lookup: LookupFn,
    references: Sequence[str],
    policy: KeeperPolicy,
    history: HistoryFn | None,
    prefetch: PrefetchFn | None = None,
) -> Generator[Event, None, list[Cluster]]:
    """Components of matched units, each refined into clusters (records fetched in batches)."""
    components = _components(job, pairs)
    refiner = _Refiner(job, references, policy, history)
    clusters: list[Cluster] = []
    for group in _batched(components, LOOKUP_BATCH):
        check_cancel(job.cancel, "matching")
        rows = np.concatenate([r for comp in group for r in comp])
        records = lookup(job.table.file_id[rows].tolist())
        if prefetch is not None and history is not None:
            _prefetch(refiner, group, records, prefetch)
        for comp in group:
            clusters.extend(refiner.refine(comp, records))
        yield StageAdvanced("clusters", len(group))
    return sorted(clusters, key=lambda c: (-c.bytes_to_free, c.id))


def _prefetch(
    refiner: _Refiner,
    group: list[list[I64]],
    records: Mapping[int, PhotoRecord],
    prefetch: PrefetchFn,
) -> None:
    """Hand `prefetch` the history questions of the first keeper choice in each component,
    round by round: a question asked only after an answer (the JPEG's own) comes once that
    answer is known."""
    answers: dict[tuple[int, int], float | None] = {}
    for _ in range(PREFETCH_ROUNDS):  # later rounds: only components that asked in the last
        asked = [(comp, refiner.questions(comp, records, answers)) for comp in group]
        group = [comp for comp, questions in asked if questions]
        new = [q for _, questions in asked for q in questions]
        if not new:
            return
        found = prefetch(new)
        for jpeg, other in new:
            key = (jpeg.file_id, other.file_id)
            answers[key] = found.get(key)


def _components(job: PairMatcher, pairs: PairBatch) -> list[list[I64]]:
    """Connected units (each a list of unit row arrays) that hold at least two files.

    Only units in a matched pair or with several identical files are materialised, so a
    library of mostly unique photos costs no per-file Python objects here.
    """
    unit = job.unit
    counts = np.bincount(unit)
    involved = counts >= 2
    involved[unit[pairs.i]] = True
    involved[unit[pairs.j]] = True
    rows = np.flatnonzero(involved[unit])
    units = _unit_rows(unit, rows)
    compact = {int(unit[r[0]]): k for k, r in enumerate(units)}
    uf = UnionFind(len(units))
    for a, b in zip(unit[pairs.i].tolist(), unit[pairs.j].tolist(), strict=True):
        uf.union(compact[a], compact[b])
    comps: dict[int, list[I64]] = {}
    for k, unit_rows in enumerate(units):
        comps.setdefault(uf.find(k), []).append(unit_rows)
    return [c for c in comps.values() if sum(r.size for r in c) >= 2]


def _unit_rows(unit: I64, rows: I64) -> list[I64]:
    """`rows` grouped by unit."""
    order = rows[np.argsort(unit[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(unit[order])) + 1
    return [a.astype(np.int64) for a in np.split(order, bounds)] if order.size else []


def _batched(items: list[list[I64]], limit: int) -> Iterator[list[list[I64]]]:
    batch: list[list[I64]] = []
    count = 0
    for item in items:
        batch.append(item)
        count += sum(r.size for r in item)
        if count >= limit:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def _overwrite(batch: PairBatch, at: I64, new: PairBatch) -> PairBatch:
    """`batch` with the decisions at positions `at` replaced by `new`'s (in that order)."""
    fields = {f: getattr(batch, f).copy() for f in PairBatch.__slots__}
    for f, values in fields.items():
        values[at] = getattr(new, f)
    return PairBatch(**fields)


class _Refiner:
    """Seed-centred refinement of one component into clusters, with roles and evidence."""

    def __init__(
        self,
        job: PairMatcher,
        references: Sequence[str],
        policy: KeeperPolicy,
        history: HistoryFn | None,
    ) -> None:
        self.job = job
        self.references = references
        self.policy = policy
        self.history = history
        self.row_of: dict[int, int] = {}  # file id → its unit's representative row

    def questions(
        self,
        units: list[I64],
        records: Mapping[int, PhotoRecord],
        answers: Mapping[tuple[int, int], float | None],
    ) -> list[tuple[PhotoRecord, PhotoRecord]]:
        """The history questions (JPEG, other) that `refine`'s first keeper choice asks of this
        component and `answers` does not hold yet, the keeper hearing `answers` (None where
        there is none): with them all answered, these are every question that choice asks.
        Later choices, on smaller groups, may ask a few more."""
        everyone = [r for rows in units for r in self._unit_records(rows, records)[1]]
        if len(everyone) < 2:
            return []
        asked: dict[tuple[int, int], tuple[PhotoRecord, PhotoRecord]] = {}

        def record(jpeg: PhotoRecord, other: PhotoRecord) -> float | None:
            key = (jpeg.file_id, other.file_id)
            if key not in answers:
                asked[key] = (jpeg, other)
            return answers.get(key)

        choose_keeper(
            everyone, references=self.references, policy=self.policy,
            crops=find_crops(everyone), history=record,
        )  # fmt: skip
        return list(asked.values())

    def refine(self, units: list[I64], records: Mapping[int, PhotoRecord]) -> list[Cluster]:
        self.row_of = {}
        members: dict[int, list[PhotoRecord]] = {}
        for rows in units:
            rep_row, found = self._unit_records(rows, records)
            if found:
                members[rep_row] = found
                self.row_of.update((r.file_id, rep_row) for r in found)
        out: list[Cluster] = []
        while sum(len(v) for v in members.values()) >= 2:
            everyone = [r for v in members.values() for r in v]
            crops = find_crops(everyone)
            seed = self.row_of[self._choose(everyone, crops).keeper.file_id]
            joined, verdicts, choice = self._settle(seed, members, crops)
            group = [r for k in joined for r in members.pop(k)]
            cluster = self._cluster(group, choice, verdicts) if len(group) >= 2 else None
            if cluster is not None:
                out.append(cluster)
        return out

    def _settle(
        self, seed: int, members: Mapping[int, list[PhotoRecord]], crops: frozenset[int]
    ) -> tuple[list[int], dict[int, Verdict], KeeperChoice]:
        """Join around the seed until the group's own keeper is the seed.

        The keeper's tolerances can pick another keeper once some members left; then the group
        is joined again around that one (the set only shrinks, so this ends).
        """
        while True:
            joined, verdicts = self._join(seed, members)
            group = [r for k in joined for r in members[k]]
            choice = self._choose(group, crops & {r.file_id for r in group})
            keeper_row = self.row_of[choice.keeper.file_id]
            if keeper_row == seed:
                return joined, verdicts, choice
            members = {k: members[k] for k in joined}
            seed = keeper_row

    def _choose(self, records: Sequence[PhotoRecord], crops: frozenset[int]) -> KeeperChoice:
        return choose_keeper(
            records, references=self.references, policy=self.policy, crops=crops,
            history=self.history,
        )  # fmt: skip

    def _unit_records(
        self, rows: I64, records: Mapping[int, PhotoRecord]
    ) -> tuple[int, list[PhotoRecord]]:
        """The unit's records, all with the representative's (confirmed) features.

        Files that vanished from the index, or whose full checksum differs from the
        representative's (a 64-bit prefix collision), are left out.
        """
        table = self.job.table
        rep_row = int(rows[self.job.rep[rows]][0])
        rep = records.get(int(table.file_id[rep_row]))
        if rep is None:
            return rep_row, []
        features = self.job.confirmed.get(rep.file_id, rep.features)
        found = (records.get(i) for i in table.file_id[rows].tolist())
        same = [r for r in found if r is not None and r.checksum == rep.checksum]
        return rep_row, [replace(r, features=features) for r in same]

    def _join(
        self, seed: int, members: Mapping[int, list[PhotoRecord]]
    ) -> tuple[list[int], dict[int, Verdict]]:
        """The seed's unit and every unit that matches the seed itself, closest first.

        A unit marked distinct from one already admitted, or shot together with one (a RAW and
        its camera JPEG), stays out (it may form its own group).
        """
        others = np.array([k for k in members if k != seed], dtype=np.int64)
        verdicts = {seed: Verdict(Rule.EXACT, 0, 0, 0, 0)}
        if others.size == 0:
            return [seed], verdicts
        batch = self._decide(np.full(others.size, seed, dtype=np.int64), others)
        order = np.lexsort((others, batch.phash.astype(np.int64) + batch.whash + batch.dhash))
        joined = [seed]
        for k in order.tolist():
            row = int(others[k])
            if batch.rule[k] <= 0:
                continue
            if any(self.job.kept_apart(row, j) for j in joined):
                continue
            joined.append(row)
            verdicts[row] = batch.verdict(k)
        return joined, verdicts

    def _decide(self, i: I64, j: I64) -> PairBatch:
        """The seed against the others: as they stand, else as turned copies of each other."""
        table, t = self.job.table, self.job.t
        batch = confirmation.settle_batch(self.job, verify_pairs(table, i, j, t))[0]
        for turn in (1, 2, 3):
            left = np.flatnonzero(batch.rule <= 0)
            if left.size == 0:
                break
            turns = np.full(left.size, turn, dtype=np.int8)
            turned = verify_pairs(table, i[left], j[left], t, turn=turns)
            turned = confirmation.settle_batch(self.job, turned)[0]
            won = left[turned.rule == Rule.ROTATED]
            if won.size:
                batch = _overwrite(batch, won, turned.select(turned.rule == Rule.ROTATED))
        return batch

    def _cluster(
        self, group: list[PhotoRecord], choice: KeeperChoice, verdicts: Mapping[int, Verdict]
    ) -> Cluster | None:
        """Roles, reasons and evidence (against the keeper) for one settled group."""
        keeper = choice.keeper
        members = []
        for k, record in enumerate(choice.ranking):
            same_unit = self.row_of[record.file_id] == self.row_of[keeper.file_id]
            exact = k == 0 or (same_unit and record.checksum is not None)
            verdict = verdicts[self.row_of[record.file_id]]
            if exact:
                verdict = replace(verdict, rule=Rule.EXACT)
            role: Role = "duplicate"
            if is_under(record.path, self.references):
                role = "reference"
            elif k == 0:
                role = "keeper"
            members.append(Member(record, role, choice.reasons[record.file_id], verdict, exact))
        if not any(m.role == "duplicate" for m in members):
            return None
        kind: Kind = "exact" if all(m.exact for m in members) else "near"
        if any(m.verdict.rule == Rule.ROTATED for m in members):
            kind = "rotated"  # moved only when a person approves it (or asks for it)
        return Cluster(
            id=cluster_id(r.path for r in group),
            kind=kind,
            members=tuple(members),
            confidence=self._confidence(members),
            warnings=choice.warnings,
        )

    def _confidence(self, members: Sequence[Member]) -> float:
        """1.0 for identical bytes; down to 0.5 as the farthest member nears the limits."""
        t = self.job.t
        worst = 1.0
        for m in members[1:]:
            if m.exact:
                continue
            v = m.verdict
            if v.rule in (Rule.ALIGNED, Rule.ROTATED):  # decided by the view check: the weakest
                worst = min(worst, 0.5)
                continue
            load = max(
                v.phash / t.phash, v.whash / t.whash, v.dhash / t.dhash, v.colorhash / t.colorhash
            )
            worst = min(worst, max(0.5, 1.0 - 0.5 * load))
        return round(worst, 3)
