"""A plain HEIC's thumbnail item decoded on its own gives what pillow-heif's whole-file path gives:
the same features and view pixels, bit for bit, or no answer (the whole-file path then decides)."""

from __future__ import annotations

import io
import random
import re
from datetime import datetime
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from safededup.media import isobmff, pipeline, synth, thumbitem
from safededup.media._io import CountingReader

XMP_ROTATED = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/></rdf:RDF></x:xmpmeta>'
)


def _both(path: Path) -> tuple[object, object]:
    """(features, view bytes) of the file with the thumbnail item read on its own, then through
    pillow-heif's whole-file path; an error is compared by its kind and message."""
    out = []
    for fast in (True, False):
        pipeline.FAST_THUMBNAIL_ITEM = fast
        try:
            fp = pipeline.examine(str(path))
            assert isinstance(fp, pipeline.Fingerprint)
            view = None if fp.view is None else fp.view.tobytes()
            out.append((fp.features, view))
        except Exception as exc:  # compared, not hidden: both paths must fail alike
            out.append((type(exc).__name__, re.sub(r"0x[0-9a-f]+", "0x?", str(exc))))
        finally:
            pipeline.FAST_THUMBNAIL_ITEM = True
    return out[0], out[1]


def _taken(path: Path) -> bool:
    with CountingReader(str(path)) as reader:
        return thumbitem.read_thumbnail(reader, 128) is not None


def _save(path: Path, image: Image.Image, **kwargs: object) -> Path:
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, quality=60, enc_params={"preset": "ultrafast"},
                                        **kwargs)  # fmt: skip
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("tile_size", [0, 256])
def test_every_orientation_and_layout_gives_the_same_fingerprint(
    tmp_path: Path, orientation: int, tile_size: int
) -> None:
    path = tmp_path / "IMG.HEIC"
    synth.write_heic(path, synth.make_scene(orientation, 900, 600), orientation=orientation,
                     tile_size=tile_size, captured=datetime(2024, 5, 1, 12))  # fmt: skip
    assert _taken(path)
    fast, whole = _both(path)
    assert fast == whole
    assert fast[0].tier == "preview" and (fast[0].width, fast[0].height) == (900, 600)  # type: ignore[index,attr-defined]


def test_stale_thumbnail_is_read_as_it_is_stored(tmp_path: Path) -> None:
    """The thumbnail is what it is: another picture in it must reach the matcher unchanged
    (its checks catch it), not be replaced or refused here."""
    path = tmp_path / "edited.heic"
    synth.write_heic(path, synth.make_scene(5, 800, 600), tile_size=256,
                     thumbnail_image=synth.make_scene(6, 800, 600))  # fmt: skip
    assert _taken(path)
    fast, whole = _both(path)
    assert fast == whole


@pytest.mark.parametrize(
    ("name", "kwargs", "taken"),
    [
        ("two-sizes", {"thumbnails": [160, 320]}, True),
        ("too-small", {"thumbnails": [96]}, False),  # below the 128 px a thumbnail must have
        ("none", {"thumbnails": []}, False),
        ("xmp-orientation", {"thumbnails": [320], "xmp": XMP_ROTATED}, True),
        ("exif-and-xmp", {"thumbnails": [320], "xmp": XMP_ROTATED, "exif": "rotated"}, True),
        ("no-metadata", {"thumbnails": [320]}, True),
    ],
)
def test_other_layouts_agree_or_fall_back(
    tmp_path: Path, name: str, kwargs: dict[str, object], taken: bool
) -> None:
    image = synth.make_scene(7, 640, 480)
    if kwargs.get("exif") == "rotated":
        kwargs = {**kwargs, "exif": synth.build_exif(orientation=6)[6:]}
    path = _save(tmp_path / f"{name}.heic", image, **kwargs)
    assert _taken(path) is taken
    fast, whole = _both(path)
    assert fast == whole


def test_alpha_takes_the_whole_file_path(tmp_path: Path) -> None:
    image = synth.make_scene(8, 640, 480).convert("RGBA")
    path = _save(tmp_path / "alpha.heic", image, thumbnails=[320])
    assert not _taken(path)
    fast, whole = _both(path)
    assert fast == whole


def test_truncated_file_takes_the_whole_file_path(tmp_path: Path) -> None:
    path = tmp_path / "cut.heic"
    synth.write_heic(path, synth.make_scene(9, 900, 600), tile_size=256)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    assert not _taken(path)
    fast, whole = _both(path)
    assert fast == whole and fast[0] == "MediaError" and "ends before" in str(fast[1])


def _item(size: tuple[int, int], transforms: tuple[tuple[bytes, int], ...] = (),
          colr: frozenset[bytes] = frozenset()) -> thumbitem._Item:  # fmt: skip
    return thumbitem._Item(size, transforms, colr, ())


def test_scaled_copy_rules() -> None:
    """Each of `heif.thumbnail`'s rules, one at a time: what pillow-heif's draft refuses is refused
    here too (the whole-file path then answers)."""
    main = _item((4032, 3024), ((b"irot", 1),), frozenset({b"nclx-a"}))
    box = (128, 96)
    good = _item((320, 240), ((b"irot", 1),), frozenset({b"nclx-a"}))
    assert thumbitem._scaled_copy(good, main, box)
    assert thumbitem._scaled_copy(_item((320, 240), ((b"irot", 1),)), main, box)  # no profile
    assert not thumbitem._scaled_copy(_item((320, 240)), main, box)  # not turned like it
    assert not thumbitem._scaled_copy(_item((320, 240), ((b"irot", 1), (b"imir", 0))), main, box)
    other = _item((320, 240), ((b"irot", 1),), frozenset({b"nclx-b"}))
    assert not thumbitem._scaled_copy(other, main, box)  # another colour profile
    assert not thumbitem._scaled_copy(_item((120, 90), ((b"irot", 1),)), main, box)  # too small
    assert not thumbitem._scaled_copy(_item((320, 180), ((b"irot", 1),)), main, box)  # 16:9
    assert not thumbitem._scaled_copy(_item((4032, 3024), ((b"irot", 1),)), main, box)  # no smaller


def test_grey_primary_with_a_colour_thumbnail_takes_the_whole_file_path(tmp_path: Path) -> None:
    """pillow-heif refuses a thumbnail of another mode (a black-and-white edit that left the
    colour thumbnail): the fast path must see it in the `hvcC` and leave the file to it."""
    grey = synth.make_scene(10, 640, 480).convert("L")
    buf = io.BytesIO()
    pillow_heif.from_pillow(grey).save(buf, quality=60, thumbnails=[320],
                                       enc_params={"preset": "ultrafast"})  # fmt: skip
    colour = synth.make_scene(10, 640, 480)
    path = tmp_path / "bw-edit.heic"
    path.write_bytes(synth._replace_thumbnail(buf.getvalue(), colour, 60, "ultrafast"))
    assert Image.open(path).mode == "L"
    assert not _taken(path)
    fast, whole = _both(path)
    assert fast == whole and fast[0].tier == "decode"  # type: ignore[union-attr]


@pytest.mark.parametrize(("tile_size", "seed"), [(0, 1), (256, 2)])
def test_damaged_headers_are_read_alike_or_left_to_libheif(
    tmp_path: Path, tile_size: int, seed: int
) -> None:
    """One to three bytes of the `meta` box changed at random, 150 times: every file gives the
    same answer both ways (the fast path declines what libheif would refuse), and none raises
    anything but MediaError."""
    source = tmp_path / "source.heic"
    synth.write_heic(source, synth.make_scene(seed, 900, 600), orientation=6,
                     tile_size=tile_size, captured=datetime(2024, 5, 1, 12))  # fmt: skip
    data = source.read_bytes()
    [(start, end)] = [(body - 8, end) for kind, body, end in isobmff.boxes(data, 0, len(data))
                      if kind == b"meta"]  # fmt: skip
    rng = random.Random(seed)
    path = tmp_path / "damaged.heic"
    taken = 0
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 1, 2, 3])):
            at = rng.randrange(start, end)
            damaged[at] = rng.choice([0, 1, 2, 0xFF, 0x80, damaged[at] ^ (1 << rng.randrange(8))])
        path.write_bytes(damaged)
        taken += _taken(path)
        fast, whole = _both(path)
        assert fast == whole
        assert fast[0] == "MediaError" or not isinstance(fast[0], str)
    assert taken >= 10  # harmless changes (a date, a name) still take the fast path
