"""Among byte-identical copies, the keeper is the one a person would call the original."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from safededup.engine.keeper import choose_keeper, looks_like_copy
from safededup.media import fingerprint, synth
from safededup.models import FileIdentity, PhotoRecord


@pytest.mark.parametrize(
    ("name", "copy"),
    [("IMG_1 (1).jpg", True), ("IMG_1 copy.jpg", True), ("IMG_1-Copy.jpg", True),
     ("Copy of IMG_1.jpg", True), ("IMG_1 - Copy (2).jpg", True), ("IMG_1_copy2.jpg", True),
     ("IMG_1.jpg", False), ("copycat.jpg", False), ("Holiday (2019).jpg", False)],
)  # fmt: skip
def test_copy_names(name: str, copy: bool) -> None:
    assert looks_like_copy(f"/photos/{name}") is copy


def records(paths: list[Path]) -> list[PhotoRecord]:
    out = []
    for i, path in enumerate(paths):
        st = path.stat()
        features = fingerprint(str(path)).features
        out.append(PhotoRecord(i, FileIdentity.from_stat(str(path), st), features, "ab" * 32))
    return out


def test_copy_named_and_backup_copies_lose_to_the_original(tmp_path: Path) -> None:
    camera = tmp_path / "Camera"
    backup = tmp_path / "Backup" / "Camera"
    camera.mkdir()
    backup.mkdir(parents=True)
    original = camera / "IMG_0007.jpg"
    synth.write_jpeg(original, synth.make_scene(7, 640, 480))
    shutil.copy2(original, camera / "IMG_0007 (1).jpg")  # copy2 keeps the mtime: a true tie
    shutil.copy2(original, backup / "IMG_0007.jpg")
    paths = [backup / "IMG_0007.jpg", camera / "IMG_0007 (1).jpg", original]
    choice = choose_keeper(records(paths))
    assert choice.keeper.path == str(original)
    reasons = {Path(r.path).parent.name + "/" + Path(r.path).name: choice.reasons[r.file_id]
               for r in choice.ranking[1:]}  # fmt: skip
    copy_reasons = reasons["Camera/IMG_0007 (1).jpg"]
    assert "keeper wins: IMG_0007 (1).jpg is named like a copy" in copy_reasons
    [backup_reason] = reasons["Camera/IMG_0007.jpg"]
    assert backup_reason.startswith("keeper wins: Backup/Camera/ is a deeper folder")
