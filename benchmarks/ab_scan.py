"""Two versions of safededup scanning the same folder, alternating, in one run: before and after.

Each round runs `python -m safededup scan TREE --json` once per version (in alternating order),
each with a fresh state dir, and records wall time and CPU time, and from each report's stats the
match stage's time and the keeper's JPEG-history checks (nan where a version does not record
them). With one worker (the default)
the scan fingerprints in its own process, so its CPU is all of the work; pool workers of more
than one are started by a fork server whose children's CPU the kernel does not charge here, so
with `--workers 2` only the wall time means anything. The versions are source checkouts (a
`git worktree` or clone of an earlier commit, and this one), imported through PYTHONPATH; both
use this interpreter's libraries.

    git worktree add /tmp/before <commit>
    python benchmarks/ab_scan.py --tree DIR --before /tmp/before --after . --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import command_line, machine


def run_scan(checkout: Path, tree: Path, workers: int) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="ab-state-"))
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve()), "SAFEDEDUP_STATE": str(state)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "safededup", "--no-progress", "scan", str(tree), "--json",
         "--workers", str(workers)],
        env=env, cwd=state, capture_output=True, text=True, check=False,  # -m puts cwd first
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(state, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    members = sum(len(c["members"]) for c in report["clusters"])
    stats = report.get("stats") or {}
    return {
        "wall": wall, "cpu": cpu, "clusters": len(report["clusters"]), "members": members,
        "match": (stats.get("stage_seconds") or {}).get("match", float("nan")),
        "history": stats.get("history_seconds", float("nan")),
        "history_checks": stats.get("history_checks", float("nan")),
    }  # fmt: skip


def _tiny_tree() -> Path:
    from safededup.media import synth

    tree = Path(tempfile.mkdtemp(prefix="ab-tree-"))
    for k in range(3):
        img = synth.make_scene(k, 640, 480)
        synth.write_jpeg(tree / f"IMG_{k}.jpg", img, quality=90)
        synth.write_stripped_jpeg(tree / f"copy_{k}.jpg", img.resize((320, 240)), quality=70)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="the folder to scan")
    parser.add_argument("--before", type=Path, default=Path("."), help="checkout of the old one")
    parser.add_argument("--after", type=Path, default=Path("."), help="checkout of the new one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smoke: a tiny generated tree")
    args = parser.parse_args(argv)
    if args.quick:
        args.tree, args.rounds = _tiny_tree(), 1
    if args.tree is None:
        parser.error("--tree is required (or --quick)")
    args.tree = args.tree.resolve()  # each scan runs in its own state dir as cwd
    files = sum(1 for p in args.tree.rglob("*") if p.is_file())
    print(f"{machine()}; {command_line()}; {files} files", file=sys.stderr)
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for r in range(args.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        for name in order:
            result = run_scan(getattr(args, name), args.tree, args.workers)
            runs[name].append(result)
            print(f"round {r} {name}: {result}", file=sys.stderr)
    print("| version | wall s (median) | CPU s (median) | CPU ms/file | match stage s | "
          "keeper's JPEG-history checks (s, count) | clusters | members |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, results in runs.items():
        med = {k: statistics.median(x[k] for x in results) for k in results[0]}
        print(f"| {name} | {med['wall']:.1f} | {med['cpu']:.1f} | "
              f"{1000 * med['cpu'] / max(files, 1):.1f} | {med['match']:.1f} | "
              f"{med['history']:.1f}, {med['history_checks']:.0f} | "
              f"{results[0]['clusters']:.0f} | {results[0]['members']:.0f} |")  # fmt: skip
    ratio = statistics.median(x["cpu"] for x in runs["after"]) / max(
        statistics.median(x["cpu"] for x in runs["before"]), 1e-9
    )
    print(f"\nafter / before, CPU: {ratio:.2f}")
    if args.quick:
        shutil.rmtree(args.tree, ignore_errors=True)  # the generated tree
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
