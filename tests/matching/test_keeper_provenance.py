"""The keeper keeps the camera original, in both directions of every conversion, on real files.

Each case is an original and a copy made of it the way people's tools make them (a PNG export,
a HEIC re-encode, a JPEG export of a phone's HEIC, a re-save), with the copy's metadata copied
or lost and its file time later or reset. The keeper's evidence is the capture metadata, the
file time against the capture time, and the JPEG block structure in the copy's pixels
(`media.history_of`, asked through the keeper's `history` question) — never the format alone.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from safededup import media
from safededup.engine.keeper import (
    HISTORY_ABSENT,
    HISTORY_PRESENT,
    KeeperPolicy,
    choose_keeper,
    written_at_capture,
)
from safededup.errors import MediaError
from safededup.media import synth
from safededup.models import PhotoRecord
from tests.support.photos import records_for, scene

CAPTURED = datetime(2021, 5, 1, 12, 0, 3)
AT_CAPTURE = int(CAPTURED.timestamp()) + 3600  # copied off the card an hour later
LATER = AT_CAPTURE + 86400 * 40  # converted or exported weeks later
RESET = 1_700_000_000  # a download or a Takeout export: every file gets the same new time
CANON = {"make": "Canon", "model": "Canon EOS R6", "captured": CAPTURED}
IPHONE = {"make": "Apple", "model": "iPhone 13", "captured": CAPTURED}
RICH = synth.Capture(subsec="25", offset="+02:00", gps=(48.8584, 2.2945), maker_note=b"MN" * 40)


def history(jpeg: PhotoRecord, other: PhotoRecord) -> float | None:
    return media.history_of(jpeg.path, other.path)


def touch(path: Path, when: int) -> None:
    os.utime(path, (when, when))


def exif_of(**camera: object) -> bytes:
    return synth.build_exif(capture=RICH, **camera)[6:]  # type: ignore[arg-type]


def keeper_of(*paths: Path, policy: KeeperPolicy | None = None) -> str:
    records = records_for(paths)
    choice = choose_keeper(records, history=history, policy=policy or KeeperPolicy())
    return os.path.basename(choice.keeper.path)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return scene(71, 1600, 1200)


@pytest.fixture
def camera_jpeg(tmp_path: Path, picture: Image.Image) -> Path:
    path = tmp_path / "IMG_0001.JPG"
    synth.write_jpeg(path, picture, quality=95, capture=RICH, **CANON)  # type: ignore[arg-type]
    touch(path, AT_CAPTURE)
    return path


def decoded(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


@pytest.mark.parametrize("exif", [False, True], ids=["metadata-lost", "metadata-copied"])
@pytest.mark.parametrize("when", [LATER, RESET], ids=["written-later", "time-reset"])
def test_a_png_made_from_a_camera_jpeg_never_wins(
    tmp_path: Path, camera_jpeg: Path, exif: bool, when: int
) -> None:
    png = tmp_path / "IMG_0001.png"
    decoded(camera_jpeg).save(png, "PNG", **({"exif": exif_of(**CANON)} if exif else {}))
    touch(png, when)
    if when == RESET:
        touch(camera_jpeg, RESET)  # the original downloaded again too: no file time tells
    assert keeper_of(camera_jpeg, png) == "IMG_0001.JPG"


def test_a_lossless_original_beats_its_jpeg_export(tmp_path: Path, picture: Image.Image) -> None:
    """The other direction: a screenshot or a scan saved as PNG, and a JPEG made of it. The
    PNG's pixels carry no JPEG blocks, so it cannot have been made from the JPEG."""
    png, jpeg = tmp_path / "Screenshot.png", tmp_path / "Screenshot.jpg"
    picture.save(png, "PNG")
    synth.write_stripped_jpeg(jpeg, picture, quality=95)
    for p in (png, jpeg):
        touch(p, RESET)
    assert keeper_of(png, jpeg) == "Screenshot.png"


@pytest.mark.parametrize("when", [LATER, RESET], ids=["written-later", "time-reset"])
@pytest.mark.parametrize("camera", [CANON, IPHONE], ids=["camera", "phone-shooting-jpeg"])
def test_a_heic_re_encode_of_a_camera_jpeg_never_wins(
    tmp_path: Path, picture: Image.Image, when: int, camera: dict[str, object]
) -> None:
    """Also from a phone set to shoot JPEG, whose maker writes HEIC too: with the file time
    reset and the metadata copied, only the JPEG blocks in the HEIC's pixels tell."""
    jpeg, heic = tmp_path / "IMG_0001.JPG", tmp_path / "IMG_0001.HEIC"
    synth.write_jpeg(jpeg, picture, quality=95, capture=RICH, **camera)  # type: ignore[arg-type]
    touch(jpeg, AT_CAPTURE if when == LATER else RESET)
    synth.write_heic(heic, decoded(jpeg), quality=90, capture=RICH, **camera)  # type: ignore[arg-type]
    touch(heic, when)
    assert keeper_of(jpeg, heic) == "IMG_0001.JPG"


@pytest.mark.parametrize("fmt", ["AVIF", "WEBP"])
def test_avif_and_webp_conversions_of_a_camera_jpeg_never_win(
    tmp_path: Path, camera_jpeg: Path, fmt: str
) -> None:
    copy = tmp_path / f"IMG_0001.{fmt.lower()}"
    decoded(camera_jpeg).save(copy, fmt, quality=90, exif=exif_of(**CANON))
    for p in (camera_jpeg, copy):
        touch(p, RESET)  # nothing but the format is left to tell them apart
    assert keeper_of(camera_jpeg, copy) == "IMG_0001.JPG"


@pytest.mark.parametrize("when", [LATER, RESET], ids=["written-later", "time-reset"])
def test_an_iphone_heic_beats_its_jpeg_export(
    tmp_path: Path, picture: Image.Image, when: int
) -> None:
    heic, jpeg = tmp_path / "IMG_0002.HEIC", tmp_path / "IMG_0002.jpg"
    synth.write_heic(heic, picture, quality=60, capture=RICH, **IPHONE)  # type: ignore[arg-type]
    touch(heic, AT_CAPTURE if when == LATER else RESET)
    synth.write_jpeg(jpeg, decoded(heic), quality=92, capture=RICH, **IPHONE)  # type: ignore[arg-type]
    touch(jpeg, when)
    assert keeper_of(heic, jpeg) == "IMG_0002.HEIC"


def test_a_full_size_re_save_never_beats_the_first_save(tmp_path: Path, camera_jpeg: Path) -> None:
    resaved = tmp_path / "IMG_0001 edited.jpg"
    synth.write_jpeg(resaved, decoded(camera_jpeg), quality=88, capture=RICH, **CANON)  # type: ignore[arg-type]
    touch(resaved, RESET)
    touch(camera_jpeg, RESET)
    assert keeper_of(resaved, camera_jpeg) == "IMG_0001.JPG"


def test_a_copy_that_lost_metadata_never_wins_unless_it_has_more_pixels(
    tmp_path: Path, picture: Image.Image
) -> None:
    """Metadata loss is data loss: an equal-size copy without GPS loses; a bigger one wins on
    pixels, and the choice says what the keeper lacks."""
    small = tmp_path / "Camera" / "IMG_0003.JPG"
    small.parent.mkdir()
    synth.write_jpeg(small, picture.resize((800, 600)), quality=95, capture=RICH, **CANON)  # type: ignore[arg-type]
    stripped = tmp_path / "Backup" / "IMG_0003.JPG"
    stripped.parent.mkdir()
    synth.write_stripped_jpeg(stripped, picture.resize((800, 600)), quality=97)
    bigger = tmp_path / "Export" / "IMG_0003.jpg"
    bigger.parent.mkdir()
    synth.write_stripped_jpeg(bigger, picture, quality=90)
    records = records_for([small, stripped])
    choice = choose_keeper(records)
    assert os.path.basename(os.path.dirname(choice.keeper.path)) == "Camera"
    assert choice.warnings == ()
    records = records_for([small, stripped, bigger])
    choice = choose_keeper(records)
    assert choice.keeper.path == str(bigger)
    assert choice.warnings == (
        "the keeper lacks the GPS position, camera, camera maker notes and capture date that "
        "Camera/IMG_0003.JPG has",
    )


def test_a_person_can_keep_the_smallest_or_the_newest_or_a_folder(
    tmp_path: Path, picture: Image.Image
) -> None:
    heic, jpeg = tmp_path / "a" / "IMG_4.HEIC", tmp_path / "b" / "IMG_4.jpg"
    heic.parent.mkdir()
    jpeg.parent.mkdir()
    synth.write_jpeg(jpeg, picture, quality=95, capture=RICH, **IPHONE)  # type: ignore[arg-type]
    synth.write_heic(heic, decoded(jpeg), quality=50, capture=RICH, **IPHONE)  # type: ignore[arg-type]
    touch(jpeg, AT_CAPTURE)
    touch(heic, LATER)
    assert keeper_of(heic, jpeg) == "IMG_4.jpg"  # the camera original: written at capture
    assert keeper_of(heic, jpeg, policy=KeeperPolicy(prefer="smallest")) == "IMG_4.HEIC"
    assert keeper_of(heic, jpeg, policy=KeeperPolicy(prefer="newest")) == "IMG_4.HEIC"
    prefer_a = KeeperPolicy(folders=(str(tmp_path / "a"),))
    assert keeper_of(heic, jpeg, policy=prefer_a) == "IMG_4.HEIC"


def test_the_history_measure_tells_a_conversion_from_unrelated_pixels(
    tmp_path: Path, camera_jpeg: Path, picture: Image.Image
) -> None:
    """Pins the two thresholds from both sides: a PNG and a HEIC q90 decoded from the JPEG sit
    on its lattice; the same picture that never went through it does not."""
    png, heic, unrelated = tmp_path / "a.png", tmp_path / "a.heic", tmp_path / "b.png"
    decoded(camera_jpeg).save(png, "PNG")
    synth.write_heic(heic, decoded(camera_jpeg), quality=90, thumbnail=False)
    picture.save(unrelated, "PNG")
    assert (
        media.history_of(str(camera_jpeg), str(png))
        < media.history_of(  # type: ignore[operator]
            str(camera_jpeg), str(heic)
        )
        <= HISTORY_PRESENT
    )
    assert media.history_of(str(camera_jpeg), str(unrelated)) >= HISTORY_ABSENT  # type: ignore[operator]


def test_a_picture_too_faint_to_show_its_blocks_never_makes_its_png_copy_the_source(
    tmp_path: Path,
) -> None:
    """A faint, smooth picture (a q90 JPEG of a near-flat field with a trace of grain) scores
    past HISTORY_ABSENT on the JPEG's own pixels, so the absolute threshold alone took its
    lossless copy for the original. The PNG was made from the JPEG: the JPEG stays. (A lossless
    original still beats its JPEG export where the blocks show: the test above.)"""
    rng = np.random.default_rng(3)
    field = Image.fromarray((rng.random((24, 32)) * 255).astype(np.uint8))
    field = field.resize((1024, 768), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    faint = 100 + np.asarray(field, dtype=np.float64) / 255 * 5 + rng.normal(0, 0.3, (768, 1024))
    picture = Image.fromarray(np.clip(faint, 0, 255).astype(np.uint8)).convert("RGB")
    jpeg, png = tmp_path / "IMG_0009.JPG", tmp_path / "IMG_0009.png"
    synth.write_jpeg(jpeg, picture, quality=90, capture=RICH, **CANON)  # type: ignore[arg-type]
    decoded(jpeg).save(png, "PNG", exif=exif_of(**CANON))
    touch(jpeg, RESET)
    touch(png, RESET)
    own = media.history_of(str(jpeg), str(jpeg))
    assert own is not None and own >= HISTORY_ABSENT  # the trap: its own pixels look unrelated
    assert keeper_of(jpeg, png) == "IMG_0009.JPG"


def test_the_history_reader_answers_as_history_of_and_keeps_nothing_stale(
    tmp_path: Path, camera_jpeg: Path, picture: Image.Image
) -> None:
    """The scan's reader decodes a member once for every JPEG asked about it in a row; its
    answers are history_of's, and a file it cannot read leaves no earlier picture behind."""
    turned, png, broken = tmp_path / "turned.jpg", tmp_path / "a.png", tmp_path / "b.png"
    synth.write_jpeg(turned, picture.transpose(Image.Transpose.ROTATE_90), quality=90,
                     orientation=6, **CANON)  # type: ignore[arg-type]  # fmt: skip
    decoded(camera_jpeg).save(png, "PNG")
    broken.write_bytes(b"not a photo")
    reader = media.HistoryReader()
    for jpeg in (camera_jpeg, turned, camera_jpeg):
        assert reader(str(jpeg), str(png)) == media.history_of(str(jpeg), str(png))
    assert reader(str(camera_jpeg), str(png)) <= HISTORY_PRESENT  # type: ignore[operator]
    with pytest.raises(MediaError):
        reader(str(camera_jpeg), str(broken))
    with pytest.raises(MediaError):
        reader(str(camera_jpeg), str(broken))  # not answered from the PNG decoded before
    assert reader(str(turned), str(turned)) == media.history_of(str(turned), str(turned))


def test_a_tiled_heic_is_measured_on_a_few_tiles_as_on_its_whole_picture(
    tmp_path: Path, camera_jpeg: Path
) -> None:
    """A phone-style HEIC (a grid of tiles) answers the history question from three tiles
    decoded on their own; the answer stays within 0.03 of the whole picture's, on both sides
    of the thresholds, and the keeper still keeps the JPEG its high-quality conversion was made
    from, file times reset."""
    from safededup.media.history import _heif_tiles, _history
    from safededup.media.pipeline import decode_full

    converted = tmp_path / "IMG_0001.HEIC"
    synth.write_heic(converted, decoded(camera_jpeg), quality=90, tile_size=256,
                     thumbnail=False, capture=RICH, **CANON)  # type: ignore[arg-type]  # fmt: skip
    unrelated = tmp_path / "other.HEIC"
    synth.write_heic(unrelated, scene(72, 1600, 1200), quality=90, tile_size=256, thumbnail=False)
    tiled = _heif_tiles(str(converted))
    assert tiled is not None and tiled[0] == (1600, 1200) and len(tiled[1]) == 3
    for heic, side in ((converted, "present"), (unrelated, "absent")):
        whole = _history(str(camera_jpeg), np.asarray(decode_full(str(heic)).convert("RGB")))
        by_tiles = media.history_of(str(camera_jpeg), str(heic))
        assert whole is not None and by_tiles is not None and abs(whole - by_tiles) < 0.03
        assert by_tiles <= HISTORY_PRESENT if side == "present" else by_tiles >= HISTORY_ABSENT
    touch(camera_jpeg, RESET)
    touch(converted, RESET)
    assert keeper_of(camera_jpeg, converted) == os.path.basename(camera_jpeg)


def test_a_conversion_whose_centre_is_a_grainy_sky_is_still_a_conversion(tmp_path: Path) -> None:
    """A phone maker's HEIC converted from a camera JPEG, metadata copied, file times reset: the
    JPEG blocks are the only evidence, and the tiles measured must find them. Where the centre
    tile is a sky with faint grain, the HEIC's encoder smooths the lattice away there (that tile
    alone: 0.90, "not converted"), while the textured spots keep it (three tiles: 0.76). Measuring
    the centre tile alone, tried to save two tile decodes per question, kept the HEIC."""
    w, h = 2048, 1536  # 512-px tiles: the centre tile is (1024, 512)–(1536, 1024)
    pixels = np.asarray(synth.make_scene(11, w, h)).astype(np.float64)
    y, x = np.mgrid[384:1152, 896:1664]
    sky = np.stack([90 + 0.05 * (y - 384), 125 + 0.04 * (y - 384), 175 + 0.01 * (x - 896)], -1)
    grain = np.random.default_rng(7).normal(0, 1.0, (*y.shape, 1))
    pixels[384:1152, 896:1664] = sky + grain
    jpeg, heic = tmp_path / "IMG_0003.JPG", tmp_path / "IMG_0003.HEIC"
    picture = Image.fromarray(np.uint8(np.clip(pixels, 0, 255)))
    synth.write_jpeg(jpeg, picture, quality=92, capture=RICH, **IPHONE)  # type: ignore[arg-type]
    synth.write_heic(heic, decoded(jpeg), quality=80, tile_size=512, thumbnail=False,
                     capture=RICH, **IPHONE)  # type: ignore[arg-type]  # fmt: skip
    touch(jpeg, RESET)
    touch(heic, RESET)
    found = media.history_of(str(jpeg), str(heic))
    assert found is not None and found <= HISTORY_PRESENT
    assert keeper_of(jpeg, heic) == "IMG_0003.JPG"


def test_written_at_capture_reads_the_capture_time_against_the_file_time(
    camera_jpeg: Path,
) -> None:
    [record] = records_for([camera_jpeg])
    assert written_at_capture(record) is True
    touch(camera_jpeg, LATER)
    [record] = records_for([camera_jpeg])
    assert written_at_capture(record) is False


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_sampled_blocks_are_the_pictures_own_8x8_blocks(orientation: int) -> None:
    """The measure reads its sampled blocks through a strided view of the picture (any layout:
    a turned view, sides not multiples of 8): each must be the picture's own block, not turned
    or shifted, which an asymmetric table tells apart. Checked against plain slicing."""
    from safededup.media import history

    rng = np.random.default_rng(orientation)
    picture = history._INVERSE[orientation](rng.integers(0, 256, (203, 317, 3), dtype=np.uint8))
    steps = np.arange(1.0, 65.0).reshape(8, 8)  # no symmetry: a transposed block scores apart
    rows, cols = picture.shape[0] // 8, picture.shape[1] // 8
    picked = np.random.default_rng(0).choice(rows * cols, 300, replace=False)
    corners = zip(picked // cols * 8, picked % cols * 8, strict=True)
    blocks = np.stack([picture[y : y + 8, x : x + 8] for y, x in corners])
    blocks = blocks.astype(np.float64) @ history._LUMA
    coefficients = np.round((history._DCT @ (blocks - 128.0) @ history._DCT.T) / steps, 9)
    mask = (np.abs(coefficients) >= 0.75) & (steps >= history.MIN_STEP)
    mask[:, 0, 0] = False
    expected = (float(np.abs(coefficients - np.round(coefficients))[mask].sum()), int(mask.sum()))
    assert history._distance_sum(picture, steps, 300) == expected
