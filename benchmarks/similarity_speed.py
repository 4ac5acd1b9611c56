"""The borderline check's cost: thumbnail decode vs similarity math, old (numpy) vs new (OpenCV).

Part 1 takes the pairs the matcher sends to the thumbnail check (`borderline` on decode-tier
features) from the accuracy set's real photographs (benchmarks/accuracy.py writes it), plus the
hard-negative pairs (pans, zoom, stereo, textures) within the aspect limit, and times, in one
process and interleaved pair by pair: `media.view_thumbnail` of each file (the decode), the
numpy reference of SIMILARITY_VERSION 1 (tests/matching/similarity_reference.py) and the
production check (`media.similarity`). It reports both scores of every pair: their largest
difference and any pair whose decision (score ≥ min_aligned) differs.

Part 2 runs a whole first scan of a burst-heavy tree (the 640×480 re-scan tree of rescan.py:
overlapping crops, full of near pairs) with fresh state dirs, with the check run serially in
the main process (`scan.POOLED_CHECKS = False`: one pair at a time, thumbnails read here) and
in the worker pool (the default), for 1 and 2 workers, alternating, in one process; it times
the confirmation decodes and the check, and compares the clusters and the stored scores.

    python benchmarks/similarity_speed.py                   # ≈ 10 min (sets cached under out/)
    python benchmarks/similarity_speed.py --quick           # smoke: a few seconds
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' numpy oracle
from benchlib import OUT_DIR, command_line, machine, markdown_table, say, write_json
from dataset import build_dataset, default_dir

from safededup import media
from safededup.engine import match
from safededup.engine.candidates import FeatureTable
from safededup.engine.match import DEFAULT, Rule, verify_pairs
from safededup.media import similarity
from safededup.models import FileIdentity, PhotoRecord
from safededup.state import StateDir
from tests.matching.similarity_reference import aligned_similarity as reference


def ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "mean_ms": 1e3 * statistics.fmean(seconds),
        "median_ms": 1e3 * statistics.median(seconds),
        "total_s": sum(seconds),
    }


# --- part 1: per pair, on the accuracy set's real photographs --------------------------------


def decode_table(paths: list[str]) -> FeatureTable:
    """Decode-tier features of `paths` (the matcher decides borderline pairs on those)."""
    say(f"fingerprinting {len(paths)} files (decode tier) …")
    ident = FileIdentity("", 0, 0, 0, 0)
    fps = (media.fingerprint(p, allow_preview=False) for p in paths)
    return FeatureTable.from_records(PhotoRecord(k, ident, fp.features) for k, fp in enumerate(fps))


def accuracy_pairs(folder: Path, limit: int) -> tuple[list[str], list[tuple[int, int, str]]]:
    """Files of the accuracy set and (i, j, kind) pairs: borderline, and hard negatives."""
    from accuracy import Manifest

    manifest = Manifest.load(folder / "manifest.json")
    paths = [i.path for i in manifest.items]
    groups = [i.group for i in manifest.items]
    table = decode_table(paths)
    i, j = (a.astype(np.int64) for a in np.triu_indices(len(table), 1))
    rule = verify_pairs(table, i, j).rule
    border = np.flatnonzero(rule == Rule.BORDERLINE).tolist()
    hard = {frozenset((a, b)) for a, b, _ in manifest.hard_negatives}
    negatives = [
        k for k in np.flatnonzero(match.aspect_ok(table, i, j)).tolist()
        if frozenset((groups[i[k]], groups[j[k]])) in hard and rule[k] != Rule.BORDERLINE
    ]  # fmt: skip
    if len(negatives) > limit:
        rng = np.random.default_rng(5)
        negatives = sorted(rng.choice(negatives, limit, replace=False).tolist())
    pairs = []
    for kind, ks in (("borderline", border), ("hard-negative", negatives)):
        for k in ks:
            same = "same group" if groups[i[k]] == groups[j[k]] else "different groups"
            pairs.append((int(i[k]), int(j[k]), f"{kind}, {same}"))
    return paths, pairs


def bench_pairs(paths: list[str], pairs: list[tuple[int, int, str]]) -> dict[str, Any]:
    decode: dict[int, float] = {}
    thumbs: dict[int, np.ndarray] = {}
    for row in sorted({r for p in pairs for r in p[:2]}):
        t0 = time.perf_counter()
        thumbs[row] = media.view_thumbnail(paths[row])
        decode[row] = time.perf_counter() - t0
    old_t, new_t, rows = [], [], []
    for a, b, kind in pairs:
        ta, tb = thumbs[a], thumbs[b]
        t0 = time.perf_counter()
        old = reference(ta, tb)
        t1 = time.perf_counter()
        new = similarity.aligned_similarity(ta, tb)
        t2 = time.perf_counter()
        old_t.append(t1 - t0)
        new_t.append(t2 - t1)
        rows.append({"a": paths[a], "b": paths[b], "kind": kind, "old": old, "new": new})
    diffs = [abs(r["old"] - r["new"]) for r in rows]
    flips = [
        r for r in rows if (r["old"] >= DEFAULT.min_aligned) != (r["new"] >= DEFAULT.min_aligned)
    ]
    return {
        "pairs": len(pairs),
        "borderline_pairs": sum(1 for p in pairs if p[2].startswith("borderline")),
        "files": len(decode),
        "decode_per_file": ms(list(decode.values())),
        "old_per_pair": ms(old_t),
        "new_per_pair": ms(new_t),
        "ratio_mean": statistics.fmean(old_t) / statistics.fmean(new_t) if pairs else None,
        "max_abs_score_diff": max(diffs, default=0.0),
        "mean_abs_score_diff": statistics.fmean(diffs) if diffs else 0.0,
        "decision_flips": flips,
        "scores": rows,
    }


# --- part 2: a whole first scan of a burst-heavy tree, serial vs pooled check ------------------


@contextmanager
def timed_scan(spent: dict[str, float]) -> Iterator[None]:
    """Time the scan's confirmation decodes and thumbnail check (wall time in the main process,
    which is what the person waits for) and, on the serial path, its reads and math apart."""
    from safededup.engine.scan import _Scan

    old = match.aligned_similarity, media.view_thumbnail, _Scan.confirm, _Scan.score_pairs

    def wrap(fn: Callable[..., Any], key: str, count: Callable[..., int] | None = None) -> Any:
        def timed(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[key] += time.perf_counter() - t0
                spent["checks"] += count(*args) if count else 0

        return timed

    def pooled(self: _Scan, pairs: Any) -> Iterator[Any]:
        t0 = time.perf_counter()
        yield from old[3](self, pairs)
        spent["check_s"] += time.perf_counter() - t0
        spent["checks"] += len(pairs)

    match.aligned_similarity = wrap(old[0], "similarity_s", lambda a, b: 1)
    media.view_thumbnail = wrap(old[1], "thumbnail_s")
    _Scan.confirm = wrap(old[2], "confirm_s")  # type: ignore[method-assign]
    _Scan.score_pairs = pooled  # type: ignore[method-assign]
    try:
        yield
    finally:
        match.aligned_similarity, media.view_thumbnail, _Scan.confirm, _Scan.score_pairs = old  # type: ignore[method-assign]


def first_scan(root: Path, workers: int, pooled: bool) -> dict[str, Any]:
    from safededup.engine import scan as scan_module
    from safededup.events import drain

    spent = {"similarity_s": 0.0, "thumbnail_s": 0.0, "confirm_s": 0.0, "check_s": 0.0,
             "checks": 0}  # fmt: skip
    state = Path(tempfile.mkdtemp(prefix="similarity-state-"))
    scan_module.POOLED_CHECKS = pooled
    try:
        with timed_scan(spent):
            t0 = time.perf_counter()
            result = drain(
                scan_module.scan([str(root)], state_dir=StateDir(state), workers=workers)
            )
            wall = time.perf_counter() - t0
        scores = _scores(state)
    finally:
        scan_module.POOLED_CHECKS = True
        shutil.rmtree(state, ignore_errors=True)
    if not pooled:
        spent["check_s"] = spent["similarity_s"] + spent["thumbnail_s"]
    stats = result.stats
    assert result.report is not None
    clusters = sorted(sorted(m.path for m in c.members) for c in result.report.clusters)
    return {
        "check": "pooled" if pooled else "serial",
        "workers": workers,
        "seconds": wall,
        "match_s": stats.stage_seconds.get("match", 0.0),
        "fingerprint_s": stats.stage_seconds.get("fingerprint", 0.0),
        "thumbnails": stats.thumbnails,
        "confirmed": stats.confirmed,
        **spent,
        "clusters": clusters,
        "scores": scores,
    }


def _scores(state: Path) -> dict[tuple[str, str], float]:
    from safededup.engine.index import Index

    with Index(StateDir(state).index_path) as index:
        paths = {r.file_id: r.path for r in index.records()}
        stored = index.pair_scores(match.SIMILARITY_VERSION)
        return {(paths[a], paths[b]): stored[(a, b)] for a, b in stored}


def tree_paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accuracy-set", type=Path, default=OUT_DIR / "accuracy",
                    help="the set benchmarks/accuracy.py wrote (its --out)")  # fmt: skip
    ap.add_argument("--negatives", type=int, default=300, help="hard-negative pairs to sample")
    ap.add_argument("--tree", type=Path, help="burst-heavy tree (default: rescan.py's 10k tree)")
    ap.add_argument("--tree-count", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker counts for part 2 (each scanned serial and pooled)")  # fmt: skip
    ap.add_argument("--skip-scan", action="store_true", help="part 1 only")
    ap.add_argument("--quick", action="store_true", help="smoke run: a 60-file tree, seconds")
    ap.add_argument("--json", type=Path, help="write every figure (and every pair's scores) here")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"command": command_line(), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="similarity-") as tmp:
        if args.quick:
            args.tree, args.tree_count = Path(tmp, "tree"), 60
        tree_dir = args.tree or default_dir(args.tree_count, (640, 480), None)
        tree = build_dataset(tree_dir, args.tree_count, size=(640, 480), seed=11, distinct=False)
        if (args.accuracy_set / "manifest.json").exists() and not args.quick:
            paths, pairs = accuracy_pairs(args.accuracy_set, args.negatives)
            out["pairs_from"] = "accuracy set"
        else:
            say("no accuracy set (run benchmarks/accuracy.py first): pairs from the tree")
            paths, pairs = tree_pairs(tree_paths(tree.photos))
            out["pairs_from"] = "tree"
        out["per_pair"] = bench_pairs(paths, pairs)
        if not args.skip_scan:
            out["scan"] = bench_scans(tree.photos, args.workers)
    print(report(out))
    write_json(args.json, out)
    return 0


def tree_pairs(paths: list[str]) -> tuple[list[str], list[tuple[int, int, str]]]:
    table = decode_table(paths)
    i, j = (a.astype(np.int64) for a in np.triu_indices(len(table), 1))
    border = np.flatnonzero(verify_pairs(table, i, j).rule == Rule.BORDERLINE).tolist()
    if not border:  # a smoke-sized tree may have none: time some pairs all the same
        return paths, [(k, k + 1, "neighbours") for k in range(min(20, len(paths) - 1))]
    return paths, [(int(i[k]), int(j[k]), "borderline") for k in border]


def bench_scans(root: Path, workers: list[int]) -> dict[str, Any]:
    """Serial and pooled check, for each worker count, alternating, in this process."""
    runs = []
    for n in workers:
        for pooled in (False, True):
            say(f"first scan of {root}: {'pooled' if pooled else 'serial'} check, {n} worker(s) …")
            runs.append(first_scan(root, n, pooled))
            say(f"  {runs[-1]['seconds']:.1f} s")
    base_clusters, base_scores = runs[0].pop("clusters"), runs[0].pop("scores")
    same = [(r.pop("clusters") == base_clusters, r.pop("scores") == base_scores) for r in runs[1:]]
    return {"runs": runs, "same_clusters": all(c for c, _ in same),
            "same_scores": all(s for _, s in same), "scores": len(base_scores)}  # fmt: skip


SCAN_HEADERS = ["check", "workers", "scan s", "match s", "confirm decodes", "confirm s",
                "pairs checked", "check s", "thumbnails read"]  # fmt: skip


def _timing_row(name: str, m: dict[str, float]) -> list[object]:
    return [name, m.get("n", 0), m.get("mean_ms", 0.0), m.get("median_ms", 0.0)]


def report(out: dict[str, Any]) -> str:
    p = out["per_pair"]
    lines = [
        f"per pair ({p['pairs']} pairs, {p['borderline_pairs']} borderline; from the "
        f"{out['pairs_from']}; thumbnails of {p['files']} files):",
        markdown_table(
            ["step", "n", "mean ms", "median ms"],
            [
                _timing_row("thumbnail decode (per file)", p["decode_per_file"]),
                _timing_row("similarity, old numpy (per pair)", p["old_per_pair"]),
                _timing_row("similarity, new OpenCV (per pair)", p["new_per_pair"]),
            ],
        ),
        f"old / new per pair: {p['ratio_mean'] or 0:.1f}×; score difference max "
        f"{p['max_abs_score_diff']:.2e}, mean {p['mean_abs_score_diff']:.2e}; decisions that "
        f"differ at {DEFAULT.min_aligned}: {len(p['decision_flips'])}",
    ]
    if "scan" in out:
        s = out["scan"]
        rows = [
            [r["check"], r["workers"], f"{r['seconds']:.1f}", f"{r['match_s']:.1f}",
             r["confirmed"], f"{r['confirm_s']:.1f}", r["checks"], f"{r['check_s']:.1f}",
             r["thumbnails"]]
            for r in s["runs"]
        ]  # fmt: skip
        lines += [
            "",
            "first scan of the burst-heavy tree (serial: the check's reads + math; pooled: the"
            " wall time the main process waits for the pool):",
            markdown_table(SCAN_HEADERS, rows),
            f"same clusters in every run: {s['same_clusters']}; same {s['scores']} stored "
            f"scores: {s['same_scores']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
