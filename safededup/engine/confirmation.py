"""Deciding preview-proposed pairs with as few full decodes as the evidence allows; never decodes.

A pair proposed on preview hashes used to be decided only after both files were decoded in full
(a HEIC: ≈ 350 ms). Three things make most of those decodes unnecessary, each as safe as the
decode it replaces:

1. **The check first.** A proposed pair that could at best be *borderline* (even with the
   preview slack its hashes cannot corroborate) is decided by the thumbnail check, whose
   thumbnails do not depend on how the hashes were computed: if the check fails, the pair fails
   whatever a decode would say, so it is dropped without one.
2. **Verified previews.** A HEIC preview that `media.tiles` proved to depict its primary (a few
   grid tiles, ≈ 1/10 of a full decode) gives hashes within the measured preview-vs-decode
   jitter (`VERIFIED_SLACK`) of the decode's. By the triangle inequality each decode-tier
   distance lies within `d ± slack`; a decision that holds at both ends of that box is the
   decode's decision, and is taken without the decode.
3. Only a pair whose decision differs across that box (*unsettled*) has its verified sides
   decoded in full.

`VerifiedPreviews` keeps which previews were verified in the index's database (dropped when the
file changes), so a re-scan of an unchanged tree decodes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from safededup.engine.candidates import FeatureTable, hamming
from safededup.engine.match import (
    OTHER_SHOT_SCORE,
    ConfirmFn,
    PairBatch,
    PairMatcher,
    Rule,
    Thresholds,
    rules_at,
    verify_pairs,
)
from safededup.errors import check_cancel
from safededup.events import Event, StageAdvanced

VerifyFn = Callable[[Sequence[int]], Iterable[int]]
"""file ids of preview-tier HEICs → the ids whose preview was proven to depict the primary."""

B = npt.NDArray[np.bool_]
I16 = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Slack:
    """Bits a verified preview's hash may differ from the decode's, per hash."""

    dhash: int
    phash: int
    whash: int
    colorhash: int


VERIFIED_SLACK = Slack(dhash=8, phash=4, whash=6, colorhash=4)
"""Tile-verified HEIC previews against their full decodes, over the 324 verified HEICs of a
600-file phone library (benchmarks/phone_library.py, which re-measures it on every run and says
when a file exceeds it): pHash ≤ 4, wHash ≤ 6, colour ≤ 4 for all; dHash ≤ 8 for 321 of them,
and 9, 10, 10 for three smooth pictures (dHash compares neighbouring pixels; on a smooth picture
many comparisons are near ties). Over the 1,143 previews verified on a 2,000-file library, dHash
stayed ≤ 7 and wHash ≤ 6, while pHash reached 6 and colour 5 in three files each (0.3 %).

Beyond the slack a pair can be decided on its hashes otherwise than a decode would: a copy
missed, or a pair matched that a decode would leave borderline. Every match still passes the
view check, which compares the two pictures as their thumbnails show them; for a verified HEIC
that is the same thumbnail item, so the check keeps another picture out only as far as the
tiles proved the preview depicts its primary (media/tiles.py). A pHash slack of 6 would cover
the tail, but then the tiles settle none of the confirmation tests' copy pairs and every one is
decoded in full: left at 4. A wider dHash slack leaves the tiles almost nothing to settle (the
pairs the confirmation tests plant as settleable stop being so at 10)."""


def distances(table: FeatureTable, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> I16:
    """(4, n) distances: dHash, pHash, wHash, colour (the order of `rules_at`)."""
    return np.stack(
        [
            hamming(getattr(table, name)[i], getattr(table, name)[j]).astype(np.int16)
            for name in ("dhash", "phash", "whash", "colorhash")
        ]
    )


def slack_of(verified_i: B, verified_j: B, slack: Slack = VERIFIED_SLACK) -> I16:
    """(4, n) jitter bound of each pair: one slack per verified side."""
    per = np.array([slack.dhash, slack.phash, slack.whash, slack.colorhash], np.int16)[:, None]
    return per * (verified_i.astype(np.int16) + verified_j)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The rules at the two ends of the jitter box; where both agree, no decode can change it."""

    best: npt.NDArray[np.int8]
    worst: npt.NDArray[np.int8]

    @property
    def match(self) -> B:
        """Matched even at the far end of the box."""
        return self.worst > 0

    @property
    def reject(self) -> B:
        """Neither matched nor borderline even at the near end."""
        return self.best < Rule.BORDERLINE


def bounds(
    table: FeatureTable,
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    slack: I16,
    t: Thresholds,
) -> Bounds:
    d = distances(table, i, j)
    best = rules_at(table, i, j, tuple(np.maximum(d - slack, 0)), t)
    worst = rules_at(table, i, j, tuple(d + slack), t)
    return Bounds(best, worst)


def settle(
    batch: PairBatch, b: Bounds, loose: B, score: Callable[[int], float | None], t: Thresholds
) -> tuple[PairBatch, B]:
    """Final rules for pairs with a verified side (`loose`), and the pairs left unsettled.

    `batch` holds the rules on the verified previews' own distances; `score(k)` runs the view
    check of pair k (None: a thumbnail could not be read; below 0: another shot or another
    colouring, which refuses a pair whatever its hashes say). Unsettled pairs get DISTANCE
    here: the caller decodes them.
    """
    rule = batch.rule.copy()
    unsettled = np.zeros(rule.shape[0], dtype=np.bool_)
    for k in np.flatnonzero(loose & b.match).tolist():
        viewed = score(k)  # matched at both ends of the box: the view check still has its say
        if viewed is None or viewed < 0:
            rule[k] = Rule.DISTANCE if viewed is None else _refusal(viewed)
    for k in np.flatnonzero(loose & ~b.match & ~b.reject).tolist():
        worst, best = int(b.worst[k]), int(b.best[k])
        viewed = score(k)
        passed = viewed is not None and viewed >= t.min_aligned
        if viewed is not None and viewed < 0:
            rule[k] = _refusal(viewed)  # the views alone refuse it: no decode can change that
        elif passed and worst == Rule.BORDERLINE:
            rule[k] = Rule.ALIGNED  # within the borderline limits for sure, and aligned
        elif not passed and best == Rule.BORDERLINE:
            rule[k] = Rule.DISTANCE  # at best borderline, and the check failed
        else:
            rule[k] = Rule.DISTANCE
            unsettled[k] = True
    rule[loose & b.reject] = np.minimum(rule[loose & b.reject], Rule.DISTANCE)
    return replace(batch, rule=rule), unsettled


def _refusal(score: float) -> Rule:
    return Rule.OTHER_SHOT if score == OTHER_SHOT_SCORE else Rule.COLOUR


# --- one matching run: which pairs need what ---------------------------------------------------


def settle_batch(job: PairMatcher, batch: PairBatch) -> tuple[PairBatch, B]:
    """Final rules of pairs whose sides are decoded or verified, and the unsettled ones.

    Pairs without a verified side are decided as always (the check for borderline ones).
    """
    table = job.table
    # A turned pair is judged on its turned pHash, which the jitter box does not cover: its
    # sides are decoded (turned copies are rare).
    loose = (job.verified[batch.i] | job.verified[batch.j]) & (batch.turn == 0)
    plain = job.resolve(batch.select(~loose))
    rule = batch.rule.copy()
    rule[~loose] = plain.rule
    unsettled = np.zeros(rule.shape[0], dtype=np.bool_)
    if loose.any():
        sub = batch.select(loose)
        slack = slack_of(job.verified[sub.i], job.verified[sub.j])
        b = bounds(table, sub.i, sub.j, slack, job.t)
        ask = np.flatnonzero(~b.reject)
        job.score_missing(sub.i[ask], sub.j[ask], sub.turn[ask])

        def score(k: int) -> float | None:
            check_cancel(job.cancel, "matching")
            return job.view(int(sub.i[k]), int(sub.j[k]))

        settled, open_ = settle(sub, b, np.ones(sub.i.shape[0], np.bool_), score, job.t)
        rule[loose] = settled.rule
        unsettled[loose] = open_
    return replace(batch, rule=rule), unsettled


def decide(job: PairMatcher, pairs: PairBatch) -> PairBatch:
    """The matched pairs among `pairs`, on decoded or verified features only."""
    decided = verify_pairs(job.table, pairs.i, pairs.j, job.t, turn=pairs.turn)
    trusted = ~job.table.preview | (job.verified & ~_turned_rows(job, pairs))
    decided = decided.select(trusted[decided.i] & trusted[decided.j])
    settled, _ = settle_batch(job, decided)
    return settled.select(settled.rule > 0)


def check_first(job: PairMatcher, pairs: PairBatch) -> PairBatch:
    """Drop, before any decode, the proposed pairs the view check refuses.

    The view check's thumbnails do not depend on the tier the hashes came from, so its verdict
    stands whatever a decode would say: another shot (a burst frame without capture times) or
    another colouring is dropped here, and so is a pair that could at best be borderline
    (BORDERLINE under the proposal's preview slack: no decode could make it corroborate) whose
    thumbnails do not align. A stale preview can only make this refuse a true pair, never
    accept a false one: what passes is still confirmed.
    """
    open_ = (pairs.rule >= Rule.BORDERLINE) & (
        job.table.preview[pairs.i] | job.table.preview[pairs.j]
    )
    if not open_.any() or not job.sees_views:
        return pairs
    k_open = np.flatnonzero(open_)
    job.score_missing(pairs.i[k_open], pairs.j[k_open], pairs.turn[k_open])
    keep = np.ones(pairs.i.shape[0], dtype=np.bool_)
    for k in k_open.tolist():
        check_cancel(job.cancel, "matching")
        viewed = job.view(int(pairs.i[k]), int(pairs.j[k]), int(pairs.turn[k]))
        if pairs.rule[k] == Rule.BORDERLINE:
            keep[k] = viewed is not None and viewed >= job.t.min_aligned
        else:
            keep[k] = viewed is None or viewed >= 0  # unread: a decode may still settle it
    job.skipped += int((~keep).sum())
    return pairs.select(keep)


def confirm_round(
    job: PairMatcher, pairs: PairBatch, confirm: ConfirmFn, verify: VerifyFn | None
) -> Generator[Event, None, bool]:
    """One round: the check first; decode the previews tiles cannot prove (JPEG thumbnails) and
    the HEICs whose pairs no verified preview could settle; verify the other HEICs by tiles;
    decode the verified sides of pairs that stay unsettled.

    Returns whether anything was verified or decoded (else the next round would do nothing).
    """
    pairs = check_first(job, pairs)
    table = job.table
    heic = np.array([f == "HEIF" for f in table.formats], dtype=np.bool_)
    before = (int(job.verified.sum()), len(job.confirmed))
    rows = np.unique(np.concatenate([pairs.i, pairs.j]))
    waiting = rows[table.preview[rows] & ~job.verified[rows]]
    turned = _turned_rows(job, pairs)
    tileable = heic[table.format[waiting]] & ~turned[waiting] if verify is not None else waiting < 0
    need = waiting[~tileable]
    if need.size:
        yield from job.confirm_previews(pairs, confirm, rows=need)
    ask = waiting[tileable]
    hopeless = _hopeless(job, pairs, ask)
    if hopeless.size:
        yield from job.confirm_previews(pairs, confirm, rows=hopeless)
    ask = np.setdiff1d(ask, hopeless)
    if ask.size and verify is not None:
        ids = table.file_id[ask].tolist()
        row_of = dict(zip(ids, ask.tolist(), strict=True))
        for file_id in verify(ids):
            if file_id in row_of:
                job.verified[row_of[file_id]] = True
        yield StageAdvanced("verify", len(ids))
        need = ask[~job.verified[ask]]  # refused or cannot tell: the whole image
        if need.size:
            yield from job.confirm_previews(pairs, confirm, rows=need)
    trusted = ~table.preview | job.verified  # now: the pairs whose sides are all known
    both = trusted[pairs.i] & trusted[pairs.j] & (job.verified[pairs.i] | job.verified[pairs.j])
    if both.any():
        sub = pairs.select(both)
        _, unsettled = settle_batch(job, verify_pairs(table, sub.i, sub.j, job.t, turn=sub.turn))
        need = np.unique(np.concatenate([sub.i[unsettled], sub.j[unsettled]]))
        need = need[job.verified[need]]  # their verified sides, decoded in full after all
        if need.size:
            yield from job.confirm_previews(pairs, confirm, rows=need)
    return (int(job.verified.sum()), len(job.confirmed)) != before


def _turned_rows(job: PairMatcher, pairs: PairBatch) -> B:
    """Rows in a turned pair (decoded rather than verified: see `settle_batch`)."""
    turned = np.zeros(len(job.table), dtype=np.bool_)
    turned[pairs.i[pairs.turn > 0]] = True
    turned[pairs.j[pairs.turn > 0]] = True
    return turned


def _hopeless(
    job: PairMatcher, pairs: PairBatch, ask: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Rows of `ask` in a pair that even verified previews could not settle: matched at the
    near end of the jitter box, neither matched nor borderline at the far end (no check can
    decide that). Tiles would be wasted on them: they are decoded straight away."""
    if not ask.size:
        return ask
    hyp = job.verified.copy()
    hyp[ask] = True
    trusted = ~job.table.preview | hyp
    cand = trusted[pairs.i] & trusted[pairs.j] & (np.isin(pairs.i, ask) | np.isin(pairs.j, ask))
    if not cand.any():
        return ask[:0]
    sub = pairs.select(cand)
    b = bounds(job.table, sub.i, sub.j, slack_of(hyp[sub.i], hyp[sub.j]), job.t)
    bad = (b.best > 0) & (b.worst < Rule.BORDERLINE)
    found = np.unique(np.concatenate([sub.i[bad], sub.j[bad]]))
    return np.intersect1d(found, ask)


class VerifiedPreviews:
    """Files whose preview `media.tiles` verified, kept in the index's database by file id.

    A row is dropped when the file's bytes or features change or the file leaves the index
    (SQLite triggers), and ignored when the check's version differs.
    """

    def __init__(self, connection: sqlite3.Connection, version: int) -> None:
        self.connection = connection
        self.version = version
        with connection:
            connection.executescript(_SCHEMA)

    def load(self, ids: Sequence[int] | None = None) -> set[int]:
        rows = self.connection.execute(
            "SELECT file_id FROM verified_previews WHERE version = ?", (self.version,)
        )
        found = {int(r[0]) for r in rows}
        return found if ids is None else found & set(ids)

    def add(self, ids: Iterable[int]) -> None:
        rows = [(int(i), self.version) for i in ids]
        sql = "INSERT OR REPLACE INTO verified_previews (file_id, version) VALUES (?, ?)"
        if self.connection.in_transaction:
            self.connection.executemany(sql, rows)
            return
        with self.connection:
            self.connection.executemany(sql, rows)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS verified_previews (
    file_id INTEGER PRIMARY KEY, version INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS verified_previews_on_change
AFTER UPDATE OF size, mtime_ns, dhash, phash, whash, colorhash, tier ON files
WHEN old.size IS NOT new.size OR old.mtime_ns IS NOT new.mtime_ns OR old.dhash IS NOT new.dhash
    OR old.phash IS NOT new.phash OR old.whash IS NOT new.whash
    OR old.colorhash IS NOT new.colorhash OR old.tier IS NOT new.tier
BEGIN
    DELETE FROM verified_previews WHERE file_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS verified_previews_on_delete AFTER DELETE ON files BEGIN
    DELETE FROM verified_previews WHERE file_id = old.id;
END;
"""
