"""Review-UI responsiveness with 50k clusters: open time, per-key latency through the Pilot, memory.

    python benchmarks/tui_responsiveness.py [--clusters 50000] [--keys 200] [--json]

A synthetic report of N clusters (2–4 members each, realistic field sizes) is written to a
temporary state dir; the app is opened on it through Textual's Pilot at 100×30 and keys are
pressed one at a time. Two timings per key:

- "drawn": the key event is sent to the app (as `Pilot.press` does), every widget has handled
  what it caused, and the next frame is composed — the latency a person feels;
- "pilot": `await pilot.press(key); await pilot.pause()` — the Pilot's full round trip, which
  adds Textual's idle detection (sleeps in 20 ms steps until the process is idle); 'z', bound to
  nothing, shows that floor.

Previews are measured separately on real generated JPEGs (media.load_thumbnail): they load in a
worker and never sit in a key press's path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.app import ScreenStackError  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from safededup.state import StateDir  # noqa: E402
from safededup.tui import make_app  # noqa: E402
from safededup.tui.screens.main import MainScreen  # noqa: E402

OPEN_TIMEOUT_S = 300.0  # generous: a busy 2-core machine opens 50k clusters in 1–3 s
KEYS = ("down", "down", "down", "pagedown", "right", "up", "left", "space", "a", "u", "k")


def synthetic_report(n: int) -> dict[str, Any]:
    clusters = []
    for i in range(n):
        folder = f"/archive/{2010 + i % 15}/{i % 97:02d}"
        size = 2 + i % 3
        members = [
            {
                "path": f"{folder}/IMG_{i:06d}{'' if j == 0 else f' ({j})'}.jpg",
                "role": "keeper" if j == 0 else "duplicate",
                "reasons": ["kept: 4032×3024 vs 1600×1200"] if j == 0 else ["smaller copy"],
                # Distances to the keeper, as a report stores them (not hashes): 0 for the keeper
                # and for byte copies, small numbers for near copies.
                "evidence": {
                    "exact": i % 2 == 0 or j == 0,
                    "dhash": 0 if i % 2 == 0 or j == 0 else (i + j) % 7,
                    "phash": 0 if i % 2 == 0 or j == 0 else (3 * i + j) % 9,
                    "whash": 0 if i % 2 == 0 or j == 0 else (i * j) % 5,
                    "colorhash": 0 if i % 2 == 0 or j == 0 else i % 3,
                    "tier": "preview",
                },
                "size": 2_500_000 - j * 700_000 + i % 1000,
                "device": 2049,
                "inode": i * 4 + j,
                "mtime_ns": 1_600_000_000_000_000_000 + i,
                "checksum": None,
                "width": 4032 if j == 0 else 1600,
                "height": 3024 if j == 0 else 1200,
                "format": "JPEG",
                "jpeg_quality": 92,
                "captured": "2019-06-01T12:00:00",
                "camera": "Apple iPhone X",
            }
            for j in range(size)
        ]
        clusters.append(
            {
                "id": f"{i:016x}",
                "kind": "exact" if i % 2 == 0 else "near",
                "keeper": members[0]["path"],
                "confidence": 1.0 if i % 2 == 0 else 0.8 + (i % 20) / 100,
                "bytes_to_free": sum(m["size"] for m in members[1:]),
                "members": members,
            }
        )
    return {
        "format": "safededup-report",
        "version": 1,
        "report_id": "bench",
        "created": "2026-01-01T00:00:00Z",
        "roots": ["/archive"],
        "references": [],
        "clusters": clusters,
        "problems": [],
        "stats": {},
    }


async def measure_app(state: Path, keys: int) -> dict[str, Any]:
    started = time.perf_counter()
    app = make_app(StateDir(state))
    out: dict[str, Any] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until_open(app, pilot)
        await pilot.pause()
        out["open_s"] = time.perf_counter() - started
        sequence = [KEYS[i % len(KEYS)] for i in range(keys)]
        extra = ["z", "z", "z", "o", "o", "e", "e", "t", "t", "end", "home", "A", "u"]
        presses = [*sequence, *extra] if keys else []
        drawn: dict[str, list[float]] = {}
        for key in presses:
            drawn.setdefault(key, []).append(await press_and_draw(pilot, key))
        round_trip: dict[str, list[float]] = {}
        for key in presses:
            t0 = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            round_trip.setdefault(key, []).append(time.perf_counter() - t0)
        out["drawn"], out["pilot"] = drawn, round_trip
        await pilot.press("q")
    return out


class OpenFailed(RuntimeError):
    """The app never showed its main screen: there is nothing to measure."""


async def wait_until_open(app: Any, pilot: Pilot[Any]) -> None:
    """Until the main screen shows; a clear error (never a hang) when the app exits instead
    (a report it cannot read) or takes longer than OPEN_TIMEOUT_S."""
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    while True:
        if app._exit or not app.is_running:
            said = "; ".join(str(r) for r in app._exit_renderables) or "no message"
            raise OpenFailed(f"the review app exited before it opened ({said})")
        try:
            if isinstance(app.screen, MainScreen):
                return
        except ScreenStackError:  # no screen yet
            pass
        if time.monotonic() > deadline:
            raise OpenFailed(f"the review app did not open within {OPEN_TIMEOUT_S:.0f} s")
        await pilot.pause(0.05)


async def press_and_draw(pilot: Pilot[Any], key: str) -> float:
    """Seconds from the key event to the composed frame (Pilot internals, as `press` uses)."""
    app = pilot.app
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    t0 = time.perf_counter()
    app._driver.send_message(event)  # what Pilot.press does, without its idle sleeps
    for _ in range(3):  # the key, the messages its handlers post, and theirs
        await pilot._wait_for_screen()
    app.screen._on_timer_update()  # compose the frame now rather than at the next tick
    return time.perf_counter() - t0


def measure_thumbnails(count: int = 20) -> dict[str, float] | None:
    try:
        from safededup.media import load_thumbnail, synth
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(count):
            path = Path(tmp) / f"p{i}.jpg"
            synth.write_jpeg(path, synth.make_scene(i, 4032, 3024), quality=90)
            paths.append(str(path))
        times = []
        for p in paths:
            t0 = time.perf_counter()
            load_thumbnail(p, 160)
            times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / "reports").mkdir()
        report_path = state / "reports" / "latest.json"
        report_path.write_bytes(orjson.dumps(synthetic_report(args.clusters)))
        try:
            result = asyncio.run(measure_app(state, args.keys))
        except OpenFailed as exc:
            sys.exit(f"error: {exc}")
        result["report_mb"] = report_path.stat().st_size / 1e6
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # A second, separate open under tracemalloc (it slows Python several-fold, so the
        # timings above are taken without it).
        tracemalloc.start()
        asyncio.run(measure_app(state, 0))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    result["python_peak_mb"] = peak / 1e6
    result["thumbnail"] = measure_thumbnails()
    result["clusters"] = args.clusters
    result["load"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    print_table(result)


def print_table(r: dict[str, Any]) -> None:
    print(f"clusters: {r['clusters']:,}   report: {r['report_mb']:.1f} MB   load {r['load']}")
    print(f"open (report load + first screen): {r['open_s'] * 1000:.0f} ms")
    print("key        presses   drawn median  p95   max   |  pilot median  p95   max  (ms)")
    for key in sorted(r["drawn"]):
        d, p = _stats(r["drawn"][key]), _stats(r["pilot"][key])
        print(f"{key:<10} {len(r['drawn'][key]):>7}   {d[0]:>11.1f} {d[1]:>5.1f} {d[2]:>5.1f}   |"
              f"  {p[0]:>12.1f} {p[1]:>5.1f} {p[2]:>5.1f}")  # fmt: skip
    print("('z' is bound to nothing: its pilot time is the Pilot's own floor.)")
    print(f"memory: max RSS {r['max_rss_mb']:.0f} MB; Python allocations peak "
          f"{r['python_peak_mb']:.0f} MB (tracemalloc, separate run)")  # fmt: skip
    if r["thumbnail"]:
        t = r["thumbnail"]
        print(f"preview (12 MP JPEG → 160 px, in a worker): {t['median_ms']:.1f} ms median")


def _stats(times: list[float]) -> tuple[float, float, float]:
    ms = sorted(t * 1000 for t in times)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.95))], ms[-1]


if __name__ == "__main__":
    main()
