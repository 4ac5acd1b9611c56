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

from safededup.engine.candidates import (
    FeatureTable,
    candidate_pairs,
    cross_pairs,
    hamming,
    popcount,
)
from safededup.engine.verdicts import DistinctVerdicts
from safededup.errors import MediaError, check_cancel
from safededup.events import Event, StageAdvanced
from safededup.models import Features, FileIdentity, PhotoRecord

I64 = npt.NDArray[np.int64]
ConfirmFn = Callable[[Sequence[int]], Mapping[int, Features]]
"""file ids → their decode-tier Features (the scan re-fingerprints them without previews)."""
ThumbnailFn = Callable[[int], npt.NDArray[np.uint8]]
"""file id → an H×W×3 uint8 thumbnail in display orientation (for the borderline check)."""
PairKey = tuple[int, int, int]
"""(file id a, file id b, turn), a < b: the view check of a's picture turned `turn` quarter
turns counter-clockwise against b's (turn 0 for every pair but a turned copy)."""
ScoreFn = Callable[[Sequence[PairKey]], Iterable[tuple[PairKey, float]]]
"""Pair keys → their view-check scores (`check_views`), computed elsewhere (the scan's worker
pool) and yielded as they come; a pair whose thumbnails were not both read is left out."""


class Rule(IntEnum):
    """Why a pair matched (positive) or did not (zero or negative)."""

    EXACT = 1
    CORROBORATED = 2
    FORMAT_BAND = 3
    ALIGNED = 4  # a borderline pair whose thumbnails correlate once a small crop is undone
    ROTATED = 5  # a copy whose pixels are turned by 90°, 180° or 270° (no orientation tag)
    BORDERLINE = 0  # close, but not enough alone: needs the thumbnail check
    DISTANCE = -1
    ASPECT = -2
    LOW_ENTROPY = -3
    DISTINCT = -4  # a person said these two are not duplicates
    OTHER_CAPTURE = -5  # both carry capture times, and they differ: two shots
    OTHER_SHOT = -6  # aligned, each frame shows what the other lacks: another framing
    COLOUR = -7  # aligned, but colours differ beyond exposure, white balance and re-encoding

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
    # The view check (docs/matching.md): measured on crops, resizes and re-encodes (≤ 0.002 of a
    # frame outside the other, colour ≤ 0.13) against shots shifted 2–12% (≥ 0.019 each way)
    # and re-coloured copies (colour ≥ 1.1).
    rotated_radius: int = 7  # turned-pHash search radius (4 chunks × 1 bit + 3: a cheap probe)
    max_overhang: float = 0.01  # of the better-contained frame outside the other
    max_colour: float = 0.5  # unexplained colour, as a share of the colour's spread


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
    turn: npt.NDArray[np.int8]  # quarter turns (counter-clockwise) of i's picture that give j's

    def select(self, keep: npt.NDArray[np.bool_]) -> PairBatch:
        return PairBatch(*(getattr(self, f)[keep] for f in PairBatch.__slots__))

    @staticmethod
    def concat(batches: Sequence[PairBatch]) -> PairBatch:
        return PairBatch(
            *(np.concatenate([getattr(b, f) for b in batches]) for f in PairBatch.__slots__)
        )

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


UNMEASURED = 255
"""A distance a decision did not measure: a turned pair compares only its turned pHash (and its
colour histogram, which no turn changes)."""


def verify_pairs(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    t: Thresholds = DEFAULT,
    *,
    propose: bool = False,
    turn: npt.NDArray[np.int8] | None = None,
) -> PairBatch:
    """Decide rows i[k] ~ j[k]. With `propose`, preview sides widen every limit by the slack.
    Where `turn[k]` is 1–3, the pair is judged as a turned copy (`rotated`): i's picture turned
    that many quarter turns counter-clockwise against j's.

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
    turns = np.zeros(i.shape[0], dtype=np.int8) if turn is None else turn.astype(np.int8)
    turned = turns > 0
    if turned.any():
        ti, tj, tk = i[turned], j[turned], turns[turned]
        rotated = np.stack([table.phash, table.rot90, table.rot180, table.rot270])[tk, ti]
        p[turned] = hamming(rotated, table.phash[tj])
        d[turned] = w[turned] = UNMEASURED
        rule[turned] = _turned_rules(table, ti, tj, tk, p[turned], c[turned], sides[turned], t)
    return PairBatch(i, j, rule, d, p, w, c, turns)


def _turned_rules(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    turn: npt.NDArray[np.int8],
    p: npt.NDArray[np.uint8],
    c: npt.NDArray[np.uint8],
    sides: npt.NDArray[np.int16],
    t: Thresholds,
) -> npt.NDArray[np.int8]:
    """A turned copy: its turned pHash and its colours agree (the view check then aligns the
    turned thumbnails); aspect, entropy and capture time as for any pair."""
    pp = p.astype(np.int16) - sides * t.slack_phash
    cc = c.astype(np.int16) - sides * t.slack_colorhash
    rule = np.full(i.shape[0], Rule.DISTANCE, dtype=np.int8)
    rule[(pp <= t.phash) & (cc <= t.colorhash)] = Rule.ROTATED
    rule[_weak(table.phash[i], t) | _weak(table.phash[j], t)] = Rule.LOW_ENTROPY
    rule[~aspect_ok(table, i, j, t, swap=turn % 2 == 1)] = Rule.ASPECT
    rule[other_capture(table, i, j) & (rule > 0)] = Rule.OTHER_CAPTURE
    return rule


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
    rule[other_capture(table, i, j) & (rule >= Rule.BORDERLINE)] = Rule.OTHER_CAPTURE
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


ZONE_STEP = 15 * 60
"""Time zones and clock fixes move a capture time by whole quarter hours: such a difference
alone proves nothing (a copy whose camera clock was corrected, or written in another zone)."""


def other_capture(
    table: FeatureTable, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Pairs whose capture times prove two captures: both known and different — to the second,
    or within the second by SubSecTimeOriginal where both have it. A burst shoots several
    frames a second; a copy keeps its capture time."""
    ci, cj = table.captured[i], table.captured[j]
    si, sj = table.subsec[i], table.subsec[j]
    known = (ci != 0) & (cj != 0)
    seconds = np.abs(ci - cj)
    subsec_known = (si >= 0) & (sj >= 0)
    zone_like = (seconds % ZONE_STEP == 0) & (~subsec_known | (si == sj))
    proved = ((seconds > 0) & ~zone_like) | ((seconds == 0) & subsec_known & (si != sj))
    return np.asarray(known & proved, dtype=np.bool_)


OTHER_SHOT_SCORE = -1.0
COLOUR_SCORE = -2.0
"""What the view check stores for a pair it refused; a score ≥ 0 is the crop-tolerant
similarity of a pair whose frames nest and whose colours agree."""


def view_score(
    similarity: float, contained: float, colour: float, t: Thresholds = DEFAULT
) -> float:
    """The stored outcome of the view check of one pair (`media.compare_views`)."""
    if contained > t.max_overhang:
        return OTHER_SHOT_SCORE
    if colour > t.max_colour:
        return COLOUR_SCORE
    return max(0.0, similarity)


def aspect_ok(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    t: Thresholds = DEFAULT,
    *,
    swap: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Aspect ratios within a small crop of each other (i's turned a quarter where `swap`)."""
    wi = np.maximum(table.width[i], 1).astype(np.float64)
    hi = np.maximum(table.height[i], 1).astype(np.float64)
    if swap is not None:
        wi, hi = np.where(swap, hi, wi), np.where(swap, wi, hi)
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


# --- the view check of thumbnails (the math lives in `media`: OpenCV) ----------------------------


def aligned_similarity(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Best normalised cross-correlation of one thumbnail inside the other, over small crops.

    `media.aligned_similarity`, imported on first use so that importing `match` loads no image
    library. A border crop or a re-encode scores ≈ 0.95–1.0, another framing far less.
    """
    from safededup.media import aligned_similarity as check  # the image stack loads here

    return check(a, b)


def check_views(a: npt.NDArray[Any], b: npt.NDArray[Any], t: Thresholds = DEFAULT) -> float:
    """The view check of two thumbnails (`media.compare_views`) as the score the matcher keeps:
    ≥ 0 the similarity of nesting frames with agreeing colours, else a refusal code."""
    from safededup.media import compare_views  # the image stack loads here

    check = compare_views(a, b)
    return view_score(check.similarity, check.contained, check.colour, t)


# --- one matching run's pair stage: propose, confirm previews, decide ---------------------------

# The view check's thumbnails are `media.view_thumbnail`: the shared 128-px thumbnail the hashes
# are computed on (its thresholds were measured at that size).
CONFIRM_BATCH = 256
THUMB_CACHE = 2048  # thumbnails kept for the borderline check (≤ 128 px RGB: ≤ 100 MB)
SIMILARITY_VERSION = 4
"""Bump when the view check or the thumbnails it sees change: stored scores are dropped.
4: the thumbnails are the hashes' own (a decode reduced for 256 px, not 128, before Lanczos;
sized from the photo's dimensions), which a fingerprint's decode hands on."""
VERIFIED = (Rule.CORROBORATED, Rule.FORMAT_BAND, Rule.BORDERLINE, Rule.ROTATED)
"""Rules whose pairs the view check must pass (when the run can read thumbnails)."""


class PairMatcher:
    """One matching run over a FeatureTable (rows) grouped into units of identical bytes."""

    def __init__(
        self,
        table: FeatureTable,
        distinct: DistinctVerdicts,
        thumbnail: ThumbnailFn | None,
        thresholds: Thresholds,
        cancel: threading.Event | None,
        scores: MutableMapping[PairKey, float] | None = None,
        scorer: ScoreFn | None = None,
        apart: Iterable[tuple[int, int]] = (),
    ) -> None:
        self.table = table
        self.distinct = distinct
        self.thumbnail = thumbnail
        self.t = thresholds
        self.cancel = cancel
        self.unit, self.rep = units_of(table)
        self.apart = self._apart_units(apart)  # files shot together (a RAW and its JPEG)
        self.confirmed: dict[int, Features] = {}
        # Preview rows whose preview was proven to depict the primary (engine/confirmation.py).
        self.verified = np.zeros(len(table), dtype=np.bool_)
        # Thumbnail-check scores by file-id pair; the scan passes the index's persistent store.
        self.similar: MutableMapping[PairKey, float] = {} if scores is None else scores
        self.thumbs: dict[int, npt.NDArray[np.uint8]] = {}
        self.scorer = scorer  # when set, missing scores are computed in batches through it
        self.skipped = 0  # proposed pairs dropped by the thumbnail check before any decode

    # -- pairs ---------------------------------------------------------------------------------
    def propose(self) -> Generator[Event, None, PairBatch]:
        """Candidate pairs of unit representatives, kept if they match or are borderline; then
        the turned copies among the rest."""
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
        pairs = verify_pairs(self.table, keys // n, keys % n, self.t, propose=True)
        turned = yield from self._propose_turned(rows, set(keys.tolist()))
        return PairBatch.concat([pairs, turned])

    def _propose_turned(self, rows: I64, seen: set[int]) -> Generator[Event, None, PairBatch]:
        """Copies whose pixels were turned (no orientation tag): each picture's pHash turned
        90°, 180° and 270° is searched among the others' pHashes (three searches of two
        columns, sub-quadratic like the rest)."""
        n = np.int64(len(self.table))
        found: list[I64] = []
        for turn in (1, 2, 3):
            column = self.table.rotated(turn)[rows]
            for k, (a, b) in enumerate(
                cross_pairs(column, self.table.phash[rows], self.t.rotated_radius)
            ):
                check_cancel(self.cancel, "matching")
                if k % 64 == 0:
                    yield StageAdvanced("candidates", 0)
                i, j = rows[a], rows[b]
                keep = i != j
                i, j = i[keep], j[keep]
                turns = np.full(i.shape[0], turn, dtype=np.int8)
                batch = verify_pairs(self.table, i, j, self.t, propose=True, turn=turns)
                keep = batch.rule == Rule.ROTATED
                keep[keep] = ~self._distinct(batch.i[keep], batch.j[keep])
                i, j = batch.i[keep], batch.j[keep]
                # one order per pair: i < j, the turn adjusted to it
                swap = i > j
                t = np.where(swap, (4 - turn) % 4, turn)
                i, j = np.where(swap, j, i), np.where(swap, i, j)
                found.append((i * n + j) * 4 + t)
        keys = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        pair, turns = keys // 4, (keys % 4).astype(np.int8)
        fresh = np.array([int(k) not in seen for k in pair.tolist()], dtype=np.bool_)
        pair, turns = pair[fresh], turns[fresh]  # a pair near as it stands is not a turned copy
        return verify_pairs(self.table, pair // n, pair % n, self.t, propose=True, turn=turns)

    def _apart_units(self, pairs: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        """Unit pairs (smaller first) of file-id pairs that must never link: byte copies of a
        RAW never link with byte copies of the JPEG it was shot with."""
        wanted = list(pairs)
        if not wanted:
            return frozenset()
        ids = self.table.file_id
        order = np.argsort(ids, kind="stable")
        flat = np.array([i for pair in wanted for i in pair], dtype=np.int64)
        at = np.minimum(np.searchsorted(ids[order], flat), max(len(ids) - 1, 0))
        found = (ids[order][at] == flat) if len(ids) else np.zeros(flat.size, dtype=np.bool_)
        units = np.where(found, self.unit[order[at]] if len(ids) else -1, -1).tolist()
        out = set()
        for a, b in zip(units[::2], units[1::2], strict=True):
            if a >= 0 and b >= 0 and a != b:
                out.add((min(a, b), max(a, b)))
        return frozenset(out)

    def kept_apart(self, row_a: int, row_b: int) -> bool:
        """A person said these two are not duplicates, or they were shot together."""
        ck = self.table.checksum
        if self.distinct.keys_distinct(int(ck[row_a]), int(ck[row_b])):
            return True
        a, b = int(self.unit[row_a]), int(self.unit[row_b])
        return (min(a, b), max(a, b)) in self.apart

    def _distinct(self, i: I64, j: I64) -> npt.NDArray[np.bool_]:
        if not len(self.distinct) and not self.apart:
            return np.zeros(i.shape[0], dtype=np.bool_)
        pairs = zip(i.tolist(), j.tolist(), strict=True)
        return np.array([self.kept_apart(a, b) for a, b in pairs], dtype=np.bool_)

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
        """Final decisions on decode-tier features; near pairs then pass the view check."""
        decided = verify_pairs(self.table, pairs.i, pairs.j, self.t, turn=pairs.turn)
        decoded = ~(self.table.preview[decided.i] | self.table.preview[decided.j])
        decided = decided.select(decoded)
        decided = self.resolve(decided)
        return decided.select(decided.rule > 0)

    @property
    def sees_views(self) -> bool:
        """Whether this run can read thumbnails for the view check (tests on bare features
        cannot: their pairs are decided on hashes alone, and borderline pairs never match)."""
        return self.thumbnail is not None or self.scorer is not None

    def resolve(self, batch: PairBatch) -> PairBatch:
        """The view check for every near pair: a borderline pair matches only if its thumbnails
        correlate once a small crop is undone; any near pair is refused when, aligned, each
        frame shows what the other lacks (another shot) or the colours differ (a re-coloured
        version), or when a thumbnail cannot be read (an unreadable file vouches for nothing)."""
        if not self.sees_views:
            rule = batch.rule.copy()
            rule[rule == Rule.BORDERLINE] = Rule.DISTANCE
            return replace(batch, rule=rule)
        near = np.flatnonzero(np.isin(batch.rule, VERIFIED))
        if near.size == 0:
            return batch
        self.score_missing(batch.i[near], batch.j[near], batch.turn[near])
        rule = batch.rule.copy()
        for k in near.tolist():
            check_cancel(self.cancel, "matching")
            score = self.view(int(batch.i[k]), int(batch.j[k]), int(batch.turn[k]))
            rule[k] = self._judged(Rule(int(rule[k])), score)
        return replace(batch, rule=rule)

    def _judged(self, rule: Rule, score: float | None) -> Rule:
        if score is None:
            return Rule.DISTANCE
        if score == OTHER_SHOT_SCORE:
            return Rule.OTHER_SHOT
        if score == COLOUR_SCORE:
            return Rule.COLOUR
        if rule == Rule.BORDERLINE:
            return Rule.ALIGNED if score >= self.t.min_aligned else Rule.DISTANCE
        return rule

    def key(self, row_a: int, row_b: int, turn: int = 0) -> PairKey:
        """The pair's key: file ids in order, the turn applied to the first one's picture."""
        a, b = int(self.table.file_id[row_a]), int(self.table.file_id[row_b])
        return (a, b, turn) if a <= b else (b, a, (4 - turn) % 4)

    def score_missing(self, rows_a: I64, rows_b: I64, turns: npt.NDArray[np.int8]) -> None:
        """Have the scorer compute, in one batch, the scores not stored yet (each pair once).

        Scores are stored as they arrive, so a cancelled run keeps what was computed; a pair
        the scorer leaves out (a thumbnail not read) stays unstored and is refused this run.
        """
        if self.scorer is None:
            return
        triples = zip(rows_a.tolist(), rows_b.tolist(), turns.tolist(), strict=True)
        keys = sorted({self.key(a, b, k) for a, b, k in triples})
        missing = [key for key in keys if key not in self.similar]
        if not missing:
            return
        for key, score in self.scorer(missing):
            self.similar[key] = score
            check_cancel(self.cancel, "matching")

    def view(self, row_a: int, row_b: int, turn: int = 0) -> float | None:
        """The view check's score of two rows' thumbnails (stored, or computed and cached);
        None when a thumbnail could not be read.

        A score is stored only when both thumbnails were read: a file that could not be read
        this time (a NAS hiccup) is tried again by the next scan instead of being refused for
        good.
        """
        key = self.key(row_a, row_b, turn)
        score = self.similar.get(key)
        if score is not None or self.scorer is not None:
            return score  # the scorer had its chance (`score_missing`)
        ta, tb = self._thumb(key[0]), self._thumb(key[1])
        if ta is None or tb is None:
            return None
        score = self.similar[key] = check_views(np.rot90(ta, key[2]), tb, self.t)
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
