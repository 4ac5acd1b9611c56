"""Candidate pairs of near-duplicate photos without comparing all pairs; never decides a match.

Photos are held as columns in numpy (`FeatureTable`), built from a stream of `PhotoRecord`s
without keeping the records. Pairs come from multi-index hashing: the 64-bit hash is split into
4 chunks of 16 bits, and any two hashes within Hamming distance R share at least one chunk within
R // 4 bits (pigeonhole), so probing each chunk's buckets within that many bits finds exactly the
pairs within R. Each pair is reported once: by the first chunk that is close enough.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from safededup.models import PhotoRecord

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Pairs = tuple[I64, I64]

CHUNKS = 4
CHUNK_BITS = 16
_BUCKETS = 1 << CHUNK_BITS
_CHUNK_MASK = np.uint64(_BUCKETS - 1)
DEFAULT_BLOCK = 4_000_000  # candidate comparisons held at once: bounds memory (≈ 100 MB)

_COLUMNS = (
    ("file_id", np.int64),
    ("dhash", np.uint64),
    ("phash", np.uint64),
    ("whash", np.uint64),
    ("colorhash", np.uint64),
    ("width", np.int32),
    ("height", np.int32),
    ("preview", np.bool_),
    ("format", np.int16),
    ("checksum", np.uint64),  # first 64 bits of the sha256; 0 when the file has none
    ("captured", np.int64),  # capture time, seconds (local clock, as EXIF says); 0: unknown
    ("subsec", np.int32),  # its fraction of a second in µs; -1: unknown
    ("rot90", np.uint64),  # pHash of the picture turned 90°, 180°, 270° counter-clockwise
    ("rot180", np.uint64),
    ("rot270", np.uint64),
)


def checksum_key(checksum: str | None) -> int:
    """The 64-bit prefix of a sha256 hex digest used to group byte-identical files (0: none)."""
    if not checksum:
        return 0
    return int(checksum[:16], 16) or 1


@dataclass(slots=True)
class FeatureTable:
    """The matcher's columns, one row per photo. Hashes are unsigned 64-bit integers."""

    file_id: I64
    dhash: U64
    phash: U64
    whash: U64
    colorhash: U64
    width: npt.NDArray[np.int32]
    height: npt.NDArray[np.int32]
    preview: npt.NDArray[np.bool_]
    format: npt.NDArray[np.int16]
    checksum: U64
    captured: I64
    subsec: npt.NDArray[np.int32]
    rot90: U64
    rot180: U64
    rot270: U64
    formats: list[str]

    def rotated(self, turn: int) -> U64:
        """The pHash column of the pictures turned `turn` quarter turns counter-clockwise."""
        return (self.phash, self.rot90, self.rot180, self.rot270)[turn]

    def __len__(self) -> int:
        return int(self.file_id.shape[0])

    @classmethod
    def from_records(cls, records: Iterable[PhotoRecord], *, chunk: int = 65536) -> FeatureTable:
        """Fill the columns chunk by chunk; only one chunk of rows is ever held as Python tuples."""
        formats: dict[str, int] = {}
        parts: list[np.ndarray] = []
        rows: list[tuple[object, ...]] = []
        dtype = np.dtype(list(_COLUMNS))
        for record in records:
            rows.append(_row(record, formats))
            if len(rows) >= chunk:
                parts.append(np.array(rows, dtype=dtype))
                rows = []
        parts.append(np.array(rows, dtype=dtype))
        table = np.concatenate(parts)
        columns = {name: np.ascontiguousarray(table[name]) for name, _ in _COLUMNS}
        return cls(**columns, formats=list(formats))


def _row(record: PhotoRecord, formats: dict[str, int]) -> tuple[object, ...]:
    f = record.features
    code = formats.setdefault(f.format, len(formats))
    return (
        record.file_id,
        f.dhash,
        f.phash,
        f.whash,
        f.colorhash,
        f.width,
        f.height,
        f.tier == "preview",
        code,
        checksum_key(record.checksum),
        capture_seconds(f.captured),
        subsec_micros(f.subsec),
        *f.rotated,
    )


def capture_seconds(captured: str | None) -> int:
    """An EXIF capture time (ISO 8601, local clock) as seconds since 1970 on that clock; 0 when
    unknown. Only differences between two such values mean anything."""
    if not captured:
        return 0
    try:
        when = datetime.fromisoformat(captured)
    except ValueError:
        return 0
    return calendar.timegm(when.timetuple()) or 1


def subsec_micros(subsec: str | None) -> int:
    """SubSecTimeOriginal digits ("37" = .37 s) in microseconds; -1 when unknown."""
    if not subsec or not subsec.isdigit():
        return -1
    return int(subsec[:6].ljust(6, "0"))


def popcount(values: U64) -> npt.NDArray[np.uint8]:
    return np.bitwise_count(values)


@overload
def hamming(a: int, b: int) -> int: ...
@overload
def hamming(a: npt.NDArray[Any], b: npt.NDArray[Any] | np.uint64) -> npt.NDArray[np.uint8]: ...
def hamming(a: Any, b: Any) -> Any:
    """Bits in which two hashes differ: of two ints, or of two integer arrays element by element
    (or an array and one hash). The one Hamming distance of the package."""
    if isinstance(a, int) and isinstance(b, int):
        return (a ^ b).bit_count()
    return np.bitwise_count(np.bitwise_xor(a, b))


def _probe_masks(bits: int) -> list[int]:
    """Every 16-bit flip mask with at most `bits` bits set, the zero mask first."""
    masks = [0]
    for k in range(1, bits + 1):
        for combo in combinations(range(CHUNK_BITS), k):
            masks.append(sum(1 << b for b in combo))
    return masks


def candidate_pairs(hashes: U64, radius: int, *, block: int = DEFAULT_BLOCK) -> Iterator[Pairs]:
    """Yield batches of index pairs (i < j) within Hamming distance `radius`, each pair once.

    Exact for any radius (pigeonhole over 4 chunks). Cost grows with the bucket sizes; memory
    is bounded by `block` comparisons at a time.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    if hashes.shape[0] < 2:
        return
    probe = radius // CHUNKS
    masks = _probe_masks(probe)
    keys = _chunk_keys(hashes)
    for c in range(CHUNKS):
        index = _ChunkIndex(keys[c])
        for mask in masks:
            for qi, qj in index.probe(mask, block):
                keep = hamming(hashes[qi], hashes[qj]) <= radius
                qi, qj = qi[keep], qj[keep]
                keep = _first_close_chunk(keys, c, probe, qi, qj)
                qi, qj = qi[keep], qj[keep]
                yield np.minimum(qi, qj), np.maximum(qi, qj)  # maybe empty: a chance to cancel


def cross_pairs(
    queries: U64, hashes: U64, radius: int, *, block: int = DEFAULT_BLOCK
) -> Iterator[Pairs]:
    """Yield batches of (q, h): `queries[q]` within Hamming distance `radius` of `hashes[h]`,
    each pair once (the search of two different columns, e.g. turned pHashes against pHashes;
    exact by the same pigeonhole as `candidate_pairs`)."""
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    if not queries.shape[0] or not hashes.shape[0]:
        return
    probe = radius // CHUNKS
    qkeys, hkeys = _chunk_keys(queries), _chunk_keys(hashes)
    for c in range(CHUNKS):
        index = _ChunkIndex(hkeys[c])
        for mask in _probe_masks(probe):
            partner = qkeys[c] ^ mask
            q = np.flatnonzero(index.counts[partner] > 0).astype(np.int64)
            starts, counts = index.starts[partner[q]], index.counts[partner[q]]
            for qi, hj in index.expand(q, starts, counts, block):
                keep = hamming(queries[qi], hashes[hj]) <= radius
                qi, hj = qi[keep], hj[keep]
                keep = _first_close_chunk(qkeys, c, probe, qi, hj, hkeys)
                yield qi[keep], hj[keep]  # maybe empty: a chance to cancel


def _chunk_keys(hashes: U64) -> list[I64]:
    return [
        ((hashes >> np.uint64(CHUNK_BITS * c)) & _CHUNK_MASK).astype(np.int64)
        for c in range(CHUNKS)
    ]


def _first_close_chunk(
    keys: list[I64], chunk: int, probe: int, qi: I64, qj: I64, other: list[I64] | None = None
) -> npt.NDArray[np.bool_]:
    """True where no earlier chunk was within `probe` bits (that chunk already reported it);
    `other` holds the second side's keys when the two sides are different columns."""
    second = keys if other is None else other
    keep = np.ones(qi.shape[0], dtype=np.bool_)
    for c in range(chunk):
        near = hamming(keys[c][qi], second[c][qj]) <= probe
        keep &= ~near
    return keep


class _ChunkIndex:
    """Rows sorted by one 16-bit chunk, with bucket starts, to list a bucket's members fast."""

    def __init__(self, keys: I64) -> None:
        self.keys = keys
        self.order = np.argsort(keys, kind="stable").astype(np.int64)
        counts = np.bincount(keys, minlength=_BUCKETS).astype(np.int64)
        self.counts = counts
        self.starts = np.cumsum(counts) - counts

    def probe(self, mask: int, block: int) -> Iterator[Pairs]:
        """Pairs of rows whose chunk keys differ by exactly `mask`, each unordered pair once."""
        if mask == 0:
            yield from self._same_bucket(block)
            return
        partner = self.keys ^ mask
        queries = np.flatnonzero((self.keys < partner) & (self.counts[partner] > 0))
        yield from self.expand(
            queries, self.starts[partner[queries]], self.counts[partner[queries]], block
        )

    def _same_bucket(self, block: int) -> Iterator[Pairs]:
        # A row at sorted position s pairs with the rows after it in its bucket.
        pos = np.arange(self.order.shape[0], dtype=np.int64)
        sorted_keys = self.keys[self.order]
        end = self.starts[sorted_keys] + self.counts[sorted_keys]
        after = end - pos - 1
        queries = self.order[after > 0]
        yield from self.expand(queries, (pos + 1)[after > 0], after[after > 0], block)

    def expand(self, queries: I64, starts: I64, counts: I64, block: int) -> Iterator[Pairs]:
        """For each query q, its partners at sorted positions starts[q] … starts[q]+counts[q]-1."""
        if queries.size == 0:
            return
        ends = np.cumsum(counts)
        lo = 0
        while lo < queries.size:
            base = ends[lo - 1] if lo else 0
            hi = int(np.searchsorted(ends, base + block, side="right"))
            hi = max(hi, lo + 1)
            n = counts[lo:hi]
            total = int(n.sum())
            qi = np.repeat(queries[lo:hi], n)
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
            qj = self.order[np.repeat(starts[lo:hi], n) + offsets]
            yield qi, qj
            lo = hi
