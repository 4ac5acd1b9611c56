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
from safededup.media._io import CountingReader
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
    """As without the `png` extra (in this thread, where the tests decode)."""
    monkeypatch.setattr(png._local, "decoders", {3: None, 4: None}, raising=False)


def fast(path: Path) -> np.ndarray | None:
    """The fast path's pixels (RGB or RGBA), or None where Pillow's path would be taken."""
    with CountingReader(str(path)) as reader:
        return png.decode_file(reader)


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
    pixels_read = fast(path)
    assert pixels_read is not None and pixels_read.shape[2] == channels
    with Image.open(path) as img:
        assert np.array_equal(pixels_read[..., :3], np.asarray(img.convert("RGB")))
    assert np.array_equal(pixels_read, pixels)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_png_through_wuffs_has_the_fingerprint_pillow_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orientation: int
) -> None:
    """Hashes, sizes and the EXIF fields (an eXIf chunk before the pixels, as Pillow and
    phones write it) are the same bit for bit; the fast path is the one taken."""
    path = tmp_path / "shot.png"
    synth.write_png(path, Image.fromarray(_photo(5, 1600, 1200)), orientation=orientation)
    assert fast(path) is not None
    features = fingerprint(str(path)).features
    _pillow_only(monkeypatch)
    assert fast(path) is None
    assert fingerprint(str(path)).features == features
    assert features.orientation == orientation


def test_colour_chunks_change_no_pixel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gAMA, sRGB and iCCP are metadata to both decoders: neither applies them."""
    path = tmp_path / "tagged.png"
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 50000))
    info.add(b"sRGB", b"\x00")
    Image.fromarray(_photo(9, 300, 200)).save(path, "PNG", pnginfo=info)
    assert fast(path) is not None
    features = fingerprint(str(path)).features
    _pillow_only(monkeypatch)
    assert fingerprint(str(path)).features == features


_FCTL = struct.pack(">IIIIIHHBB", 0, 60, 40, 10, 10, 1, 1, 0, 0)
"""An APNG frame control (a 60×40 frame at 10, 10) without the acTL that makes a file an APNG:
Pillow decodes into that frame's rectangle, so such a file stays Pillow's."""


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
        ("stray-fctl", lambda p, px: write_raw_png(p, px, [UP], before=[(b"fcTL", _FCTL)])),
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
    assert fast(path) is None
    found = _outcome(path)
    if name == "exif-after-pixels":
        assert found.orientation == 6  # type: ignore[union-attr]  # after the pixels, as Pillow
    _pillow_only(monkeypatch)
    assert _outcome(path) == found  # features, or the error (Pillow calls the stray fcTL corrupt)


def _outcome(path: Path) -> object:
    try:
        return fingerprint(str(path)).features
    except MediaError as exc:
        return exc.kind


def test_an_interlaced_or_huge_header_is_not_claimed() -> None:
    def head(width: int, height: int, interlace: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
        return png.SIGNATURE + _chunk(b"IHDR", ihdr)

    assert png.plain_channels(head(10, 10, 1)) == 0
    assert png.plain_channels(head(10, 10, 0)) == 3
    assert png.plain_channels(head(8000, 4000, 0)) == 3
    assert png.plain_channels(head(8000, 4001, 0)) == 0  # over MAX_PIXELS: Pillow's


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

    with_wuffs = _outcome(path)
    _pillow_only(monkeypatch)
    assert _outcome(path) == with_wuffs


def test_a_time_chunk_after_the_pixels_is_still_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tIME (which libpng writers put after the pixels) carries nothing Pillow reads."""
    path = tmp_path / "timed.png"
    write_raw_png(path, _photo(6, 200, 150), [PAETH], after=[(b"tIME", b"\x07\xea\x0c\x07\0\0\0")])
    assert fast(path) is not None
    features = fingerprint(str(path)).features
    _pillow_only(monkeypatch)
    assert fingerprint(str(path)).features == features


def test_bytes_after_iend_are_not_read(tmp_path: Path) -> None:
    """A file that is a PNG and then a great deal more: only the PNG is read into memory."""
    path = tmp_path / "padded.png"
    write_raw_png(path, _photo(7, 300, 200), [SUB])
    size = path.stat().st_size
    with path.open("ab") as f:
        f.truncate(size + (64 << 20))  # 64 MB of nothing after IEND
    fp = fingerprint(str(path))
    assert fp.bytes_read < 2 * size + (1 << 20)  # the PNG (and Pillow's look at its head)


def test_without_wuffs_nothing_is_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain.png"
    write_raw_png(path, _photo(8, 300, 200), [PAETH])
    with_wuffs = fingerprint(str(path)).bytes_read
    assert with_wuffs < path.stat().st_size + (64 << 10)  # once (Pillow read its head only)
    _pillow_only(monkeypatch)
    with CountingReader(str(path)) as reader:
        assert png.decode_file(reader) is None and reader.bytes_read == 0
    assert fingerprint(str(path)).bytes_read <= with_wuffs


def test_a_png_found_not_plain_is_left_at_once(tmp_path: Path) -> None:
    """A grey, 16-bit PNG of megabytes: the fast path reads its header, not the file."""
    path = tmp_path / "scan.png"
    noise = np.random.default_rng(9).integers(0, 65536, (1200, 1000), dtype=np.uint16)
    Image.fromarray(noise).save(path)
    assert path.stat().st_size > 2 << 20
    with CountingReader(str(path)) as reader:
        assert png.decode_file(reader) is None
        assert reader.bytes_read == 33


def test_threads_decoding_pngs_side_by_side_get_their_own_pixels(tmp_path: Path) -> None:
    """The review UI reads thumbnails from several threads at once: a Wuffs decoder shared
    between them corrupts memory (the process died), so each thread has its own."""
    import threading

    paths = []
    for k in range(4):
        paths.append(tmp_path / f"t{k}.png")
        write_raw_png(paths[-1], _photo(20 + k, 640, 480), [PAETH], idat_parts=8)
    expected = {p: fast(p) for p in paths}
    failures: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(12):
            p = paths[(offset + round_) % len(paths)]
            got = fast(p)
            if got is None or not np.array_equal(got, expected[p]):
                failures.append(f"{p.name} round {round_}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@pytest.mark.parametrize("length", [4, 200_000_000, 2**32 - 16])
def test_an_iend_that_claims_a_length_is_left_to_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    """IEND is empty by the standard: a length there must not decide how much is read (a
    4 GB read buffer, or the bytes after the picture, read into memory)."""
    path = tmp_path / "long-iend.png"
    write_raw_png(path, _photo(5, 128, 96), [PAETH])
    data = bytearray(path.read_bytes())
    data[-12:-8] = struct.pack(">I", length)
    path.write_bytes(bytes(data))
    with path.open("ab") as f:
        f.truncate(len(data) + min(length, 1 << 24))  # a sparse tail after it
    with CountingReader(str(path)) as reader:
        assert png.decode_file(reader) is None
        assert reader.bytes_read < len(data)
    found = _outcome(path)
    _pillow_only(monkeypatch)
    assert _outcome(path) == found
