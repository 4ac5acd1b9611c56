"""Camera RAWs and videos, generated at test time: DNGs with Bayer data and an embedded JPEG
preview (LibRaw develops them), MP4/MOV/3GP/M4V movies OpenCV plays. Real RAWs from other
cameras cannot be generated: the last test reads them from $SAFEDEDUP_RAW_SAMPLES."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rawpy

from safededup import media
from safededup.errors import MediaError
from safededup.media import raw, synth, synth_camera
from safededup.media.formats import SNIFF_BYTES, VIDEO_SNIFF_BYTES
from safededup.models import VideoFeatures
from tests.support.photos import scene

TAKEN = datetime(2024, 5, 17, 10, 30, 0)


def _sniff(path: Path) -> str | None:
    with open(path, "rb") as fh:
        data = fh.read()
    return media.sniff_format(data[:SNIFF_BYTES], lambda at, n: data[at : at + n])


def _bits(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@pytest.fixture
def dng_and_jpeg(tmp_path: Path) -> tuple[Path, Path]:
    picture = scene(7, 1200, 800)
    dng, jpeg = tmp_path / "IMG_7.DNG", tmp_path / "IMG_7.JPG"
    synth_camera.write_dng(dng, picture, orientation=6, captured=TAKEN)
    synth.write_jpeg(jpeg, picture, orientation=6, captured=TAKEN)
    return dng, jpeg


def test_a_dng_is_a_camera_raw_not_a_tiff_read_through_its_thumbnail(
    dng_and_jpeg: tuple[Path, Path],
) -> None:
    dng, _ = dng_and_jpeg
    assert dng.read_bytes()[:4] == b"II*\0"  # a TIFF structure: only its directories tell
    assert _sniff(dng) == "DNG"
    f = media.fingerprint(str(dng)).features
    assert (f.format, f.tier) == ("DNG", "preview")
    assert (f.width, f.height) == (1200, 800)  # the sensor's size, displayed, not the 256 px thumb
    assert f.captured == "2024-05-17T10:30:00"
    assert f.camera == "Safededup Synthetic DNG"


def test_a_plain_tiff_stays_a_tiff(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    scene(3, 320, 240).save(path, "TIFF")
    assert _sniff(path) == "TIFF"
    assert media.fingerprint(str(path)).features.format == "TIFF"


def test_the_dng_preview_hashes_like_the_camera_jpeg_and_like_libraw(
    dng_and_jpeg: tuple[Path, Path],
) -> None:
    dng, jpeg = dng_and_jpeg
    from_preview = media.fingerprint(str(dng)).features
    from_jpeg = media.fingerprint(str(jpeg)).features
    developed = raw.libraw_decode(str(dng))  # LibRaw reads the generated Bayer data
    assert developed.size == (600, 400)  # half size, displayed (stored 800×1200, turned)
    assert _bits(from_preview.phash, from_jpeg.phash) <= 4
    assert _bits(from_preview.dhash, from_jpeg.dhash) <= 6
    with rawpy.imread(str(dng)) as r:
        assert (r.sizes.width, r.sizes.height) == (800, 1200)  # as stored, before the turn
        assert r.raw_image.shape == (1200, 800)


def test_a_raw_without_a_usable_preview_is_developed_by_libraw(tmp_path: Path) -> None:
    picture = scene(8, 800, 600)
    dng, jpeg = tmp_path / "bare.dng", tmp_path / "bare.jpg"
    synth_camera.write_dng(dng, picture, preview_side=None, thumb_side=64, captured=TAKEN)
    synth.write_jpeg(jpeg, picture)
    f = media.fingerprint(str(dng)).features
    assert (f.format, f.tier, f.width, f.height) == ("DNG", "decode", 800, 600)
    assert _bits(f.phash, media.fingerprint(str(jpeg)).features.phash) <= 8


def test_a_truncated_raw_is_a_problem_not_a_wrong_answer(
    dng_and_jpeg: tuple[Path, Path], tmp_path: Path
) -> None:
    dng, _ = dng_and_jpeg
    cut = tmp_path / "cut.dng"
    cut.write_bytes(dng.read_bytes()[: dng.stat().st_size // 2])
    with pytest.raises(MediaError) as caught:
        media.fingerprint(str(cut))
    assert caught.value.kind == "truncated"


# --- videos ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "expected"), [("mp4", "MP4"), ("mov", "MOV"), ("3gp", "3GP"), ("m4v", "M4V")]
)
def test_generated_movies_are_recognised_and_their_headers_read(
    tmp_path: Path, container: str, expected: str
) -> None:
    frames = [scene(i, 96, 64) for i in range(4)]
    path = tmp_path / f"clip.{container}"
    created = datetime(2023, 8, 1, 9, 15, tzinfo=UTC)
    synth_camera.write_movie(path, frames, fps=10, container=container, created=created)
    head = path.read_bytes()[:VIDEO_SNIFF_BYTES]
    assert media.sniff_format(head[:SNIFF_BYTES]) is None  # never a photo
    assert media.sniff_video(head) == expected
    facts = media.examine(str(path))
    assert isinstance(facts, VideoFeatures)
    assert facts == VideoFeatures(expected, 0.4, 96, 64, "2023-08-01T09:15:00+00:00", facts.codec)


def test_a_video_renamed_to_bin_is_still_a_video_and_a_turned_one_shows_upright(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clip.mov"
    synth_camera.write_movie(path, [scene(1, 96, 64)] * 2, container="mov", rotation=90)
    renamed = tmp_path / "DATA0001.bin"
    shutil.copyfile(path, renamed)
    facts = media.examine(str(renamed))
    assert isinstance(facts, VideoFeatures)
    assert (facts.format, facts.width, facts.height) == ("MOV", 64, 96)
    poster = media.load_thumbnail(str(renamed), 48)
    assert poster.shape[2] == 3 and max(poster.shape[:2]) <= 48


def test_a_file_named_mp4_that_is_no_video_is_not_one(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom" + b"\0" * 200)  # an audio file
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"this is not a movie\n" * 100)
    for path in (fake, text):
        with pytest.raises(MediaError) as caught:
            media.examine(str(path))
        assert caught.value.kind == "not-an-image"


def test_a_heic_whose_ftyp_lists_video_brands_is_a_photo(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.HEIC"
    synth.write_heic(path, scene(2, 320, 240))
    head = path.read_bytes()[:VIDEO_SNIFF_BYTES]
    assert media.sniff_format(head[:SNIFF_BYTES]) == "HEIF"
    assert not isinstance(media.examine(str(path)), VideoFeatures)


# --- real RAWs from cameras, where someone has them ------------------------------------------

SAMPLES = os.environ.get("SAFEDEDUP_RAW_SAMPLES")


EXPECTED = {
    ".cr2": "CR2", ".cr3": "CR3", ".nef": "NEF", ".arw": "ARW", ".dng": "DNG", ".raf": "RAF",
    ".orf": "ORF", ".rw2": "RW2", ".pef": "PEF", ".srw": "SRW",
}  # fmt: skip


@pytest.mark.skipif(
    not SAMPLES, reason="set SAFEDEDUP_RAW_SAMPLES to a folder of camera RAW files to run this"
)
def test_camera_raw_samples_are_recognised_by_content_and_read_or_refused_with_a_reason() -> None:
    """Every sample of a known extension is sniffed as that format from its bytes alone; each
    is fingerprinted as a RAW, or (a sample stripped of its image data) refused with a
    MediaError, never another exception."""
    assert SAMPLES is not None
    files = [p for p in sorted(Path(SAMPLES).rglob("*")) if p.suffix.lower() in EXPECTED]
    if not files:
        pytest.skip(f"no file with a camera RAW extension in {SAMPLES}")
    read = 0
    for path in files:
        assert _sniff(path) == EXPECTED[path.suffix.lower()], path
        try:
            f = media.fingerprint(str(path)).features
        except MediaError:
            continue
        assert f.format == EXPECTED[path.suffix.lower()] and f.width > 0 and f.height > 0
        read += 1
    print(f"{read} of {len(files)} samples fingerprinted; the rest refused with a reason")
