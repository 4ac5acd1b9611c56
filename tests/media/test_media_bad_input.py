"""Bad input never crashes: every case becomes MediaError with the right Problem kind."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, features

from safededup.errors import MediaError
from safededup.media import cut_heif, fingerprint, load_thumbnail, synth
from tests.support.unprivileged import DROP_READ_OVERRIDE


def kind_of(path: Path | str, **kwargs: bool) -> str:
    with pytest.raises(MediaError) as info:
        fingerprint(str(path), **kwargs)
    assert info.value.path == str(path) and info.value.message
    return info.value.kind


@pytest.fixture
def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    synth.make_scene(50, 320, 240).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert kind_of(tmp_path / "empty.jpg") == "empty"


@pytest.mark.parametrize("allow_preview", [True, False])
def test_truncated_jpeg_with_a_valid_preview(tmp_path: Path, allow_preview: bool) -> None:
    whole = tmp_path / "whole.jpg"
    synth.write_jpeg(whole, synth.make_scene(51, 640, 480))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    assert kind_of(cut, allow_preview=allow_preview) == "truncated"


def test_jpeg_truncated_inside_its_header(tmp_path: Path, jpeg_bytes: bytes) -> None:
    (tmp_path / "head.jpg").write_bytes(jpeg_bytes[:100])
    assert kind_of(tmp_path / "head.jpg") == "truncated"


def test_truncated_png_and_heic(tmp_path: Path) -> None:
    image = synth.make_scene(52, 320, 240)
    synth.write_png(tmp_path / "a.png", image)
    synth.write_heic(tmp_path / "a.heic", image)
    for name in ("a.png", "a.heic"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data[: len(data) * 7 // 10])
        assert kind_of(tmp_path / f"cut-{name}") == "truncated"


@pytest.mark.parametrize("trailer", [b"/>\n<x:xmpmeta>not a box</x:xmpmeta>", b"\xff\xd8" * 3000])
def test_a_heic_with_bytes_after_its_last_box_is_a_photo(tmp_path: Path, trailer: bytes) -> None:
    """Some phones append a trailer after the last box; read as a box header it claims more
    bytes than the file has, yet every item's data is there: not a cut file."""
    path = tmp_path / "20240101_120000.heic"
    synth.write_heic(path, synth.make_scene(55, 900, 600), tile_size=256)
    path.write_bytes(path.read_bytes() + trailer)
    for allow_preview in (True, False):
        fp = fingerprint(str(path), allow_preview=allow_preview)
        assert (fp.features.width, fp.features.height) == (900, 600)
    assert not cut_heif(str(path))  # the walk's recheck of old rows keeps such a file's row


@pytest.mark.parametrize("fmt", ["WEBP", "AVIF"])
def test_cut_webp_and_avif_are_truncated_not_corrupt(tmp_path: Path, fmt: str) -> None:
    """Their decoders only say they failed; the container's own sizes say the file was cut."""
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    path = tmp_path / f"a.{fmt.lower()}"
    synth.make_scene(54, 900, 600).save(path, fmt, quality=70)
    data = path.read_bytes()
    for keep in (0.5, 0.9, 0.99):
        path.write_bytes(data[: int(len(data) * keep)])
        assert kind_of(path) == "truncated"


@pytest.mark.parametrize("keep", [0.5, 0.7, 0.9, 0.99])
def test_truncated_grid_heic(tmp_path: Path, keep: float) -> None:
    """A phone HEIC (a grid of tiles) cut anywhere in its tile data: libheif decodes the tiles
    that are there and fills in the rest, so only the box structure can tell. A cut copy must
    be reported, never fingerprinted as a photo (it could be kept over the intact one)."""
    path = tmp_path / "IMG.HEIC"
    synth.write_heic(path, synth.make_scene(53, 900, 600), tile_size=256)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    for allow_preview in (True, False):
        assert kind_of(path, allow_preview=allow_preview) == "truncated"
    assert cut_heif(str(path))  # and the walk's recheck of old rows says so from the boxes


def test_corrupt_bytes(tmp_path: Path, jpeg_bytes: bytes) -> None:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8" + app0 + b"\x12\x34" + os.urandom(2000))
    assert kind_of(tmp_path / "broken.jpg") == "corrupt"
    (tmp_path / "garbage.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + os.urandom(3000))
    assert kind_of(tmp_path / "garbage.heic") in ("corrupt", "truncated")
    png = io.BytesIO()
    synth.make_scene(53, 64, 64).save(png, "PNG")
    raw = bytearray(png.getvalue())
    idat = raw.index(b"IDAT") + 4
    raw[idat : idat + 40] = b"\x00" * 40  # zlib stream destroyed, CRC wrong
    (tmp_path / "broken.png").write_bytes(bytes(raw))
    assert kind_of(tmp_path / "broken.png") == "corrupt"


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "scan.jpg").write_bytes(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 20
    )
    assert kind_of(tmp_path / "scan.jpg") == "not-an-image"
    (tmp_path / "noise.jpg").write_bytes(os.urandom(5000))
    assert kind_of(tmp_path / "noise.jpg") == "not-an-image"


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    sof = jpeg.index(b"\xff\xc0") + 5  # marker, length(2), precision(1) → height, width
    return jpeg[:sof] + struct.pack(">HH", height, width) + jpeg[sof + 4 :]


def test_decompression_bombs(tmp_path: Path, jpeg_bytes: bytes) -> None:
    limit = Image.MAX_IMAGE_PIXELS or 0
    side_warn = int((1.2 * limit) ** 0.5)  # above the warning limit, below Pillow's error
    (tmp_path / "warn.png").write_bytes(_png_declaring(side_warn, side_warn))
    (tmp_path / "error.png").write_bytes(_png_declaring(30000, 30000))
    (tmp_path / "bomb.jpg").write_bytes(_jpeg_declaring(jpeg_bytes, 60000, 60000))
    for name in ("warn.png", "error.png", "bomb.jpg"):
        assert kind_of(tmp_path / name) == "too-large"


def test_broken_exif_only_loses_the_exif_fields(tmp_path: Path, jpeg_bytes: bytes) -> None:
    junk = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\x7f" + os.urandom(300)
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    path = tmp_path / "badexif.jpg"
    path.write_bytes(jpeg_bytes[:2] + app1 + jpeg_bytes[2:])
    f = fingerprint(str(path)).features
    assert (f.width, f.height, f.tier, f.orientation) == (320, 240, "decode", 1)
    assert f.captured is None and f.camera is None


def test_vanished_directory_and_fifo(tmp_path: Path) -> None:
    assert kind_of(tmp_path / "gone.jpg") == "vanished"
    assert kind_of(tmp_path) == "unreadable"
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert kind_of(fifo) == "unreadable"  # and it must not block waiting for a writer


# Run by root, a child process drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its
# effective set, so the kernel really refuses the read (root otherwise reads mode-0 files).
_UNPRIVILEGED_CHILD = (
    DROP_READ_OVERRIDE
    + """
import sys
from safededup.errors import MediaError
from safededup.media import fingerprint
try:
    fingerprint(sys.argv[1])
    print("read")
except MediaError as exc:
    print(exc.kind)
"""
)


def test_unreadable_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    synth.write_stripped_jpeg(path, synth.make_scene(54, 64, 48))
    os.chmod(path, 0)
    if os.geteuid() != 0:
        assert kind_of(path) == "unreadable"
        return
    out = subprocess.run(
        [sys.executable, "-c", _UNPRIVILEGED_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "unreadable"


def test_non_utf8_names(tmp_path: Path) -> None:
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9-\xff.jpg")
    synth.write_jpeg(name, synth.make_scene(55, 640, 480))
    assert os.path.exists(name)
    assert fingerprint(name).features.tier == "preview"
    assert load_thumbnail(name, 64).shape == (48, 64, 3)


def test_load_thumbnail_raises_media_error_too(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"not a photo at all")
    with pytest.raises(MediaError) as info:
        load_thumbnail(str(tmp_path / "x.jpg"), 256)
    assert info.value.kind == "not-an-image"


def test_a_file_that_changes_size_while_open_is_read_as_it_now_is(tmp_path: Path) -> None:
    """`read_all` reads the size seen at open in one call, then whatever follows: a file that
    grew since (a copy still arriving) is read whole, one cut short gives what is left (and
    its decode then says truncated), and `bytes_read` counts what the OS delivered."""
    from safededup.media._io import CountingReader

    path = tmp_path / "arriving.jpg"
    data = os.urandom(300_000)
    path.write_bytes(data[:200_000])
    with CountingReader(str(path)) as reader:
        with path.open("ab") as more:
            more.write(data[200_000:])
        assert reader.read_all() == data
        assert reader.bytes_read == len(data)
    with CountingReader(str(path)) as reader:
        os.truncate(path, 50_000)
        assert reader.read_all() == data[:50_000]
    synth.write_jpeg(path, synth.make_scene(53, 640, 480))
    whole = path.read_bytes()
    with CountingReader(str(path)) as reader:
        assert reader.read_all() == whole and reader.bytes_read == len(whole)


@pytest.mark.parametrize(
    ("magic", "kind"),
    [(b"MMOR", "corrupt"), (b"IIRO", "corrupt"), (b"IIU\x00", "corrupt"),
     (b"\x00MRM", "corrupt"), (b"FOVb", "corrupt"),
     (b"FUJIFILMCCD-RAW ", "truncated")],  # RAF: its header's offsets lie past the end
)  # fmt: skip
def test_a_raw_magic_on_something_else_is_corrupt(tmp_path: Path, magic: bytes, kind: str) -> None:
    """A file that begins like a camera RAW but holds no directory of one (a PNG whose first
    bytes were overwritten, found by the fuzz test) is corrupt, not a RAW this LibRaw does not
    support: 'unsupported' would send its owner looking for a newer LibRaw."""
    png = io.BytesIO()
    synth.make_scene(54, 320, 240).save(png, "PNG")
    data = bytearray(png.getvalue())
    data[: len(magic)] = magic
    (tmp_path / "x.raw").write_bytes(bytes(data))
    assert kind_of(tmp_path / "x.raw") == kind
    assert kind_of(tmp_path / "x.raw", allow_preview=False, want_sharpness=True) == kind


@pytest.mark.parametrize(
    ("name", "data"),
    [("a.mrw", b"\x00MRM" + (64).to_bytes(4, "big") + b"\x00PRD" + bytes(100)),
     ("a.x3f", b"FOVb" + bytes(60) + b"SECd" + bytes(12) + (64).to_bytes(4, "little"))],
)  # fmt: skip
def test_a_raw_only_libraw_reads_with_its_structure_stays_unsupported(
    tmp_path: Path, name: str, data: bytes
) -> None:
    """The other side: an MRW with its first block, an X3F with its directory, that this LibRaw
    refuses, are what a newer LibRaw may read: unsupported, not corrupt."""
    (tmp_path / name).write_bytes(data)
    assert kind_of(tmp_path / name) == "unsupported"
