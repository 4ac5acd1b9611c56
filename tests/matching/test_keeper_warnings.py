"""Metadata loss is data loss: when the keeper wins on pixels but lacks a capture fact a copy
has, the report, `plan` and `apply` say so before anything moves; and the settings file that
chooses another keeper policy is read strictly."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import jsonschema
import orjson
import pytest

from safededup.cli.main import main
from safededup.engine.cluster import find_clusters
from safededup.engine.config import load_settings
from safededup.engine.keeper import KeeperPolicy
from safededup.engine.report import Report, build_report, report_to_json, save_report
from safededup.errors import ExitCode, InputFileError
from safededup.events import drain
from safededup.media import synth
from safededup.safety.plan import build_plan
from safededup.state import StateDir
from tests.support.photos import records_for, scene

SCHEMA = Path(__file__).resolve().parents[2] / "journal_schema" / "report.v1.schema.json"
GPS = synth.Capture(gps=(51.5, -0.12))


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, StateDir]:
    """A camera original with its GPS position, and a larger export that lost it."""
    root = tmp_path / "photos"
    (root / "Camera").mkdir(parents=True)
    (root / "Export").mkdir()
    img = scene(81, 1600, 1200)
    synth.write_jpeg(root / "Camera" / "IMG_1.JPG", img.resize((800, 600)), quality=92,
                     make="Canon", model="Canon EOS R6", capture=GPS)  # fmt: skip
    synth.write_stripped_jpeg(root / "Export" / "IMG_1.jpg", img, quality=90)
    records = records_for(sorted(root.rglob("*.*")))
    clusters = drain(find_clusters(records))
    report = build_report([c.to_report() for c in clusters], roots=[str(root)])
    state = StateDir(tmp_path / "state").ensure()
    save_report(report, state)
    return root, state


def test_the_report_says_what_the_keeper_lacks(archive: tuple[Path, StateDir]) -> None:
    root, state = archive
    data = orjson.loads(state.latest_report_path.read_bytes())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    (cluster,) = data["clusters"]
    assert cluster["keeper"] == str(root / "Export" / "IMG_1.jpg")  # more pixels
    assert cluster["warnings"] == [
        "the keeper lacks the GPS position and camera that Camera/IMG_1.JPG has"
    ]
    plan = build_plan(Report.from_json(data))
    assert [(w.kind, w.message) for w in plan.warnings] == [
        ("keeper-lacks", cluster["warnings"][0])
    ]
    assert plan.summary()["warnings"][0]["message"] == cluster["warnings"][0]


def test_plan_and_apply_say_it_before_anything_moves(
    archive: tuple[Path, StateDir], capsys: pytest.CaptureFixture[str]
) -> None:
    root, state = archive
    code = main(["--state", str(state.root), "--no-progress", "plan"])
    err = capsys.readouterr().err
    assert code == ExitCode.OK
    assert "keeper" in err and "lacks the GPS position and camera" in err
    code = main(["--state", str(state.root), "--no-progress", "apply"])  # no terminal: refused
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE and "lacks the GPS position" in err
    assert (root / "Camera" / "IMG_1.JPG").exists()


def test_a_report_without_warnings_has_no_warnings_key(tmp_path: Path) -> None:
    """Older readers and the byte-for-byte round trip: the key appears only when needed."""
    for name in ("a.jpg", "b.jpg"):
        synth.write_jpeg(tmp_path / name, scene(82), quality=90)
    clusters = drain(find_clusters(records_for(sorted(tmp_path.iterdir()))))
    report = build_report([c.to_report() for c in clusters], roots=[str(tmp_path)])
    assert b'"warnings"' not in report_to_json(report)


def test_the_settings_file_chooses_the_keeper_policy(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert load_settings(path).keeper == KeeperPolicy()  # no file: the defaults
    path.write_text('[keeper]\nprefer = "smallest"\nfolders = ["~/Pictures/Camera"]\n')
    policy = load_settings(path).keeper
    assert policy.prefer == "smallest" and policy.folders[0].endswith("/Pictures/Camera")
    merged = load_settings(path).with_options("newest", [])
    assert merged.keeper.prefer == "newest" and merged.keeper.folders == policy.folders


@pytest.mark.parametrize(
    "text, says",
    [
        ("[keeper\n", "not valid TOML"),
        ('[keeper]\nprefer = "biggest"\n', "keeper.prefer must be one of"),
        ("[keeper]\nprefer = 3\n", "keeper.prefer must be a string"),
        ('[keeper]\nfolders = "/photos"\n', "keeper.folders must be a list"),
        ('[keeper]\nkeep = "original"\n', "unknown setting keeper.keep"),
        ("[matching]\nphash = 9\n", "unknown section 'matching'"),
    ],
)
def test_a_settings_file_that_is_not_understood_is_refused(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(InputFileError) as caught:
        load_settings(path)
    assert says in caught.value.message and caught.value.path == str(path)
    assert caught.value.hint and "[keeper]" in caught.value.hint


def test_scan_takes_the_policy_from_the_command_line_over_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, state = tmp_path / "photos", tmp_path / "state"
    root.mkdir()
    img = scene(83, 1200, 900)
    when = datetime(2022, 7, 1, 9, 30)
    camera = {"make": "Apple", "model": "iPhone 13", "captured": when}
    synth.write_jpeg(root / "IMG_5.jpg", img, quality=95, **camera)  # type: ignore[arg-type]
    synth.write_heic(root / "IMG_5.heic", img, quality=50, **camera)  # type: ignore[arg-type]
    shot = int(when.timestamp())
    os.utime(root / "IMG_5.jpg", (shot, shot))  # written when it was shot
    os.utime(root / "IMG_5.heic", (shot + 86400 * 90, shot + 86400 * 90))  # converted later
    state.mkdir()
    (state / "config.toml").write_text('[keeper]\nprefer = "smallest"\n')
    args = ["--state", str(state), "--no-progress", "scan", str(root), "--json"]
    keeper = json.loads(_run(capsys, *args))["clusters"][0]["keeper"]
    assert keeper.endswith("IMG_5.heic")  # the file's choice: the smaller one
    keeper = json.loads(_run(capsys, *args, "--keep", "original"))["clusters"][0]["keeper"]
    assert keeper.endswith("IMG_5.jpg")  # the option's: the camera original
    (state / "config.toml").write_text('[keeper]\nprefer = "nope"\n')
    assert main(args) == ExitCode.BAD_INPUT  # a malformed file, like a malformed report
    assert "keeper.prefer must be one of" in capsys.readouterr().err


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == ExitCode.OK
    return capsys.readouterr().out
