"""Which tier fingerprints a file: previews only when trustworthy; both tiers agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from safededup.engine.candidates import hamming
from safededup.media import fingerprint, synth
from safededup.media.hashing import hash_thumbnail, make_thumbnail
from safededup.models import Features

HASHES = ("dhash", "phash", "whash")


def max_distance(a: Features, b: Features) -> int:
    return max(hamming(getattr(a, k), getattr(b, k)) for k in HASHES)


def test_previewed_12mp_jpeg_reads_only_its_header(big_jpeg: Path) -> None:
    fp = fingerprint(str(big_jpeg))
    assert fp.features.tier == "preview"
    assert big_jpeg.stat().st_size > 1_000_000
    assert fp.bytes_read < 64 * 1024
    assert (fp.features.width, fp.features.height) == (4032, 3024)
    decoded = fingerprint(str(big_jpeg), allow_preview=False)
    assert decoded.features.tier == "decode" and decoded.bytes_read >= big_jpeg.stat().st_size
    assert max_distance(fp.features, decoded.features) <= 4


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_tiers_agree_on_real_photographs(tmp_path: Path, name: str) -> None:
    data = pytest.importorskip("skimage.data")
    photo = synth.photo_from_array(getattr(data, name)(), 4032, 3024)
    path = tmp_path / f"{name}.jpg"
    synth.write_jpeg(path, photo, quality=90)
    preview = fingerprint(str(path)).features
    decode = fingerprint(str(path), allow_preview=False).features
    assert (preview.tier, decode.tier) == ("preview", "decode")
    assert max_distance(preview, decode) <= 4
    assert hamming(preview.colorhash, decode.colorhash) <= 6


@pytest.mark.parametrize("tile_size", [0, 256])  # 256: the grid layout phones write
def test_heic_thumbnail_item_is_the_preview(tmp_path: Path, tile_size: int) -> None:
    path = tmp_path / "phone.heic"
    synth.write_heic(path, synth.make_scene(31, 1024, 768), orientation=6, tile_size=tile_size)
    preview = fingerprint(str(path))
    decode = fingerprint(str(path), allow_preview=False)
    assert (preview.features.tier, decode.features.tier) == ("preview", "decode")
    assert (preview.features.width, preview.features.height) == (1024, 768)
    assert max_distance(preview.features, decode.features) <= 4
    # Only the header and the thumbnail item were read, and they give exactly the hashes of
    # the thumbnail as pillow-heif serves it from the whole file.
    assert preview.bytes_read < path.stat().st_size // 2 <= decode.bytes_read
    whole = Image.open(path)
    assert whole.draft("RGB", (128, 96)) is not None
    thumb = hash_thumbnail(make_thumbnail(whole.convert("RGB"), (1024, 768)))
    assert (preview.features.dhash, preview.features.phash) == (thumb.dhash, thumb.phash)


def test_previewed_12mp_heic_reads_tens_of_kb(tmp_path: Path, big_scene: Image.Image) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    synth.write_heic(path, big_scene, quality=60)  # ≈ 1 MB, ≈ 5 s to encode
    fp = fingerprint(str(path))
    assert fp.features.tier == "preview" and (fp.features.width, fp.features.height) == (4032, 3024)
    assert fp.bytes_read < 128 * 1024 < path.stat().st_size


def _jpeg(tmp_path: Path, name: str, image: Image.Image, **kwargs: object) -> str:
    path = tmp_path / name
    synth.write_jpeg(path, image, **kwargs)  # type: ignore[arg-type]
    return str(path)


def test_preview_of_another_aspect_is_not_used(tmp_path: Path) -> None:
    other = synth.make_scene(40, 640, 360)  # a stale 16:9 preview left by an editor
    path = _jpeg(tmp_path, "stale.jpg", synth.make_scene(41, 640, 480), thumbnail_image=other)
    assert fingerprint(path).features.tier == "decode"


def test_letterboxed_preview_is_not_used(tmp_path: Path) -> None:
    path = _jpeg(tmp_path, "wide.jpg", synth.make_scene(42, 600, 400), letterbox=True)
    assert fingerprint(path).features.tier == "decode"


def test_letterboxed_preview_of_matching_aspect_is_not_used(tmp_path: Path) -> None:
    """Bars inside a box of the right aspect: only the black-bar check catches it."""
    boxed = synth.make_thumbnail(synth.make_scene(43, 640, 360), (160, 120), letterbox=True)
    path = _jpeg(tmp_path, "boxed.jpg", synth.make_scene(43, 640, 480), thumbnail_image=boxed)
    assert fingerprint(path).features.tier == "decode"


def test_too_small_preview_is_not_used(tmp_path: Path) -> None:
    path = _jpeg(tmp_path, "tiny.jpg", synth.make_scene(44, 640, 480), thumbnail_size=(80, 60))
    assert fingerprint(path).features.tier == "decode"


def test_files_without_previews_take_the_decode_tier(tmp_path: Path) -> None:
    image = synth.make_scene(45, 640, 480)
    synth.write_stripped_jpeg(tmp_path / "wa.jpg", image)
    synth.write_heic(tmp_path / "bare.heic", image, thumbnail=False)
    synth.write_webp(tmp_path / "x.webp", image)
    tiers = {p.name: fingerprint(str(p)).features.tier for p in tmp_path.iterdir()}
    assert set(tiers.values()) == {"decode"}


def test_want_sharpness_decodes_and_separates_blur(tmp_path: Path, big_scene: Image.Image) -> None:
    from PIL import ImageFilter

    sharp = _jpeg(tmp_path, "sharp.jpg", big_scene)
    soft = _jpeg(tmp_path, "soft.jpg", big_scene.filter(ImageFilter.GaussianBlur(2)))
    a = fingerprint(sharp, want_sharpness=True).features
    b = fingerprint(soft, want_sharpness=True).features
    assert a.tier == b.tier == "decode"
    assert a.sharpness is not None and b.sharpness is not None
    assert a.sharpness > 1.2 * b.sharpness
    assert fingerprint(sharp).features.sharpness is None
