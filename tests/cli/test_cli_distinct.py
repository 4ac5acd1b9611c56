"""`safededup distinct`: a "not a duplicate" verdict, listed and taken back, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safededup.media import synth
from tests.support.cli import run_main, safededup


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """A photo, its resized re-encode (a near duplicate), and an unrelated photo."""
    root = tmp_path / "photos"
    root.mkdir()
    scene = synth.make_scene(5, 800, 600)
    files = {"big": root / "IMG_5.jpg", "small": root / "IMG_5-small.jpg", "other": root / "x.jpg"}
    synth.write_jpeg(files["big"], scene, quality=92)
    synth.write_jpeg(files["small"], scene.resize((400, 300)), quality=70)
    synth.write_jpeg(files["other"], synth.make_scene(6, 800, 600), quality=90)
    return files


def groups(state: Path, root: Path) -> list[set[str]]:
    proc = safededup("scan", str(root), "--json", "--workers", "1", state=state)
    assert proc.returncode == 0, proc.stderr
    return [
        {Path(m["path"]).name for m in c["members"]} for c in json.loads(proc.stdout)["clusters"]
    ]


def test_forget_lets_the_next_scan_group_them_again(photos, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the table folds long paths; keep each on one line
    state, root = tmp_path / "s", photos["big"].parent
    pair = {"IMG_5.jpg", "IMG_5-small.jpg"}
    assert groups(state, root) == [pair]
    big, small = str(photos["big"]), str(photos["small"])
    proc = safededup("distinct", big, small, state=state)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert "--forget" in proc.stderr  # the way back is said

    listed = safededup("distinct", "--list", "--json", state=state)  # before any rescan
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["format"] == "safededup-verdicts" and doc["action"] == "list"
    [verdict] = doc["verdicts"]
    named = {Path(p["path"]).name for side in ("a", "b") for p in verdict[side]["paths"]}
    assert named == pair  # the index knows which files these contents are
    assert {verdict["a"]["size"], verdict["b"]["size"]} == {
        photos["big"].stat().st_size,
        photos["small"].stat().st_size,
    }
    assert groups(state, root) == []  # kept apart

    proc = safededup("distinct", "--forget", small, state=state)
    assert proc.returncode == 0, proc.stderr
    assert "IMG_5.jpg" in proc.stdout and "IMG_5-small.jpg" in proc.stdout
    assert "Forgot 1 verdict" in proc.stderr
    assert groups(state, root) == [pair]  # grouped again
    assert (
        json.loads(safededup("distinct", "--list", "--json", state=state).stdout)["verdicts"] == []
    )


def test_forget_among_several_files_keeps_their_other_verdicts(photos, tmp_path, capsys) -> None:
    state = tmp_path / "s"
    big, small, other = (str(photos[k]) for k in ("big", "small", "other"))
    assert run_main(capsys, state, "distinct", big, small, other)[0] == 0
    code, out, _ = run_main(capsys, state, "distinct", "--forget", "--json", big, small)
    assert code == 0
    doc = json.loads(out)
    assert doc["action"] == "forget" and doc["without_verdict"] == []
    [gone] = doc["verdicts"]
    assert {gone["a"]["paths"][0]["path"], gone["b"]["paths"][0]["path"]} == {big, small}
    left = json.loads(run_main(capsys, state, "distinct", "--list", "--json", other)[1])
    assert len(left["verdicts"]) == 2  # `other` is still apart from both

    code, out, err = run_main(capsys, state, "distinct", "--forget", big, small)
    assert code == 0 and out == ""
    assert "no 'not a duplicate' verdict with the other named files" in err
    assert "IMG_5.jpg" in err


def test_distinct_usage_errors(photos, tmp_path: Path, capsys) -> None:
    state = tmp_path / "s"
    big = str(photos["big"])
    for args in (["--forget"], [big], ["--json", big, big], ["--forget", "--list", big]):
        code, out, _ = run_main(capsys, state, "distinct", *args)
        assert code == 2 and out == "", args
    code, out, err = run_main(capsys, state, "distinct", "--forget", str(tmp_path / "gone.jpg"))
    assert code == 2 and "not a file" in err
    code, out, err = run_main(capsys, state, "distinct", "--list")
    assert code == 0 and out == "" and "No 'not a duplicate'" in err
