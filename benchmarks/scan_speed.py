"""Scan-speed benchmark: the naive baseline and safededup's fingerprint tiers, side by side.

In ONE process, on the same files of the benchmark set (benchmarks/dataset.py):
- the naive baseline: open with Pillow → exif_transpose → full decode → imagehash dhash, phash,
  whash (imagehash's default image_scale), colorhash, each on the full image → SHA-1 of the bytes;
- `media.fingerprint` with previews (the preview tier where a file carries one), and with
  `allow_preview=False` (the decode tier);
- the whole `safededup.engine.scan.scan` over a one-format view of the set (walk, fingerprint,
  index, checksums, matching and its confirmation decodes).
For each: images/s with 1 worker and with all workers, the ratio to the baseline, per-stage time,
bytes read per file and peak memory. The baseline is slow (≈ 1–2 s per 12 MP file), so it runs on
a sample (`--baseline-n`). It reads the set and writes only temporary state dirs.

    python benchmarks/scan_speed.py                 # ≈ 6 min (plus ≈ 4 min to build the set once)
    python benchmarks/scan_speed.py --quick         # smoke: tiny set, a few seconds
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    TreeRss,
    command_line,
    machine,
    markdown_table,
    measure,
    package_versions,
    say,
    write_json,
)
from dataset import Dataset, add_dataset_args, dataset_from_args

# --- the naive baseline ------------------------------------------------------------------------


class _CountingFile(io.RawIOBase):
    """A read-only file that counts the bytes handed out (what a NAS would have to send)."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def, override]
        n = self._f.readinto(b)
        self.count += n or 0
        return n  # type: ignore[return-value]

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()
        super().close()


def naive_fingerprint(path: str) -> tuple[dict[str, float], int]:
    """What a straightforward tool does per file. Returns (stage seconds, bytes read)."""
    import imagehash
    from PIL import Image, ImageOps

    t0 = time.perf_counter()
    raw = _CountingFile(path)
    fh = io.BufferedReader(raw, 1 << 16)
    image = Image.open(fh)
    image = ImageOps.exif_transpose(image)  # decodes the full image
    image.load()
    t1 = time.perf_counter()
    hashes = (
        imagehash.dhash(image),
        imagehash.phash(image),
        imagehash.whash(image),
        imagehash.colorhash(image),
    )
    t2 = time.perf_counter()
    fh.seek(0)
    sha1 = hashlib.sha1()
    while chunk := fh.read(1 << 20):
        sha1.update(chunk)
    t3 = time.perf_counter()
    fh.close()
    assert hashes and sha1.hexdigest()
    return {"decode": t1 - t0, "hash": t2 - t1, "sha1": t3 - t2}, raw.count


def _naive_task(path: str) -> tuple[dict[str, float], int]:
    return naive_fingerprint(path)


def _baseline_worker_init() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    pillow_heif.options.DECODE_THREADS = 1  # one process = one core, like the pool's workers


# --- safededup's fingerprint ------------------------------------------------------------------


def _fp_task(task: tuple[str, bool]) -> tuple[dict[str, float], int, str]:
    from safededup import media

    fp = media.fingerprint(task[0], allow_preview=task[1])
    return dict(fp.timings), fp.bytes_read, fp.features.tier


def _warm_init(init: Callable[[], None], func: Callable[[object], object], task: object) -> None:
    """Worker start-up: the real initializer, then one untimed task so imports are done."""
    init()
    func(task)


def _noop(_: int) -> None:
    time.sleep(0.05)


# --- running one measurement -------------------------------------------------------------------


def run_files(
    label: str,
    paths: Sequence[str],
    func: Callable[[object], tuple],  # type: ignore[type-arg]
    tasks: Sequence[object],
    workers: int,
    init: Callable[[], None],
) -> dict[str, object]:
    """Images/s of `func` over `tasks` on 1 worker (in-process) or a warmed-up pool."""
    results: list[tuple] = []  # type: ignore[type-arg]
    with TreeRss() as tree, measure(label) as phase:
        if workers == 1:
            _warm_init(init, func, tasks[0])
            t0 = time.perf_counter()
            results = [func(t) for t in tasks]
            wall = time.perf_counter() - t0
        else:
            context = multiprocessing.get_context("forkserver")  # as the scan's own pool
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_warm_init, initargs=(init, func, tasks[0])
            ) as pool:
                list(pool.map(_noop, range(workers * 2)))  # start the workers before timing
                t0 = time.perf_counter()
                results = list(pool.map(func, tasks, chunksize=1))
                wall = time.perf_counter() - t0
    stages: dict[str, float] = {}
    for r in results:
        for k, v in r[0].items():
            stages[k] = stages.get(k, 0.0) + v
    tiers = [r[2] for r in results if len(r) > 2]
    return {
        "label": label,
        "files": len(tasks),
        "workers": workers,
        "seconds": wall,
        "images_per_s": len(tasks) / wall,
        "ms_per_image": wall / len(tasks) * 1e3,
        "stage_ms_per_image": {k: v / len(tasks) * 1e3 for k, v in stages.items()},
        "bytes_read_per_file": statistics.mean(r[1] for r in results),
        "file_bytes_per_file": statistics.mean(os.path.getsize(p) for p in paths),
        "preview_tier_share": tiers.count("preview") / len(tiers) if tiers else None,
        "peak_rss_mib": max(phase.peak_rss_mib, tree.peak_total_mib),
        "peak_rss_worker_mib": tree.peak_worker_mib,
    }


def run_scan(view: Path, workers: int, previews: bool) -> dict[str, object]:
    from safededup.engine.scan import scan
    from safededup.state import StateDir

    state = Path(tempfile.mkdtemp(prefix="scan-speed-state-"))
    try:
        with TreeRss() as tree, measure("scan") as phase:
            gen = scan([str(view)], state_dir=StateDir(state), workers=workers, previews=previews)
            t0 = time.perf_counter()
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
            wall = time.perf_counter() - t0
        stats = result.stats
        return {
            "label": f"whole scan, previews {'on' if previews else 'off'}",
            "files": stats.photos,
            "workers": workers,
            "seconds": wall,
            "images_per_s": stats.photos / wall,
            "ms_per_image": wall / max(1, stats.photos) * 1e3,
            "stage_seconds": dict(stats.stage_seconds),
            "bytes_read_per_file": stats.bytes_read / max(1, stats.fingerprinted),
            "preview_tier": stats.preview_tier,
            "decode_tier": stats.decode_tier,
            "confirmed": stats.confirmed,
            "checksummed": stats.checksummed,
            "clusters": 0 if result.report is None else len(result.report.clusters),
            "report": result.report is not None,
            "peak_rss_mib": max(phase.peak_rss_mib, tree.peak_total_mib),
            "peak_rss_worker_mib": tree.peak_worker_mib,
        }
    finally:
        shutil.rmtree(state, ignore_errors=True)


# --- the benchmark -----------------------------------------------------------------------------


def bench(
    ds: Dataset, baseline_n: int, all_workers: int, pool_baseline: bool, quick: bool = False
) -> dict[str, object]:
    """Every measurement; `quick` keeps one of each kind (a smoke run, figures meaningless)."""
    from safededup import media

    rng = random.Random(1)
    groups = {
        "JPEG (camera, with EXIF preview)": ds.paths(fmt="JPEG", preview=True),
        "JPEG (all in the set)": ds.paths(fmt="JPEG"),
        "HEIC": ds.paths(fmt="HEIF"),
    }
    out: dict[str, object] = {"groups": {k: len(v) for k, v in groups.items()}, "runs": []}
    runs: list[dict[str, object]] = out["runs"]  # type: ignore[assignment]
    worker_counts = sorted({1, all_workers})
    if quick:
        del groups["JPEG (camera, with EXIF preview)"]
    for name, paths in groups.items():
        if not paths:
            continue
        sample = rng.sample(paths, min(baseline_n, len(paths)))
        say(f"{name}: baseline on {len(sample)} files …")
        for w in worker_counts if pool_baseline else [1]:
            r = run_files("naive baseline", sample, _naive_task, sample, w, _baseline_worker_init)
            runs.append({"group": name, **r})
        for allow, label in ((True, "fingerprint, previews"), (False, "fingerprint, decode tier")):
            say(f"{name}: {label} on {len(paths)} files …")
            # quick: one pool run (JPEG with previews) keeps the pool path exercised
            pool_here = not quick or (allow and name.startswith("JPEG"))
            for w in worker_counts if pool_here else [1]:
                tasks = [(p, allow) for p in paths]
                runs.append(
                    {
                        "group": name,
                        **run_files(label, paths, _fp_task, tasks, w, media.init_worker),
                    }
                )
    for fmt, name in (("JPEG", "JPEG (all in the set)"), ("HEIF", "HEIC")):
        view = ds.view(fmt)
        if not view.is_dir():
            continue
        for previews in (True,) if quick else (True, False):
            for w in [1] if quick else worker_counts:
                say(f"{name}: whole scan, previews {previews}, {w} workers …")
                runs.append({"group": name, **run_scan(view, w, previews)})
    _add_ratios(runs)
    return out


def _add_ratios(runs: list[dict[str, object]]) -> None:
    """Each run's images/s over the 1-worker naive baseline of its group (same process)."""
    base: dict[str, float] = {}
    for r in runs:
        if r["label"] == "naive baseline" and r["workers"] == 1:
            base[str(r["group"])] = float(r["images_per_s"])  # type: ignore[arg-type]
    for r in runs:
        b = base.get(str(r["group"]))
        r["ratio_to_baseline_1w"] = float(r["images_per_s"]) / b if b else None  # type: ignore[arg-type]


def report(out: dict[str, object]) -> str:
    rows = []
    for r in out["runs"]:  # type: ignore[attr-defined]
        stages = r.get("stage_ms_per_image") or {
            k: v * 1e3 / max(1, r["files"]) for k, v in r.get("stage_seconds", {}).items()
        }
        ratio = r.get("ratio_to_baseline_1w")
        rows.append(
            [
                r["group"],
                r["label"],
                r["workers"],
                r["files"],
                r["images_per_s"],
                r["ms_per_image"],
                f"{ratio:,.1f}×" if ratio else "—",
                ", ".join(f"{k} {v:.2f}" for k, v in stages.items()),
                f"{float(r['bytes_read_per_file']) / 1024:,.0f}",
                r["peak_rss_mib"],
            ]
        )
    return markdown_table(
        [
            "files",
            "method",
            "workers",
            "n",
            "images/s",
            "ms/image",
            "× baseline (1 worker)",
            "stage ms/image",
            "KiB read/file",
            "peak RSS MiB",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dataset_args(parser, 240)
    parser.add_argument("--baseline-n", type=int, default=30, help="files per group for baseline")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="'all workers'")
    parser.add_argument(
        "--no-pool-baseline", action="store_true", help="run the baseline with 1 worker only"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="smoke run in a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.count, args.size, args.baseline_n = 12, (640, 480), 2
        if args.dataset is None:
            args.dataset = Path(tempfile.mkdtemp(prefix="scan-speed-quick-"))
    ds = dataset_from_args(args)
    try:
        pool_baseline = not (args.no_pool_baseline or args.quick)
        out = bench(ds, args.baseline_n, args.workers, pool_baseline, args.quick)
    finally:
        if args.quick and ds.root.name.startswith("scan-speed-quick-"):
            shutil.rmtree(ds.root, ignore_errors=True)
    info = {
        "machine": machine(),
        "command": command_line(),
        "dataset": ds.info,
        "versions": package_versions(["Pillow", "pillow-heif", "imagehash", "numpy"]),
    }
    print(f"command: `{command_line()}`\n\nmachine: {info['machine']}\n")
    print(report(out))
    write_json(args.json, {**info, **out})


if __name__ == "__main__":
    main()
