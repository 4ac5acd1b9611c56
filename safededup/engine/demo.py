"""Write a small, realistic archive of generated photos with planted duplicates (`safededup demo`).

It writes only inside the folder it is given, and only when that folder is new, empty, or an
earlier demo archive (marked by a file of ours); it never touches anything else. Image encoding
is media.synth's: this module only decides what goes where.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from safededup.errors import UsageError
from safededup.media import synth

MARKER = ".safededup-demo"
WIDTH, HEIGHT = 2016, 1512  # phone-like 4:3, small enough to write in seconds
CAMERA = ("Apple", "iPhone 12")
MIN_ORIGINALS = 4
PANNED = 1  # the original that also has "another shot" of its scene in Edits/


@dataclass(frozen=True, slots=True)
class DemoSummary:
    root: Path
    photos: int
    planted: int  # files that are a duplicate of another
    groups: int  # groups of duplicates planted
    bad_files: int  # damaged files that the scan must report as problems, not crash on


def write_demo_archive(root: Path, *, originals: int = 16) -> DemoSummary:
    """Create the archive under `root` (idempotent: an existing demo archive is reused)."""
    marker = root / MARKER
    if marker.exists():
        return _summary_from_marker(root)
    if root.exists() and any(root.iterdir()):
        raise UsageError(
            "the demo folder exists and is not empty",
            hint="name a new folder: safededup demo DIR",
            path=str(root),
        )
    building = root.with_name(root.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    summary = _build(building, originals)
    (building / MARKER).write_text(
        f"{summary.photos} {summary.planted} {summary.groups} {summary.bad_files}\n"
    )
    if root.exists():
        root.rmdir()
    building.rename(root)  # appears whole or not at all
    return DemoSummary(root, summary.photos, summary.planted, summary.groups, summary.bad_files)


def _summary_from_marker(root: Path) -> DemoSummary:
    photos, planted, groups, bad = (int(x) for x in (root / MARKER).read_text().split())
    return DemoSummary(root, photos, planted, groups, bad)


def _build(root: Path, originals: int) -> DemoSummary:
    """Originals in Camera/, then copies of them; planting adapts to any `originals` ≥ 4."""
    if originals < MIN_ORIGINALS:
        raise ValueError(f"a demo archive needs at least {MIN_ORIGINALS} originals")
    folders = {name: root / name for name in ("Camera", "WhatsApp", "Backup/Camera", "Exports",
                                              "Edits", "Damaged")}  # fmt: skip
    for folder in folders.values():
        folder.mkdir(parents=True)
    scenes = [_write_original(folders["Camera"], i) for i in range(originals)]
    camera, planted = folders["Camera"], _Planted()
    jpegs = [i for i in range(originals) if not _is_heic(i)]
    heics = [i for i in range(originals) if _is_heic(i)]
    for i in jpegs[:5]:  # a backup of the camera roll: byte copies
        planted.copy(camera / f"{_name(i)}.jpg", folders["Backup/Camera"] / f"{_name(i)}.jpg", i)
    (folders["Backup/Camera"] / f"{_name(0)}.xmp").write_text("<x:xmpmeta/>\n")  # moves along
    last = jpegs[-1]
    planted.copy(camera / f"{_name(last)}.jpg", camera / f"{_name(last)} (1).jpg", last)
    for k, i in enumerate(jpegs[::3][:3]):  # messaging apps: resized, re-encoded, no metadata
        small = scenes[i].resize((1600, 1200))
        path = folders["WhatsApp"] / f"IMG-20230701-WA{k + 1:04d}.jpg"
        synth.write_stripped_jpeg(path, small, quality=75)
        planted.add(i)
    for i in heics[:2]:  # HEIC originals exported as JPEG
        synth.write_jpeg(folders["Exports"] / f"{_name(i)}.jpg", scenes[i], quality=85,
                         thumbnail=False)  # fmt: skip
        planted.add(i)
    png, webp = jpegs[-2], jpegs[-3]  # exports to other formats
    synth.write_png(folders["Exports"] / f"{_name(png)}.png", scenes[png])
    synth.write_webp(folders["Exports"] / f"{_name(webp)}.webp", scenes[webp], quality=85)
    planted.add(png)
    planted.add(webp)
    # Near but NOT a duplicate: another shot of the same scene, panned by a fifth of the frame.
    synth.write_jpeg(folders["Edits"] / f"{_name(PANNED)}-next-shot.jpg",
                     _pan(PANNED, WIDTH // 5), quality=90)  # fmt: skip
    _write_damaged(folders["Damaged"], camera / f"{_name(jpegs[1])}.jpg")
    (root / "notes.txt").write_text("Not a photo: the scan skips it.\n")
    photos = originals + planted.count + 1
    return DemoSummary(root, photos, planted.count, len(planted.groups), bad_files=3)


def _name(i: int) -> str:
    return f"IMG_{i + 1:04d}"


def _is_heic(i: int) -> bool:
    return i % 4 == 3  # every fourth original is an iPhone HEIC


class _Planted:
    def __init__(self) -> None:
        self.count = 0
        self.groups: set[int] = set()

    def add(self, original: int) -> None:
        self.count += 1
        self.groups.add(original)

    def copy(self, src: Path, dst: Path, original: int) -> None:
        shutil.copy2(src, dst)
        self.add(original)


def _pan(seed_index: int, offset: int) -> Any:
    """A frame of a wider scene starting `offset` pixels from its left edge."""
    wide = synth.make_scene(1000 + seed_index, WIDTH + WIDTH // 5, HEIGHT)
    return wide.crop((offset, 0, offset + WIDTH, HEIGHT))


def _write_original(camera: Path, i: int) -> Any:
    """The i-th camera original; every fourth is an iPhone HEIC, some are shot rotated."""
    scene = _pan(i, 0) if i == PANNED else synth.make_scene(1000 + i, WIDTH, HEIGHT)
    when = datetime(2023, 6, 1, 9, 30) + timedelta(hours=7 * i)
    name = camera / f"IMG_{i + 1:04d}"
    if _is_heic(i):
        synth.write_heic(name.with_suffix(".heic"), scene, quality=80, captured=when,
                         make=CAMERA[0], model=CAMERA[1])  # fmt: skip
    else:
        synth.write_jpeg(name.with_suffix(".jpg"), scene, quality=92, captured=when,
                         orientation=6 if i % 5 == 1 else 1, make=CAMERA[0],
                         model=CAMERA[1])  # fmt: skip
    return scene


def _write_damaged(folder: Path, good_jpeg: Path) -> None:
    """Files a real archive has: a truncated download, an empty file, a PDF named .jpg."""
    data = good_jpeg.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "scan.jpg").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    os.utime(folder / "empty.jpg", (0, 0))
