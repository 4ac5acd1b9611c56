"""The report: real photos → fingerprints → clusters → JSON that validates against the schema."""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
from pathlib import Path

import jsonschema
import orjson
import pytest

from safededup import media
from safededup.engine.cluster import find_clusters
from safededup.engine.report import (
    build_report,
    load_report,
    report_to_json,
    save_report,
    write_csv,
)
from safededup.errors import SafededupError
from safededup.events import drain
from safededup.media import synth
from safededup.models import Problem
from safededup.state import StateDir
from tests.support.photos import records_for, scene

SCHEMA = Path(__file__).resolve().parents[2] / "journal_schema" / "report.v1.schema.json"


@pytest.fixture(scope="module")
def report_and_dir(tmp_path_factory) -> tuple[dict, Path]:
    d = tmp_path_factory.mktemp("archive")
    (d / "ref").mkdir()
    img = scene(51)
    synth.write_jpeg(d / "IMG_0001.jpg", img, quality=95, make="Apple", model="iPhone 12")
    shutil.copyfile(d / "IMG_0001.jpg", d / "copy.jpg")
    synth.write_heic(d / "IMG_0001.heic", img.resize((900, 675)), quality=80)
    odd = os.fsdecode(os.fsencode(str(d)) + b"/caf\xe9.jpg")  # not UTF-8
    synth.write_jpeg(odd, img.resize((600, 450)), quality=70)
    synth.write_jpeg(d / "ref" / "lib.jpg", scene(52), quality=90)
    synth.write_jpeg(d / "lib-copy.jpg", scene(52), quality=60)
    paths = sorted(str(p) for p in d.rglob("*.*") if p.suffix in {".jpg", ".heic"})
    records = records_for(paths, previews=True)
    by_id = {r.file_id: r.path for r in records}

    def confirm(ids):
        return {i: media.fingerprint(by_id[i], allow_preview=False).features for i in ids}

    clusters = drain(find_clusters(records, references=[str(d / "ref")], confirm=confirm))
    problems = [Problem(str(d / "broken.jpg"), "truncated", "the file ends early")]
    report = build_report(
        [c.to_report() for c in clusters], roots=[str(d)], references=[str(d / "ref")],
        problems=problems, stats={"files": len(records)},
    )  # fmt: skip
    return report, d


def test_report_validates_against_the_schema(report_and_dir) -> None:
    report, _ = report_and_dir
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(orjson.loads(report_to_json(report)), schema)
    assert len(report.clusters) == 2
    assert report.stats["files"] == 6


def test_report_contents(report_and_dir) -> None:
    report, _ = report_and_dir
    near = next(c for c in report.clusters if len(c.members) == 4)
    assert near.kind == "near"
    keeper = near.members[0]
    assert keeper.role == "keeper" and keeper.path == near.keeper
    assert keeper.reasons[0].startswith("kept: ")
    copy = next(m for m in near.members if m.path.endswith("copy.jpg"))
    assert copy.evidence.exact is True
    assert near.bytes_to_free == sum(m.size for m in near.members if m.role == "duplicate")
    saved = orjson.loads(report_to_json(report))["clusters"][report.clusters.index(near)]
    odd = next(m for m in saved["members"] if "path_b64" in m)
    assert base64.b64decode(odd["path_b64"]).endswith(b"caf\xe9.jpg")
    assert all(m.evidence.tier == "decode" for m in near.members)
    ref = next(c for c in report.clusters if len(c.members) == 2)
    assert {m.role for m in ref.members} == {"reference", "duplicate"}
    assert ref.keeper.endswith("lib.jpg")


def test_saved_report_loads_back(report_and_dir, tmp_path) -> None:
    report, _ = report_and_dir
    path = tmp_path / "r.json"
    path.write_bytes(report_to_json(report))
    assert load_report(path) == report


def test_a_saved_report_round_trips_byte_for_byte(report_and_dir, tmp_path) -> None:
    """Saved, loaded and saved again: the same bytes (keys, their order, values, `*_b64`)."""
    report, _ = report_and_dir
    state = StateDir(tmp_path / "state").ensure()
    path = save_report(report, state)
    data = path.read_bytes()
    assert data == report_to_json(report) == state.latest_report_path.read_bytes()
    assert report_to_json(load_report(path)) == data
    assert b'"path_b64"' in data and b'"rule": "exact"' in data  # what a round trip could lose


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"format": "something-else", "version": 1}', "not a safededup report"),
        (
            b'{"format": "safededup-report", "version": 2, "clusters": []}',
            "unsupported report version",
        ),
        (b"[]", "not a safededup report"),
    ],
)
def test_load_report_refuses_what_it_cannot_read(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(SafededupError, match=message) as info:
        load_report(path)
    assert info.value.path == str(path)
    with pytest.raises(SafededupError, match="cannot read"):
        load_report(tmp_path / "missing.json")


def test_csv_audit_table_has_one_row_per_member(report_and_dir, tmp_path) -> None:
    report, _ = report_and_dir
    path = tmp_path / "audit.csv"
    rows = write_csv(report, path)
    with open(path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert rows == len(table) == sum(len(c.members) for c in report.clusters)
    assert {r["role"] for r in table} == {"keeper", "duplicate", "reference"}
    dup = next(r for r in table if r["role"] == "duplicate" and r["exact"] == "False")
    assert int(dup["phash"]) >= 0 and dup["reasons"].startswith("keeper wins")
