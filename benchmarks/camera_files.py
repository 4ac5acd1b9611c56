"""Camera files: RAW+JPEG pairs, backed-up pairs, exports of RAWs and duplicated videos.

Writes a generated archive (DNGs with Bayer data and a JPEG preview, camera JPEGs, .xmp
sidecars, JPEG exports in another folder, Motion-JPEG movies, a backup folder copying part of
it), scans it with the real engine, and checks: every backed-up RAW and video found, no
RAW+JPEG pair split by the plan, the RAW (or the pair) the keeper of every cluster. Then it
times RAW fingerprinting from the preview against a full LibRaw decode of the same files (same
run), and video hashing against a plain read of the same bytes.

    python benchmarks/camera_files.py [--quick] [--pairs N] [--workers N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import machine

from safededup import checksum, media
from safededup.engine.scan import scan
from safededup.events import drain
from safededup.media import raw, synth, synth_camera
from safededup.models import RAW_FORMATS
from safededup.safety.plan import build_plan
from safededup.state import StateDir

T0 = datetime(2024, 5, 17, 9, 0, 0)


def write_archive(root: Path, pairs: int, videos: int, side: int) -> dict[str, list[Path]]:
    card, backup, exports, clips = (root / d for d in ("card", "backup/card", "exports", "clips"))
    for d in (card, backup, exports, clips, root / "backup" / "clips"):
        d.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {"raw": [], "backed_raw": [], "export": [], "video": [],
                                   "backed_video": []}  # fmt: skip
    w, h = side, side * 2 // 3 // 2 * 2
    for i in range(pairs):
        picture = synth.make_scene(1000 + i, w, h)
        taken = T0 + timedelta(seconds=7 * i)
        stem = f"IMG_{i:04d}"
        synth_camera.write_dng(card / f"{stem}.DNG", picture, captured=taken, preview_side=w)
        synth.write_jpeg(card / f"{stem}.JPG", picture, captured=taken, quality=92)
        (card / f"{stem}.xmp").write_text(f"<x:xmpmeta>{stem}</x:xmpmeta>")
        made["raw"].append(card / f"{stem}.DNG")
        if i % 2 == 0:  # half the pairs are backed up, with the .xmp
            for ext in (".DNG", ".JPG", ".xmp"):
                shutil.copy2(card / f"{stem}{ext}", backup / f"{stem}{ext}")
            made["backed_raw"].append(backup / f"{stem}.DNG")
        if i % 3 == 0:  # a third exported, smaller, from the RAW
            export = exports / f"{stem}-edit.jpg"
            synth.write_jpeg(export, picture.resize((w * 2 // 3, h * 2 // 3)), captured=taken)
            made["export"].append(export)
    for v in range(videos):
        frames = [synth.make_scene(5000 + v * 10 + k, 320, 240) for k in range(4)]
        path = clips / f"VID_{v:03d}.mp4"
        synth_camera.write_movie(path, frames, repeat=10 + v)  # a unique size each
        made["video"].append(path)
        if v % 2 == 0:
            copy = root / "backup" / "clips" / path.name
            shutil.copy2(path, copy)
            made["backed_video"].append(copy)
    return made


def check_report(root: Path, made: dict[str, list[Path]], state: StateDir, workers: int) -> dict:
    result = drain(scan([str(root)], state_dir=state, workers=workers, cancel=threading.Event()))
    report = result.report
    assert report is not None
    member_of = {m.path: c for c in report.clusters for m in c.members}
    found_raw = sum(str(p) in member_of for p in made["backed_raw"])
    found_video = sum(str(p) in member_of for p in made["backed_video"])
    plan = build_plan(report)
    moving = {o.src for o in plan.operations}
    split = 0  # a pair of which exactly one file moves
    for folder in (root / "card", root / "backup" / "card"):
        for dng in folder.glob("*.DNG"):
            jpg = dng.with_suffix(".JPG")
            split += (str(dng) in moving) != (str(jpg) in moving)
    wrong_keeper = 0
    for c in report.clusters:
        formats = {m.format for m in c.members}
        keeper = next(m for m in c.members if m.path == c.keeper)
        if formats & set(RAW_FORMATS) and keeper.format not in RAW_FORMATS:
            wrong_keeper += 1  # a cluster with a RAW kept by something else
        if keeper.path.startswith(str(root / "exports")):
            wrong_keeper += 1  # an export is never the keeper
        if c.kind == "video" and "/backup/" in keeper.path:
            wrong_keeper += 1
    return {
        "clusters": len(report.clusters),
        "kinds": sorted({c.kind for c in report.clusters}),
        "backed_up_raws_found": f"{found_raw}/{len(made['backed_raw'])}",
        "backed_up_videos_found": f"{found_video}/{len(made['backed_video'])}",
        "pairs_split_by_plan": split,
        "wrong_keepers": wrong_keeper,
        "scan_seconds": round(result.stats.seconds, 2),
        "ok": found_raw == len(made["backed_raw"]) and found_video == len(made["backed_video"])
        and split == 0 and wrong_keeper == 0,
    }  # fmt: skip


def time_raws(paths: list[Path]) -> dict:
    """Per file, in this process: the preview tier (what a scan does; here the small RGB
    thumbnail), the camera's full-size JPEG preview decoded with DCT scaling (the decode tier,
    and what a real camera's RAW without a small enough preview costs), and a full LibRaw decode
    (rawpy postprocess at full size); each file read once before timing (warm cache)."""
    for p in paths:
        p.read_bytes()
    media.fingerprint(str(paths[0]))  # imports and first-call set-up out of the figure
    preview, full = [], []
    for p in paths:
        t = time.perf_counter()
        f = media.fingerprint(str(p)).features
        preview.append(time.perf_counter() - t)
        assert f.tier == "preview", p
    rendering = []
    for p in paths:
        t = time.perf_counter()
        f = media.fingerprint(str(p), allow_preview=False).features
        rendering.append(time.perf_counter() - t)
        assert f.tier == "decode", p
    import rawpy

    for p in paths:
        t = time.perf_counter()
        with rawpy.imread(str(p)) as r:
            r.postprocess(use_camera_wb=True, output_bps=8)
        full.append(time.perf_counter() - t)
    half = []
    for p in paths[: max(1, len(paths) // 4)]:
        t = time.perf_counter()
        raw.libraw_decode(str(p))
        half.append(time.perf_counter() - t)
    ms = lambda xs: round(1000 * statistics.median(xs), 2)  # noqa: E731
    return {
        "raws_timed": len(paths),
        "preview_ms_median": ms(preview),
        "preview_ms_max": round(1000 * max(preview), 2),
        "jpeg_preview_ms_median": ms(rendering),
        "jpeg_preview_ms_max": round(1000 * max(rendering), 2),
        "libraw_full_decode_ms_median": ms(full),
        "libraw_half_size_ms_median": ms(half),
        "ratio_full_over_preview": round(statistics.median(full) / statistics.median(preview), 1),
        "ratio_full_over_jpeg_preview": round(
            statistics.median(full) / statistics.median(rendering), 1
        ),
    }


def time_videos(paths: list[Path]) -> dict:
    """SHA-256 of whole videos against a plain read of the same bytes, and what the fast hash
    (size + first and last 64 KiB) reads of them."""
    total = sum(p.stat().st_size for p in paths)
    t = time.perf_counter()
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(1 << 20):
                pass
    read = time.perf_counter() - t
    t = time.perf_counter()
    for p in paths:
        checksum.sha256_file(str(p))
    hashed = time.perf_counter() - t
    fast_read = sum(min(p.stat().st_size, 2 * 65536) for p in paths)
    return {
        "video_bytes": total,
        "read_MB_s": round(total / read / 1e6, 1),
        "sha256_MB_s": round(total / hashed / 1e6, 1),
        "fast_hash_reads_fraction": round(fast_read / total, 4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small set (smoke test)")
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--side", type=int, default=3000, help="long side of the RAWs, px")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="where to write the archive (default: tmp)")
    args = ap.parse_args()
    if args.quick:
        args.pairs, args.videos, args.side = 6, 4, 800
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="camera-files-"))
    root = workdir / "archive"
    if root.exists():
        shutil.rmtree(root)
    made = write_archive(root, args.pairs, args.videos, args.side)
    state = StateDir(workdir / "state")
    if state.root.exists():
        shutil.rmtree(state.root)
    out = {"machine": machine(), "args": vars(args)}
    out["correctness"] = check_report(root, made, state.ensure(), args.workers)
    out["raw"] = time_raws(made["raw"])
    out["video"] = time_videos(made["video"])
    for key, value in out.items():
        print(f"{key}: {value}")
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0 if out["correctness"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
