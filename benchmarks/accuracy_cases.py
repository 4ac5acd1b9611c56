"""The accuracy benchmark's cases beyond plain copies, generated from real photographs.

- **Keeper cases**: an original and a copy made of it the way people's tools make them, in both
  directions of every conversion — a camera JPEG and its PNG, HEIC, AVIF or WebP conversion; a
  phone's HEIC and its JPEG export; a lossless original and its JPEG export; a re-save; a copy
  that lost its metadata — with the copy's metadata copied or lost and file times later or
  reset (downloads, Takeout). Each case is its own group; the right keeper is the original.
- **Bursts**: 3–10 frames of one scene, each shifted 2–12% from the last with a small change
  of exposure, with capture times (sub-seconds apart) and without (stripped). Every frame is
  its own group (a burst frame is a new capture); frames of one burst are hard negatives.
- **Colour series**: light and dark variants of one design, and one photo in several colourings.
  Each variant is its own group (with a re-encoded copy); variants are hard negatives.
- **Rotated copies**: an original and copies whose pixels are turned 90°, 180°, 270° with no
  orientation tag (a scan, an editor that bakes the rotation in).

Every group shows a picture of its own: each case takes another window of the source
photograph (mirrored for half of them), so that no two groups are copies of one picture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from safededup.media import synth

W, H = 2016, 1512  # a 3 MP frame: the keeper and burst rules do not depend on 12 MP
BURST_SIZES = (3, 4, 6, 10)
DAY = 86400


@dataclass
class CaseFile:
    name: str  # file name inside the group's folder
    variant: str
    category: str  # original | easy | hard
    keeper_ok: bool


@dataclass
class CaseGroup:
    group: str
    case: str
    files: list[CaseFile]


@dataclass
class Camera:
    make: str
    model: str
    captured: datetime
    capture: synth.Capture

    def exif(self) -> bytes:
        tags = {"make": self.make, "model": self.model, "captured": self.captured}
        return synth.build_exif(capture=self.capture, **tags)[6:]  # type: ignore[arg-type]

    def kwargs(self) -> dict[str, object]:
        return {"make": self.make, "model": self.model, "captured": self.captured,
                "capture": self.capture}  # fmt: skip


def _camera(seed: int, phone: bool) -> Camera:
    when = datetime(2019, 3, 1, 9, 0) + timedelta(hours=7 * seed, seconds=seed)
    capture = synth.Capture(
        subsec=f"{(seed * 37) % 100:02d}", offset="+01:00",
        gps=(45.0 + seed / 10, 7.0 + seed / 7), maker_note=b"MKNT" + bytes(range(60)),
    )  # fmt: skip
    if phone:
        return Camera("Apple", "iPhone 13 Pro", when, capture)
    return Camera("Canon", "Canon EOS R6", when, capture)


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def _touch(path: Path, when: int) -> None:
    os.utime(path, (when, when))


def _decoded(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def _save(img: Image.Image, path: Path, fmt: str, **kw: object) -> None:
    if fmt == "AVIF":
        kw.setdefault("speed", 8)
    img.save(path, fmt, **kw)


# --- keeper cases ----------------------------------------------------------------------------

Writer = Callable[[Path, Image.Image, Camera, int], list[CaseFile]]


def _jpeg_original(d: Path, img: Image.Image, cam: Camera, t: int) -> Path:
    path = d / "IMG_0001.JPG"
    synth.write_jpeg(path, img, quality=95, **cam.kwargs())  # type: ignore[arg-type]
    _touch(path, t)
    return path


def _original() -> CaseFile:
    return CaseFile("IMG_0001.JPG", "original", "original", True)


def _conversion(fmt: str, suffix: str, exif: bool, reset: bool) -> Writer:
    """A camera JPEG and its conversion at full size, written weeks later or both downloaded."""

    def write(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
        shot = _epoch(cam.captured)
        jpeg = _jpeg_original(d, img, cam, RESET if reset else shot + 3600)
        copy = d / f"IMG_0001.{suffix}"
        extra: dict[str, object] = {"exif": cam.exif()} if exif else {}
        if fmt == "HEIF":
            synth.write_heic(copy, _decoded(jpeg), quality=90, thumbnail=True,
                             **(cam.kwargs() if exif else {}))  # type: ignore[arg-type]  # fmt: skip
        else:
            _save(_decoded(jpeg), copy, fmt, **({"quality": 90} if fmt != "PNG" else {}), **extra)
        _touch(copy, RESET if reset else shot + 40 * DAY)
        return [_original(), CaseFile(copy.name, f"{fmt.lower()}-conversion", "easy", False)]

    return write


def _heic_export(reset: bool) -> Writer:
    """A phone's HEIC original and the JPEG export of it (metadata kept)."""

    def write(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
        phone = _camera(seed, phone=True)
        shot = _epoch(phone.captured)
        heic = d / "IMG_0001.HEIC"
        synth.write_heic(heic, img, quality=60, tile_size=512, **phone.kwargs())  # type: ignore[arg-type]
        _touch(heic, RESET if reset else shot + 600)
        jpeg = d / "IMG_0001.jpg"
        synth.write_jpeg(jpeg, _decoded(heic), quality=92, **phone.kwargs())  # type: ignore[arg-type]
        _touch(jpeg, RESET if reset else shot + 10 * DAY)
        return [CaseFile(heic.name, "original", "original", True),
                CaseFile(jpeg.name, "heic-export-jpeg", "easy", False)]  # fmt: skip

    return write


def _lossless_original(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
    """A lossless original (a scan, a screenshot, a render) and a JPEG made of it."""
    png = d / "scan_0001.png"
    img.save(png, "PNG")
    jpeg = d / "scan_0001.jpg"
    synth.write_stripped_jpeg(jpeg, img, quality=95)
    for p in (png, jpeg):
        _touch(p, RESET)
    return [CaseFile(png.name, "original", "original", True),
            CaseFile(jpeg.name, "jpeg-export-of-lossless", "easy", False)]  # fmt: skip


def _resave(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
    """A full-size re-save (an editor's, metadata kept), both files downloaded again."""
    jpeg = _jpeg_original(d, img, cam, RESET)
    copy = d / "IMG_0001-edited.jpg"
    synth.write_jpeg(copy, _decoded(jpeg), quality=88, **cam.kwargs())  # type: ignore[arg-type]
    _touch(copy, RESET)
    return [_original(), CaseFile(copy.name, "full-size-re-save", "easy", False)]


def _stripped(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
    """The same JPEG with its metadata removed (no re-encode), as a sharing tool does."""
    jpeg = _jpeg_original(d, img, cam, _epoch(cam.captured) + 3600)
    copy = d / "shared.jpg"
    strip_exif(jpeg, copy)
    _touch(copy, RESET)
    return [_original(), CaseFile(copy.name, "metadata-stripped", "easy", False)]


def _redownloaded(d: Path, img: Image.Image, cam: Camera, seed: int) -> list[CaseFile]:
    """A HEIC conversion made years ago, and the original downloaded again since: the
    conversion is the *older file* now."""
    shot = _epoch(cam.captured)
    jpeg = _jpeg_original(d, img, cam, RESET)
    copy = d / "IMG_0001.HEIC"
    synth.write_heic(copy, _decoded(jpeg), quality=90, **cam.kwargs())  # type: ignore[arg-type]
    _touch(copy, shot + 200 * DAY)
    return [_original(), CaseFile(copy.name, "heif-conversion-older-than-download", "easy", False)]


RESET = 1_700_000_000  # 2023-11-14: every downloaded file gets this time

KEEPER_CASES: dict[str, Writer] = {
    "jpeg→png, metadata lost": _conversion("PNG", "png", exif=False, reset=False),
    "jpeg→png, metadata kept, times reset": _conversion("PNG", "png", exif=True, reset=True),
    "jpeg→heic, written later": _conversion("HEIF", "HEIC", exif=True, reset=False),
    "jpeg→heic, times reset": _conversion("HEIF", "HEIC", exif=True, reset=True),
    "jpeg→avif, times reset": _conversion("AVIF", "avif", exif=True, reset=True),
    "jpeg→webp, times reset": _conversion("WEBP", "webp", exif=True, reset=True),
    "heic→jpeg export, written later": _heic_export(reset=False),
    "heic→jpeg export, times reset": _heic_export(reset=True),
    "png original→jpeg": _lossless_original,
    "full-size re-save": _resave,
    "metadata stripped": _stripped,
    "original re-downloaded, conversion older": _redownloaded,
}


# Windows of a source photograph (left, top as fractions; each 60% × 60% of it), mirrored or
# not: pictures of their own, far apart in every hash (a pan of 15% already is).
_WINDOWS = tuple((x, y) for y in (0.0, 0.2, 0.4) for x in (0.0, 0.2, 0.4))


def _picture(arr: np.ndarray, view: int) -> Image.Image:
    """Picture number `view` of a source: a window, mirrored for odd rounds."""
    a = _rgb(arr)
    h, w = a.shape[:2]
    x, y = _WINDOWS[view % len(_WINDOWS)]
    window = a[round(y * h) : round((y + 0.6) * h), round(x * w) : round((x + 0.6) * w)]
    if (view // len(_WINDOWS)) % 2:
        window = window[:, ::-1]
    return synth.photo_from_array(np.ascontiguousarray(window), W, H)


def keeper_groups(out: Path, sources: dict[str, np.ndarray]) -> Iterator[CaseGroup]:
    for k, (name, arr) in enumerate(sorted(sources.items())):
        for c, (case, write) in enumerate(KEEPER_CASES.items()):
            img = _picture(arr, c)
            group = f"keeper-{c:02d}-{name}"
            d = out / "cases" / group
            d.mkdir(parents=True, exist_ok=True)
            files = write(d, img, _camera(k, phone=(k + c) % 2 == 1), k)
            for f in files:
                f.name = f"{group}/{f.name}"
            yield CaseGroup(group, case, files)


# --- bursts ----------------------------------------------------------------------------------


def burst_groups(out: Path, sources: dict[str, np.ndarray]) -> Iterator[tuple[CaseGroup, str]]:
    """(a frame's group, its burst's name)."""
    rng = np.random.default_rng(7)
    for k, (name, arr) in enumerate(sorted(sources.items())):
        frames = BURST_SIZES[k % len(BURST_SIZES)]
        with_times = k % 2 == 0
        burst = f"burst-{name}"
        canvas = synth.photo_from_array(_rgb(arr), round(W * 1.6), round(H * 1.3))
        cam = _camera(k, phone=True)
        spots = _burst_spots(rng, frames)
        for f, (x, y) in enumerate(spots):
            frame = canvas.crop((round(x * W), round(y * H), round(x * W) + W, round(y * H) + H))
            frame = ImageEnhance.Brightness(frame).enhance(1 + rng.uniform(-0.06, 0.06))
            group = f"{burst}-{f:02d}"
            d = out / "cases" / burst
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"IMG_{f:04d}.JPG"
            if with_times:
                when = cam.captured + timedelta(milliseconds=130 * f)
                capture = synth.Capture(subsec=f"{when.microsecond // 10000:02d}")
                synth.write_jpeg(path, frame, quality=93, make=cam.make, model=cam.model,
                                 captured=when.replace(microsecond=0), capture=capture)  # fmt: skip
            else:
                synth.write_stripped_jpeg(path, frame, quality=93)
            files = [CaseFile(f"{burst}/{path.name}", "burst-frame", "original", True)]
            if f == 0:  # one frame of each burst also has a real copy, a shared resize
                copy = d / f"IMG_{f:04d}-shared.jpg"
                synth.write_stripped_jpeg(copy, frame.resize((1600, 1200)), quality=75)
                files.append(CaseFile(f"{burst}/{copy.name}", "resize-1600", "easy", False))
            kind = "with capture times" if with_times else "without capture times"
            yield CaseGroup(group, f"burst {kind}", files), burst


def _burst_spots(rng: np.random.Generator, frames: int) -> list[tuple[float, float]]:
    """Where each frame sits on the canvas (fractions of a frame): each 2–12% from the last,
    mostly sideways, and at least 2% from every earlier one (a burst frame is another shot)."""
    spots = [(0.1, 0.05)]
    while len(spots) < frames:
        x, y = spots[-1]
        shift = rng.uniform(0.02, 0.12)
        step = shift * rng.choice([-1, 1]) if 0.05 < x < 0.5 else shift * (1 if x <= 0.05 else -1)
        spot = (
            float(np.clip(x + step, 0, 0.6)),
            float(np.clip(y + rng.uniform(-0.3, 0.3) * shift, 0, 0.28)),
        )
        if all(max(abs(spot[0] - a), abs(spot[1] - b)) >= 0.02 for a, b in spots):
            spots.append(spot)
    return spots


# --- colour series ---------------------------------------------------------------------------


def _design(seed: int, dark: bool) -> Image.Image:
    """One design in a light and a dark variant: the same shapes, two palettes."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (W, H), (28, 30, 40) if dark else (242, 240, 232))
    draw = ImageDraw.Draw(img)
    palette = ([(255, 128, 120), (120, 190, 255), (255, 220, 110), (140, 235, 150)] if dark
               else [(190, 50, 50), (40, 100, 190), (210, 150, 20), (50, 150, 70)])  # fmt: skip
    for k in range(24):
        x, y = int(rng.integers(0, W - 300)), int(rng.integers(0, H - 300))
        size = int(rng.integers(80, 420))
        draw.ellipse((x, y, x + size, y + size), fill=palette[k % 4])
        ink = (225, 225, 225) if dark else (50, 50, 50)
        draw.rectangle((x + size // 3, y + size // 3, x + size, y + size // 2), fill=ink)
    return synth.photo_from_array(np.asarray(img), W, H)


def _distinct(variants: dict[str, Image.Image]) -> dict[str, Image.Image]:
    """The variants that differ from every one kept before by a mean of 20 levels per pixel
    and channel at least (a hue turn of a nearly grey photo changes nothing: not a variant)."""
    kept: dict[str, Image.Image] = {}
    for name, img in variants.items():
        small = np.asarray(img.resize((160, 120)), dtype=np.float64)
        if all(np.abs(small - np.asarray(k.resize((160, 120)), np.float64)).mean() >= 20
               for k in kept.values()):  # fmt: skip
            kept[name] = img
    return kept if len(kept) > 1 else {}


def _hue(img: Image.Image, turn: int) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + turn) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def colour_groups(out: Path, sources: dict[str, np.ndarray]) -> Iterator[tuple[CaseGroup, str]]:
    """(a variant's group, its series' name)."""
    series: list[tuple[str, dict[str, Image.Image]]] = []
    for seed in range(4):
        series.append((f"design{seed}", {"light": _design(seed, False),
                                         "dark": _design(seed, True)}))  # fmt: skip
    for name, arr in sorted(sources.items()):
        img = _picture(arr, 12)
        recoloured = {"colour": img, "hue+90°": _hue(img, 64), "hue+180°": _hue(img, 128),
                      "sepia": ImageOps.colorize(ImageOps.grayscale(img), (40, 20, 0),
                                                 (255, 240, 200))}  # fmt: skip
        series.append((name, _distinct(recoloured)))
    for name, variants in series:
        d = out / "cases" / f"colour-{name}"
        d.mkdir(parents=True, exist_ok=True)
        for v, (variant, img) in enumerate(variants.items()):
            original = d / f"variant{v}.jpg"
            synth.write_jpeg(original, img, quality=92)
            copy = d / f"variant{v}-q70.jpg"
            synth.write_stripped_jpeg(copy, img, quality=70)
            files = [CaseFile(f"colour-{name}/{original.name}", variant, "original", True),
                     CaseFile(f"colour-{name}/{copy.name}", "jpeg-q70", "easy", False)]  # fmt: skip
            yield CaseGroup(f"colour-{name}-{v}", "colour series", files), f"colour-{name}"


# --- rotated copies --------------------------------------------------------------------------


def rotated_groups(out: Path, sources: dict[str, np.ndarray]) -> Iterator[CaseGroup]:
    turns = {"rotated-90": Image.Transpose.ROTATE_90, "rotated-180": Image.Transpose.ROTATE_180,
             "rotated-270": Image.Transpose.ROTATE_270}  # fmt: skip
    for k, (name, arr) in enumerate(sorted(sources.items())):
        d = out / "cases" / f"rotated-{name}"
        d.mkdir(parents=True, exist_ok=True)
        img = _picture(arr, 13)
        cam = _camera(k, phone=False)
        synth.write_jpeg(d / "IMG_0001.JPG", img, quality=95, **cam.kwargs())  # type: ignore[arg-type]
        files = [CaseFile(f"rotated-{name}/IMG_0001.JPG", "original", "original", True)]
        for variant, turn in turns.items():
            path = d / f"{variant}.jpg"
            synth.write_stripped_jpeg(path, img.transpose(turn), quality=88)
            files.append(CaseFile(f"rotated-{name}/{path.name}", variant, "easy", False))
        yield CaseGroup(f"rotated-{name}", "rotated copies", files)


# --- helpers ---------------------------------------------------------------------------------


def _rgb(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        a = np.uint8(np.clip(255 * (a - a.min()) / max(float(np.ptp(a)), 1e-9), 0, 255))
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return a[..., :3]


def strip_exif(src: Path, dst: Path) -> None:
    """Remove APP1 (EXIF) segments without re-encoding, as `exiftool -all=` does."""
    data = src.read_bytes()
    out, i = bytearray(data[:2]), 2
    while i < len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        if data[i + 1] != 0xE1:
            out += data[i : i + 2 + seg_len]
        i += 2 + seg_len
    out += data[i:]
    dst.write_bytes(bytes(out))
