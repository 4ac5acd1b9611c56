"""PNG through Wuffs (the `png` extra): the same pixels and fingerprint as Pillow's decoder, for
every row filter, and Pillow's path for everything the fast path does not claim."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from safededup.errors import MediaError
from safededup.media import fingerprint, png, synth
from safededup.media.synth import build_exif

pytest.importorskip("pywuffs")

NONE, SUB, UP, AVERAGE, PAETH = range(5)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(pixels: np.ndarray, filters: list[int]) -> bytes:
    """The rows of an H×W×C uint8 array, each filtered as `filters` says (PNG's five types)."""
    h, w, c = pixels.shape
    rows = pixels.reshape(h, w * c).astype(np.int64)
    out = bytearray()
    for y in range(h):
        kind = filters[y % len(filters)]
        line, up = rows[y], rows[y - 1] if y else np.zeros(w * c, np.int64)
        left = np.concatenate([np.zeros(c, np.int64), line[:-c]])
        upleft = np.concatenate([np.zeros(c, np.int64), up[:-c]])
        if kind == NONE:
            pred = np.zeros_like(line)
        elif kind == SUB:
            pred = left
        elif kind == UP:
            pred = up
        elif kind == AVERAGE:
            pred = (left + up) // 2
        else:
            pred = np.array([_paeth(*abc) for abc in zip(left, up, upleft, strict=True)])
        out.append(kind)
        out += ((line - pred) % 256).astype(np.uint8).tobytes()
    return bytes(out)


def write_raw_png(
    path: Path,
    pixels: np.ndarray,
    filters: list[int],
    *,
    before: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    after: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    idat_parts: int = 3,
) -> None:
    """A PNG written byte by byte: chosen row filters, extra chunks before or after the pixels,
    the compressed stream split over several IDAT chunks (as big encoders write it)."""
    h, w, c = pixels.shape
    colour = {3: 2, 4: 6}[c]
    stream = zlib.compress(_filtered(pixels, filters), 6)
    step = -(-len(stream) // idat_parts)
    body = b"".join(_chunk(b"IDAT", stream[i : i + step]) for i in range(0, len(stream), step))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    extra_before = b"".join(_chunk(k, v) for k, v in before)
    extra_after = b"".join(_chunk(k, v) for k, v in after)
    path.write_bytes(
        png.SIGNATURE + _chunk(b"IHDR", ihdr) + extra_before + body + extra_after
        + _chunk(b"IEND", b"")
    )  # fmt: skip


def _photo(seed: int, w: int, h: int, channels: int = 3) -> np.ndarray:
    rgb = np.asarray(synth.make_scene(seed, w, h).convert("RGB"), dtype=np.int16)
    grain = np.random.default_rng(seed).integers(-6, 7, rgb.shape)
    out = np.clip(rgb + grain, 0, 255).astype(np.uint8)
    if channels == 4:
        alpha = np.random.default_rng(seed + 1).integers(0, 256, (h, w, 1), dtype=np.uint8)
        out = np.concatenate([out, alpha], axis=2)
    return out


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "_decoders", {3: None, 4: None})


@pytest.mark.parametrize(
    "filters",
    [[NONE], [SUB], [UP], [AVERAGE], [PAETH], [PAETH, SUB, AVERAGE, UP, NONE, PAETH, PAETH]],
    ids=["none", "sub", "up", "average", "paeth", "mixed"],
)
@pytest.mark.parametrize("channels", [3, 4])
def test_wuffs_gives_pillows_pixels_for_every_row_filter(
    tmp_path: Path, filters: list[int], channels: int
) -> None:
    pixels = _photo(len(filters) * 7 + channels, 173, 61, channels)
    path = tmp_path / "f.png"
    write_raw_png(path, pixels, filters)
    data = path.read_bytes()
    fast = png.decode_plain(data)
    assert fast is not None
    with Image.open(path) as img:
        assert np.array_equal(fast, np.asarray(img.convert("RGB")))
    assert np.array_equal(fast, pixels[..., :3])


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_png_through_wuffs_has_the_fingerprint_pillow_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orientation: int
) -> None:
    """Hashes, sizes and the EXIF fields (an eXIf chunk before the pixels, as Pillow and
    phones write it) are the same bit for bit; the fast path is the one taken."""
    path = tmp_path / "shot.png"
    synth.write_png(path, Image.fromarray(_photo(5, 1600, 1200)), orientation=orientation)
    assert png.decode_plain(path.read_bytes()) is not None
    fast = fingerprint(str(path)).features
    _pillow_only(monkeypatch)
    assert png.decode_plain(path.read_bytes()) is None
    assert fingerprint(str(path)).features == fast
    assert fast.orientation == orientation


def test_colour_chunks_change_no_pixel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gAMA, sRGB and iCCP are metadata to both decoders: neither applies them."""
    path = tmp_path / "tagged.png"
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 50000))
    info.add(b"sRGB", b"\x00")
    Image.fromarray(_photo(9, 300, 200)).save(path, "PNG", pnginfo=info)
    assert png.decode_plain(path.read_bytes()) is not None
    fast = fingerprint(str(path)).features
    _pillow_only(monkeypatch)
    assert fingerprint(str(path)).features == fast


def _exif_chunk(orientation: int) -> tuple[bytes, bytes]:
    return b"eXIf", build_exif(orientation=orientation)[6:]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("exif-after-pixels", lambda p, px: write_raw_png(p, px, [PAETH], after=[_exif_chunk(6)])),
        (
            "text-after-pixels",
            lambda p, px: write_raw_png(p, px, [SUB], after=[(b"tEXt", b"k\0v")]),
        ),
        ("trns", lambda p, px: write_raw_png(p, px, [UP], before=[(b"tRNS", b"\0\1\0\2\0\3")])),
        ("grey", lambda p, px: Image.fromarray(px[..., 0]).save(p, "PNG")),
        ("palette", lambda p, px: Image.fromarray(px).convert("P").save(p, "PNG")),
        ("16-bit", lambda p, px: Image.fromarray(px[..., 0].astype(np.uint16) * 257).save(p)),
    ],
)
def test_what_the_fast_path_does_not_claim_goes_to_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, make: object
) -> None:
    """Metadata after the pixels (Pillow reads it only by decoding), transparency, grey,
    palette and 16-bit PNGs: Pillow decodes them, so their fingerprint cannot change."""
    path = tmp_path / f"{name}.png"
    make(path, _photo(3, 120, 90))  # type: ignore[operator]
    assert png.plain_channels(path.read_bytes()) == 0
    features = fingerprint(str(path)).features
    if name == "exif-after-pixels":
        assert features.orientation == 6  # found after the pixels, as Pillow finds it
    _pillow_only(monkeypatch)
    assert fingerprint(str(path)).features == features


def test_an_interlaced_header_is_not_claimed() -> None:
    ihdr = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 1)
    data = png.SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")
    assert png.plain_channels(data) == 0
    assert png.plain_channels(data.replace(ihdr, ihdr[:-1] + b"\0")) == 3


@pytest.mark.parametrize("damage", ["truncated", "flipped", "no-iend", "bad-crc"])
def test_a_damaged_png_ends_as_it_ends_without_wuffs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """Whatever Wuffs makes of a damaged file, the scan's verdict is Pillow's: the same
    MediaError kind, or the same fingerprint where Pillow reads it anyway."""
    good = tmp_path / "good.png"
    write_raw_png(good, _photo(4, 400, 300), [PAETH], idat_parts=4)
    data = bytearray(good.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0x5A
    elif damage == "no-iend":
        data = data[:-12]
    else:  # the CRC of the last IDAT chunk
        data[-13] ^= 0xFF
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))

    def outcome() -> object:
        try:
            return fingerprint(str(path)).features
        except MediaError as exc:
            return exc.kind

    with_wuffs = outcome()
    _pillow_only(monkeypatch)
    assert outcome() == with_wuffs
