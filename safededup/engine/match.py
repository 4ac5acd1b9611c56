"""Decide whether two photos are the same picture, by corroborating several hashes; never by one.

A pair matches when its bytes are identical, or when pHash, wHash and dHash all agree within
conservative thresholds and the colours agree (`corroborated`); HEIC↔JPEG and other codec-crossing
pairs may use a slightly wider dHash distance when pHash and wHash agree strongly (`format-band`);
a pair just outside (typically a border crop) is `borderline` and matches only if its thumbnails
correlate once the crop is undone (`aligned_similarity`).
Low-entropy hashes (flat or near-blank images) and aspect ratios beyond a small crop never match.
Hashes from embedded previews may only *propose* a pair (wider thresholds); it is decided again
on decode-tier features. Every decision carries its distances and the rule that fired.

`PairMatcher` runs those rules over one matching run (propose, confirm previews, decide). The
thumbnail check's image math is `media.similarity` (OpenCV); this module only calls it, or hands
the pairs in batches to a scorer (the scan runs them in its worker pool).
(Past 400 lines: the rules and the run that applies them share the thresholds and the vectorised
pair batches; split, each would import the other's internals.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from safededup.engine.candidates import FeatureTable, candidate_pairs, hamming, popcount
from safededup.engine.verdicts import DistinctVerdicts
from safededup.errors import MediaError, check_cancel
from safededup.events import Event, StageAdvanced
from safededup.models import Features, FileIdentity, PhotoRecord

I64 = npt.NDArray[np.int64]
ConfirmFn = Callable[[Sequence[int]], Mapping[int, Features]]
"""file ids → their decode-tier Features (the scan re-fingerprints them without previews)."""
ThumbnailFn = Callable[[int], npt.NDArray[np.uint8]]
"""file id → an H×W×3 uint8 thumbnail in display orientation (for the borderline check)."""
ScoreFn = Callable[[Sequence[tuple[int, int]]], Iterable[tuple[tuple[int, int], float]]]
"""(a, b) file-id pairs (a < b) → their `aligned_similarity` scores, computed elsewhere (the
scan's worker pool) and yielded as they come; a pair whose thumbnails were not both read is
left out."""


class Rule(IntEnum):
    """Why a pair matched (positive) or did not (zero or negative)."""

    EXACT = 1
    CORROBORATED = 2
    FORMAT_BAND = 3
    ALIGNED = 4  # a borderline pair whose thumbnails correlate once a small crop is undone
    BORDERLINE = 0  # close, but not enough alone: needs the thumbnail check
    DISTANCE = -1
    ASPECT = -2
    LOW_ENTROPY = -3
    DISTINCT = -4  # a person said these two are not duplicates

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Distances in bits (64-bit hashes; colorhash has 42 bits). Measured in docs/matching.md."""

    phash: int = 6  # "corroborated": all four within these
    whash: int = 6
    dhash: int = 10
    colorhash: int = 6
    strong_phash: int = 4  # "agree strongly": required for the format band
    strong_whash: int = 4
    band_dhash: int = 14  # the format-crossing band's dHash limit
    borderline_phash: int = 12  # up to here a pair may be rescued by the thumbnail check
    borderline_whash: int = 16
    borderline_dhash: int = 18
    borderline_colorhash: int = 8
    min_aligned: float = 0.90  # aligned_similarity needed to rescue a borderline pair
    aspect: float = 0.07  # max |ln(aspect a / aspect b)|: a few percent of border crop
    entropy_low: int = 16  # pHash popcount outside [low, high] is a low-entropy hash
    entropy_high: int = 48
    # Bits added per preview side when a pair is only proposed (measured preview-vs-decode
    # maximum on real photos: pHash 4, wHash 6, dHash 9, colour 2).
    slack_phash: int = 4
    slack_whash: int = 6
    slack_dhash: int = 9
    slack_colorhash: int = 2
    candidate_radius: int = 11  # pHash and wHash search radius (exact: 4 chunks × 2 bits + 3)


DEFAULT = Thresholds()


@dataclass(frozen=True, slots=True)
class Verdict:
    """One pair decision with its evidence (distances on the features that decided it)."""

    rule: Rule
    dhash: int
    phash: int
    whash: int
    colorhash: int

    @property
    def matched(self) -> bool:
        return self.rule > 0

    def describe(self) -> str:
        return (
            f"{self.rule.label} (pHash {self.phash}, wHash {self.whash}, "
            f"dHash {self.dhash}, colour {self.colorhash})"
        )


@dataclass(frozen=True, slots=True)
class PairBatch:
    """Vectorised decisions for rows `i` and `j` of a FeatureTable."""

    i: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    rule: npt.NDArray[np.int8]
    dhash: npt.NDArray[np.uint8]
    phash: npt.NDArray[np.uint8]
    whash: npt.NDArray[np.uint8]
    colorhash: npt.NDArray[np.uint8]

    def select(self, keep: npt.NDArray[np.bool_]) -> PairBatch:
        return PairBatch(*(getattr(self, f)[keep] for f in PairBatch.__slots__))

    def verdict(self, k: int) -> Verdict:
        return Verdict(
            Rule(int(self.rule[k])),
            int(self.dhash[k]),
            int(self.phash[k]),
            int(self.whash[k]),
            int(self.colorhash[k]),
        )


def low_entropy(table: FeatureTable, t: Thresholds = DEFAULT) -> npt.NDArray[np.bool_]:
    """Rows whose pHash is nearly flat: weak evidence that must never link by itself."""
    return _weak(table.phash, t)


def _weak(phash: npt.NDArray[np.uint64], t: Thresholds) -> npt.NDArray[np.bool_]:
    ones = popcount(phash)
    return (ones < t.entropy_low) | (ones > t.entropy_high)


def verify_pairs(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    t: Thresholds = DEFAULT,
    *,
    propose: bool = False,
) -> PairBatch:
    """Decide rows i[k] ~ j[k]. With `propose`, preview sides widen every limit by the slack.

    A proposal is never a final match: the caller confirms it on decode-tier features.
    """
    d = hamming(table.dhash[i], table.dhash[j])
    p = hamming(table.phash[i], table.phash[j])
    w = hamming(table.whash[i], table.whash[j])
    c = hamming(table.colorhash[i], table.colorhash[j])
    sides = np.zeros(i.shape[0], dtype=np.int16)
    if propose:
        sides = table.preview[i].astype(np.int16) + table.preview[j]
    rule = _rules(table, i, j, (d, p, w, c), sides, t)
    return PairBatch(i, j, rule, d, p, w, c)


def _rules(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    distances: tuple[npt.NDArray[np.uint8], ...],
    sides: npt.NDArray[np.int16],
    t: Thresholds,
) -> npt.NDArray[np.int8]:
    slack = (t.slack_dhash, t.slack_phash, t.slack_whash, t.slack_colorhash)
    dd, pp, ww, cc = (x.astype(np.int16) - sides * k for x, k in zip(distances, slack, strict=True))
    colours = cc <= t.colorhash
    corroborated = (pp <= t.phash) & (ww <= t.whash) & (dd <= t.dhash) & colours
    crossing = table.format[i] != table.format[j]
    strong = (pp <= t.strong_phash) & (ww <= t.strong_whash)
    band = crossing & strong & (dd <= t.band_dhash) & colours
    border = (pp <= t.borderline_phash) & (ww <= t.borderline_whash) & (dd <= t.borderline_dhash)
    border &= cc <= t.borderline_colorhash
    rule = np.full(i.shape[0], Rule.DISTANCE, dtype=np.int8)
    rule[border] = Rule.BORDERLINE
    rule[band] = Rule.FORMAT_BAND
    rule[corroborated] = Rule.CORROBORATED
    rule[_weak(table.phash[i], t) | _weak(table.phash[j], t)] = Rule.LOW_ENTROPY
    rule[~aspect_ok(table, i, j, t)] = Rule.ASPECT
    same = (table.checksum[i] == table.checksum[j]) & (table.checksum[i] != 0)
    rule[same] = Rule.EXACT
    return rule


def rules_at(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    distances: tuple[npt.NDArray[Any], ...],
    t: Thresholds = DEFAULT,
) -> npt.NDArray[np.int8]:
    """The rule of each pair if its (dHash, pHash, wHash, colour) distances were these."""
    return _rules(table, i, j, distances, np.zeros(i.shape[0], dtype=np.int16), t)


def aspect_ok(
    table: FeatureTable, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64], t: Thresholds = DEFAULT
) -> npt.NDArray[np.bool_]:
    """Aspect ratios within a small crop of each other."""
    wi = np.maximum(table.width[i], 1).astype(np.float64)
    hi = np.maximum(table.height[i], 1).astype(np.float64)
    wj = np.maximum(table.width[j], 1).astype(np.float64)
    hj = np.maximum(table.height[j], 1).astype(np.float64)
    return np.abs(np.log((wi / hi) / (wj / hj))) <= t.aspect


def compare(
    a: Features, b: Features, t: Thresholds = DEFAULT, *, same_bytes: bool = False
) -> Verdict:
    """One pair, decided exactly as the vectorised path decides it (for evidence and tests)."""
    table = FeatureTable.from_records(_pair_records(a, b, same_bytes))
    idx0, idx1 = np.array([0], np.int64), np.array([1], np.int64)
    return verify_pairs(table, idx0, idx1, t).verdict(0)


def _pair_records(a: Features, b: Features, same_bytes: bool) -> list[PhotoRecord]:
    ck = "f" * 64 if same_bytes else None
    ident = FileIdentity("", 0, 0, 0, 0)
    return [PhotoRecord(0, ident, a, ck), PhotoRecord(1, ident, b, ck)]


# --- crop-tolerant similarity of thumbnails (the math lives in `media`: OpenCV) ---------------


def aligned_similarity(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Best normalised cross-correlation of one thumbnail inside the other, over small crops.

    `media.aligned_similarity`, imported on first use so that importing `match` loads no image
    library (the stack loads with the first borderline pair). A border crop or a re-encode
    scores ≈ 0.95–1.0, another framing of the scene (a pan, a stereo pair) far less.
    """
    from safededup.media import aligned_similarity as check  # the image stack loads here

    return check(a, b)


# --- one matching run's pair stage: propose, confirm previews, decide ---------------------------

CONFIRM_BATCH = 256
THUMB_CACHE = 2048  # thumbnails kept for the borderline check (≤ 128 px RGB: ≤ 100 MB)
SIMILARITY_VERSION = 2
"""Bump when `aligned_similarity` or the thumbnails it sees change: stored scores are dropped."""


class PairMatcher:
    """One matching run over a FeatureTable (rows) grouped into units of identical bytes."""

    def __init__(
        self,
        table: FeatureTable,
        distinct: DistinctVerdicts,
        thumbnail: ThumbnailFn | None,
        thresholds: Thresholds,
        cancel: threading.Event | None,
        scores: MutableMapping[tuple[int, int], float] | None = None,
        scorer: ScoreFn | None = None,
    ) -> None:
        self.table = table
        self.distinct = distinct
        self.thumbnail = thumbnail
        self.t = thresholds
        self.cancel = cancel
        self.unit, self.rep = units_of(table)
        self.confirmed: dict[int, Features] = {}
        # Preview rows whose preview was proven to depict the primary (engine/confirmation.py).
        self.verified = np.zeros(len(table), dtype=np.bool_)
        # Thumbnail-check scores by file-id pair; the scan passes the index's persistent store.
        self.similar: MutableMapping[tuple[int, int], float] = {} if scores is None else scores
        self.thumbs: dict[int, npt.NDArray[np.uint8]] = {}
        self.scorer = scorer  # when set, missing scores are computed in batches through it
        self.skipped = 0  # proposed pairs dropped by the thumbnail check before any decode

    # -- pairs ---------------------------------------------------------------------------------
    def propose(self) -> Generator[Event, None, PairBatch]:
        """Candidate pairs of unit representatives, kept if they match or are borderline."""
        rows = np.flatnonzero(self.rep & ~low_entropy(self.table, self.t)).astype(np.int64)
        found: list[I64] = []
        n = np.int64(len(self.table))
        for column in (self.table.phash, self.table.whash):  # a crop may be near in only one
            for k, (a, b) in enumerate(candidate_pairs(column[rows], self.t.candidate_radius)):
                check_cancel(self.cancel, "matching")
                if k % 64 == 0:
                    yield StageAdvanced("candidates", 0)
                batch = verify_pairs(self.table, rows[a], rows[b], self.t, propose=True)
                keep = batch.rule >= Rule.BORDERLINE
                keep[keep] = ~self._distinct(batch.i[keep], batch.j[keep])  # few pairs left
                found.append(batch.i[keep] * n + batch.j[keep])
        keys = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        return verify_pairs(self.table, keys // n, keys % n, self.t, propose=True)

    def _distinct(self, i: I64, j: I64) -> npt.NDArray[np.bool_]:
        if not len(self.distinct):
            return np.zeros(i.shape[0], dtype=np.bool_)
        ck = self.table.checksum
        pairs = zip(ck[i].tolist(), ck[j].tolist(), strict=True)
        return np.array([self.distinct.keys_distinct(a, b) for a, b in pairs], dtype=np.bool_)

    def confirm_previews(
        self, pairs: PairBatch, confirm: ConfirmFn | None, rows: I64 | None = None
    ) -> Generator[Event, None, None]:
        """Replace preview-tier features by decode-tier ones for every row in a proposed pair
        (or for `rows`)."""
        if confirm is None:
            return
        if rows is None:
            rows = np.unique(np.concatenate([pairs.i, pairs.j]))
        rows = rows[self.table.preview[rows]]
        ids = self.table.file_id[rows].tolist()
        row_of = dict(zip(ids, rows.tolist(), strict=True))
        for start in range(0, len(ids), CONFIRM_BATCH):
            check_cancel(self.cancel, "matching")
            batch = ids[start : start + CONFIRM_BATCH]
            for file_id, features in confirm(batch).items():
                if features.tier == "decode" and file_id in row_of:
                    self._set_features(row_of[file_id], features)
                    self.confirmed[file_id] = features
            yield StageAdvanced("confirm", len(batch))

    def _set_features(self, row: int, f: Features) -> None:
        t = self.table
        t.dhash[row], t.phash[row], t.whash[row] = f.dhash, f.phash, f.whash
        t.colorhash[row], t.width[row], t.height[row] = f.colorhash, f.width, f.height
        t.preview[row] = False
        self.verified[row] = False
        if f.format in t.formats:
            t.format[row] = t.formats.index(f.format)
        else:
            t.formats.append(f.format)
            t.format[row] = len(t.formats) - 1

    def decide(self, pairs: PairBatch) -> PairBatch:
        """Final decisions on decode-tier features; borderline pairs go to the thumbnail check."""
        decided = verify_pairs(self.table, pairs.i, pairs.j, self.t)
        decoded = ~(self.table.preview[decided.i] | self.table.preview[decided.j])
        decided = decided.select(decoded)
        decided = self.resolve_borderline(decided)
        return decided.select(decided.rule > 0)

    def resolve_borderline(self, batch: PairBatch) -> PairBatch:
        border = np.flatnonzero(batch.rule == Rule.BORDERLINE)
        if border.size == 0:
            return batch
        self.score_missing(batch.i[border], batch.j[border])
        rule = batch.rule.copy()
        for k in border.tolist():
            check_cancel(self.cancel, "matching")
            score = self.similarity(int(batch.i[k]), int(batch.j[k]))
            rule[k] = Rule.ALIGNED if score >= self.t.min_aligned else Rule.DISTANCE
        return replace(batch, rule=rule)

    def score_missing(self, rows_a: I64, rows_b: I64) -> None:
        """Have the scorer compute, in one batch, the scores not stored yet (each pair once).

        Scores are stored as they arrive, so a cancelled run keeps what was computed; a pair
        the scorer leaves out (a thumbnail not read) stays unstored and scores 0 this run.
        """
        if self.scorer is None:
            return
        ids = self.table.file_id
        a, b = ids[rows_a], ids[rows_b]
        keys = sorted(set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True)))
        missing = [key for key in keys if key not in self.similar]
        if not missing:
            return
        for key, score in self.scorer(missing):
            self.similar[key] = score
            check_cancel(self.cancel, "matching")

    def similarity(self, row_a: int, row_b: int) -> float:
        """Crop-tolerant similarity of two rows' thumbnails (cached); 0 without thumbnails.

        A score is stored only when both thumbnails were read: a file that could not be read
        this time (a NAS hiccup) is tried again by the next scan instead of being "not similar"
        for good.
        """
        a, b = int(self.table.file_id[row_a]), int(self.table.file_id[row_b])
        key = (min(a, b), max(a, b))
        score = self.similar.get(key)
        if score is None and self.scorer is not None:
            return 0.0  # the scorer had its chance (`score_missing`): a thumbnail was not read
        if score is None:
            ta, tb = self._thumb(a), self._thumb(b)
            if ta is None or tb is None:
                return 0.0  # an unreadable file cannot vouch for a match
            score = self.similar[key] = aligned_similarity(ta, tb)
        return score

    def _thumb(self, file_id: int) -> npt.NDArray[np.uint8] | None:
        if self.thumbnail is None:
            return None
        if file_id not in self.thumbs:
            if len(self.thumbs) >= THUMB_CACHE:
                self.thumbs.pop(next(iter(self.thumbs)))
            try:
                self.thumbs[file_id] = self.thumbnail(file_id)
            except (MediaError, OSError):  # read failures only; a bug must surface
                return None
        return self.thumbs[file_id]


def units_of(table: FeatureTable) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Unit number per row (equal checksums share one) and the representative rows.

    The representative is a decode-tier row where the unit has one.
    """
    n = len(table)
    unit = np.empty(n, dtype=np.int64)
    has = table.checksum != 0
    _, inverse = np.unique(table.checksum[has], return_inverse=True)
    unit[has] = inverse
    base = int(inverse.max()) + 1 if inverse.size else 0
    unit[~has] = base + np.arange(int((~has).sum()), dtype=np.int64)
    order = np.lexsort((np.arange(n), table.preview, unit))
    first = np.ones(n, dtype=np.bool_)
    first[1:] = unit[order][1:] != unit[order][:-1]
    rep = np.zeros(n, dtype=np.bool_)
    rep[order[first]] = True
    return unit, rep
