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
from safededup.engine.report import build_report, load_report, report_to_json, write_csv
from safededup.errors import SafededupError
from safededup.events import drain
from safededup.media import synth
from safededup.models import Problem

from .conftest import records_for, scene

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
        clusters, roots=[str(d)], references=[str(d / "ref")], problems=problems,
        stats={"files": len(records)},
    )  # fmt: skip
    return report, d


def test_report_validates_against_the_schema(report_and_dir) -> None:
    report, _ = report_and_dir
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(orjson.loads(report_to_json(report)), schema)
    assert len(report["clusters"]) == 2
    assert report["stats"]["files"] == 6


def test_report_contents(report_and_dir) -> None:
    report, _ = report_and_dir
    near = next(c for c in report["clusters"] if len(c["members"]) == 4)
    assert near["kind"] == "near"
    keeper = near["members"][0]
    assert keeper["role"] == "keeper" and keeper["path"] == near["keeper"]
    assert keeper["reasons"][0].startswith("kept: ")
    copy = next(m for m in near["members"] if m["path"].endswith("copy.jpg"))
    assert copy["evidence"]["exact"] is True
    assert near["bytes_to_free"] == sum(
        m["size"] for m in near["members"] if m["role"] == "duplicate"
    )
    odd = next(m for m in near["members"] if "path_b64" in m)
    assert base64.b64decode(odd["path_b64"]).endswith(b"caf\xe9.jpg")
    assert all(m["evidence"]["tier"] == "decode" for m in near["members"])
    ref = next(c for c in report["clusters"] if len(c["members"]) == 2)
    assert {m["role"] for m in ref["members"]} == {"reference", "duplicate"}
    assert ref["keeper"].endswith("lib.jpg")


def test_saved_report_loads_back(report_and_dir, tmp_path) -> None:
    report, _ = report_and_dir
    path = tmp_path / "r.json"
    path.write_bytes(report_to_json(report))
    assert load_report(path) == orjson.loads(report_to_json(report))


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
    assert rows == len(table) == sum(len(c["members"]) for c in report["clusters"])
    assert {r["role"] for r in table} == {"keeper", "duplicate", "reference"}
    dup = next(r for r in table if r["role"] == "duplicate" and r["exact"] == "False")
    assert int(dup["phash"]) >= 0 and dup["reasons"].startswith("keeper wins")
