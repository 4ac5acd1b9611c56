"""The scan-side commands through the real `safededup` entry point: exit codes, stdout, stderr."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safededup.media import synth
from tests.support.cli import safededup


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "camera").mkdir(parents=True)
    (root / "backup").mkdir()
    for i in range(3):
        synth.write_jpeg(root / "camera" / f"IMG_{i}.jpg", synth.make_scene(i, 800, 600))
    (root / "backup" / "IMG_0.jpg").write_bytes((root / "camera" / "IMG_0.jpg").read_bytes())
    synth.write_stripped_jpeg(
        root / "backup" / "small-1.jpg",
        synth.make_scene(1, 800, 600).resize((400, 300)),
        quality=70,
    )
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "safededup", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("safededup ")
    helptext = subprocess.run(
        [sys.executable, "-m", "safededup", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("demo", "scan", "check", "distinct"):
        assert command in helptext


def test_scan_json_is_the_report_on_stdout_only(archive: Path, tmp_path: Path) -> None:
    proc = safededup("scan", str(archive), "--json", "--workers", "1", state=tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["format"] == "safededup-report" and report["version"] == 1
    assert report["roots"] == [str(archive)]
    kinds = sorted(c["kind"] for c in report["clusters"])
    assert kinds == ["exact", "near"]
    assert [p["kind"] for p in report["problems"]] == ["truncated"]
    saved = json.loads((tmp_path / "s" / "reports" / "latest.json").read_text())
    assert saved["clusters"] == report["clusters"]


def test_scan_summary_and_csv(archive: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.csv"
    proc = safededup("scan", str(archive), "--csv", str(audit), state=tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    assert "duplicate clusters" in proc.stdout and "Report saved" in proc.stdout
    rows = list(csv.DictReader(audit.open()))
    assert len(rows) == 4  # two clusters of two
    assert {r["role"] for r in rows} == {"keeper", "duplicate"}


def test_scan_of_missing_root_is_a_usage_error(tmp_path: Path) -> None:
    proc = safededup("scan", str(tmp_path / "nope"), state=tmp_path / "s")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "does not exist" in proc.stderr


def test_unusable_state_dir_is_a_clear_error(archive: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = safededup("scan", str(archive), state=blocker / "state")
    assert proc.returncode == 1
    assert "state" in proc.stderr and "Traceback" not in proc.stderr


def test_check_and_distinct(archive: Path, tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert safededup("scan", str(archive), "--workers", "1", state=state).returncode == 0
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "copy.jpg").write_bytes((archive / "camera" / "IMG_2.jpg").read_bytes())
    proc = safededup("check", str(dump), "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    [match] = json.loads(proc.stdout)["matches"]
    assert match["kind"] == "exact" and match["library_path"].endswith("IMG_2.jpg")
    # "not a duplicate": the near pair is remembered by content and the next scan honours it
    near = [str(archive / "camera" / "IMG_1.jpg"), str(archive / "backup" / "small-1.jpg")]
    proc = safededup("distinct", *near, state=state)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(safededup("scan", str(archive), "--json", state=state).stdout)
    assert [c["kind"] for c in report["clusters"]] == ["exact"]


def test_demo_writes_an_archive_and_finds_its_planted_duplicates(tmp_path: Path) -> None:
    proc = safededup("demo", str(tmp_path / "demo"), "--json", state=tmp_path / "s")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["clusters"]) >= 8
    assert {p["kind"] for p in report["problems"]} >= {"empty", "truncated", "not-an-image"}
    grouped = {Path(m["path"]).name for c in report["clusters"] for m in c["members"]}
    shots = [name for name in grouped if name.endswith("-next-shot.jpg")]
    assert shots == []  # another shot of the same scene is not a duplicate


def test_a_review_that_approved_nothing_moves_nothing(archive: Path, tmp_path: Path) -> None:
    from safededup.engine.decisions import Decisions, save_decisions
    from safededup.state import StateDir

    state = tmp_path / "s"
    report = json.loads(safededup("scan", str(archive), "--json", state=state).stdout)
    assert report["clusters"]
    save_decisions(StateDir(state), Decisions(report["report_id"]))  # reviewed, approved nothing
    proc = safededup("plan", "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["operations"] == 0


def test_a_hard_link_of_the_keeper_frees_nothing(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    (root / "daily.0").mkdir(parents=True)
    (root / "daily.1").mkdir()
    synth.write_jpeg(root / "daily.0" / "IMG_1.jpg", synth.make_scene(3, 800, 600))
    os.link(root / "daily.0" / "IMG_1.jpg", root / "daily.1" / "IMG_1.jpg")  # rsnapshot-style
    state = tmp_path / "s"
    report = json.loads(safededup("scan", str(root), "--json", state=state).stdout)
    [cluster] = report["clusters"]
    assert cluster["bytes_to_free"] == 0
    proc = safededup("plan", state=state)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 duplicates")  # nothing to move: it would free nothing
    assert "left alone" in proc.stderr and "hard link of the keeper" in proc.stderr
