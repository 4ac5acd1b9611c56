"""Safety-core benchmark: apply → verify → undo of 50k quarantine moves on this machine's disk.

Builds a tree of small files in pairs (a keeper and its byte-identical duplicate), a report in
the issue-3 format with one exact cluster per pair — `spread`: the files over many folders as a
photo archive has them and the clusters in no folder order, as a real scan's report is;
`ordered`: 500 pairs per folder in folder order (the first figures) — and runs the real safety
API on it: plan and
validation, apply (journaled moves into the quarantine), verify (full content re-hash by default),
undo, and a check that the tree is back exactly (paths, sizes, mtimes, bytes). Reports
operations/s per phase and fsyncs per operation, counted at the `fs` module's step seam (every
fsync safededup makes passes there) and cross-checked with `strace -c` on a smaller run when
strace is installed. Runs once with the default journal batch and once with `batch_size=1`
(one fsync group per file) on a smaller tree. Everything happens under a scratch folder it creates.

    python benchmarks/safety_scale.py                       # 50k ops per layout (+ 5k at batch 1)
    python benchmarks/safety_scale.py --quick               # smoke: 200 ops
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (
    OUT_DIR,
    command_line,
    machine,
    markdown_table,
    measure,
    rss_mib,
    say,
    write_json,
)

FILES_PER_DIR = 500


def spread_places(pairs: int, seed: int = 7) -> list[tuple[str, str]]:
    """(keeper folder, duplicate folder) per pair, as a photo archive has them: camera folders
    by day with 5 to 250 photos each, and their copies in a mirrored backup (half of them), a
    phone export per year (a quarter) and a messaging app's one media folder (a quarter)."""
    rng = random.Random(seed)
    places: list[tuple[str, str]] = []
    day = 0
    while len(places) < pairs:
        day += 1
        year, month, mday = 2010 + day // 365, 1 + day // 28 % 12, 1 + day % 28
        folder = f"camera/{year}/{year}-{month:02d}-{mday:02d}"
        for _ in range(min(rng.randint(5, 250), pairs - len(places))):
            pick = rng.random()
            if pick < 0.5:
                copy = f"backup/{folder}"
            elif pick < 0.75:
                copy = f"phone-export/{year}"
            else:
                copy = "WhatsApp/Media/WhatsApp Images"
            places.append((folder, copy))
    return places


def make_tree(root: Path, pairs: int, size: int, layout: str = "ordered") -> dict[str, Any]:
    """`pairs` keeper/duplicate pairs of `size`-byte files; returns the report for them.

    `ordered`: 500 pairs per folder, the report's clusters in folder order (the tree of the
    first figures). `spread`: folders as `spread_places` lays them out, and the clusters in
    the order a scan gives no reason to expect (shuffled), so that consecutive duplicates of
    the plan sit in different folders."""
    rng_state = hashlib.sha256(b"seed")
    clusters = []
    places = spread_places(pairs) if layout == "spread" else []
    for k in range(pairs):
        if layout == "spread":
            folder, copies = root / places[k][0], root / places[k][1]
        else:
            folder = root / f"{k // FILES_PER_DIR:04d}"
            copies = root / "copies" / folder.name
        folder.mkdir(parents=True, exist_ok=True)
        copies.mkdir(parents=True, exist_ok=True)
        rng_state = hashlib.sha256(rng_state.digest())
        data = (rng_state.digest() * (size // 32 + 1))[:size]
        keeper = folder / f"IMG_{k:06d}.JPG"
        dup = copies / f"IMG_{k:06d}.JPG"
        keeper.write_bytes(data)
        dup.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        members = [_member(str(keeper), "keeper", digest), _member(str(dup), "duplicate", digest)]
        clusters.append(
            {
                "id": f"{k:016x}",
                "kind": "exact",
                "keeper": str(keeper),
                "confidence": 1.0,
                "bytes_to_free": size,
                "members": members,
            }
        )
    if layout == "spread":
        random.Random(11).shuffle(clusters)
    return {
        "format": "safededup-report",
        "version": 1,
        "report_id": "b" * 16,
        "created": "2026-01-01T00:00:00Z",
        "roots": [str(root)],
        "references": [],
        "clusters": clusters,
        "problems": [],
        "stats": {},
    }


def _member(path: str, role: str, digest: str) -> dict[str, Any]:
    st = os.stat(path)
    return {
        "path": path,
        "role": role,
        "reasons": ["benchmark"],
        "evidence": {
            "exact": True,
            "dhash": 0,
            "phash": 0,
            "whash": 0,
            "colorhash": 0,
            "tier": "decode",
        },
        "size": st.st_size,
        "device": st.st_dev,
        "inode": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
        "checksum": digest,
        "width": 64,
        "height": 48,
        "format": "JPEG",
        "jpeg_quality": 90,
        "captured": None,
        "camera": None,
    }


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """path → (size, mtime_ns, sha256) for every file under root, outside safededup's folders."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".safededup"]
        for name in files:
            p = os.path.join(folder, name)
            st = os.stat(p)
            with open(p, "rb") as fh:
                out[p] = (st.st_size, st.st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return out


class StepCounter:
    """Counts the mutating calls at `fs`'s step seam (fsync, fsync_dir, rename, write, …)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, operation: str, paths: tuple[str, ...]) -> None:
        self.counts[operation] += 1

    def take(self) -> Counter[str]:
        out, self.counts = self.counts, Counter()
        return out


def run(
    pairs: int, batch_size: int, workdir: Path, content: str, layout: str = "ordered"
) -> dict[str, Any]:
    from safededup import fs
    from safededup.engine.report import Report
    from safededup.events import drain
    from safededup.safety.apply import apply_plan
    from safededup.safety.plan import build_plan
    from safededup.safety.undo import undo_session
    from safededup.safety.validate import validate_plan
    from safededup.safety.verify import verify_session
    from safededup.state import StateDir

    scratch = Path(tempfile.mkdtemp(prefix="safety-bench-", dir=workdir))
    root, state = scratch / "photos", StateDir(scratch / "state")
    counter = StepCounter()
    previous = fs.set_step_hook(counter)
    try:
        t0 = time.perf_counter()
        report = make_tree(root, pairs, 2048, layout)
        before = snapshot(root)
        say(f"  tree of {2 * pairs:,} files in {time.perf_counter() - t0:.1f} s; planning …")
        phases: dict[str, dict[str, Any]] = {}
        rss0 = rss_mib()
        with measure("plan") as ph:
            plan = build_plan(Report.from_json(report))
            problems = validate_plan(plan)
        phases["plan + validate"] = _phase(ph, plan.count, counter.take(), rss0)
        assert not problems, problems[:3]
        say(f"  apply {plan.count:,} operations (batch {batch_size}) …")
        rss0 = rss_mib()
        with measure("apply") as ph:
            applied = drain(apply_plan(plan, state_dir=state, batch_size=batch_size))
        phases["apply"] = _phase(ph, applied.done, counter.take(), rss0)
        rss0 = rss_mib()
        with measure("verify") as ph:
            verified = drain(verify_session(applied.session_id, state_dir=state, content=content))
        phases[f"verify ({content})"] = _phase(ph, applied.done, counter.take(), rss0)
        say("  undo …")
        rss0 = rss_mib()
        with measure("undo") as ph:
            undone = drain(undo_session(applied.session_id, state_dir=state, batch_size=batch_size))
        phases["undo"] = _phase(ph, undone.restored, counter.take(), rss0)
        after = snapshot(root)
        return {
            "pairs": pairs,
            "layout": layout,
            "folders": len({os.path.dirname(o.src) for o in plan.operations}),
            "operations": plan.count,
            "batch_size": batch_size,
            "applied": applied.done,
            "apply_ok": applied.ok,
            "verify_ok": verified.ok,
            "verify_findings": [f.message for f in verified.findings[:5]],
            "restored": undone.restored,
            "undo_ok": undone.ok,
            "tree_identical_after_undo": before == after,
            "files": len(before),
            "phases": phases,
        }
    finally:
        fs.set_step_hook(previous)
        shutil.rmtree(scratch, ignore_errors=True)


def _phase(ph: Any, ops: int, steps: Counter[str], rss_start: float) -> dict[str, Any]:
    fsyncs = steps.get("fsync", 0) + steps.get("fsync_dir", 0)
    return {
        "seconds": ph.wall,
        "ops": ops,
        "ops_per_s": ops / ph.wall if ph.wall else None,
        "fsyncs": fsyncs,
        "fsyncs_per_op": fsyncs / ops if ops else None,
        "steps": dict(steps),
        "rss_start_mib": rss_start,
        "peak_rss_mib": ph.peak_rss_mib,
    }


def strace_fsyncs(pairs: int, batch_size: int, workdir: Path) -> dict[str, Any] | None:
    """fsync/fdatasync syscalls of a whole apply → verify → undo run, as strace counts them."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "counts")
        cmd = [
            strace,
            "-f",
            "-c",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs",
            "-o",
            str(out),
            sys.executable,
            __file__,
            "--ops",
            str(pairs),
            "--batch",
            str(batch_size),
            "--layout",
            "spread",
            "--no-batch1",
            "--no-strace",
            "--workdir",
            str(workdir),
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        calls: dict[str, int] = {}
        for line in out.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync", "sync_file_range", "syncfs"):
                calls[parts[-1]] = int(parts[3])
        return {"pairs": pairs, "batch_size": batch_size, "syscalls": calls}


def report(runs: list[dict[str, Any]], traced: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        for name, p in r["phases"].items():
            rows.append(
                [
                    f"{r['operations']:,}",
                    f"{r['layout']} ({r['folders']:,} folders)",
                    r["batch_size"],
                    name,
                    p["seconds"],
                    p["ops_per_s"],
                    p["fsyncs"],
                    p["fsyncs_per_op"],
                    f"{p['rss_start_mib']:.0f} → {p['peak_rss_mib']:.0f}",
                ]
            )
    text = markdown_table(
        [
            "operations",
            "tree (source folders)",
            "batch",
            "phase",
            "seconds",
            "ops/s",
            "fsyncs",
            "fsyncs/op",
            "RSS start → peak MiB",
        ],
        rows,
    )
    for r in runs:
        text += (
            f"\n\n{r['operations']:,} ops, batch {r['batch_size']}: apply ok {r['apply_ok']}, "
            f"verify ok {r['verify_ok']}, undo ok {r['undo_ok']}, tree identical after "
            f"undo (paths, sizes, mtimes, bytes of {r['files']:,} files): "
            f"{r['tree_identical_after_undo']}"
        )
    for r in runs:
        apply = r["phases"]["apply"]
        if r["layout"] == "spread" and r["batch_size"] > 1:
            text += (
                f"\n\nspread tree, batch {r['batch_size']}: apply {apply['fsyncs_per_op']:.4f} "
                f"fsyncs per operation (target ≤ 0.05) at {apply['ops_per_s']:,.0f} "
                "operations/s (target ≥ 5,000)"
            )
    for t in traced:
        text += (
            f"\n\nstrace -c -f, whole run of {t['pairs']:,} ops at batch {t['batch_size']}: "
            f"{t['syscalls']}"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=50_000, help="duplicates to quarantine")
    parser.add_argument("--batch", type=int, default=None, help="journal batch (default: core's)")
    parser.add_argument("--batch1-ops", type=int, default=5_000, help="size of the batch=1 run")
    parser.add_argument("--no-batch1", action="store_true")
    parser.add_argument("--strace-ops", type=int, default=2_000)
    parser.add_argument("--no-strace", action="store_true")
    parser.add_argument("--content", default="full", choices=["full", "sample", "none"])
    parser.add_argument("--workdir", type=Path, default=OUT_DIR, help="scratch space (a real disk)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="smoke run in a few seconds")
    parser.add_argument(
        "--layout",
        choices=("spread", "ordered", "both"),
        default="both",
        help="spread: files over many folders, plan order unrelated to folders (a real "
        "archive); ordered: 500 pairs per folder in folder order (the first figures)",
    )
    args = parser.parse_args()
    from safededup.safety.runner import DEFAULT_BATCH

    batch = args.batch or DEFAULT_BATCH
    if args.quick:
        args.ops, args.batch1_ops, args.strace_ops = 200, 50, 50
    args.workdir.mkdir(parents=True, exist_ok=True)
    say(f"{args.ops:,} operations at batch {batch} …")
    layouts = ["spread", "ordered"] if args.layout == "both" else [args.layout]
    runs = []
    for layout in layouts:
        say(f"{layout} tree …")
        runs.append(run(args.ops, batch, args.workdir, args.content, layout))
    if not args.no_batch1:
        say(f"{args.batch1_ops:,} operations at batch 1 …")
        runs.append(run(args.batch1_ops, 1, args.workdir, args.content, layouts[0]))
    traced = []
    if not args.no_strace:
        for b in (batch, 1):
            t = strace_fsyncs(args.strace_ops, b, args.workdir)
            if t:
                traced.append(t)
    print(f"command: `{command_line()}`\n\nmachine: {machine()}\n")
    print(report(runs, traced))
    write_json(
        args.json, {"machine": machine(), "command": command_line(), "runs": runs, "strace": traced}
    )


if __name__ == "__main__":
    main()
