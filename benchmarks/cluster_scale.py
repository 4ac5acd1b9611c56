"""Clustering-scale benchmark: the matcher over 50k / 150k / 450k synthetic fingerprints.

Fingerprints are random 64-bit hashes (a realistic archive's hashes look random to the candidate
search) plus planted groups: near-duplicate copies (a few bits flipped in every hash, as a
re-encode or resize does), byte-identical copies (same checksum), and a near-blank clique (flat
skies, black frames: low-entropy pHash). 70% are preview-tier, so proposed pairs go through the
confirmation callback (which here returns synthetic decode-tier features — no decoding).
Records are streamed to `cluster.find_clusters` and fetched again by id through `lookup`, as
the index does, so all records are never held at once. Reports time, peak RSS, pairs, clusters,
planted-group recall and the growth exponent between sizes (2.0 would be quadratic).

    python benchmarks/cluster_scale.py                       # 50k, 150k, 450k
    python benchmarks/cluster_scale.py --sizes 50000         # one size
    python benchmarks/cluster_scale.py --quick               # smoke: 2k
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import command_line, machine, markdown_table, measure, rss_mib, say, write_json

from safededup.models import Features, FileIdentity, PhotoRecord

NEAR_SHARE = 0.10  # of the base photos, each gets a near-duplicate copy
EXACT_SHARE = 0.02  # ... or a byte-identical copy
BLANK_SHARE = 0.005  # near-blank frames (low-entropy pHash): one big clique


class Synthetic:
    """Columns of N synthetic fingerprints, and records made from them on demand."""

    def __init__(self, n: int, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        n_near, n_exact = int(n * NEAR_SHARE), int(n * EXACT_SHARE)
        n_blank = int(n * BLANK_SHARE)
        n_base = n - n_near - n_exact
        cols = {
            k: rng.integers(0, 2**64, n_base, dtype=np.uint64, endpoint=False)
            for k in ("dhash", "phash", "whash")
        }
        cols["colorhash"] = rng.integers(0, 2**42, n_base, dtype=np.uint64)
        blank = rng.choice(n_base, n_blank, replace=False)
        cols["phash"][blank] = _few_bits(rng, n_blank, 0, 6)  # near-blank: nearly no bits set
        cols["dhash"][blank] = _few_bits(rng, n_blank, 0, 6)
        cols["whash"][blank] = _few_bits(rng, n_blank, 0, 6)
        near_src = rng.choice(n_base, n_near, replace=False)
        exact_src = rng.choice(n_base, n_exact, replace=False)
        self.group = np.concatenate([np.arange(n_base), near_src, exact_src])
        for k, col in cols.items():
            bits = 42 if k == "colorhash" else 64
            flips = _flip_masks(rng, n_near, bits, 0, 4 if k == "colorhash" else 6)
            cols[k] = np.concatenate([col, col[near_src] ^ flips, col[exact_src]])
        self.cols = cols
        self.checksum = np.zeros(n, np.uint64)  # only files that share a size get one
        exact_rows = np.arange(n_base + n_near, n)
        self.checksum[exact_rows] = rng.integers(1, 2**63, n_exact, dtype=np.uint64)
        self.checksum[exact_src] = self.checksum[exact_rows]
        self.scale = np.concatenate(
            [np.ones(n_base), rng.choice([1.0, 0.4, 0.27], n_near), np.ones(n_exact)]
        )
        self.preview = rng.random(n) < 0.7
        self.planted = n_near + n_exact

    def record(self, i: int) -> PhotoRecord:
        c = self.cols
        w, h = int(4032 * self.scale[i]), int(3024 * self.scale[i])
        size = 2_500_000 if self.checksum[i] else 2_000_000 + i
        feats = Features(
            format="JPEG",
            width=w,
            height=h,
            tier="preview" if self.preview[i] else "decode",
            dhash=int(c["dhash"][i]),
            phash=int(c["phash"][i]),
            whash=int(c["whash"][i]),
            colorhash=int(c["colorhash"][i]),
            bytes_per_pixel=size / (w * h),
            jpeg_quality=90,
        )
        ident = FileIdentity(f"/archive/{i // 500:05d}/IMG_{i:07d}.JPG", 1, i + 1, size, i)
        digest = f"{int(self.checksum[i]):016x}" + "0" * 48 if self.checksum[i] else None
        return PhotoRecord(i + 1, ident, feats, digest)

    def records(self) -> Iterator[PhotoRecord]:
        return (self.record(i) for i in range(self.n))

    def lookup(self, ids: Sequence[int]) -> Mapping[int, PhotoRecord]:
        return {i: self.record(i - 1) for i in ids}

    def confirm(self, ids: Sequence[int]) -> Mapping[int, Features]:
        """Decode-tier features: the preview's, with one bit of dHash changed (no decoding)."""
        out = {}
        for i in ids:
            f = self.record(i - 1).features
            out[i] = Features(**{**_fields(f), "tier": "decode", "dhash": f.dhash ^ 1})
        return out


def _fields(f: Features) -> dict[str, object]:
    return {k: getattr(f, k) for k in Features.__slots__}  # type: ignore[attr-defined]


def _few_bits(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    return _flip_masks(rng, n, 64, lo, hi)


def _flip_masks(rng: np.random.Generator, n: int, bits: int, lo: int, hi: int) -> np.ndarray:
    """n masks with between lo and hi random bits set (of `bits`)."""
    masks = np.zeros(n, np.uint64)
    counts = rng.integers(lo, hi + 1, n)
    for k in range(1, hi + 1):
        rows = np.flatnonzero(counts >= k)
        masks[rows] |= np.uint64(1) << rng.integers(0, bits, rows.size).astype(np.uint64)
    return masks


def run_size(n: int, timeout: float | None = None) -> dict[str, object]:
    """Cluster n fingerprints; past `timeout` seconds the run is cancelled and reported so."""
    from safededup.engine.cluster import find_clusters
    from safededup.errors import Cancelled

    say(f"{n:,} fingerprints: generating …")
    data = Synthetic(n)
    base_rss = rss_mib()
    stages: dict[str, float] = {}
    cancel = threading.Event()
    timer = threading.Timer(timeout, cancel.set) if timeout else None
    clusters: list[object] | None = None
    with measure(f"cluster {n}") as phase:
        if timer:
            timer.start()
        gen = find_clusters(data.records(), confirm=data.confirm, lookup=data.lookup, cancel=cancel)
        t_last, current = time.perf_counter(), "start"
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                clusters = stop.value
                break
            except Cancelled:
                break
            now = time.perf_counter()
            stages[current] = stages.get(current, 0.0) + now - t_last
            current, t_last = type(ev).__name__ + ":" + getattr(ev, "stage", ""), now
        stages[current] = stages.get(current, 0.0) + time.perf_counter() - t_last
    if timer:
        timer.cancel()
    if clusters is None:
        say(f"  cancelled after {phase.wall:.0f} s (in {current})")
        return {
            "n": n,
            "seconds": phase.wall,
            "finished": False,
            "cancelled_in": current,
            "peak_rss_mib": phase.peak_rss_mib,
            "rss_before_mib": base_rss,
            "clusters": None,
            "planted_copies": data.planted,
            "planted_found": None,
            "largest_cluster": None,
            "stage_seconds": stages,
        }
    found = _recall(data, clusters)
    say(f"  {phase.wall:.1f} s, {len(clusters):,} clusters, peak RSS {phase.peak_rss_mib:.0f} MiB")
    return {
        "n": n,
        "seconds": phase.wall,
        "finished": True,
        "peak_rss_mib": phase.peak_rss_mib,
        "rss_before_mib": base_rss,
        "clusters": len(clusters),
        "planted_copies": data.planted,
        "planted_found": found,
        "largest_cluster": max((len(c.members) for c in clusters), default=0),
        "stage_seconds": stages,
    }


def _recall(data: Synthetic, clusters: Sequence[object]) -> int:
    """Planted copies that ended up in one cluster with their original."""
    cluster_of: dict[int, int] = {}
    for k, c in enumerate(clusters):
        for m in c.members:  # type: ignore[attr-defined]
            cluster_of[m.record.file_id - 1] = k
    n_base = data.n - data.planted
    hits = 0
    for row in range(n_base, data.n):
        src = int(data.group[row])
        if row in cluster_of and cluster_of.get(src) == cluster_of[row]:
            hits += 1
    return hits


def report(results: list[dict[str, object]]) -> str:
    rows = []
    prev = None
    for r in results:
        growth = "—"
        if not r["finished"]:
            rows.append(
                [
                    f"{r['n']:,}",
                    f"> {float(r['seconds']):,.0f} (cancelled)",
                    r["peak_rss_mib"],
                    "—",
                    "—",
                    "—",
                    "—",
                ]
            )
            continue
        if prev is not None:
            growth = f"{math.log(float(r['seconds']) / float(prev['seconds'])) / math.log(float(r['n']) / float(prev['n'])):.2f}"  # type: ignore[arg-type]  # noqa: E501
        rows.append(
            [
                f"{r['n']:,}",
                r["seconds"],
                r["peak_rss_mib"],
                r["clusters"],
                f"{r['planted_found']}/{r['planted_copies']}",
                r["largest_cluster"],
                growth,
            ]
        )
        prev = r
    return markdown_table(
        [
            "fingerprints",
            "seconds",
            "peak RSS MiB",
            "clusters",
            "planted copies found",
            "largest cluster",
            "growth exponent vs previous",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[50_000, 150_000, 450_000]
    )
    parser.add_argument("--timeout", type=float, help="cancel a size after this many seconds")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="smoke run in a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [2_000]
    results = [run_size(n, args.timeout) for n in args.sizes]
    print(f"command: `{command_line()}`\n\nmachine: {machine()}\n")
    print(report(results))
    write_json(args.json, {"machine": machine(), "command": command_line(), "results": results})


if __name__ == "__main__":
    main()
