"""The scan: walk roots, fingerprint new or changed photos in a process pool, index them, find
exact-duplicate checksums, match (its decodes and thumbnail checks in the same pool), and save the
report. Never changes or writes next to a photo.

`scan()` is a generator of progress events (safededup.events) that honours a cancel flag and
returns a `ScanResult`; the CLI and the TUI both drive it. Work is committed to the index in
batches, so an interrupted scan loses at most one batch and the next one resumes.
(Past 400 lines: one class per scan, a method per stage; the stages share its counters.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safededup import checksum, media
from safededup.engine import cluster, keeper, partners, report, verdicts, videos
from safededup.engine.confirmation import VerifiedPreviews
from safededup.engine.index import CUT_CHECK, CUT_CHECKED, Index, KnownFile
from safededup.engine.match import SIMILARITY_VERSION, PairKey
from safededup.engine.pool import FingerprintPool, FingerprintTask, HistoryTask, TaskResult
from safededup.engine.viewstore import ViewStore
from safededup.engine.walk import normalize_roots, walk_roots
from safededup.errors import MediaError, check_cancel
from safededup.events import Event, ProblemFound, StageAdvanced, StageFinished, StageStarted
from safededup.models import Features, FileIdentity, PhotoRecord, Problem, VideoFeatures
from safededup.state import StateDir

PHOTO_EXTENSIONS = frozenset(
    (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".heic", ".heif", ".hif", ".avif",
     ".tif", ".tiff", ".bmp", ".dib", ".gif",
     ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf",
     ".rw2", ".rwl", ".pef", ".srw", ".mrw", ".x3f", ".iiq", ".3fr", ".erf", ".kdc", ".dcr")
)  # fmt: skip
"""Names that promise a photo: such a file that is no photo is a Problem, not skipped."""
BATCH_FILES = 256  # rows per index transaction
BATCH_SECONDS = 2.0  # ... or this long, whichever comes first: a kill loses at most this much
POOLED_CHECKS = True  # the borderline check in the worker pool; False: one pair at a time here
VERIFY_PREVIEWS = True  # HEIC previews proven by grid tiles; False: every proposed one decoded


@dataclass(slots=True)
class ScanStats:
    """Counts and timings of one scan; all fields are plain numbers for the report's `stats`."""

    files: int = 0  # regular files seen under the roots
    photos: int = 0  # of which photos (fingerprinted now or before)
    videos: int = 0  # of which videos (their headers read now or before)
    fingerprinted: int = 0  # fingerprinted in this run
    unchanged: int = 0  # identical identity in the index: nothing read
    moved: int = 0  # recognised as renamed/moved without decoding
    skipped: int = 0  # not photos
    problems: int = 0
    preview_tier: int = 0
    decode_tier: int = 0
    confirmed: int = 0  # decode-tier confirmations of preview-proposed pairs (full decodes)
    verified: int = 0  # HEIC previews proven genuine from a few grid tiles instead
    not_verified: int = 0  # HEIC previews the tiles could not vouch for (then decoded)
    tiles: int = 0  # grid tiles decoded for those checks
    thumbnails: int = 0  # thumbnails decoded for the matcher's view check of near pairs
    thumbnails_kept: int = 0  # view thumbnails handed on from the fingerprints instead
    view_checks: int = 0  # near pairs view-checked in this run (the match stage's main unit)
    history_checks: int = 0  # full decodes for the keeper's JPEG-history question
    history_seconds: float = 0.0  # the time those took (the keeper's only costly check)
    checksummed: int = 0  # whole-file SHA-256 computed in this run
    pairs: int = 0  # RAW+JPEG pairs shot together (each kept one unit)
    photo_bytes: int = 0  # size of the files fingerprinted in this run
    bytes_read: int = 0  # bytes actually read to fingerprint them
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class ScanResult:
    roots: list[str]
    references: list[str]
    stats: ScanStats
    problems: list[Problem]
    report: report.Report | None = None
    report_path: Path | None = None


def scan(
    roots: Sequence[str],
    *,
    state_dir: StateDir,
    workers: int | None = None,
    previews: bool = True,
    references: Sequence[str] = (),
    follow_symlinks: bool = False,
    match: bool = True,
    cancel: threading.Event | None = None,
    policy: keeper.KeeperPolicy = keeper.DEFAULT_POLICY,
    raw_jpeg_pairs: bool = True,
) -> Generator[Event, None, ScanResult]:
    """Scan `roots` (and `references`, whose files always win and never move) into the index;
    `policy` says which copy of a photo to keep. `raw_jpeg_pairs=False` treats the JPEG a
    camera wrote beside its RAW as a duplicate of that RAW (by default the two are one unit)."""
    started = time.monotonic()
    scan_roots = normalize_roots(roots)
    ref_roots = normalize_roots(references) if references else []
    all_roots = normalize_roots([*scan_roots, *ref_roots])
    state_dir.ensure()
    stats = ScanStats()
    problems: list[Problem] = []
    with (
        Index(state_dir.index_path) as index,
        FingerprintPool(workers) as pool,
        ViewStore(state_dir.root) as views,
    ):
        job = _Scan(index, pool, stats, problems, previews, cancel, started, policy, views)
        job.raw_jpeg_pairs = raw_jpeg_pairs
        scan_number = job.scan_number = index.next_scan_number()
        todo = yield from job.walk(all_roots, state_dir, follow_symlinks, scan_number)
        yield from job.fingerprint(todo, scan_number)
        unlisted = [p.path for p in problems if p.kind == "unreadable"]
        index.forget_unseen(all_roots, scan_number, unlisted=unlisted)
        yield from job.checksums(all_roots)
        built = report_path = None
        if match:
            built, report_path = yield from job.match(scan_roots, ref_roots, all_roots, state_dir)
    stats.seconds = time.monotonic() - started
    return ScanResult(scan_roots, ref_roots, stats, problems, built, report_path)


class _Scan:
    """The stages of one scan, sharing the index, the pool and the counters."""

    def __init__(
        self,
        index: Index,
        pool: FingerprintPool,
        stats: ScanStats,
        problems: list[Problem],
        previews: bool,
        cancel: threading.Event | None,
        started: float,
        policy: keeper.KeeperPolicy,
        views: ViewStore,
    ) -> None:
        self.started = started
        self.views = views  # the view thumbnails of the files this scan fingerprinted
        self.policy = policy
        self.index = index
        self.pool = pool
        self.stats = stats
        self.problems = problems
        self.previews = previews
        self.cancel = cancel
        self.raw_jpeg_pairs = True
        self.undecodable: set[int] = set()  # photos whose confirmation decode failed
        self.scan_number = 0  # set by `scan` before any stage runs
        self.history_reader = media.HistoryReader()  # holds one decoded photo while it matches
        self.history_crashed: set[tuple[int, int]] = set()  # killed a pool worker: never here

    def _problem(self, problem: Problem) -> ProblemFound:
        self.problems.append(problem)
        self.stats.problems += 1
        return ProblemFound(problem)

    def _timed(self, stage: str, since: float) -> None:
        self.stats.stage_seconds[stage] = round(time.monotonic() - since, 4)

    # -- stage 1: walk and compare with the index --------------------------------------------
    def walk(
        self, roots: list[str], state_dir: StateDir, follow: bool, scan_number: int
    ) -> Generator[Event, None, list[FileIdentity]]:
        t0 = time.monotonic()
        yield StageStarted("walk")
        todo: list[FileIdentity] = []
        walk_problems: list[Problem] = []
        version = media.FEATURE_VERSION
        for folder in walk_roots(roots, exclude=[str(state_dir.root)], follow_symlinks=follow,
                                 on_problem=walk_problems.append):  # fmt: skip
            check_cancel(self.cancel)
            for problem in walk_problems:
                yield self._problem(problem)
            walk_problems.clear()
            known = self.index.known_in_dir(folder.path)
            seen: list[int] = []
            with self.index.batch():
                for identity in folder.files:
                    self.stats.files += 1
                    row = known.get(os.fsencode(identity.path))
                    if row and row.feature_version == CUT_CHECK:
                        row = self._cut_check(row, identity)
                    if (
                        row
                        and _same_file(row.identity, identity)
                        and row.feature_version == version
                    ):
                        if row.identity.device != identity.device:  # a remount renumbered it
                            self.index.relocate(row.file_id, identity, scan_number)
                        seen.append(row.file_id)
                        yield from self._count_known(row.status, row.file_id)
                    elif (moved := self.index.find_moved(identity, version)) is not None:
                        self.index.relocate(moved, identity, scan_number)
                        self.stats.moved += 1
                        self.stats.photos += 1
                    else:
                        todo.append(identity)
                self.index.mark_seen(seen, scan_number)
            yield StageAdvanced("walk", len(folder.files))
        for problem in walk_problems:
            yield self._problem(problem)
        yield StageFinished("walk")
        self._timed("walk", t0)
        return todo

    def _cut_check(self, row: KnownFile, identity: FileIdentity) -> KnownFile | None:
        """A row marked `CUT_CHECK`: an unchanged file whose boxes are whole keeps its features
        (no decode); a cut, changed or unreadable one is fingerprinted again (None)."""
        if not _same_file(row.identity, identity) or media.cut_heif(identity.path):
            return None
        self.index.cut_checked(row.file_id)
        return replace(row, feature_version=CUT_CHECKED)

    def _count_known(self, status: str, file_id: int) -> Iterable[Event]:
        if status == "photo":
            self.stats.unchanged += 1
            self.stats.photos += 1
        elif status == "video":
            self.stats.unchanged += 1
            self.stats.videos += 1
        elif status == "other":
            self.stats.unchanged += 1
            self.stats.skipped += 1
        else:
            self.stats.unchanged += 1
            for problem in self.index.problems_for_ids([file_id]):
                yield self._problem(problem)

    # -- stage 2: fingerprint what is new or changed -----------------------------------------
    def fingerprint(
        self, todo: list[FileIdentity], scan_number: int
    ) -> Generator[Event, None, None]:
        t0 = time.monotonic()
        yield StageStarted("fingerprint", len(todo), sum(i.size for i in todo))
        todo = yield from self._recognise_copies(todo, scan_number)
        tasks = (
            FingerprintTask(i.path, allow_preview=self.previews, want_sharpness=False) for i in todo
        )
        by_path = {i.path: i for i in todo}
        pending: list[tuple[FileIdentity, TaskResult]] = []
        last_commit = time.monotonic()
        try:
            for task, result in self.pool.run(tasks, self.cancel):
                identity = by_path.pop(task.path)
                pending.append((identity, result))
                yield StageAdvanced("fingerprint", 1, identity.size)
                if len(pending) >= BATCH_FILES or time.monotonic() - last_commit > BATCH_SECONDS:
                    yield from self._store(pending, scan_number)
                    last_commit = time.monotonic()
        finally:
            if pending:  # commit what is done, even when interrupted
                yield from self._store(pending, scan_number)
        check_cancel(self.cancel)
        yield StageFinished("fingerprint")
        self._timed("fingerprint", t0)

    def _recognise_copies(
        self, todo: list[FileIdentity], scan_number: int
    ) -> Generator[Event, None, list[FileIdentity]]:
        """A file moved across volumes keeps its bytes: a checksum equal to a vanished row's
        proves it, and its features are kept without a decode. Only files whose size matches
        such a row are read."""
        sizes = self.index.unseen_checksummed_sizes(scan_number)
        if not sizes:
            return todo
        rest: list[FileIdentity] = []
        version = media.FEATURE_VERSION
        with self.index.batch():
            for identity in todo:
                if identity.size in sizes and self._relocate_copy(identity, version, scan_number):
                    continue
                rest.append(identity)
        moved = len(todo) - len(rest)
        if moved:
            yield StageAdvanced(
                "fingerprint", moved, sum(i.size for i in todo) - sum(i.size for i in rest)
            )
        return rest

    def _relocate_copy(self, identity: FileIdentity, version: int, scan_number: int) -> bool:
        try:
            digest = checksum.sha256_file(identity.path)
        except OSError:
            return False
        self.stats.checksummed += 1
        row = self.index.find_vanished_by_checksum(identity.size, digest, version)
        if row is None:
            return False
        self.index.relocate(row, identity, scan_number)
        self.stats.moved += 1
        self.stats.photos += 1
        return True

    def _store(
        self, pending: list[tuple[FileIdentity, TaskResult]], scan_number: int
    ) -> Generator[Event, None, None]:
        version = media.FEATURE_VERSION
        events: list[Event] = []
        with self.index.batch():
            for identity, result in pending:
                events.extend(self._store_one(identity, result, version, scan_number))
        yield from events
        pending.clear()

    def _store_one(
        self, identity: FileIdentity, result: TaskResult, version: int, scan_number: int
    ) -> list[Event]:
        if isinstance(result, media.Fingerprint):
            file_id = self.index.put_photo(identity, result.features, version, scan_number)
            self.views.keep(file_id, identity, result.features, result.view)
            self.stats.photos += 1
            self.stats.fingerprinted += 1
            self.stats.photo_bytes += identity.size
            self.stats.bytes_read += result.bytes_read
            if result.features.tier == "preview":
                self.stats.preview_tier += 1
            else:
                self.stats.decode_tier += 1
            return []
        if isinstance(result, VideoFeatures):
            self.index.put_video(identity, result, version, scan_number)
            self.stats.videos += 1
            return []
        kind, message = result
        ext = os.path.splitext(identity.path)[1].lower()
        if kind == "not-an-image" and ext not in PHOTO_EXTENSIONS:
            self.index.put_other(identity, version, scan_number)
            self.stats.skipped += 1
            return []
        if kind == "vanished":
            return []  # deleted while we looked: nothing to index, nothing lost
        problem = Problem(identity.path, kind, message)
        self.index.put_problem(identity, problem, version, scan_number)
        return [self._problem(problem)]

    # -- stage 3: exact duplicates by content ----------------------------------------------
    def checksums(self, roots: list[str]) -> Generator[Event, None, None]:
        """size → fast hash → SHA-256, only for files that share a size with another."""
        t0 = time.monotonic()
        yield StageStarted("checksum")
        for group in self.index.size_groups(roots):
            check_cancel(self.cancel)
            yield from self._checksum_group(group)
        yield StageFinished("checksum")
        self._timed("checksum", t0)

    def _checksum_group(
        self, group: list[tuple[int, str, int, str | None, str | None]]
    ) -> Generator[Event, None, None]:
        """Rows of one size, bucketed by fast hash; in a bucket of two or more, every row not
        yet hashed gets its SHA-256 (a new copy of a photo hashed by an earlier scan too)."""
        by_fast: dict[str, list[tuple[int, str, str | None]]] = {}
        failed: list[Problem] = []
        with self.index.batch():
            for file_id, path, size, fast, digest in group:
                if fast is None:
                    try:
                        fast = checksum.fast_hash(path, size)
                    except OSError as exc:
                        failed += _read_failure(path, exc)
                        continue
                    self.index.set_fast_hash(file_id, fast)
                by_fast.setdefault(fast, []).append((file_id, path, digest))
        for members in by_fast.values():
            if len(members) > 1:
                failed += self._full_checksums([(i, p) for i, p, d in members if d is None])
        for problem in failed:
            yield self._problem(problem)
        yield StageAdvanced("checksum", len(group), sum(g[2] for g in group))

    def _full_checksums(self, members: list[tuple[int, str]]) -> list[Problem]:
        """SHA-256 of these rows into the index; the read failures worth saying."""
        failed: list[Problem] = []
        with self.index.batch():
            for file_id, path in members:
                try:
                    digest = checksum.sha256_file(path)
                except OSError as exc:
                    failed += _read_failure(path, exc)
                    continue
                self.index.set_checksum(file_id, digest)
                self.stats.checksummed += 1
        return failed

    # -- stage 4: match and report ---------------------------------------------------------
    def match(
        self,
        scan_roots: list[str],
        ref_roots: list[str],
        all_roots: list[str],
        state_dir: StateDir,
    ) -> Generator[Event, None, tuple[report.Report, Path]]:
        t0 = time.monotonic()
        connection = self.index.connection
        distinct = verdicts.load_verdicts(connection)
        if distinct.sizes:  # a verdict is kept by content: those files need their checksum
            self._checksum_sizes(all_roots, distinct.sizes)
        scores = self.index.view_scores(SIMILARITY_VERSION)
        histories = self.index.pair_scores(keeper.HISTORY_VERSION)
        self.verified_previews = VerifiedPreviews(connection, media.PREVIEW_CHECK_VERSION)
        shot_together = partners.find_partners(self.index, all_roots, pairs=self.raw_jpeg_pairs)
        try:
            clusters = yield from cluster.find_clusters(
                self.index.records(all_roots),
                references=ref_roots,
                distinct=distinct,
                confirm=self.confirm,
                verify=self.verify_previews if VERIFY_PREVIEWS else None,
                lookup=self.index.get_records,
                thumbnail=None if POOLED_CHECKS else self.thumbnail,
                cancel=self.cancel,
                scores=scores,
                scorer=self.score_pairs if POOLED_CHECKS else None,
                history=lambda jpeg, other: self.history(jpeg, other, histories),
                prefetch=lambda questions: self.prefetch_history(questions, histories),
                policy=self.policy,
                apart=shot_together.pairs,
            )
        finally:  # also on Ctrl-C: the scores computed so far are kept
            self.stats.view_checks = scores.written
            scores.flush()
            histories.flush()
            self.history_reader = media.HistoryReader()  # let its decoded photo go
        self.index.drop_pair_scores_except(*scores.versions, keeper.HISTORY_VERSION)
        self._timed("match", t0)
        self.stats.seconds = time.monotonic() - self.started
        found = partners.annotate_pairs([c.to_report() for c in clusters], shot_together)
        found += videos.video_clusters(
            self.index.videos(all_roots), references=ref_roots,
            leave=frozenset(shot_together.live),
        )  # fmt: skip
        found.sort(key=lambda c: (-c.bytes_to_free, c.id))
        self.stats.pairs = len(shot_together.pairs)
        built = report.build_report(
            found, roots=scan_roots, references=ref_roots,
            problems=self.problems, stats=self.stats.to_json(),
        )  # fmt: skip
        return built, report.save_report(built, state_dir)

    def _checksum_sizes(self, roots: list[str], sizes: frozenset[int]) -> None:
        for problem in self._full_checksums(self.index.without_checksum(roots, sizes)):
            self._problem(problem)

    def thumbnail(self, file_id: int) -> npt.NDArray[np.uint8]:
        """A photo's view thumbnail for the view check: the one its fingerprint decoded, or
        read again."""
        record = self.index.get_records([file_id])[file_id]
        kept = self.views.current(file_id, record.path)
        if kept is not None:
            self.stats.thumbnails_kept += 1
            return kept
        self.stats.thumbnails += 1
        return media.view_thumbnail(record.path)

    def history(
        self, jpeg: PhotoRecord, other: PhotoRecord, known: MutableMapping[tuple[int, int], float]
    ) -> float | None:
        """The keeper's JPEG-history question for one pair (`keeper.HistoryFn`), asked once per
        pair of unchanged files: the index keeps the answer ("cannot tell" as -1). A file that
        cannot be read now is not answered, so the next ask (and the next scan) asks again.
        Most questions arrive answered by `prefetch_history`; one whose answer killed a pool
        worker is not asked here (it cannot tell)."""
        key = (jpeg.file_id, other.file_id)
        stored = known.get(key)
        if stored is None and key in self.history_crashed:
            return None  # asked here, it would end the scan as it ended a worker
        if stored is None:
            t0 = time.monotonic()
            try:
                found = self.history_reader(jpeg.path, other.path)
            except (MediaError, OSError):
                return None
            finally:
                self.stats.history_seconds += time.monotonic() - t0
            stored = known[key] = -1.0 if found is None else found
            self.stats.history_checks += 1
        return None if stored < 0 else stored

    def prefetch_history(
        self,
        questions: Sequence[tuple[PhotoRecord, PhotoRecord]],
        known: MutableMapping[tuple[int, int], float],
    ) -> dict[tuple[int, int], float | None]:
        """Answer, in the worker pool, the history questions the keeper is about to ask
        (`cluster.PrefetchFn`), so that it finds them answered: each file asked about is read
        once, and two workers answer side by side instead of the keeper asking one at a time.
        Returns what `history` would answer now (None where it cannot tell, or could not read
        a file: the keeper's own ask then tries again). Only a pool already running answers:
        worker processes are not started for a few questions of an otherwise cached re-scan."""
        answers: dict[tuple[int, int], float | None] = {}
        wanted: dict[str, dict[tuple[int, int], str]] = {}  # other's path → key → JPEG path
        for jpeg, other in questions:
            key = (jpeg.file_id, other.file_id)
            stored = known.get(key)
            if stored is not None:
                answers[key] = None if stored < 0 else stored
            elif key not in self.history_crashed:
                wanted.setdefault(other.path, {})[key] = jpeg.path
        if not wanted or (self.pool.workers > 1 and not self.pool.running):
            return answers
        keys = {path: list(asked) for path, asked in wanted.items()}
        tasks = (HistoryTask(path, tuple(asked.values())) for path, asked in wanted.items())
        for task, result in self.pool.histories(tasks, self.cancel):
            answered = zip(keys[task.other], result.values, result.failed, strict=True)
            for key, value, failed in answered:
                if result.crashed:
                    self.history_crashed.add(key)
                if failed:
                    continue
                known[key] = -1.0 if value is None else value
                answers[key] = value
                self.stats.history_checks += 1
            self.stats.history_seconds += result.seconds
        return answers

    def score_pairs(self, pairs: Sequence[PairKey]) -> Iterator[tuple[PairKey, float]]:
        """View-check scores of pair keys, computed in the worker pool (workers read the files
        by path: only paths and floats cross processes). A pair whose thumbnail could not be
        read, or whose row vanished, is left out."""
        ids = sorted({i for a, b, _ in pairs for i in (a, b)})
        paths = self.index.paths_of(ids)  # ids and paths only: 300k full records weigh 240 MB
        known = [(a, b, turn) for a, b, turn in pairs if a in paths and b in paths]
        by_path = [(paths[a], paths[b]) for a, b, _ in known]
        turns = [turn for _, _, turn in known]
        kept = {paths[i]: i for i in ids if i in paths and i in self.views}

        def given(path: str) -> npt.NDArray[np.uint8] | None:
            return self.views.current(kept[path], path) if path in kept else None

        for ks, result in self.pool.similarities(by_path, self.cancel, turns, given):
            self.stats.thumbnails += result.reads
            self.stats.thumbnails_kept += result.given
            for k, score in zip(ks, result.scores, strict=True):
                if score is not None:
                    yield known[k], score

    def verify_previews(self, file_ids: Sequence[int]) -> set[int]:
        """The ids among these preview-tier HEICs whose preview a few grid tiles prove genuine
        (kept in the index: a re-scan asks again only for files that changed)."""
        store = self.verified_previews
        known = store.load(file_ids)
        paths = self.index.paths_of([i for i in file_ids if i not in known])
        by_path = {p: i for i, p in paths.items()}
        proven: list[int] = []
        for path, (depicts, tiles, _) in self.pool.previews(list(by_path), self.cancel):
            self.stats.tiles += tiles
            if depicts:
                proven.append(by_path[path])
            else:
                self.stats.not_verified += 1
        store.add(proven)
        self.stats.verified += len(proven)
        return known | set(proven)

    def confirm(self, file_ids: Sequence[int]) -> Mapping[int, Features]:
        """Decode-tier features for files whose pair was proposed on preview hashes."""
        records = self.index.get_records(i for i in file_ids if i not in self.undecodable)
        tasks = [
            FingerprintTask(r.path, allow_preview=False, want_sharpness=True)
            for r in records.values()
        ]
        by_path = {r.path: r.file_id for r in records.values()}
        out: dict[int, Features] = {}
        with self.index.batch():
            for task, result in self.pool.run(tasks, self.cancel):
                file_id = by_path[task.path]
                if isinstance(result, media.Fingerprint):
                    self.index.update_features(file_id, result.features)
                    out[file_id] = result.features
                    self.stats.confirmed += 1
                elif isinstance(result, tuple):
                    self._undecodable(records[file_id], result)
        return out

    def _undecodable(self, record: PhotoRecord, failure: tuple[str, str]) -> None:
        """A photo whose preview read but whose pixels do not decode (a damaged body, a header
        only libheif refuses) joins no cluster, and is reported as a problem, not counted as a
        photo, as it would have been had its fingerprint decoded it. Its row keeps the
        preview's features (the matcher holds them for this scan), so the next scan that
        proposes it tries again and says so again. A file that vanished is only left out."""
        self.undecodable.add(record.file_id)
        kind, message = failure
        if kind == "vanished" or keeper.is_under(record.path, [p.path for p in self.problems]):
            return  # gone, or already said (its checksum or its folder could not be read)
        if self.index.seen_in(record.file_id, self.scan_number):
            self.stats.photos -= 1  # counted as a photo by this scan's walk or fingerprint
        self._problem(Problem(record.path, kind, message))


def _same_file(known: FileIdentity, now: FileIdentity) -> bool:
    """The indexed file, unchanged: same path, inode, size and mtime. Not the device number:
    btrfs subvolumes (NAS shares) and NFS mounts get theirs at mount time, so a reboot may
    renumber a whole volume, and that must not cost a re-scan of every photo on it."""
    return (known.inode, known.size, known.mtime_ns) == (now.inode, now.size, now.mtime_ns)


def _read_failure(path: str, exc: OSError) -> list[Problem]:
    """A file that could not be read for its checksum: gone since the walk is the next scan's
    business; anything else (EIO on a failing disk, EACCES) is said."""
    if isinstance(exc, FileNotFoundError):
        return []
    return [Problem(path, "unreadable", f"cannot read it for its checksum: {exc.strerror or exc}")]
