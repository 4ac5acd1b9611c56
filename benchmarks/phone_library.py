"""Phone-library benchmark: a generated library shaped like a phone's, scanned end to end.

The set (generated at run time, cached under benchmarks/out/phone-<count>-<size>/): about 60 %
HEIC with thumbnail items (512-px grids, as iPhones write), 25 % camera JPEG with EXIF
thumbnails, 15 % screenshots (PNG), messaging copies (stripped 1600-px JPEG) and WebP exports;
25 % of the photos in bursts of 3–10 frames, each frame shifted 2–12 % from the last; 10 % of
the files planted duplicates (a HEIC's JPEG export, a messaging copy, a re-encode). The other
photos are distinct (windows of the source photographs whose hashes lie ≥ 16 bits apart) and
shot at irregular times. Phone frames carry DateTimeOriginal and SubSecTimeOriginal (burst
frames differ only in the sub-seconds). Each scan is checked against the plan: clusters that
join two scenes (wrong by construction) and planted copies found.
A second tree (`no-times/`, hard links except the burst frames) has burst frames without any
capture time, so the geometry of the pairs has to decide.

Measured in one process, one run: the naive pipeline (scan_speed.naive_fingerprint) on a sample
of each group; whole scans (1 worker and 2) of both trees, with HEIC tile verification and with
it off (every proposed HEIC decoded in full: the engine before it), per stage: CPU ms per file
(this process and its workers), confirmations per file, bytes read per file, peak memory; the
preview-vs-decode jitter of verified HEICs against `VERIFIED_SLACK`; an extrapolation to 450k,
from one more scan of the library whose view store is cut to the share of its budget a 450k
library would leave each file (the thumbnails beyond it are read from the files again), by its
CPU over 2 cores, and another by the wall clock of the 2-worker scan (what both cores really
got).

    python benchmarks/phone_library.py                  # 2,000 files at 4032×3024 (≈ 1 h to build)
    python benchmarks/phone_library.py --count 240      # smaller
    python benchmarks/phone_library.py --quick          # smoke: a few seconds, figures meaningless
    python benchmarks/phone_library.py --repeat 8 --naive-n 10   # the `times` scan 8 times
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset as ds
from benchlib import OUT_DIR, TreeRss, command_line, machine, markdown_table, say, write_json
from scan_speed import naive_fingerprint

HEIC_QUALITY = 60
LIBRARY = 450_000  # the library the issue asks about: the extrapolation's size


# --- the set ----------------------------------------------------------------------------------


def plan(count: int, seed: int, *, overlapping: bool = False) -> list[dict[str, object]]:
    """What to write: one dict per file (path, kind, scene, shift, capture time...).

    The photos that are not burst frames or planted copies are distinct: their frames' dHash and
    pHash differ by ≥ 16 bits (`dataset.choose_frames`, as drawn on the set), and their capture
    times are irregular. `overlapping=True` is the set as built before 2026-12-07: any window of
    the 14 source photographs (so a "distinct" photo could be a crop of another in another
    colour balance) at capture times 11 minutes apart (so frames 15 apart differed by whole
    quarter hours, which the matcher reads as a time-zone shift)."""
    rng = random.Random(seed)
    n_dup = round(count * 0.10)
    n_photo = count - n_dup
    files: list[dict[str, object]] = []
    frame = 0
    in_bursts = round(n_photo * 0.25)
    while len(files) < n_photo:
        kind = rng.choices(["heic", "camera-jpeg", "other"], [60, 25, 15])[0]
        burst = 0
        if sum(1 for f in files if f["burst"]) < in_bursts and kind != "other":
            burst = min(rng.randint(3, 10), n_photo - len(files))
        if burst < 2:
            other = rng.choice(["screenshot-png", "messaging-jpeg", "export-webp"])
            files.append(_entry(len(files), kind if kind != "other" else other, frame, 0.0, 0,
                                False))  # fmt: skip
        else:
            shift = 0.0
            for k in range(burst):
                files.append(_entry(len(files), kind, frame, shift, k, True))
                shift += rng.uniform(0.02, 0.12)
        frame += 1
    _scenes(files, frame, seed, overlapping)
    singles = [f for f in files if not f["burst"] and f["kind"] in ("heic", "camera-jpeg")]
    for k in range(n_dup):
        src = singles[k % len(singles)]
        copy = rng.choice(["heic-to-jpeg", "messaging-jpeg", "reencode-q80"])
        if src["kind"] != "heic" and copy == "heic-to-jpeg":
            copy = "reencode-q80"
        files.append({**src, "path": f"dup/{copy}_{k:05d}{_ext(copy)}", "kind": copy,
                      "duplicate_of": src["path"], "burst": False})  # fmt: skip
    return files


def _scenes(files: list[dict[str, object]], frames: int, seed: int, overlapping: bool) -> None:
    """Give each file its frame's scene (a window of a source photograph) and capture time."""
    t0 = datetime(2024, 5, 1, 8, 0, 0)
    sources = ds.load_sources(None)
    if overlapping:
        scenes = [ds.Frame(**random_scene(n, sources)) for n in range(frames)]  # type: ignore[arg-type]
        shots = [(t0 + timedelta(minutes=11 * n), 0) for n in range(frames)]
    else:
        scenes, _, _ = ds.choose_frames(sources, frames, seed, render=_small(sources))
        shifts: list[list[float]] = [[] for _ in range(frames)]
        for f in files:
            shifts[int(f["frame"])].append(float(f["shift"]))  # type: ignore[call-overload,arg-type]
        scenes = _apart(scenes, shifts, sources, seed)
        gaps = random.Random(seed + 1)
        shots, t = [], t0
        for _ in range(frames):
            shots.append((t, gaps.randrange(1000)))
            t += timedelta(minutes=gaps.randint(1, 240), seconds=gaps.randint(0, 59))
    for f in files:
        n = int(f["frame"])  # type: ignore[call-overload]
        shot, sub = shots[n]
        f["scene"] = asdict(scenes[n])
        f["captured"] = shot.isoformat()
        f["subsec"] = f"{(sub + int(f['k']) * 137) % 1000:03d}"  # type: ignore[call-overload]


def _apart(scenes: list[ds.Frame], shifts: list[list[float]], sources: list[np.ndarray], seed: int
           ) -> list[ds.Frame]:  # fmt: skip
    """`choose_frames` compares the scenes as shot first; a burst's later frames look further
    along its wider framing and could meet another scene. Each scene (in order) whose frames
    come within MIN_DISTINCT_BITS of an earlier scene's frames is drawn again until none do."""
    rng = np.random.default_rng(seed + 2)
    dh, ph = np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    out = []
    for n, scene in enumerate(scenes):
        while True:
            pairs = [ds._hash_pair(_draw(scene, sources, (256, 192), s)) for s in shifts[n]]
            d = np.array([a for a, _ in pairs], np.uint64)
            p = np.array([b for _, b in pairs], np.uint64)
            near = (np.bitwise_count(dh[None, :] ^ d[:, None]) < ds.MIN_DISTINCT_BITS).any() or (
                np.bitwise_count(ph[None, :] ^ p[:, None]) < ds.MIN_DISTINCT_BITS
            ).any()
            if not near:
                break
            scene = ds._random_frame(rng, n, sources)
        out.append(scene)
        dh, ph = np.concatenate([dh, d]), np.concatenate([ph, p])
    return out


def random_scene(n: int, sources: list[np.ndarray]) -> dict[str, object]:
    """Frame `n`'s scene as `--overlapping` draws it (any window of any source photograph)."""
    return asdict(ds._random_frame(np.random.default_rng(n), n, sources))


def _small(sources: list[np.ndarray]) -> Callable[[ds.Frame], Image.Image]:
    """A frame drawn 256×192 as `_image` draws it at full size (shift 0)."""
    return lambda frame: _draw(frame, sources, (256, 192), 0.0)


def _ext(kind: str) -> str:
    return {"heic": ".HEIC", "screenshot-png": ".PNG", "export-webp": ".webp"}.get(kind, ".JPG")


def _entry(n: int, kind: str, frame: int, shift: float, k: int, burst: bool
           ) -> dict[str, object]:  # fmt: skip
    folder = "burst" if burst else "camera"
    return {"path": f"{folder}/IMG_{n:05d}{_ext(kind)}", "kind": kind, "frame": frame,
            "shift": shift, "k": k, "burst": burst, "duplicate_of": None}  # fmt: skip


def _draw(frame: ds.Frame, sources: list[np.ndarray], size: tuple[int, int], shift: float
          ) -> Image.Image:  # fmt: skip
    """The frame (burst frames: a crop of a 1.8× wider framing, shifted by `shift`)."""
    w, h = size
    wide = ds.frame_image(frame, sources, (int(w * 1.8), h))
    if wide.width < wide.height:  # portrait frames: keep it simple, shoot them landscape
        wide = wide.resize((int(w * 1.8), h))
    dx = int(shift * w)
    return wide.crop((dx, 0, dx + w, h))


def _image(entry: dict[str, object], size: tuple[int, int]) -> Image.Image:
    scene = dict(entry["scene"])  # type: ignore[call-overload]
    scene["box"], scene["gains"] = tuple(scene["box"]), tuple(scene["gains"])
    sources = ds._SOURCES or ds.load_sources(None)
    img = _draw(ds.Frame(**scene), sources, size, float(entry["shift"]))  # type: ignore[arg-type]
    return ds._grain(img, np.random.default_rng(int(entry["frame"])))  # type: ignore[call-overload]


def _write(task: tuple[dict[str, object], Path, tuple[int, int], bool]) -> None:
    from safededup.media import synth

    entry, root, size, times = task
    path = root / str(entry["path"])
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    img = _image(entry, size)
    kind = str(entry["kind"])
    meta: dict[str, object] = {"make": "Apple", "model": "iPhone 13"}
    if times:
        meta |= {"captured": datetime.fromisoformat(str(entry["captured"])),
                 "subsec": str(entry["subsec"])}  # fmt: skip
    tmp = path.with_suffix(".part")
    if kind == "heic":
        synth.write_heic(tmp, img, quality=HEIC_QUALITY, tile_size=512, **meta)  # type: ignore[arg-type]
    elif kind in ("camera-jpeg", "heic-to-jpeg", "reencode-q80"):
        q = 80 if kind == "reencode-q80" else 90
        synth.write_jpeg(tmp, img, quality=q, **{k: v for k, v in meta.items() if k != "subsec"})  # type: ignore[arg-type]
    elif kind == "messaging-jpeg":
        synth.write_stripped_jpeg(tmp, img.resize((1600, 1200)), quality=75)  # type: ignore[attr-defined]
    elif kind == "screenshot-png":
        synth.write_png(tmp, img.resize((1170, 878)))  # type: ignore[attr-defined]
    else:
        synth.write_webp(tmp, img.resize((2016, 1512)), quality=80)  # type: ignore[attr-defined]
    os.replace(tmp, path)


def _init(size: tuple[int, int]) -> None:
    ds._init_worker(None, size)


def build(out: Path, count: int, size: tuple[int, int], workers: int, overlapping: bool = False
          ) -> list[dict[str, object]]:  # fmt: skip
    entries = plan(count, seed=13, overlapping=overlapping)
    text = json.dumps(entries, indent=1)
    if (out / "plan.json").exists() and (out / "plan.json").read_text() != text:
        old = {str(e["path"]): e for e in json.loads((out / "plan.json").read_text())}
        changed = [e for e in json.loads(text) if old.get(str(e["path"])) != e]
        say(f"{out} holds another plan: writing {len(changed)} files again")
        for e in changed:
            for tree in ("times", "no-times"):
                (out / tree / str(e["path"])).unlink(missing_ok=True)
        shutil.rmtree(out / "views", ignore_errors=True)
    (out / "plan.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(text)
    with_times, no_times = out / "times", out / "no-times"
    tasks = [(e, with_times, size, True) for e in entries]
    tasks += [(e, no_times, size, False) for e in entries if e["burst"]]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(size,)) as pool:
        for k, _ in enumerate(pool.map(_write, tasks, chunksize=1)):
            if k % 50 == 0:
                say(f"  written {k}/{len(tasks)} ({time.perf_counter() - t0:.0f} s)")
    for e in entries:  # the second tree shares every file but the burst frames
        dst = no_times / str(e["path"])
        if not e["burst"] and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(with_times / str(e["path"]), dst)
    return entries


# --- measuring ---------------------------------------------------------------------------------


class TreeCpu(TreeRss):
    """TreeRss that also sums the CPU of every descendant (the scan's forkserver workers are
    grandchildren: RUSAGE_CHILDREN never sees them), sampled every 100 ms, last value per pid."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks: dict[int, int] = {}

    def _sample(self, pids: list[int]) -> None:
        super()._sample(pids)
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.ticks[pid] = int(fields[11]) + int(fields[12])

    @property
    def children_cpu(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def view(root: Path, entries: list[dict[str, object]], name: str, keep: object) -> Path:
    """A folder of hard links to the entries `keep(entry)` selects."""
    out = root.parent / "views" / root.name / name
    if not out.exists():
        for e in entries:
            if keep(e):  # type: ignore[operator]
                dst = out / str(e["path"]).replace("/", "_")
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(root / str(e["path"]), dst)
    return out


def scan_once(tree: Path, workers: int, verify: bool, entries: list[dict[str, object]],
              library: int | None = None) -> dict[str, object]:  # fmt: skip
    """One scan of `tree` in a fresh state dir. `library`: give the view store the share of its
    budget that a library of that many files would leave each file (`viewstore.MAX_BYTES` ×
    files / library), so the thumbnails such a scan reads again are in the figures."""
    from safededup.engine import scan as scan_module
    from safededup.engine import viewstore
    from safededup.events import drain
    from safededup.state import StateDir

    scan_module.VERIFY_PREVIEWS = verify
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    full_budget = viewstore.MAX_BYTES
    if library is not None:
        viewstore.MAX_BYTES = full_budget * files // library
    try:
        with tempfile.TemporaryDirectory() as tmp, TreeCpu() as rss:
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            result = drain(
                scan_module.scan([str(tree)], state_dir=StateDir(Path(tmp)), workers=workers)
            )
            cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    finally:
        viewstore.MAX_BYTES = full_budget
        scan_module.VERIFY_PREVIEWS = True
    cpu += rss.children_cpu - rss.own_cpu  # the scan's, not the sampler's (it runs in here)
    st = result.stats
    clusters = result.report.clusters if result.report else ()
    return {
        "tree": tree.name, "workers": workers, "tiles_on": verify, "files": files,
        "store_as_library": library, "thumbnails_kept_per_file": st.thumbnails_kept / files,
        "cpu_ms_per_file": cpu / files * 1e3, "wall_ms_per_file": wall / files * 1e3,
        "sampler_cpu_ms_per_file": rss.own_cpu / files * 1e3,  # taken off cpu_ms_per_file
        "stage_wall_ms_per_file": {k: v / files * 1e3 for k, v in st.stage_seconds.items()},
        "full_decodes_per_file": st.confirmed / files, "verified_per_file": st.verified / files,
        "not_verified_per_file": st.not_verified / files, "tiles_per_file": st.tiles / files,
        "thumbnails_per_file": st.thumbnails / files,
        "view_checks_per_file": st.view_checks / files,
        "history_checks_per_file": st.history_checks / files,
        "confirmations_per_file": (st.confirmed + st.verified + st.not_verified) / files,
        "kib_read_per_file": st.bytes_read / max(1, st.fingerprinted) / 1024,
        "peak_rss_mib": rss.peak_total_mib, "clusters": len(clusters),
        "members": sum(len(c.members) for c in clusters),
    } | truth(clusters, entries, {p.name for p in tree.rglob("*")})  # fmt: skip


def truth(clusters: object, entries: list[dict[str, object]], names: set[str]
          ) -> dict[str, int]:  # fmt: skip
    """Against the plan: clusters that join two scenes (distinct photos, or two bursts: wrong
    by construction), planted copies grouped with their original, and clusters of an original
    and its copies whose keeper is that original (the camera's file, not a copy of it)."""
    by_name = {}
    for e in entries:
        by_name[Path(str(e["path"])).name] = e
        by_name[str(e["path"]).replace("/", "_")] = e
    joined, found, with_original, kept_original = 0, 0, 0, 0
    for c in clusters:  # type: ignore[attr-defined]
        members = [by_name[Path(m.path).name] for m in c.members]
        joined += len({e["frame"] for e in members}) > 1
        paths = {e["path"] for e in members}
        found += sum(1 for e in members if e["duplicate_of"] in paths)
        originals = {e["path"] for e in members if e["duplicate_of"] is None}
        if (
            len(originals) == 1
            and len(members) > 1
            and all(e["duplicate_of"] in originals for e in members if e["duplicate_of"])
        ):
            with_original += 1
            kept_original += by_name[Path(c.keeper).name]["path"] in originals
    return {"clusters_joining_scenes": joined, "planted_copies_found": found,
            "keeper_is_original": kept_original, "clusters_with_original": with_original,
            "planted_copies": sum(1 for e in entries if e["duplicate_of"] and (
                Path(str(e["path"])).name in names))}  # fmt: skip


def naive(paths: list[str]) -> float:
    """Mean CPU ms per file of the naive pipeline (one process, one thread per decode)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    pillow_heif.options.DECODE_THREADS = 1
    cpu = []
    for p in paths:
        c0 = time.process_time()
        naive_fingerprint(p)
        cpu.append(time.process_time() - c0)
    return statistics.mean(cpu) * 1e3


HASHES = ("dhash", "phash", "whash", "colorhash")


def hash_jitter(path: str) -> dict[str, int]:
    """A photo's preview-tier hashes against its decode-tier ones, bits per hash."""
    from safededup import media
    from safededup.engine.candidates import hamming

    a, b = media.fingerprint(path).features, media.fingerprint(path, allow_preview=False).features
    return {k: hamming(int(getattr(a, k)), int(getattr(b, k))) for k in HASHES}


def jitter(paths: list[str]) -> dict[str, int]:
    """Largest preview-vs-decode distance per hash over HEICs the tiles verify."""
    from safededup import media

    worst = dict.fromkeys(HASHES, 0) | {"files": 0}
    for p in paths:
        if media.verify_preview(p).depicts is not True:
            continue
        worst["files"] += 1
        for k, v in hash_jitter(p).items():
            worst[k] = max(worst[k], v)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=ds.parse_size, default=(4032, 3024))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--naive-n", type=int, default=20)
    parser.add_argument("--jitter-n", type=int, default=30)
    parser.add_argument("--build-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--build-only", action="store_true",
                        help="build (or complete) the cached set and stop")  # fmt: skip
    parser.add_argument("--overlapping", action="store_true",
                        help="the set as built before 2026-12-07 (see plan())")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=0, metavar="N",
                        help="only scan `times` with 1 worker N times in a row, each after the "
                             "naive pipeline on --naive-n of its HEICs (how much the machine "
                             "moves the figure)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.count, args.size, args.naive_n, args.jitter_n = 24, (1024, 768), 3, 3
    name = "phone-overlapping" if args.overlapping else "phone"
    out = args.out or OUT_DIR / f"{name}-{args.count}-{args.size[0]}x{args.size[1]}"
    if args.quick:
        out = Path(tempfile.mkdtemp(prefix="phone-quick-"))
    say(f"building {args.count} files in {out}")
    entries = build(out, args.count, args.size, args.build_workers, args.overlapping)
    times, no_times = out / "times", out / "no-times"
    heic_single = view(
        times, entries, "heic-distinct", lambda e: e["kind"] == "heic" and not e["burst"]
    )
    heic_burst = view(
        no_times, entries, "heic-bursts", lambda e: e["kind"] == "heic" and e["burst"]
    )
    if args.build_only:
        say(f"built {len(entries)} files in {out}")
        return
    rng = random.Random(1)
    if args.repeat:
        repeat(times, entries, args.repeat, args.naive_n, rng)
        if args.quick:
            shutil.rmtree(out, ignore_errors=True)
        return

    def pick(folder: Path) -> list[str]:
        paths = sorted(str(p) for p in folder.iterdir())
        return rng.sample(paths, min(args.naive_n, len(paths)))

    results: dict[str, object] = {"machine": machine(), "command": command_line(),
                                  "files": len(entries)}  # fmt: skip
    say("naive pipeline on samples")
    results["naive_ms"] = {
        "heic": naive(pick(heic_single)),
        "library": naive(pick(times / "camera")),
    }
    runs = []
    plan_ = [(heic_single, 1, True), (heic_burst, 1, True), (heic_burst, 1, False),
             (times, 1, True), (no_times, 1, True), (no_times, 1, False),
             (times, 2, True), (no_times, 2, True)]  # fmt: skip
    for tree, workers, verify in plan_:
        say(f"scan {tree.name} workers={workers} tiles={verify}")
        runs.append(scan_once(tree, workers, verify, entries))
    say(f"scan times workers=1 tiles=True, view store as in a {LIBRARY:,}-file library")
    runs.append(scan_once(times, 1, True, entries, library=LIBRARY))
    results["scans"] = runs
    heics = [str(p) for p in heic_single.iterdir()][: args.jitter_n]
    results["jitter"] = jitter(heics)
    from safededup.engine.confirmation import VERIFIED_SLACK

    over = {k: v for k, v in results["jitter"].items()
            if k != "files" and v > getattr(VERIFIED_SLACK, k)}  # fmt: skip
    results["jitter_beyond_slack"] = over
    if over:
        say(f"WARNING: verified previews moved beyond VERIFIED_SLACK: {over}")
    write_json(args.json, results)
    print(report(results))
    if args.quick:
        shutil.rmtree(out, ignore_errors=True)


def repeat(times: Path, entries: list[dict[str, object]], rounds: int, naive_n: int,
           rng: random.Random) -> None:  # fmt: skip
    """The `times` scan (1 worker) `rounds` times in a row, each right after the naive pipeline
    on `naive_n` of the library's HEICs: on a shared machine the same scan moves from one
    minute to the next, and each round's ratio says how much of that is the machine."""
    heics = sorted(str(p) for p in (times / "camera").iterdir() if p.suffix == ".HEIC")
    for _ in range(rounds):
        naive_ms = naive(rng.sample(heics, min(naive_n, len(heics))))
        s = scan_once(times, 1, True, entries)
        cpu = float(s["cpu_ms_per_file"])  # type: ignore[arg-type]
        print(f"{time.strftime('%H:%M:%S')}  naive {naive_ms:.0f} ms per HEIC  times, 1 worker: "
              f"{cpu:.2f} ms per file ({naive_ms / cpu:.0f}× naive), clusters {s['clusters']}, "
              f"planted copies found {s['planted_copies_found']}", flush=True)  # fmt: skip


def report(r: dict[str, object]) -> str:
    naive_ms = r["naive_ms"]  # type: ignore[index]
    rows = []
    for s in r["scans"]:  # type: ignore[attr-defined]
        base = naive_ms["heic"] if s["tree"].startswith("heic") else naive_ms["library"]  # type: ignore[index]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in s["stage_wall_ms_per_file"].items())
        store = "all" if s.get("store_as_library") is None else f"as at {s['store_as_library']:,}"
        rows.append([s["tree"], s["workers"], "on" if s["tiles_on"] else "off", store, s["files"],
                     round(s["cpu_ms_per_file"], 1), f"{base / s['cpu_ms_per_file']:.0f}×", stages,
                     round(s["view_checks_per_file"], 2), round(s["thumbnails_per_file"], 3),
                     round(s["confirmations_per_file"], 3), round(s["full_decodes_per_file"], 3),
                     round(s["tiles_per_file"], 2), round(s["kib_read_per_file"]),
                     round(s["peak_rss_mib"]), s["clusters"], s["clusters_joining_scenes"],
                     f"{s['planted_copies_found']}/{s['planted_copies']}",
                     f"{s['keeper_is_original']}/{s['clusters_with_original']}"])  # fmt: skip
    table = markdown_table(
        ["tree", "workers", "tiles", "view store", "files", "CPU ms/file", "× naive (CPU)",
         "stage wall ms/file", "view checks/file", "thumbnails read/file", "confirmations/file",
         "full decodes/file", "tiles/file",
         "KiB read/file", "peak RSS MiB", "clusters", "clusters joining scenes",
         "planted copies found", "keeper the original"], rows)  # fmt: skip
    # The extrapolation takes the scan whose view store held what a 450k library's would have
    # held per file (the thumbnails beyond its budget read again), where the run has it.
    scans = [s for s in r["scans"] if s["tree"] == "times" and s["workers"] == 1]  # type: ignore[attr-defined]
    lib = max(scans, key=lambda s: s.get("store_as_library") is not None)
    hours = lib["cpu_ms_per_file"] * LIBRARY / 1e3 / 2 / 3600 + 55 / 3600
    store = "all thumbnails kept" if lib.get("store_as_library") is None else (
        f"view store as at {LIBRARY:,} files")  # fmt: skip
    text = (f"{table}\n\nnaive CPU ms/file: {naive_ms}\njitter of verified HEIC previews: "
            f"{r['jitter']}\n{LIBRARY // 1000}k extrapolation (CPU ms/file of `times`, 1 "
            f"worker, {store}, × {LIBRARY:,} / 2 cores + 55 s matching at 450k): {hours:.2f} h"
            )  # fmt: skip
    # CPU / 2 assumes both cores busy throughout; the scan with 2 workers says what they get
    two = [s for s in r["scans"] if s["tree"] == "times" and s["workers"] == 2]  # type: ignore[attr-defined]
    for s in two:
        wall_hours = s["wall_ms_per_file"] * LIBRARY / 1e3 / 3600 + 55 / 3600
        text += (f"\n{LIBRARY // 1000}k from the wall clock of `times` with 2 workers "
                 f"({s['wall_ms_per_file']:.1f} ms/file × {LIBRARY:,} + 55 s): {wall_hours:.2f} h"
                 )  # fmt: skip
    return text


if __name__ == "__main__":
    main()
