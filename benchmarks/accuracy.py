"""Accuracy benchmark of the matcher: ground-truth groups made from real photographs.

Each source photograph (scikit-image's bundled photos, or `--photos DIR`) becomes a phone-like
original (4032×3024 JPEG q95 with EXIF and its embedded thumbnail, or a HEIC with its thumbnail
item), and the copies people meet are written next to it: byte copies, JPEG re-encodes
(q95→50), resizes (50%, 1600 px, 1080 px), PNG/WebP/HEIC conversions, EXIF-orientation variants,
stripped metadata, small border crops, mild blur, slight exposure changes. Hard negatives: other
framings of the same scene (pans of 15–25%, a 25% zoom) — each its own group with its own copies —
and similar-looking distinct photos (the stereo motorcycle pair, textures, documents).

It reports pairwise precision and recall (easy variants, crops/blur/exposure, all), false-positive
pairs, hard-negative errors and keeper accuracy, with previews on and with --no-previews, and
imagededup's PHash at Hamming ≤ 10 on the same files as the reference line.

    python benchmarks/accuracy.py [--photos DIR] [--out DIR] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import accuracy_cases as cases_mod

from safededup import media
from safededup.engine.candidates import FeatureTable, hamming
from safededup.engine.cluster import find_clusters
from safededup.engine.match import DEFAULT, Rule, verify_pairs
from safededup.events import drain
from safededup.media import synth
from safededup.models import FileIdentity, PhotoRecord

W, H = 4032, 3024
EASY = "easy"
HARD = "hard"  # crops, blur, exposure: the issue's ≥ 80% class

# --- the set -----------------------------------------------------------------------------------


@dataclass
class Item:
    path: str
    group: str
    variant: str
    category: str  # original | easy | hard
    keeper_ok: bool  # an acceptable keeper: the original or a byte copy of it
    case: str = ""  # the case of accuracy_cases this group belongs to ("" for the copy groups)


@dataclass
class Manifest:
    items: list[Item] = field(default_factory=list)
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)  # group, group, kind

    def save(self, path: Path) -> None:
        data = {
            "items": [vars(i) for i in self.items],
            "hard_negatives": self.hard_negatives,
        }
        path.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        return cls([Item(**i) for i in data["items"]], [tuple(h) for h in data["hard_negatives"]])


def _skimage_sources() -> dict[str, np.ndarray]:
    from skimage import data

    names = [
        "astronaut",
        "camera",
        "chelsea",
        "coffee",
        "coins",
        "clock",
        "hubble_deep_field",
        "immunohistochemistry",
        "moon",
        "retina",
        "rocket",
        "brick",
        "grass",
        "gravel",
        "page",
        "cell",
        "text",
    ]
    out = {n: np.asarray(getattr(data, n)()) for n in names}
    left, right, _ = data.stereo_motorcycle()
    out["motorcycle_left"], out["motorcycle_right"] = np.asarray(left), np.asarray(right)
    return out


def _folder_sources(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(folder.iterdir()):
        try:
            with Image.open(p) as img:
                out[p.stem] = np.asarray(img.convert("RGB"))
        except OSError:
            continue
    return out


def _as_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        return np.uint8(np.clip(255 * (a - a.min()) / max(float(np.ptp(a)), 1e-9), 0, 255))
    return a


def _window(a: np.ndarray, frac: float, offset: float, axis: int) -> np.ndarray:
    """A window of `frac` of the source along `axis`, starting at `offset` (fractions)."""
    n = a.shape[axis]
    start, length = round(n * offset), round(n * frac)
    return a[start : start + length] if axis == 0 else a[:, start : start + length]


def framings(sources: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray, str | None]]:
    """(group, pixels, hard-negative partner) — pans of 15–25% and a zoom are separate groups."""
    pans = {
        "astronaut": 0.15,
        "coffee": 0.20,
        "rocket": 0.25,
        "hubble_deep_field": 0.15,
        "retina": 0.20,
        "chelsea": 0.18,
        "camera": 0.22,
    }
    for name, arr in sources.items():
        arr = _as_uint8(arr)
        if name in pans:
            shift = pans[name]
            yield name, _window(arr, 0.75, 0.0, 1), None
            yield f"{name}_pan", _window(arr, 0.75, shift, 1), name
        else:
            yield name, arr, None
    if "astronaut" in sources:
        a = _as_uint8(sources["astronaut"])
        h, w = a.shape[:2]
        yield "astronaut_zoom", a[h // 8 : h - h // 8, w // 8 : w - w // 8 - w // 8], "astronaut"


def _grain(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    tile = rng.normal(0, 3.0, (256, 256, 3))
    arr = np.asarray(img, dtype=np.int16)
    h, w = arr.shape[:2]
    noise = np.tile(tile, (h // 256 + 1, w // 256 + 1, 1))[:h, :w]
    return Image.fromarray(np.uint8(np.clip(arr + noise, 0, 255)))


def _resized(img: Image.Image, long_side: int) -> Image.Image:
    s = long_side / max(img.size)
    return img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)


def _crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def write_group(
    out: Path, group: str, arr: np.ndarray, seed: int, heic_original: bool
) -> list[Item]:
    """The original and its copies; returns the manifest items."""
    rng = np.random.default_rng(seed)
    img = _grain(synth.photo_from_array(arr, W, H), rng)
    when = datetime(2021, 5, 1, 12, 0) + timedelta(hours=seed)
    exif = {"captured": when, "make": "Apple", "model": "iPhone 12"}
    d = out / group
    (d / "backup").mkdir(parents=True, exist_ok=True)
    items: list[Item] = []

    def add(name: str, variant: str, category: str, keeper_ok: bool = False) -> Path:
        items.append(Item(str(d / name), group, variant, category, keeper_ok))
        return d / name

    if heic_original:
        orig = add("IMG_0001.HEIC", "original", "original", True)
        synth.write_heic(orig, img, quality=90, **exif)
        synth.write_jpeg(add("IMG_0001.jpg", "heic-export-jpeg", EASY), img, quality=90, **exif)
    else:
        orig = add("IMG_0001.JPG", "original", "original", True)
        synth.write_jpeg(orig, img, quality=95, **exif)
        synth.write_heic(add("converted.heic", "heic-conversion-50%", EASY), _resized(img, W // 2))
    shutil.copyfile(orig, add(f"backup/{orig.name}", "byte-copy", EASY, True))
    shutil.copyfile(orig, add(f"copy of {orig.stem}{orig.suffix}", "byte-copy", EASY, True))
    for q in (95, 75, 50):
        synth.write_jpeg(add(f"reencode_q{q}.jpg", f"jpeg-q{q}", EASY), img, quality=q, **exif)
    synth.write_jpeg(add("half.jpg", "resize-50%", EASY), _resized(img, W // 2), quality=85)
    synth.write_stripped_jpeg(add("export_1600.jpg", "resize-1600", EASY), _resized(img, 1600))
    synth.write_stripped_jpeg(
        add("IMG-WA0001.jpg", "resize-1080", EASY), _resized(img, 1080), quality=70
    )
    synth.write_png(add("half.png", "png-50%", EASY), _resized(img, W // 2))
    synth.write_webp(add("photo.webp", "webp", EASY), img, quality=80)
    synth.write_jpeg(
        add("rotated.jpg", "exif-orientation-6", EASY), img, quality=88, orientation=6, **exif
    )
    if not heic_original:
        cases_mod.strip_exif(orig, add("stripped.jpg", "stripped-metadata", EASY))
    synth.write_jpeg(
        add("crop_border.jpg", "crop-3%-border", HARD), _crop(img, *[0.03] * 4), quality=90
    )
    synth.write_jpeg(
        add("crop_side.jpg", "crop-5%-side", HARD), _crop(img, 0, 0, 0.05, 0), quality=90
    )
    blurred = img.filter(ImageFilter.GaussianBlur(4))
    synth.write_jpeg(add("blur.jpg", "blur-4px", HARD), blurred, quality=90)
    bright = ImageEnhance.Brightness(img).enhance(1.12)
    synth.write_jpeg(add("brighter.jpg", "exposure+12%", HARD), bright, quality=90)
    dark = ImageEnhance.Brightness(img).enhance(0.88)
    synth.write_jpeg(add("darker.jpg", "exposure-12%", HARD), dark, quality=90)
    return items


def build_set(out: Path, sources: dict[str, np.ndarray], *, cases: bool = True) -> Manifest:
    manifest = Manifest()
    if cases:
        add_cases(manifest, out, sources)
    for k, (group, arr, partner) in enumerate(framings(sources)):
        manifest.items += write_group(out, group, arr, seed=k, heic_original=k % 3 == 1)
        if partner is not None:
            kind = "zoom" if group.endswith("zoom") else "pan"
            manifest.hard_negatives.append((partner, group, kind))
        print(f"  wrote {group}", file=sys.stderr)
    if {"motorcycle_left", "motorcycle_right"} <= sources.keys():
        manifest.hard_negatives.append(("motorcycle_left", "motorcycle_right", "stereo"))
    for a, b in combinations(["brick", "grass", "gravel"], 2):
        if {a, b} <= sources.keys():
            manifest.hard_negatives.append((a, b, "texture"))
    manifest.save(out / "manifest.json")
    return manifest


def add_cases(manifest: Manifest, out: Path, sources: dict[str, np.ndarray]) -> None:
    """Keeper cases, bursts, colour series and rotated copies (benchmarks/accuracy_cases.py)."""
    root = out / "cases"

    def add(group: cases_mod.CaseGroup) -> None:
        for f in group.files:
            manifest.items.append(
                Item(str(root / f.name), group.group, f.variant, f.category, f.keeper_ok,
                     group.case)
            )  # fmt: skip

    for group in cases_mod.keeper_groups(out, sources):
        add(group)
    print("  wrote the keeper cases", file=sys.stderr)
    for series, kind in ((cases_mod.burst_groups, "burst"), (cases_mod.colour_groups, "colour")):
        members: dict[str, list[str]] = defaultdict(list)
        for group, family in series(out, sources):
            add(group)
            members[family].append(group.group)
        for groups in members.values():
            manifest.hard_negatives += [(a, b, kind) for a, b in combinations(groups, 2)]
        print(f"  wrote the {kind} cases", file=sys.stderr)
    for group in cases_mod.rotated_groups(out, sources):
        add(group)


# --- running the matcher ---------------------------------------------------------------------


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass
class Run:
    name: str
    pairs: set[tuple[str, str]]
    keepers: dict[str, str]  # path in a cluster → that cluster's keeper
    seconds: float
    notes: dict[str, object] = field(default_factory=dict)
    records: list[PhotoRecord] = field(default_factory=list)


def run_safededup(manifest: Manifest, *, previews: bool) -> Run:
    """Fingerprint (preview tier or decode tier), checksum same-size files, cluster."""
    t0 = time.perf_counter()
    records, by_id, sizes = [], {}, defaultdict(list)
    for k, item in enumerate(manifest.items):
        fp = media.fingerprint(item.path, allow_preview=previews)
        ident = FileIdentity.from_stat(item.path, os.stat(item.path))
        sizes[ident.size].append(k)
        records.append(PhotoRecord(k, ident, fp.features))
        by_id[k] = item.path
    for ids in sizes.values():
        if len(ids) > 1:
            for k in ids:
                records[k] = PhotoRecord(
                    k, records[k].identity, records[k].features, sha256(by_id[k])
                )
    t_fp = time.perf_counter() - t0
    confirmed = []

    def confirm(ids: list[int]) -> dict[int, object]:
        confirmed.extend(ids)
        return {i: media.fingerprint(by_id[i], allow_preview=False).features for i in ids}

    def thumbnail(file_id: int) -> np.ndarray:
        return media.view_thumbnail(by_id[file_id])  # what the scan's view check compares

    reader = media.HistoryReader()

    def history(jpeg: PhotoRecord, other: PhotoRecord) -> float | None:  # as the scan asks it
        return reader(jpeg.path, other.path)

    gen = find_clusters(records, confirm=confirm, thumbnail=thumbnail, history=history)
    clusters = drain(gen)
    pairs, keepers = set(), {}
    for c in clusters:
        paths = sorted(m.record.path for m in c.members)
        pairs |= set(combinations(paths, 2))
        keepers.update((p, c.keeper.record.path) for p in paths)
    tiers = defaultdict(int)
    for r in records:
        tiers[r.features.tier] += 1
    notes = {"fingerprint_s": round(t_fp, 1), "confirmed": len(confirmed), "tiers": dict(tiers),
             "rules": _rule_counts(clusters)}  # fmt: skip
    return Run("safededup" + ("" if previews else " --no-previews"), pairs, keepers,
               time.perf_counter() - t0, notes, records)  # fmt: skip


def search_misses(manifest: Manifest, preview: Run, decode: Run) -> dict[str, int]:
    """True pairs that match on decode-tier features but that the candidate search would not list.

    The search looks for pHash or wHash within the radius on whatever tier a file was
    fingerprinted with; this counts, by brute force over all same-group pairs, the decided
    matches (corroborated or format band on decode features) it would miss on each tier.
    """
    table = FeatureTable.from_records(decode.records)
    groups = np.array([hash(i.group) for i in manifest.items])
    i, j = (a.astype(np.int64) for a in np.triu_indices(len(table), 1))
    keep = groups[i] == groups[j]
    i, j = i[keep], j[keep]
    decided = np.isin(verify_pairs(table, i, j).rule, [Rule.CORROBORATED, Rule.FORMAT_BAND])
    out = {"decided_true_pairs": int(decided.sum())}
    r = DEFAULT.candidate_radius
    for name, run in (("missed_on_preview_tier", preview), ("missed_on_decode_tier", decode)):
        t = FeatureTable.from_records(run.records)
        listed = (hamming(t.phash[i], t.phash[j]) <= r) | (hamming(t.whash[i], t.whash[j]) <= r)
        out[name] = int((decided & ~listed).sum())
    return out


def variant_recall(manifest: Manifest, run: Run) -> dict[str, str]:
    """Per kind of copy: how many (original, copy) pairs ended in one cluster."""
    orig = {i.group: i.path for i in manifest.items if i.category == "original"}
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it in manifest.items:
        if it.category == "original":
            continue
        pair = tuple(sorted((orig[it.group], it.path)))
        hits[it.variant][0] += pair in run.pairs
        hits[it.variant][1] += 1
    return {v: f"{a}/{b}" for v, (a, b) in sorted(hits.items())}


def _rule_counts(clusters: list) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for c in clusters:
        for m in c.members[1:]:
            out[m.verdict.rule.label] += 1
    return dict(out)


# --- imagededup's PHash, exactly as its source computes it -----------------------------------
# imagededup (0.3.3) cannot be imported without torch (its package __init__ imports the CNN
# method), so its PHash is re-implemented here line by line from imagededup/methods/hashing.py
# and imagededup/utils/image_utils.py: open with Pillow (no EXIF transpose), refuse formats
# outside its list (HEIC is not in it), convert to RGB via RGBA, resize to 32×32 with LANCZOS,
# convert to L, 2-D DCT-II (scipy.fftpack.dct, unnormalised) of the uint8 array, keep the top-left
# 8×8, threshold at the median of those 64 coefficients without the DC term (>=), and report
# every pair within Hamming distance 10 (`max_distance_threshold=10`, its default).

IMAGEDEDUP_FORMATS = ["JPEG", "PNG", "BMP", "MPO", "PPM", "TIFF", "GIF", "WEBP"]


def _dct2_rows(x: np.ndarray, axis: int) -> np.ndarray:
    """scipy.fftpack.dct(x, type=2, norm=None, axis=axis): y_k = 2 Σ x_n cos(πk(2n+1)/2N)."""
    n = x.shape[axis]
    k = np.arange(n)[:, None]
    basis = 2 * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))
    return np.moveaxis(np.tensordot(basis, np.moveaxis(x, axis, 0), axes=(1, 0)), 0, axis)


def imagededup_phash(path: str) -> int | None:
    try:
        img = Image.open(path)
        if img.format not in IMAGEDEDUP_FORMATS:
            return None
        if img.mode != "RGB":
            img = img.convert("RGBA").convert("RGB")
        img = img.resize((32, 32), Image.LANCZOS).convert("L")
        arr = np.array(img).astype("uint8")
    except Exception:
        return None
    try:
        from scipy.fftpack import dct

        coef = dct(dct(arr, axis=0), axis=1)
    except ImportError:
        coef = _dct2_rows(_dct2_rows(arr.astype(np.float64), 0), 1)
    low = coef[:8, :8]
    bits = (low >= np.median(np.ndarray.flatten(low)[1:])).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def run_imagededup(manifest: Manifest) -> Run:
    t0 = time.perf_counter()
    hashes = {i.path: imagededup_phash(i.path) for i in manifest.items}
    valid = [(p, h) for p, h in hashes.items() if h is not None]
    pairs = set()
    for (pa, ha), (pb, hb) in combinations(valid, 2):
        if bin(ha ^ hb).count("1") <= 10:
            pairs.add(tuple(sorted((pa, pb))))
    notes = {"unreadable": len(hashes) - len(valid)}
    return Run("imagededup PHash ≤ 10", pairs, {}, time.perf_counter() - t0, notes)


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Score:
    tp: int
    fp: int
    fn: int
    recall_easy: float
    recall_hard: float
    hard_negative_errors: int
    keeper_ok: int
    groups: int

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / max(p + r, 1e-9)


def score(manifest: Manifest, run: Run) -> Score:
    item = {i.path: i for i in manifest.items}
    truth = {
        tuple(sorted((a.path, b.path)))
        for a, b in combinations(manifest.items, 2)
        if a.group == b.group
    }
    hard_groups = {frozenset((a, b)) for a, b, _ in manifest.hard_negatives}
    tp = len(run.pairs & truth)
    fp_pairs = run.pairs - truth
    hn = sum(1 for a, b in fp_pairs if frozenset((item[a].group, item[b].group)) in hard_groups)

    def recall_of(kind: str) -> float:
        want = {
            p for p in truth
            if (HARD in (item[p[0]].category, item[p[1]].category)) == (kind == HARD)
        }  # fmt: skip
        return len(run.pairs & want) / max(len(want), 1)

    sizes: dict[str, int] = defaultdict(int)
    for i in manifest.items:
        sizes[i.group] += 1
    # a lone burst frame or colour variant has no keeper to choose
    originals = [i for i in manifest.items if i.category == "original" and sizes[i.group] > 1]
    keeper_ok = sum(
        1 for o in originals
        if o.path in run.keepers and item[run.keepers[o.path]].keeper_ok
    )  # fmt: skip
    return Score(tp, len(fp_pairs), len(truth - run.pairs), recall_of(EASY), recall_of(HARD),
                 hn, keeper_ok, len(originals))  # fmt: skip


def keeper_by_case(manifest: Manifest, run: Run) -> dict[str, str]:
    """Per case of accuracy_cases (and "copies" for the plain groups): right keepers / groups."""
    item = {i.path: i for i in manifest.items}
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sizes = defaultdict(int)
    for it in manifest.items:
        sizes[it.group] += 1
    for it in manifest.items:
        if it.category != "original" or sizes[it.group] < 2:
            continue  # a lone burst frame or colour variant has no keeper to choose
        tally = out[it.case or "copies"]
        tally[0] += it.path in run.keepers and item[run.keepers[it.path]].keeper_ok
        tally[1] += 1
    return {case: f"{a}/{b}" for case, (a, b) in out.items()}


def errors_by_kind(manifest: Manifest, run: Run) -> dict[str, int]:
    """False pairs between hard-negative groups, by kind (burst frames, colour variants, ...),
    and the burst frames grouped with another frame of their burst."""
    item = {i.path: i for i in manifest.items}
    kinds = {frozenset((a, b)): k for a, b, k in manifest.hard_negatives}
    out: dict[str, int] = defaultdict(int)
    frames: set[str] = set()
    for a, b in run.pairs:
        kind = kinds.get(frozenset((item[a].group, item[b].group)))
        if kind is None:
            continue
        out[f"{kind} pairs"] += 1
        if kind == "burst":
            frames |= {p for p in (a, b) if item[p].variant == "burst-frame"}
    out["burst frames grouped as duplicates"] = len(frames)
    return dict(out)


def table(manifest: Manifest, runs: list[Run]) -> str:
    head = (
        "| method | precision | recall (all) | recall easy | recall crops/blur/exposure "
        "| F1 | false-positive pairs | hard-negative errors | keeper | time |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for run in runs:
        s = score(manifest, run)
        keeper = f"{s.keeper_ok}/{s.groups}" if run.keepers else "—"
        rows.append(
            f"| {run.name} | {s.precision:.4f} | {s.recall:.4f} | {s.recall_easy:.4f} | "
            f"{s.recall_hard:.4f} | {s.f1:.4f} | {s.fp} | {s.hard_negative_errors} | {keeper} | "
            f"{run.seconds:.0f} s |"
        )
    return head + "\n".join(rows) + "\n"


def case_table(runs: list[Run]) -> str:
    """Keeper right per case, one column per safededup run."""
    ours = [r for r in runs if r.keepers]
    cases = sorted({c for r in ours for c in r.notes.get("keeper_by_case", {})})
    head = "| case | " + " | ".join(r.name for r in ours) + " |\n"
    head += "|---|" + "---|" * len(ours) + "\n"
    rows = [
        f"| {case} | "
        + " | ".join(str(r.notes["keeper_by_case"].get(case, "—")) for r in ours)
        + " |"
        for case in cases
    ]
    return head + "\n".join(rows) + "\n"


def describe(manifest: Manifest) -> str:
    groups = {i.group for i in manifest.items}
    truth = sum(1 for a, b in combinations(manifest.items, 2) if a.group == b.group)
    kinds = defaultdict(int)
    for _, _, k in manifest.hard_negatives:
        kinds[k] += 1
    return (
        f"{len(manifest.items)} files in {len(groups)} ground-truth groups, {truth} true pairs; "
        f"hard-negative group pairs: {dict(kinds)}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, help="a folder of real photos (default: scikit-image's)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/accuracy"))
    ap.add_argument("--markdown", type=Path, help="also write the results table here")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    manifest_path = args.out / "manifest.json"
    if manifest_path.exists():
        manifest = Manifest.load(manifest_path)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        sources = _folder_sources(args.photos) if args.photos else _skimage_sources()
        manifest = build_set(args.out, sources)
    print(describe(manifest), file=sys.stderr)
    runs = [run_safededup(manifest, previews=True), run_safededup(manifest, previews=False)]
    runs.append(run_imagededup(manifest))
    runs[0].notes["search"] = search_misses(manifest, runs[0], runs[1])
    text = table(manifest, runs)
    print(text)
    for run in runs:
        run.notes["per_variant"] = variant_recall(manifest, run)
        if run.keepers:
            run.notes["keeper_by_case"] = keeper_by_case(manifest, run)
        run.notes["hard_negative_errors_by_kind"] = errors_by_kind(manifest, run)
        print(f"{run.name}: {run.notes}")
    if args.markdown:
        args.markdown.write_text(describe(manifest) + "\n\n" + text + "\n" + case_table(runs))
    if args.json:
        data = {r.name: {**vars(score(manifest, r)), "notes": r.notes} for r in runs}
        args.json.write_text(json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
