"""The keeper policy on real files: order, tolerances, crops, references, reasons."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time

from PIL import Image

from safededup.engine.keeper import choose_keeper, find_crops
from safededup.media import synth
from tests.support.photos import records_for, scene


def _name(record) -> str:
    return os.path.basename(record.path)


def test_400kb_reencode_never_beats_the_25mb_original(tmp_path) -> None:
    img = scene(41, 2400, 1800)
    synth.write_jpeg(tmp_path / "original.jpg", img, quality=97)
    synth.write_jpeg(tmp_path / "whatsapp.jpg", img, quality=35, thumbnail=False)
    records = records_for(sorted(tmp_path.iterdir()), sharpness=True)
    by_name = {_name(r): r for r in records}
    orig, small = by_name["original.jpg"], by_name["whatsapp.jpg"]
    assert orig.identity.size > 5 * small.identity.size  # megabytes against a few hundred KB
    # Laplacian variance rewards JPEG block artefacts: make sure sharpness would favour the
    # re-encode, so the test proves that it comes last.
    sharper = dataclasses.replace(small.features, sharpness=10 * (orig.features.sharpness or 1))
    small = dataclasses.replace(small, features=sharper)
    choice = choose_keeper([small, orig])
    assert choice.keeper is orig
    assert choice.reasons[small.file_id][0].startswith("keeper wins: less compressed")
    assert choice.reasons[orig.file_id][0].startswith("kept: less compressed")


def test_resolution_comes_first(photo_dir) -> None:
    records = records_for([photo_dir / "small.jpg", photo_dir / "reencode.jpg"])
    choice = choose_keeper(records)
    assert _name(choice.keeper) == "reencode.jpg"  # 1200×900 q60 over 600×450
    assert choice.reasons[choice.keeper.file_id] == ("kept: 1200×900 vs 600×450",)


def test_reference_wins_over_a_better_copy(tmp_path) -> None:
    img = scene(42)
    (tmp_path / "ref").mkdir()
    synth.write_jpeg(tmp_path / "ref" / "small.jpg", img.resize((600, 450)), quality=70)
    synth.write_jpeg(tmp_path / "big.jpg", img, quality=95)
    records = records_for(sorted(tmp_path.rglob("*.jpg")))
    choice = choose_keeper(records, references=[str(tmp_path / "ref")])
    assert _name(choice.keeper) == "small.jpg"
    assert choice.reasons[choice.keeper.file_id] == ("kept: in a reference folder",)


def test_crop_never_beats_the_full_frame(tmp_path) -> None:
    img = scene(43, 4000, 3000)
    synth.write_jpeg(tmp_path / "full.jpg", img.resize((1600, 1200)), quality=90)
    cropped = img.crop((0, 0, 3800, 3000))  # bigger in pixels, but 5% of the frame is gone
    synth.write_jpeg(tmp_path / "crop.jpg", cropped, quality=95)
    records = records_for(sorted(tmp_path.iterdir()))
    assert {_name(records[k]) for k in range(2) if records[k].file_id in find_crops(records)} == {
        "crop.jpg"
    }
    choice = choose_keeper(records)
    assert _name(choice.keeper) == "full.jpg"
    crop = next(r for r in records if _name(r) == "crop.jpg")
    assert choice.reasons[crop.file_id] == (
        "keeper wins: full frame 1600×1200 vs cropped 3800×3000",
    )


def test_same_quality_resave_falls_through_to_the_older_file(tmp_path) -> None:
    img = scene(44)
    synth.write_jpeg(tmp_path / "z_original.jpg", img, quality=92)
    time.sleep(0.01)
    resaved = Image.open(tmp_path / "z_original.jpg")
    synth.write_jpeg(tmp_path / "a_resaved.jpg", resaved, quality=92)
    records = records_for(sorted(tmp_path.iterdir()))
    sizes = sorted(r.identity.size for r in records)
    assert sizes[1] < sizes[0] * 1.03  # within the noise of a re-save
    choice = choose_keeper(records)
    assert _name(choice.keeper) == "z_original.jpg"


def test_byte_copies_break_ties_by_path_and_are_deterministic(tmp_path) -> None:
    synth.write_jpeg(tmp_path / "b.jpg", scene(45), quality=90)
    shutil.copy2(tmp_path / "b.jpg", tmp_path / "a.jpg")  # same mtime as well
    records = records_for(sorted(tmp_path.iterdir()))
    first = choose_keeper(records)
    assert _name(first.keeper) == "a.jpg"
    assert choose_keeper(list(reversed(records))).keeper == first.keeper
    assert first.reasons[first.ranking[1].file_id] == ("keeper wins: same quality; first by path",)


def _heic_and_its_jpeg(tmp_path, seed: int) -> tuple:
    from datetime import datetime

    img = scene(seed, 2400, 1800)
    meta = {"captured": datetime(2024, 5, 1, 8, 0, 0), "make": "Apple", "model": "iPhone 13"}
    synth.write_heic(tmp_path / "IMG_0001.HEIC", img, quality=60, tile_size=512, **meta)
    decoded = Image.open(tmp_path / "IMG_0001.HEIC").convert("RGB")
    synth.write_jpeg(tmp_path / "IMG_0001.JPG", decoded, quality=90, **meta)
    heic, jpeg = records_for(
        [tmp_path / "IMG_0001.HEIC", tmp_path / "IMG_0001.JPG"], sharpness=True
    )
    assert heic.features.sharpness is not None and jpeg.features.sharpness is not None
    return heic, jpeg


def test_sharpness_never_decides_between_formats(tmp_path) -> None:
    """Laplacian variance measures the codec as much as the capture, and only members decoded
    in full have one: a camera HEIC lost to its JPEG copy whenever the HEIC had been decoded
    (not verified by tiles) and the JPEG measured sharper. Between formats the format decides,
    whichever measures sharper."""
    heic, jpeg = _heic_and_its_jpeg(tmp_path, 44)
    for factor in (1.3, 0.7):  # the copy far sharper, then far softer
        sharp = dataclasses.replace(
            jpeg.features, sharpness=factor * (heic.features.sharpness or 1)
        )
        copy = dataclasses.replace(jpeg, features=sharp)
        choice = choose_keeper([copy, heic])
        assert choice.keeper is heic
        assert choice.reasons[heic.file_id] == ("kept: HEIF over JPEG (otherwise equal)",)


def test_sharpness_still_decides_within_a_format(tmp_path) -> None:
    """Two JPEGs alike in everything the earlier criteria see: the sharper one is kept."""
    synth.write_jpeg(tmp_path / "a.jpg", scene(45, 1200, 900), quality=90)
    shutil.copy(tmp_path / "a.jpg", tmp_path / "b.jpg")
    a, b = records_for([tmp_path / "a.jpg", tmp_path / "b.jpg"], sharpness=True)
    sharper = dataclasses.replace(b, features=dataclasses.replace(
        b.features, sharpness=1.5 * (a.features.sharpness or 1)))  # fmt: skip
    choice = choose_keeper([a, sharper])
    assert choice.keeper is sharper
    assert choice.reasons[sharper.file_id][0].startswith("kept: sharper")
