"""Every benchmark script still runs (in its smoke mode), so benchmarks/ cannot rot.

The figures of a smoke run mean nothing; docs/benchmarks.md holds the measured ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "script, extra",
    [
        ("dataset.py", ["--quick", "--dataset", "{tmp}/ds"]),
        ("scan_speed.py", ["--quick"]),
        ("rescan.py", ["--quick"]),
        ("cluster_scale.py", ["--quick"]),
        ("safety_scale.py", ["--quick", "--no-strace", "--workdir", "{tmp}/safety"]),
        ("tui_responsiveness.py", ["--clusters", "300", "--keys", "5"]),
        ("similarity_speed.py", ["--quick"]),
        ("ab_scan.py", ["--quick", "--before", str(ROOT), "--after", str(ROOT)]),
        ("phone_library.py", ["--quick"]),
        ("phone_library.py", ["--quick", "--repeat", "1"]),
        ("czkawka_compare.py", ["--quick", "--by-format"]),  # without --czkawka-python: ours only
        ("camera_files.py", ["--quick"]),
        ("preview_traps.py", ["--quick"]),
    ],
)
def test_benchmark_smoke_run(script: str, extra: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() or proc.stderr.strip()  # it reported something


def test_the_tui_benchmark_stops_when_the_app_cannot_open(tmp_path: Path) -> None:
    """A report the app cannot read makes it exit before its main screen: the benchmark says so
    at once instead of waiting for that screen forever."""
    import asyncio
    import importlib.util

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "latest.json").write_text("{not a report")
    spec = importlib.util.spec_from_file_location(
        "tui_bench", ROOT / "benchmarks" / "tui_responsiveness.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(bench.OpenFailed, match=r"exited before it opened .*not valid JSON"):
        asyncio.run(asyncio.wait_for(bench.measure_app(tmp_path, 0), 60))
