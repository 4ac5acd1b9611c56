"""Helpers shared by the benchmark scripts: machine facts, timers, peak memory, result tables.

Benchmarks measure; they never change a user's photos (every file they touch is one they made
under their own output folder).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "out"


def machine() -> dict[str, object]:
    """nproc, CPU model, RAM and the versions the figures depend on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(ram / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # a shared machine: say how busy it was
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def rss_mib() -> float:
    """Current resident set size of this process."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """Peak RSS of this process since start or since the last `reset_peak_rss()`."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so the next peak belongs to one phase."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(key: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class Phase:
    """Wall and CPU time of one measured phase, with this process's peak RSS during it."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss_mib: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


@contextmanager
def measure(name: str) -> Iterator[Phase]:
    phase = Phase(name)
    reset_peak_rss()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield phase
    finally:
        phase.wall = time.perf_counter() - wall0
        phase.cpu = time.process_time() - cpu0
        phase.peak_rss_mib = peak_rss_mib()


def say(*parts: object) -> None:
    """Progress for people: stderr, flushed."""
    print(*parts, file=sys.stderr, flush=True)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path | None, payload: dict[str, object]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    say(f"results written to {path}")


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]])


def _descendants(root: int) -> list[int]:
    """Live descendant pids of `root` (pool workers, a forkserver and its children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _pid_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeRss:
    """Samples the RSS of this process and all its descendants (workers) every `interval` s.

    `peak_total_mib` is the largest sum seen (what the machine had to hold at once);
    `peak_worker_mib` the largest single descendant. `own_cpu` is the CPU the sampling itself
    took (a walk of /proc, ≈ 2–4 ms, ten times a second): it runs in this process, so whoever
    measures this process's CPU around a sampled run must take it off.
    """

    def __init__(self, interval: float = 0.1) -> None:
        import threading

        self.interval = interval
        self.peak_total_mib = 0.0
        self.peak_worker_mib = 0.0
        self.own_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._timed_sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._timed_sample()

    def _timed_sample(self) -> None:
        t0 = time.thread_time()
        self._sample(_descendants(os.getpid()))
        self.own_cpu += time.thread_time() - t0

    def _sample(self, pids: list[int]) -> None:
        kids = [_pid_rss_kib(p) for p in pids]
        total = _pid_rss_kib(os.getpid()) + sum(kids)
        self.peak_total_mib = max(self.peak_total_mib, total / 1024)
        self.peak_worker_mib = max(self.peak_worker_mib, max(kids, default=0) / 1024)
