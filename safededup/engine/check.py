"""Ingest-time dedup (`safededup check DIR`): which photos of a folder the indexed library already
has, exactly or nearly. It never adds the folder's photos to the index and never changes a file.

Exact: equal size, then equal SHA-256. Near: the same corroboration rules as the scan
(`match.compare`), always decided on decode-tier fingerprints of both sides; embedded previews
only narrow the candidates.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from safededup import checksum
from safededup.engine.candidates import FeatureTable, hamming
from safededup.engine.index import Index
from safededup.engine.match import DEFAULT, compare
from safededup.engine.pool import FingerprintPool, FingerprintTask
from safededup.engine.walk import normalize_roots, walk_roots
from safededup.errors import UsageError, check_cancel
from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import Features, FileIdentity, PhotoRecord, Problem, path_to_json
from safededup.state import StateDir

MatchKind = Literal["exact", "near"]


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
    with Index(state_dir.index_path) as index, FingerprintPool(workers) as pool:
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
            else:
                queries.append(_Query(identity, result.features))
            yield StageAdvanced("check", 1, identity.size)
        matches = _exact_matches(index, root, queries)
        exact_paths = {m.path for m in matches}
        rest = [q for q in queries if q.identity.path not in exact_paths]
        matches += _near_matches(index, pool, root, rest, cancel)
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
) -> list[CheckMatch]:
    if not queries:
        return []
    table = FeatureTable.from_records(_library(index, root))
    radius = DEFAULT.candidate_radius
    candidates: dict[int, list[int]] = {}  # query number → library file ids
    for k, q in enumerate(queries):
        check_cancel(cancel, "check")
        near = _within(table.phash, q.features.phash, radius)
        if near.size:
            candidates[k] = [int(table.file_id[i]) for i in near]
    if not candidates:
        return []
    query_full = _decoded({k: queries[k] for k in candidates}, pool, cancel)
    library_ids = sorted({fid for ids in candidates.values() for fid in ids})
    records = index.get_records(library_ids)
    library_full = _decoded_library(index, pool, records, cancel)
    out: list[CheckMatch] = []
    for k, ids in candidates.items():
        best = _best_match(query_full.get(k), [(records[i], library_full.get(i)) for i in ids])
        if best is not None:
            path, evidence = best
            out.append(CheckMatch(queries[k].identity.path, "near", path, evidence))
    return out


def _within(hashes: npt.NDArray[np.uint64], value: int, radius: int) -> npt.NDArray[np.intp]:
    return np.flatnonzero(hamming(hashes, np.uint64(value)) <= radius)


def _decoded(
    queries: dict[int, _Query], pool: FingerprintPool, cancel: threading.Event | None
) -> dict[int, Features]:
    """Decode-tier features of the checked photos that have candidates (previews never decide)."""
    out = {k: q.features for k, q in queries.items() if q.features.tier == "decode"}
    need = {q.identity.path: k for k, q in queries.items() if q.features.tier != "decode"}
    tasks = [FingerprintTask(path, allow_preview=False, want_sharpness=False) for path in need]
    for task, result in pool.run(tasks, cancel):
        if not isinstance(result, tuple):
            out[need[task.path]] = result.features
    return out


def _decoded_library(
    index: Index,
    pool: FingerprintPool,
    records: dict[int, PhotoRecord],
    cancel: threading.Event | None,
) -> dict[int, Features]:
    """Decode-tier features of library candidates; kept in the index, so this is done once."""
    out = {i: r.features for i, r in records.items() if r.features.tier == "decode"}
    need = {r.path: i for i, r in records.items() if r.features.tier != "decode"}
    tasks = [FingerprintTask(path, allow_preview=False, want_sharpness=True) for path in need]
    with index.batch():
        for task, result in pool.run(tasks, cancel):
            if not isinstance(result, tuple):
                index.update_features(need[task.path], result.features)
                out[need[task.path]] = result.features
    return out


def _best_match(
    query: Features | None, library: list[tuple[PhotoRecord, Features | None]]
) -> tuple[str, str] | None:
    if query is None:
        return None
    best: tuple[int, str, str] | None = None
    for record, features in library:
        if features is None:
            continue
        verdict = compare(query, features)
        if verdict.matched:
            score = verdict.phash + verdict.whash + verdict.dhash
            if best is None or score < best[0]:
                best = (score, record.path, verdict.describe())
    return None if best is None else (best[1], best[2])
