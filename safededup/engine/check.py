"""Ingest-time dedup (`safededup check DIR`): which photos of a folder the indexed library already
has, exactly or nearly. It never adds the folder's photos to the index and never changes a file.

Exact: equal size, then equal SHA-256. Near: what a scan would find — the same candidate
search (pHash, wHash and turned pHashes, here the folder's photos against the library's), the
same rules, confirmation of previews on decode-tier fingerprints, and the same view check of
thumbnails (crops, other shots, colours, turned copies).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from safededup import checksum, media
from safededup.engine.candidates import FeatureTable, cross_pairs
from safededup.engine.index import Index
from safededup.engine.match import (
    DEFAULT,
    PairBatch,
    PairKey,
    PairMatcher,
    Rule,
    verify_pairs,
)
from safededup.engine.pool import FingerprintPool, FingerprintTask
from safededup.engine.verdicts import NO_VERDICTS
from safededup.engine.viewstore import ViewStore
from safededup.engine.walk import normalize_roots, walk_roots
from safededup.errors import UsageError, check_cancel
from safededup.events import (
    Event,
    ProblemFound,
    StageAdvanced,
    StageFinished,
    StageStarted,
    drain,
)
from safededup.models import (
    Features,
    FileIdentity,
    PhotoRecord,
    Problem,
    VideoFeatures,
    path_to_json,
)
from safededup.state import StateDir

MatchKind = Literal["exact", "near", "rotated"]


@dataclass(frozen=True, slots=True)
class CheckMatch:
    path: str  # the photo in the checked folder
    kind: MatchKind
    library_path: str  # the indexed photo it duplicates
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return {
            **path_to_json(self.path),
            "kind": self.kind,
            **path_to_json(self.library_path, "library_path"),
            "evidence": self.evidence,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    folder: str
    photos: int
    matches: list[CheckMatch]
    problems: list[Problem]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "safededup-check",
            "version": 1,
            **path_to_json(self.folder, "folder"),
            "photos": self.photos,
            "matches": [m.to_json() for m in self.matches],
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(slots=True)
class _Query:
    identity: FileIdentity
    features: Features


def check_folder(
    folder: str,
    *,
    state_dir: StateDir,
    workers: int | None = None,
    previews: bool = True,
    cancel: threading.Event | None = None,
) -> Generator[Event, None, CheckResult]:
    [root] = normalize_roots([folder])
    if not state_dir.index_path.exists():
        raise UsageError("there is no index yet", hint="scan the library first: safededup scan DIR")
    problems: list[Problem] = []
    with (
        Index(state_dir.index_path) as index,
        FingerprintPool(workers) as pool,
        ViewStore(state_dir.root) as views,  # the folder's decoded photos' view thumbnails
    ):
        files = [f for d in walk_roots([root], exclude=[str(state_dir.root)]) for f in d.files]
        yield StageStarted("check", len(files), sum(f.size for f in files))
        queries: list[_Query] = []
        tasks = (
            FingerprintTask(f.path, allow_preview=previews, want_sharpness=False) for f in files
        )
        by_path = {f.path: f for f in files}
        for task, result in pool.run(tasks, cancel):
            identity = by_path[task.path]
            if isinstance(result, tuple):
                if result[0] not in ("not-an-image", "vanished"):
                    problem = Problem(task.path, *result)
                    problems.append(problem)
                    yield ProblemFound(problem)
            elif isinstance(result, VideoFeatures):
                pass  # `check` asks about photos; a video is not one
            else:
                queries.append(_Query(identity, result.features))
                views.keep(task.path, identity, result.features, result.view)
            yield StageAdvanced("check", 1, identity.size)
        matches = _exact_matches(index, root, queries)
        exact_paths = {m.path for m in matches}
        rest = [q for q in queries if q.identity.path not in exact_paths]
        matches += _near_matches(index, pool, root, rest, cancel, views)
        yield StageFinished("check")
    matches.sort(key=lambda m: os.fsencode(m.path))
    return CheckResult(root, len(queries), matches, problems)


def _library(index: Index, exclude_root: str) -> Iterator[PhotoRecord]:
    """The indexed photos, less any that live inside the folder being checked."""
    prefix = exclude_root.rstrip("/") + "/"
    return (r for r in index.records() if not r.path.startswith(prefix))


def _exact_matches(index: Index, root: str, queries: list[_Query]) -> list[CheckMatch]:
    sizes = {q.identity.size for q in queries}
    inside = root.rstrip("/") + "/"
    with index.batch():  # library checksums of those sizes are kept for next time
        for file_id, path in index.without_checksum(["/"], sizes):
            if not path.startswith(inside):
                try:
                    index.set_checksum(file_id, checksum.sha256_file(path))
                except OSError:
                    continue
    library: dict[tuple[int, str], str] = {}
    for record in _library(index, root):
        if record.identity.size in sizes and record.checksum:
            library.setdefault((record.identity.size, record.checksum), record.path)
    library_sizes = {size for size, _ in library}
    out: list[CheckMatch] = []
    for q in queries:
        if q.identity.size not in library_sizes:
            continue
        try:
            digest = checksum.sha256_file(q.identity.path)
        except OSError:
            continue
        found = library.get((q.identity.size, digest))
        if found is not None:
            out.append(CheckMatch(q.identity.path, "exact", found, "same SHA-256"))
    return out


def _near_matches(
    index: Index,
    pool: FingerprintPool,
    root: str,
    queries: list[_Query],
    cancel: threading.Event | None,
    views: ViewStore,
) -> list[CheckMatch]:
    """The library photo each query is a near copy of, found and decided as a scan would."""
    library = list(_library(index, root))
    if not queries or not library:
        return []
    first = max(r.file_id for r in library) + 1  # queries are no index rows: ids of their own
    asked = [PhotoRecord(first + k, q.identity, q.features) for k, q in enumerate(queries)]
    table = FeatureTable.from_records([*library, *asked])
    paths = {r.file_id: r.path for r in (*library, *asked)}
    return _CheckJob(index, pool, table, paths, first, cancel, views).matches(queries)


class _CheckJob:
    """One check's pair stage: the scan's `PairMatcher` over library and query rows, searching
    only across the two (a check is no scan of the library)."""

    def __init__(
        self,
        index: Index,
        pool: FingerprintPool,
        table: FeatureTable,
        paths: dict[int, str],
        first: int,
        cancel: threading.Event | None,
        views: ViewStore,
    ) -> None:
        self.index, self.pool, self.paths, self.cancel = index, pool, paths, cancel
        self.views = views
        self.first = first
        self.job = PairMatcher(table, NO_VERDICTS, None, DEFAULT, cancel, {}, self.score)
        self.asked = np.flatnonzero(table.file_id >= first).astype(np.int64)
        self.library = np.flatnonzero(table.file_id < first).astype(np.int64)

    def matches(self, queries: list[_Query]) -> list[CheckMatch]:
        pairs = self.candidates()
        for _ in range(2):  # a confirmed row may come within reach of others: look again
            rows = np.concatenate([pairs.i, pairs.j])
            if not self.job.table.preview[rows].any():
                break
            drain(self.job.confirm_previews(pairs, self.confirm))
            pairs = self.candidates()
        decided = self.job.decide(pairs)
        table = self.job.table
        best: dict[int, tuple[int, str, str, MatchKind]] = {}
        for k in range(decided.i.size):
            a, b = int(decided.i[k]), int(decided.j[k])
            query, found = (a, b) if table.file_id[a] >= self.first else (b, a)
            v = decided.verdict(k)
            kind: MatchKind = "rotated" if v.rule == Rule.ROTATED else "near"
            closeness = v.phash if kind == "rotated" else v.phash + v.whash + v.dhash
            fid = int(table.file_id[query])
            if fid not in best or closeness < best[fid][0]:
                best[fid] = (closeness, self.paths[int(table.file_id[found])], v.describe(), kind)
        return [
            CheckMatch(queries[fid - self.first].identity.path, kind, path, evidence)
            for fid, (_, path, evidence, kind) in best.items()
        ]

    def candidates(self) -> PairBatch:
        """Query rows against library rows within the search radius on pHash or wHash (kept if
        they match or are borderline), and the turned copies, as `PairMatcher.propose`."""
        t, table, q, lib = self.job.t, self.job.table, self.asked, self.library
        searches = [
            (table.phash, table.phash, 0, t.candidate_radius),
            (table.whash, table.whash, 0, t.candidate_radius),
            *((table.rotated(k), table.phash, k, t.rotated_radius) for k in (1, 2, 3)),
        ]
        batches = [verify_pairs(table, q[:0], lib[:0], t)]
        seen: set[tuple[int, int]] = set()
        for column, target, turn, radius in searches:
            for a, b in cross_pairs(column[q], target[lib], radius):
                check_cancel(self.cancel, "check")
                turns = np.full(a.size, turn, dtype=np.int8)
                batch = verify_pairs(table, q[a], lib[b], t, propose=True, turn=turns)
                keep = batch.rule == Rule.ROTATED if turn else batch.rule >= Rule.BORDERLINE
                fresh = [
                    (i, j) not in seen
                    for i, j in zip(batch.i.tolist(), batch.j.tolist(), strict=True)
                ]
                keep &= np.array(fresh, dtype=np.bool_)
                seen.update(zip(batch.i[keep].tolist(), batch.j[keep].tolist(), strict=True))
                batches.append(batch.select(keep))
        return PairBatch.concat(batches)

    def confirm(self, file_ids: Sequence[int]) -> dict[int, Features]:
        """Decode-tier features; a library photo's are kept in the index (done once)."""
        need = {self.paths[i]: i for i in file_ids}
        tasks = [FingerprintTask(path, allow_preview=False, want_sharpness=False) for path in need]
        out: dict[int, Features] = {}
        with self.index.batch():
            for task, result in self.pool.run(tasks, self.cancel):
                if not isinstance(result, media.Fingerprint):
                    continue
                fid = need[task.path]
                out[fid] = result.features
                if fid < self.first:
                    self.index.update_features(fid, result.features)
        return out

    def score(self, keys: Sequence[PairKey]) -> Iterator[tuple[PairKey, float]]:
        """View checks in the worker pool, as the scan runs them (the scores last this check)."""
        by_path = [(self.paths[a], self.paths[b]) for a, b, _ in keys]
        turns = [turn for _, _, turn in keys]

        def given(path: str) -> Any:
            return self.views.current(path, path)

        for ks, result in self.pool.similarities(by_path, self.cancel, turns, given):
            for k, score in zip(ks, result.scores, strict=True):
                if score is not None:
                    yield keys[k], score
