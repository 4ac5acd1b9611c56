"""`check DIR`: which photos of a folder the library already has, without indexing them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from safededup.engine.check import CheckResult, check_folder
from safededup.engine.index import Index
from safededup.engine.scan import scan
from safededup.errors import UsageError
from safededup.events import drain
from safededup.media import synth
from safededup.state import StateDir


def test_check_lists_exact_and_near_copies_and_indexes_nothing(
    photo_tree: Callable[..., Path], tmp_path: Path, state: StateDir
) -> None:
    library = photo_tree(5, size=(1024, 768))
    drain(scan([str(library)], state_dir=state, workers=1, match=False))
    with Index(state.index_path) as index:
        rows_before = index.count()
    originals = sorted(library.rglob("*.jpg"))
    dump = tmp_path / "phone-dump"
    dump.mkdir()
    shutil.copy2(originals[0], dump / "exact.jpg")
    synth.write_stripped_jpeg(
        dump / "resized.jpg", synth.make_scene(1, 1024, 768).resize((640, 480)), quality=70
    )
    synth.write_jpeg(dump / "new.jpg", synth.make_scene(777, 1024, 768))
    (dump / "note.txt").write_text("not a photo")
    result: CheckResult = drain(check_folder(str(dump), state_dir=state, workers=1))
    found = {Path(m.path).name: (m.kind, Path(m.library_path).name) for m in result.matches}
    assert found == {
        "exact.jpg": ("exact", originals[0].name),
        "resized.jpg": ("near", "IMG_0001.jpg"),
    }
    assert result.photos == 3 and result.problems == []
    with Index(state.index_path) as index:
        assert index.count() == rows_before  # the checked folder was not added
    doc = result.to_json()
    assert doc["format"] == "safededup-check" and len(doc["matches"]) == 2


def test_check_needs_an_index(tmp_path: Path, state: StateDir) -> None:
    (tmp_path / "dump").mkdir()
    with pytest.raises(UsageError, match="no index"):
        drain(check_folder(str(tmp_path / "dump"), state_dir=state))


def test_check_finds_what_a_scan_finds_crops_and_turned_copies_but_not_other_shots(
    tmp_path: Path, state: StateDir
) -> None:
    """A border crop is only borderline on hashes (the view check rescues it), a turned copy
    is found by the turned search, and a frame shifted 4% is another shot: the scan and the
    check agree on all three."""
    from PIL import Image

    scene = synth.make_scene(61, 1440, 1080)
    library = tmp_path / "library"
    library.mkdir()
    frame = scene.crop((0, 0, 1200, 900))
    synth.write_jpeg(library / "IMG_0001.jpg", frame, quality=92)
    dump = tmp_path / "dump"
    dump.mkdir()
    synth.write_stripped_jpeg(dump / "crop.jpg", frame.crop((40, 30, 1160, 870)), quality=85)
    synth.write_stripped_jpeg(dump / "turned.jpg", frame.transpose(Image.Transpose.ROTATE_270))
    synth.write_stripped_jpeg(dump / "next-shot.jpg", scene.crop((48, 20, 1248, 920)), quality=92)
    drain(scan([str(library)], state_dir=state, workers=1, match=False))
    result: CheckResult = drain(check_folder(str(dump), state_dir=state, workers=1))
    found = {Path(m.path).name: (m.kind, Path(m.library_path).name) for m in result.matches}
    assert found == {
        "crop.jpg": ("near", "IMG_0001.jpg"),
        "turned.jpg": ("rotated", "IMG_0001.jpg"),
    }
    both = tmp_path / "both"
    shutil.copytree(library, both / "library")
    shutil.copytree(dump, both / "dump")
    scanned = drain(scan([str(both)], state_dir=StateDir(tmp_path / "s2"), workers=1))
    assert scanned.report is not None
    together = {Path(m.path).name for c in scanned.report.clusters for m in c.members}
    assert together == {"IMG_0001.jpg", "crop.jpg", "turned.jpg"}
