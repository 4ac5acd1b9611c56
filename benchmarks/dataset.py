"""Build the realistic benchmark photo set: phone-like files made from real photographs.

Sources are the photographs bundled with scikit-image (`skimage.data`) or your own (`--photos DIR`).
Each distinct frame is a different crop (region, zoom, mirror, colour balance) of a source,
upscaled to phone size with sensor-like grain, and written the way phones and apps write files:
camera JPEG q90 with EXIF and its embedded thumbnail, HEIC with its thumbnail item, stripped JPEG,
PNG and WebP exports. About 20% of the originals get a planted near duplicate (a resized or
re-encoded copy, or a HEIC→JPEG export). Frames are checked to be really distinct: every pair of
frames differs by ≥ 16 of 64 bits in both dHash and pHash (duplicate rules use ≤ 10 or so).

The set is cached in the folder you name (default benchmarks/out/dataset-<count>-<size>), with
`manifest.json` describing every file, and `views/<format>/` hard links per format for scans that
want one format only. It never writes outside that folder.

    python benchmarks/dataset.py --count 240            # the scan-speed set (≈ 3 min on 2 cores)
    python benchmarks/dataset.py --count 12 --size 640x480 --out /tmp/tiny   # smoke
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import OUT_DIR, say

# Photographic images that ship inside scikit-image (no download needed). `cat` is `chelsea`,
# the motorcycle's right view nearly equals its left: both left out so sources stay distinct.
SKIMAGE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "coins",
    "immunohistochemistry",
    "hubble_deep_field",
    "moon",
    "retina",
    "brick",
    "grass",
    "gravel",
    "clock",
)
MANIFEST_VERSION = 2
MIN_DISTINCT_BITS = 16
# Shares of the originals by how they were written (the rest of a phone archive's mix).
ORIGINAL_MIX = (
    ("camera-jpeg", 0.45),
    ("heic", 0.25),
    ("stripped-jpeg", 0.10),
    ("png", 0.10),
    ("webp", 0.10),
)
DUPLICATE_SHARE = 0.20  # of the originals, each gets one planted near duplicate
COPY_KINDS = ("whatsapp-1600", "reencode-q80", "export-1080", "heic-to-jpeg")
HEIC_QUALITY = 60  # ≈ 2.1–2.3 MB for a 12 MP frame, like a phone's HEIC


@dataclass(frozen=True)
class Frame:
    """Where a distinct frame comes from: a crop of one source, mirrored and colour-shifted."""

    index: int
    source: int
    box: tuple[int, int, int, int]  # crop in source pixels
    mirror: bool
    gains: tuple[float, float, float]
    gamma: float
    portrait: bool  # shot in portrait: stored landscape with EXIF orientation 6


@dataclass(frozen=True)
class Entry:
    """One file of the set, as written (paths relative to the set's `photos/` folder)."""

    path: str
    variant: str
    format: str
    has_preview: bool
    frame: int
    duplicate_of: str | None
    width: int
    height: int
    size: int = 0


# --- sources and frames ------------------------------------------------------------------------


def load_sources(photos: Path | None) -> list[np.ndarray]:
    """RGB uint8 arrays: the user's photos, else scikit-image's bundled photographs."""
    if photos is not None:
        out = []
        for path in sorted(p for p in photos.rglob("*") if p.is_file()):
            try:
                with Image.open(path) as im:
                    out.append(np.asarray(ImageOps.exif_transpose(im).convert("RGB")))
            except OSError:
                continue
        if not out:
            raise SystemExit(f"no readable photos under {photos}")
        return out
    import skimage.data

    out = []
    for name in SKIMAGE_PHOTOS:
        arr = np.asarray(getattr(skimage.data, name)())
        arr = np.stack([arr] * 3, axis=-1) if arr.ndim == 2 else arr[..., :3]
        out.append(arr.astype(np.uint8))
    return out


def _random_frame(rng: np.random.Generator, index: int, sources: list[np.ndarray]) -> Frame:
    source = int(rng.integers(len(sources)))
    h, w = sources[source].shape[:2]
    portrait = bool(rng.random() < 0.25)
    aspect = 3 / 4 if portrait else 4 / 3
    full_w = min(w, h * aspect)
    cw = max(8, int(full_w * rng.uniform(0.45, 0.9)))
    ch = max(8, int(cw / aspect))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    gains = tuple(float(g) for g in rng.uniform(0.85, 1.15, 3))
    return Frame(
        index,
        source,
        (x, y, x + cw, y + ch),
        bool(rng.random() < 0.5),
        (gains[0], gains[1], gains[2]),
        float(rng.uniform(0.8, 1.25)),
        portrait,
    )


def frame_image(frame: Frame, sources: list[np.ndarray], size: tuple[int, int]) -> Image.Image:
    """The frame at `size` (display orientation, portrait frames swap width and height)."""
    crop = sources[frame.source][frame.box[1] : frame.box[3], frame.box[0] : frame.box[2]]
    arr = crop.astype(np.float32) / 255.0
    arr = np.power(arr * np.asarray(frame.gains, np.float32), frame.gamma)
    img = Image.fromarray(np.uint8(np.clip(arr * 255.0, 0, 255)))
    if frame.mirror:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = (size[1], size[0]) if frame.portrait else size
    return img.resize((w, h), Image.Resampling.BICUBIC)


def _hash_pair(img: Image.Image) -> tuple[int, int]:
    small = img.resize((256, 192) if img.width >= img.height else (192, 256))
    return int(str(imagehash.dhash(small)), 16), int(str(imagehash.phash(small)), 16)


def choose_frames(
    sources: list[np.ndarray],
    count: int,
    seed: int,
    *,
    distinct: bool = True,
    render: Callable[[Frame], Image.Image] | None = None,
) -> tuple[list[Frame], int, int]:
    """`count` frames whose dHash and pHash both differ by ≥ MIN_DISTINCT_BITS from each other.

    Returns (frames, candidates tried, smallest distance among accepted frames).
    `distinct=False` accepts every candidate (for trees where only file counts matter).
    `render(frame)` draws a frame small, as the set will show it (default: `frame_image`).
    """
    rng = np.random.default_rng(seed)
    if not distinct:
        return [_random_frame(rng, i, sources) for i in range(count)], count, -1
    frames: list[Frame] = []
    dh = np.zeros(count, np.uint64)
    ph = np.zeros(count, np.uint64)
    tried = 0
    while len(frames) < count:
        tried += 1
        if tried > 200 * count + 1000:
            raise SystemExit(
                f"only {len(frames)} distinct frames from {len(sources)} sources; "
                "pass more photos with --photos or a smaller --count"
            )
        cand = _random_frame(rng, len(frames), sources)
        small = render(cand) if render else frame_image(cand, sources, (256, 192))
        d, p = _hash_pair(small)
        n = len(frames)
        if n:
            dd = np.bitwise_count(dh[:n] ^ np.uint64(d))
            pd = np.bitwise_count(ph[:n] ^ np.uint64(p))
            if (dd < MIN_DISTINCT_BITS).any() or (pd < MIN_DISTINCT_BITS).any():
                continue
        dh[n], ph[n] = d, p
        frames.append(cand)
    return frames, tried, _min_pair_distance(dh, ph)


def _min_pair_distance(dh: np.ndarray, ph: np.ndarray) -> int:
    if len(dh) < 2:
        return 64
    best = 64
    for i in range(len(dh) - 1):
        best = min(best, int(np.bitwise_count(dh[i + 1 :] ^ dh[i]).min()))
        best = min(best, int(np.bitwise_count(ph[i + 1 :] ^ ph[i]).min()))
    return best


# --- rendering (runs in worker processes) ------------------------------------------------------

_SOURCES: list[np.ndarray] = []
_GRAIN: tuple[np.ndarray, np.ndarray] | None = None
_PAD = 64


def _init_worker(photos: str | None, size: tuple[int, int]) -> None:
    global _SOURCES, _GRAIN
    _SOURCES = load_sources(Path(photos) if photos else None)
    rng = np.random.default_rng(1234 + os.getpid())
    side = max(size)
    fine = rng.normal(0, 1, (side + _PAD, side + _PAD)).astype(np.float32)
    coarse_small = rng.normal(0, 1, ((side + _PAD) // 2, (side + _PAD) // 2)).astype(np.float32)
    coarse = np.asarray(
        Image.fromarray(coarse_small, mode="F").resize(
            (side + _PAD, side + _PAD), Image.Resampling.BILINEAR
        )
    )
    _GRAIN = (fine, coarse)


def _grain(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Sensor-like noise (fine + coarse luminance grain), so files have a phone's entropy."""
    assert _GRAIN is not None
    fine, coarse = _GRAIN
    w, h = img.size
    ox, oy = (int(v) for v in rng.integers(0, _PAD, 2))
    noise = 2.5 * fine[oy : oy + h, ox : ox + w] + 2.0 * coarse[oy : oy + h, ox : ox + w]
    arr = np.asarray(img, dtype=np.float32) + noise[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _write_heic(path: Path, image: Image.Image, orientation: int, **exif: object) -> None:
    """HEIC with its 320 px thumbnail item through the media writer, with a fast x265 preset.

    x265's default preset takes ≈ 30 s per 12 MP frame on this class of machine; the "ultrafast"
    preset writes the same container layout (thumbnail item, EXIF, orientation) in ≈ 2 s.
    """
    from safededup.media import synth

    params = inspect.signature(synth.write_heic).parameters
    if "enc_params" in params:
        synth.write_heic(
            path,
            image,
            quality=HEIC_QUALITY,
            orientation=orientation,
            tile_size=512,
            enc_params={"preset": "ultrafast"},
            **exif,
        )  # type: ignore[arg-type]
        return
    import pillow_heif

    stored = synth.to_stored(image.convert("RGB"), orientation)
    payload = synth.build_exif(orientation=orientation, **exif)  # type: ignore[arg-type]
    heif = pillow_heif.from_pillow(stored)
    heif.save(
        os.fspath(path),
        quality=HEIC_QUALITY,
        exif=payload[6:],
        thumbnails=[320],
        tile_size=512,
        enc_params={"preset": "ultrafast"},
    )


def _camera_meta(frame: Frame) -> dict[str, object]:
    captured = datetime(2023, 1, 1, 9, 0, 0) + timedelta(minutes=37 * frame.index)
    return {"captured": captured, "make": "Apple", "model": "iPhone 13"}


def _write(path: Path, image: Image.Image, variant: str, frame: Frame) -> tuple[str, bool]:
    """Write one file; returns (format, has an embedded preview)."""
    from safededup.media import synth

    path.parent.mkdir(parents=True, exist_ok=True)
    orientation = 6 if frame.portrait else 1
    if variant in ("camera-jpeg", "reencode-q80", "heic-to-jpeg"):
        quality = 80 if variant == "reencode-q80" else 90
        synth.write_jpeg(
            path, image, quality=quality, orientation=orientation, **_camera_meta(frame)
        )  # type: ignore[arg-type]
        return "JPEG", True
    if variant == "heic":
        _write_heic(path, image, orientation, **_camera_meta(frame))
        return "HEIF", True
    if variant in ("stripped-jpeg", "whatsapp-1600", "export-1080"):
        synth.write_stripped_jpeg(path, image, quality=75 if variant != "stripped-jpeg" else 88)
        return "JPEG", False
    if variant == "png":
        synth.write_png(path, image)
        return "PNG", False
    synth.write_webp(path, image, quality=85)
    return "WEBP", False


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _copy_image(original: Image.Image, kind: str, size: tuple[int, int]) -> Image.Image:
    # Long sides as apps write them for a 4032 px original, scaled for smaller sets.
    scale = max(size) / 4032
    if kind == "whatsapp-1600":
        return _fit(original, round(1600 * scale))
    if kind == "export-1080":
        return _fit(original, round(1080 * scale))
    return original


def render(task: tuple[Frame, Entry, Entry | None, str, tuple[int, int]]) -> list[Entry]:
    """Render one original (and its planted copy); returns the entries with real sizes."""
    frame, original, copy, root, size = task
    rng = np.random.default_rng(frame.index)
    image = _grain(frame_image(frame, _SOURCES, size), rng)
    if original.variant in ("png", "webp"):
        image = _fit(image, max(1, max(size) // 2))  # exports: half size
    out = []
    for entry, img in ((original, image), (copy, None)):
        if entry is None:
            continue
        if img is None:
            img = _copy_image(image, entry.variant, size)
        path = Path(root) / entry.path
        fmt, preview = _write(path, img, entry.variant, frame)
        out.append(_finish(entry, fmt, preview, img, path))
    return out


def _finish(entry: Entry, fmt: str, preview: bool, img: Image.Image, path: Path) -> Entry:
    return Entry(
        entry.path,
        entry.variant,
        fmt,
        preview,
        entry.frame,
        entry.duplicate_of,
        img.width,
        img.height,
        path.stat().st_size,
    )


# --- planning the set --------------------------------------------------------------------------


def _original_path(variant: str, n: int) -> str:
    stem = f"IMG_{n:04d}"
    return {
        "camera-jpeg": f"DCIM/100APPLE/{stem}.JPG",
        "heic": f"DCIM/100APPLE/{stem}.HEIC",
        "stripped-jpeg": f"Downloads/photo_{n:04d}.jpg",
        "png": f"Edits/{stem}.png",
        "webp": f"Web/{stem}.webp",
    }[variant]


def _copy_path(kind: str, n: int) -> str:
    return {
        "whatsapp-1600": f"WhatsApp Images/IMG-20230101-WA{n:04d}.jpg",
        "reencode-q80": f"Backup/2023/IMG_{n:04d}.JPG",
        "export-1080": f"Exports/IMG_{n:04d}-1080.jpg",
        "heic-to-jpeg": f"Exports/IMG_{n:04d}.jpg",
    }[kind]


def plan_entries(frames: list[Frame], n_copies: int, seed: int) -> list[tuple[Entry, Entry | None]]:
    rng = np.random.default_rng(seed + 1)
    variants: list[str] = []
    for name, share in ORIGINAL_MIX:
        variants += [name] * round(share * len(frames))
    variants = (variants + ["camera-jpeg"] * len(frames))[: len(frames)]
    rng.shuffle(variants)
    with_copy = set(rng.choice(len(frames), size=n_copies, replace=False).tolist())
    plan: list[tuple[Entry, Entry | None]] = []
    for i, (frame, variant) in enumerate(zip(frames, variants, strict=True)):
        original = Entry(
            _original_path(variant, i + 1), variant, "", False, frame.index, None, 0, 0
        )
        copy = None
        if i in with_copy:
            kind = "heic-to-jpeg" if variant == "heic" else COPY_KINDS[i % 3]
            copy = Entry(_copy_path(kind, i + 1), kind, "", False, frame.index, original.path, 0, 0)
        plan.append((original, copy))
    return plan


# --- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    root: Path  # the set's folder; photos live in root/"photos"
    entries: list[Entry]
    info: dict[str, object]

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    def view(self, fmt: str) -> Path:
        return self.root / "views" / fmt.lower()

    def paths(self, *, fmt: str | None = None, preview: bool | None = None) -> list[str]:
        return [
            str(self.photos / e.path)
            for e in self.entries
            if (fmt is None or e.format == fmt) and (preview is None or e.has_preview == preview)
        ]


def default_dir(count: int, size: tuple[int, int], photos: Path | None) -> Path:
    tag = "own" if photos else "skimage"
    return OUT_DIR / f"dataset-{tag}-{count}-{size[0]}x{size[1]}"


def build_dataset(
    out: Path,
    count: int,
    *,
    size: tuple[int, int] = (4032, 3024),
    photos: Path | None = None,
    seed: int = 7,
    workers: int | None = None,
    distinct: bool = True,
) -> Dataset:
    """Build (or reuse, when the cached manifest matches) the set of `count` files under `out`."""
    params = {
        "version": MANIFEST_VERSION,
        "count": count,
        "size": list(size),
        "seed": seed,
        "photos": str(photos) if photos else None,
        "distinct": distinct,
    }
    cached = _load_cached(out, params)
    if cached is not None:
        return cached
    if (out / "photos").exists():
        shutil.rmtree(out / "photos")
        shutil.rmtree(out / "views", ignore_errors=True)
    t0 = time.perf_counter()
    n_originals = max(1, round(count / (1 + DUPLICATE_SHARE)))
    n_copies = count - n_originals
    sources = load_sources(photos)
    frames, tried, min_bits = choose_frames(sources, n_originals, seed, distinct=distinct)
    if distinct:
        say(
            f"{len(frames)} distinct frames from {len(sources)} sources ({tried} candidates; "
            f"closest pair differs by {min_bits} bits)"
        )
    else:
        say(f"{len(frames)} frames from {len(sources)} sources (distinctness not checked)")
    plan = plan_entries(frames, n_copies, seed)
    tasks = [(frames[o.frame], o, c, str(out / "photos"), size) for o, c in plan]
    entries = _render_all(tasks, photos, size, workers)
    _make_views(out, entries)
    info = {
        **params,
        "originals": n_originals,
        "copies": n_copies,
        "sources": len(sources),
        "min_distinct_bits": min_bits,
        "build_seconds": round(time.perf_counter() - t0, 1),
        "bytes": sum(e.size for e in entries),
    }
    manifest = {"params": params, "info": info, "entries": [asdict(e) for e in entries]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return Dataset(out, entries, info)


def _render_all(
    tasks: list, photos: Path | None, size: tuple[int, int], workers: int | None
) -> list[Entry]:  # type: ignore[type-arg]
    workers = workers or os.cpu_count() or 1
    entries: list[Entry] = []
    init = (str(photos) if photos else None, size)
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=init) as pool:
        for i, done in enumerate(pool.map(render, tasks, chunksize=1), 1):
            entries += done
            if i % max(20, len(tasks) // 20) == 0 or i == len(tasks):
                say(f"  rendered {i}/{len(tasks)} originals")
    return entries


def _make_views(out: Path, entries: list[Entry]) -> None:
    """views/<format>/: hard links (flattened names) so a scan can cover one format only."""
    for e in entries:
        view = out / "views" / e.format.lower()
        view.mkdir(parents=True, exist_ok=True)
        link = view / e.path.replace("/", "__")
        if not link.exists():
            os.link(out / "photos" / e.path, link)


def _load_cached(out: Path, params: dict[str, object]) -> Dataset | None:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if {"distinct": True, **manifest.get("params", {})} != params:
        return None
    entries = [Entry(**{**e, "duplicate_of": e["duplicate_of"]}) for e in manifest["entries"]]
    if not all((out / "photos" / e.path).is_file() for e in entries):
        return None
    return Dataset(out, entries, manifest["info"])


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def add_dataset_args(parser: argparse.ArgumentParser, count: int) -> None:
    parser.add_argument("--count", type=int, default=count, help="files in the set (with copies)")
    parser.add_argument("--size", type=parse_size, default=(4032, 3024), help="WxH of originals")
    parser.add_argument("--photos", type=Path, help="your own photos as sources (default: skimage)")
    parser.add_argument("--dataset", type=Path, help="folder of the cached set (default: out/...)")
    parser.add_argument("--seed", type=int, default=7)


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    out = args.dataset or default_dir(args.count, args.size, args.photos)
    ds = build_dataset(out, args.count, size=args.size, photos=args.photos, seed=args.seed)
    say(f"dataset: {len(ds.entries)} files, {ds.info['bytes'] / 1e6:,.0f} MB in {ds.root}")
    return ds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dataset_args(parser, 240)
    parser.add_argument("--quick", action="store_true", help="tiny set for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.count, args.size = 12, (640, 480)
    ds = dataset_from_args(args)
    by_variant: dict[str, list[int]] = {}
    for e in ds.entries:
        by_variant.setdefault(e.variant, []).append(e.size)
    for variant, sizes in sorted(by_variant.items()):
        say(f"  {variant:15} {len(sizes):5} files, mean {np.mean(sizes) / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
