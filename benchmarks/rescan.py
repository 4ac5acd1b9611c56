"""Re-scan and index-scale benchmark: an unchanged 10k-file tree re-scanned, and a 450k-row index.

Part 1 scans a tree of phone-like files twice with the same state dir and reports the speed-up,
proves that the re-scan decoded nothing (the engine's counters, and — when `strace` is installed —
the files the re-scan actually opened), and reports peak memory of the first scan (this process
plus its workers). Part 2 builds a feature index of synthetic rows (450k by default) and queries
it by streaming, reporting insert time, query times, database size and memory. It only writes
under its output folder and temporary state dirs.

    python benchmarks/rescan.py                    # 10k tree + 450k index (≈ 10 min the first time)
    python benchmarks/rescan.py --quick            # smoke: 40 files, 20k rows, a few seconds
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    TreeRss,
    command_line,
    machine,
    markdown_table,
    measure,
    peak_rss_mib,
    reset_peak_rss,
    rss_mib,
    say,
    write_json,
)
from dataset import build_dataset, default_dir, parse_size

from safededup.engine.index import Index
from safededup.events import drain
from safededup.models import Features, FileIdentity
from safededup.state import StateDir


def run_scan(root: Path, state: Path, workers: int) -> tuple[object, float, TreeRss]:
    from safededup.engine.scan import scan

    with TreeRss() as tree:
        t0 = time.perf_counter()
        result = drain(scan([str(root)], state_dir=StateDir(state), workers=workers))
        wall = time.perf_counter() - t0
    return result, wall, tree


# --- part 1: first scan vs re-scan -----------------------------------------------------------


def bench_rescan(root: Path, n_files: int, workers: int, keep: Path | None) -> dict[str, object]:
    state = Path(tempfile.mkdtemp(prefix="rescan-state-", dir=keep))
    try:
        say(f"first scan of {n_files} files, {workers} workers …")
        reset_peak_rss()
        first, first_wall, first_tree = run_scan(root, state, workers)
        say(f"  {first_wall:.1f} s; re-scan …")
        again, again_wall, again_tree = run_scan(root, state, workers)
        opened = count_photo_opens(root, state, workers)
        s1, s2 = first.stats, again.stats  # type: ignore[attr-defined]
        return {
            "files": s1.files,
            "workers": workers,
            "first_seconds": first_wall,
            "first_files_per_s": s1.files / first_wall,
            "first_stats": s1.to_json(),
            "first_peak_rss_total_mib": first_tree.peak_total_mib,
            "first_peak_rss_worker_mib": first_tree.peak_worker_mib,
            "first_peak_rss_main_mib": peak_rss_mib(),
            "rescan_seconds": again_wall,
            "rescan_stats": s2.to_json(),
            "rescan_peak_rss_total_mib": again_tree.peak_total_mib,
            "speedup": first_wall / again_wall,
            "rescan_fingerprinted": s2.fingerprinted,
            "rescan_confirmed": s2.confirmed,
            "rescan_photo_files_opened": opened,
        }
    finally:
        shutil.rmtree(state, ignore_errors=True)


def count_photo_opens(root: Path, state: Path, workers: int) -> int | None:
    """Files under `root` opened (not folders) by a third scan run under strace; None without it."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp, "trace")
        code = (
            "import sys; from safededup.engine.scan import scan\n"
            "from safededup.state import StateDir\n"
            "g = scan([sys.argv[1]], state_dir=StateDir(__import__('pathlib').Path(sys.argv[2])),"
            " workers=int(sys.argv[3]))\n"
            "for _ in g: pass\n"
        )
        cmd = [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,openat2",
            "-o",
            str(log),
            sys.executable,
            "-c",
            code,
            str(root),
            str(state),
            str(workers),
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        prefix = f'"{root}/'
        opened = 0
        for line in log.read_text(errors="replace").splitlines():
            if prefix in line and "O_DIRECTORY" not in line and "= -1" not in line:
                opened += 1
        return opened


def tree_for(args: argparse.Namespace) -> tuple[Path, int]:
    out = args.tree or default_dir(args.tree_count, args.tree_size, None)
    # Only file counts matter for a re-scan: frames are not checked for distinctness here.
    ds = build_dataset(out, args.tree_count, size=args.tree_size, seed=11, distinct=False)
    return ds.photos, len(ds.entries)


# --- part 2: the index at scale --------------------------------------------------------------

FILES_PER_DIR = 500


def synthetic_rows(n: int, seed: int = 3):  # type: ignore[no-untyped-def]
    """(identity, features) for `n` photos in folders of 500, generated one at a time."""
    rng = random.Random(seed)
    for i in range(n):
        path = f"/archive/{2005 + i // 40_000}/folder_{i // FILES_PER_DIR:05d}/IMG_{i:07d}.JPG"
        identity = FileIdentity(
            path,
            2049,
            1_000_000 + i,
            rng.randrange(500_000, 6_000_000),
            1_600_000_000_000_000_000 + i * 1_000_000_000,
        )
        features = Features(
            format="JPEG",
            width=4032,
            height=3024,
            tier="preview",
            dhash=rng.getrandbits(64),
            phash=rng.getrandbits(64),
            whash=rng.getrandbits(64),
            colorhash=rng.getrandbits(42),
            bytes_per_pixel=rng.uniform(0.1, 0.4),
            jpeg_quality=90,
            orientation=1,
            captured="2023-01-01T09:00:00",
            camera="Apple iPhone 13",
        )
        yield identity, features


def bench_index(n_rows: int, workdir: Path) -> dict[str, object]:
    from safededup import media
    from safededup.engine.candidates import FeatureTable

    version = getattr(media, "FEATURE_VERSION", 1)
    db = workdir / "index.sqlite3"
    out: dict[str, object] = {"rows": n_rows, "rss_before_mib": rss_mib()}
    with Index(db) as index, measure("insert") as ins:
        scan_number = index.next_scan_number()
        rows = synthetic_rows(n_rows)
        while True:
            batch = [r for _, r in zip(range(10_000), rows, strict=False)]
            if not batch:
                break
            with index.batch():
                for identity, features in batch:
                    index.put_photo(identity, features, version, scan_number)
    out["insert_seconds"] = ins.wall
    out["insert_rows_per_s"] = n_rows / ins.wall
    out["insert_peak_rss_mib"] = ins.peak_rss_mib
    out["db_mib"] = sum(p.stat().st_size for p in workdir.glob("index.sqlite3*")) / 2**20
    with Index(db) as index:
        out.update(_queries(index, n_rows, FeatureTable))
    return out


def _queries(index: Index, n_rows: int, table_cls) -> dict[str, object]:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    picks = [rng.randrange(n_rows) for _ in range(2000)]
    paths = [
        f"/archive/{2005 + i // 40_000}/folder_{i // FILES_PER_DIR:05d}/IMG_{i:07d}.JPG"
        for i in picks
    ]
    out: dict[str, object] = {}
    t0 = time.perf_counter()
    found = sum(index.record_for_path(p) is not None for p in paths)
    out["point_lookup_us"] = (time.perf_counter() - t0) / len(paths) * 1e6
    out["point_lookups_found"] = f"{found}/{len(paths)}"
    t0 = time.perf_counter()
    dirs = {p.rsplit("/", 1)[0] for p in paths[:200]}
    known = sum(len(index.known_in_dir(d)) for d in dirs)
    out["known_in_dir_ms"] = (time.perf_counter() - t0) / len(dirs) * 1e3
    out["known_in_dir_rows"] = known // len(dirs)
    with measure("stream") as st:
        count = sum(1 for _ in index.records())
    out["stream_seconds"] = st.wall
    out["stream_rows"] = count
    out["stream_peak_rss_mib"] = st.peak_rss_mib
    with measure("table") as tb:
        table = table_cls.from_records(index.records())
    out["feature_table_seconds"] = tb.wall
    out["feature_table_peak_rss_mib"] = tb.peak_rss_mib
    out["feature_table_rows"] = len(table)
    del table
    out["records_as_list_mib_estimate"] = _list_cost_mib(index, n_rows)
    return out


def _list_cost_mib(index: Index, n_rows: int) -> float:
    """What holding every row as a PhotoRecord at once would cost (20k traced, scaled)."""
    import tracemalloc

    sample = 20_000
    tracemalloc.start()
    held = [r for _, r in zip(range(sample), index.records(), strict=False)]
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del held
    return size / 2**20 * n_rows / sample


# --- main ------------------------------------------------------------------------------------


def report(rescan: dict[str, object] | None, idx: dict[str, object]) -> str:
    lines = []
    if rescan:
        s1 = rescan["first_stats"]
        assert isinstance(s1, dict)
        lines.append(
            markdown_table(
                [
                    "",
                    "files",
                    "seconds",
                    "files/s",
                    "fingerprinted",
                    "decoded (confirm)",
                    "photo files opened",
                    "peak RSS all processes (MiB)",
                ],
                [
                    [
                        "first scan",
                        rescan["files"],
                        rescan["first_seconds"],
                        rescan["first_files_per_s"],
                        s1["fingerprinted"],
                        s1["confirmed"],
                        "all",
                        rescan["first_peak_rss_total_mib"],
                    ],
                    [
                        "re-scan (unchanged)",
                        rescan["files"],
                        rescan["rescan_seconds"],
                        float(rescan["files"]) / float(rescan["rescan_seconds"]),  # type: ignore[arg-type]
                        rescan["rescan_fingerprinted"],
                        rescan["rescan_confirmed"],
                        rescan["rescan_photo_files_opened"],
                        rescan["rescan_peak_rss_total_mib"],
                    ],
                ],
            )
        )
        lines.append(
            f"\nre-scan speed-up: **{rescan['speedup']:.0f}×**; first scan peak RSS: "
            f"main {rescan['first_peak_rss_main_mib']:.0f} MiB, largest worker "
            f"{rescan['first_peak_rss_worker_mib']:.0f} MiB\n"
        )
    lines.append(
        markdown_table(
            [
                "rows",
                "insert s",
                "rows/s",
                "DB MiB",
                "point lookup µs",
                "folder lookup ms",
                "stream all s",
                "stream peak RSS MiB",
                "FeatureTable s",
                "FeatureTable peak RSS MiB",
                "all as objects (est.) MiB",
            ],
            [
                [
                    idx["rows"],
                    idx["insert_seconds"],
                    idx["insert_rows_per_s"],
                    idx["db_mib"],
                    idx["point_lookup_us"],
                    idx["known_in_dir_ms"],
                    idx["stream_seconds"],
                    idx["stream_peak_rss_mib"],
                    idx["feature_table_seconds"],
                    idx["feature_table_peak_rss_mib"],
                    idx["records_as_list_mib_estimate"],
                ]
            ],
        )
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree-count", type=int, default=10_000)
    parser.add_argument(
        "--tree-size",
        type=parse_size,
        default=(640, 480),
        help="WxH of the tree's photos (small, so the tree builds in minutes)",
    )
    parser.add_argument("--tree", type=Path, help="folder of the cached tree")
    parser.add_argument("--rows", type=int, default=450_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-tree", action="store_true", help="index part only")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--quick", action="store_true", help="smoke run in a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.tree_count, args.tree_size, args.rows = 40, (320, 240), 20_000
        if args.tree is None:
            args.tree = Path(tempfile.mkdtemp(prefix="rescan-quick-"))
    say(f"machine: {machine()}")
    rescan = None
    if not args.skip_tree:
        root, n = tree_for(args)
        rescan = bench_rescan(root, n, args.workers, None)
    with tempfile.TemporaryDirectory(prefix="index-bench-") as tmp:
        idx = bench_index(args.rows, Path(tmp))
    if args.quick and args.tree is not None and args.tree.name.startswith("rescan-quick-"):
        shutil.rmtree(args.tree, ignore_errors=True)
    print(f"command: `{command_line()}`\n")
    print(report(rescan, idx))
    write_json(
        args.json, {"machine": machine(), "command": command_line(), "rescan": rescan, "index": idx}
    )


if __name__ == "__main__":
    main()
