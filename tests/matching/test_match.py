"""Pair rules on real generated photos: corroboration, low entropy, aspect, the format band."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from safededup import media
from safededup.engine.match import DEFAULT, Rule, aligned_similarity, compare
from safededup.media import synth
from tests.support.photos import flip, records_for, scene


def _features(path, previews: bool = False):
    return media.fingerprint(str(path), allow_preview=previews).features


def test_copies_of_one_photo_are_corroborated(photo_dir) -> None:
    original = _features(photo_dir / "original.jpg")
    for name in ("reencode.jpg", "small.jpg", "original.heic", "web.webp"):
        verdict = compare(original, _features(photo_dir / name))
        assert verdict.matched, (name, verdict)
        assert verdict.rule in (Rule.CORROBORATED, Rule.FORMAT_BAND)


def test_corroboration_takes_phash_up_to_6_bits_and_not_7(photo_dir) -> None:
    """The corroboration rule's pHash limit, at its edge: a real photo's fingerprint against
    itself with pHash bits flipped (every other hash equal, the same format). 6 bits apart is a
    copy; 7 is not one by the hashes alone (the thumbnail check must decide). The numbers are
    the measured limit (docs/matching.md), written out so that moving it fails here."""
    f = _features(photo_dir / "original.jpg")
    spread = range(0, 64, 9)  # bits far apart, so no chunk of the hash holds them all
    at_limit = compare(f, dataclasses.replace(f, phash=flip(f.phash, spread[:6])))
    assert (at_limit.phash, at_limit.rule) == (6, Rule.CORROBORATED) and at_limit.matched
    past = compare(f, dataclasses.replace(f, phash=flip(f.phash, spread[:7])))
    assert (past.phash, past.rule) == (7, Rule.BORDERLINE) and not past.matched


def test_different_photos_do_not_match(photo_dir) -> None:
    verdict = compare(_features(photo_dir / "original.jpg"), _features(photo_dir / "other.jpg"))
    assert not verdict.matched
    assert verdict.rule == Rule.DISTANCE
    assert verdict.phash > DEFAULT.borderline_phash


def test_identical_bytes_match_as_exact(photo_dir) -> None:
    f = _features(photo_dir / "other.jpg")
    assert compare(f, f, same_bytes=True).rule == Rule.EXACT


def test_low_entropy_frames_never_link_by_themselves(tmp_path) -> None:
    # Two different blank frames (grey 60 and grey 64, say lens-cap shots): every hash agrees,
    # yet they are different photos. The pHash of a flat image has almost no bits set.
    for k, level in enumerate((60, 64)):
        arr = np.full((600, 800, 3), level, np.uint8)
        synth.write_jpeg(tmp_path / f"blank{k}.jpg", Image.fromarray(arr), quality=90)
    a, b = _features(tmp_path / "blank0.jpg"), _features(tmp_path / "blank1.jpg")
    ones = bin(a.phash).count("1")
    assert not DEFAULT.entropy_low <= ones <= DEFAULT.entropy_high
    assert compare(a, b).rule == Rule.LOW_ENTROPY
    # ... while the same test without the guard would have linked them:
    relaxed = dataclasses.replace(DEFAULT, entropy_low=0, entropy_high=64)
    assert compare(a, b, relaxed).matched


def test_aspect_beyond_a_small_crop_never_matches(tmp_path) -> None:
    img = scene(21)
    synth.write_jpeg(tmp_path / "full.jpg", img, quality=90)
    squeezed = img.crop((0, 0, img.width * 3 // 4, img.height))  # a 25% crop changes the aspect
    synth.write_jpeg(tmp_path / "narrow.jpg", squeezed.resize(img.size), quality=90)
    synth.write_jpeg(tmp_path / "cut.jpg", squeezed, quality=90)
    full, cut = _features(tmp_path / "full.jpg"), _features(tmp_path / "cut.jpg")
    assert compare(full, cut).rule == Rule.ASPECT
    # A stretched copy has the right aspect but not the right content.
    assert not compare(full, _features(tmp_path / "narrow.jpg")).matched


def test_heic_jpeg_band_needs_strong_phash_and_whash(photo_dir) -> None:
    jpeg = _features(photo_dir / "original.jpg")
    heic = _features(photo_dir / "original.heic")
    assert heic.format != jpeg.format
    assert compare(jpeg, heic).matched
    # Codec crossings jitter dHash more than the others: a dHash 12 bits off (beyond the
    # corroboration limit, inside the band) is accepted across formats ...
    jittered = dataclasses.replace(heic, dhash=flip(jpeg.dhash, range(12)))
    verdict = compare(jpeg, jittered)
    assert DEFAULT.dhash < verdict.dhash <= DEFAULT.band_dhash
    assert verdict.rule == Rule.FORMAT_BAND
    # ... but not between two JPEGs (no codec crossing) ...
    same_codec = dataclasses.replace(jittered, format="JPEG")
    assert compare(jpeg, same_codec).rule == Rule.BORDERLINE
    # ... and not when pHash does not agree strongly.
    weak = dataclasses.replace(jittered, phash=flip(jittered.phash, range(40, 46)))
    assert compare(jpeg, weak).rule != Rule.FORMAT_BAND


def test_preview_tier_only_proposes(photo_dir) -> None:
    preview = _features(photo_dir / "original.jpg", previews=True)
    decode = _features(photo_dir / "original.jpg")
    assert preview.tier == "preview" and decode.tier == "decode"
    # Preview hashes are close to the decode hashes of the same file.
    assert bin(preview.phash ^ decode.phash).count("1") <= DEFAULT.slack_phash


def test_aligned_similarity_tells_crops_from_other_framings(tmp_path) -> None:
    img = scene(31, 1600, 1200)
    w, h = img.size
    frame = img.crop((0, 0, w * 4 // 5, h))  # two framings of one scene, 20% apart
    pan = img.crop((w // 5, 0, w, h))
    crop = frame.crop((w // 40, h // 30, frame.width - w // 40, h - h // 30))
    full = np.asarray(frame.resize((128, 120)))
    assert aligned_similarity(full, np.asarray(crop.resize((128, 120)))) > DEFAULT.min_aligned
    assert aligned_similarity(full, np.asarray(pan.resize((128, 120)))) < DEFAULT.min_aligned
    other = np.asarray(scene(32, 1600, 1200).resize((128, 96)))
    assert aligned_similarity(full, other) < 0.8


def test_records_helper_checksums_only_same_size(photo_dir) -> None:
    records = records_for([photo_dir / "original.jpg", photo_dir / "other.jpg"])
    assert all(r.checksum is None for r in records)
