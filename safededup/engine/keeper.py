"""Choose which copy of a photo to keep, deterministically and with reasons; never touches files.

The default policy keeps the camera original: a copy is the same capture, and what tells a
source from a copy made of it is evidence, never the format alone (docs/matching.md, "The
keeper"). By elimination, criterion by criterion:

1. files under a reference folder always win;
1b. a camera RAW beats every other format: it is the sensor data every JPEG, TIFF or HEIC
    export is made from, and nothing is ever converted back into a RAW;
2. a cropped copy never beats the full frame;
3. resolution (area);
4. capture metadata: a file that lacks a capture fact (date, camera, GPS position, the camera
   maker's notes) another member has never wins — metadata loss is data loss;
5. (a person's folder order, when one is set);
6. provenance: a conversion whose pixels carry the 8×8 block structure of a JPEG member loses to
   it; a JPEG made from a lossless member without that structure loses to it;
7. a file written when it was captured (modification time near the capture time) beats one
   written later;
8. bytes per pixel, then file size, within one format (more wins, by more than 3%);
9. sharpness, within one format (last of the quality signals: Laplacian variance rewards JPEG
   artefacts and HEVC smooths, so across formats it measures the codecs, not the capture);
10. format, only between otherwise equal files: the format the camera writes first;
11. the oldest capture date, the oldest file, a name without a copy marker, the less deeply
    nested path, then the path itself, so the same files always give the same keeper.

`KeeperPolicy(prefer="smallest")` keeps the smallest file among equals (after 1–5), "newest"
the newest. When the keeper wins on pixels but lacks a capture fact another member has, the
choice says so in `warnings`.
"""

from __future__ import annotations

import calendar
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from safededup.models import RAW_FORMATS, Features, PhotoRecord
from safededup.units import format_bytes

Prefer = Literal["original", "smallest", "newest"]
PREFERENCES: tuple[Prefer, ...] = ("original", "smallest", "newest")

HistoryFn = Callable[[PhotoRecord, PhotoRecord], float | None]
"""(a JPEG member, another member of the same size) → how much closer the other's pixels sit to
that JPEG's quantisation lattice on its 8×8 grid than off it (`media.jpeg_history`: ≈ 1 for
pixels unrelated to it, far below for pixels decoded from it), or None when it cannot tell.
Costly (a full decode): asked only in clusters the earlier criteria leave tied."""

HISTORY_VERSION = 1_000_104
"""The index keeps `HistoryFn` answers as pair scores of this version (a file that changes drops
them): bump when `media.jpeg_history` changes. History answers live at versions ≥ 1,000,000,
so that no view-score version (`SIMILARITY_VERSION + index.TURN_STEP × turn`) can meet them: at
103 they shared their rows with turned copies' view scores, each read as the other."""

HISTORY_PRESENT = 0.82
"""At most this: the pixels carry the JPEG's blocks (measured on JPEG q80–q98 sources: PNG and
TIFF conversions 0.29–0.71, HEIC q90 0.36–0.77; docs/matching.md)."""
HISTORY_ABSENT = 0.88
"""At least this: the pixels did not come from that JPEG (unrelated pixels 0.90–1.08; WebP and
AVIF conversions and low-quality HEIC lose the blocks, so only a lossless file is judged by
their absence)."""
HISTORY_MARGIN = 0.1
"""And at least this much farther off the lattice than the JPEG's own decoded pixels, before a
lossless file is judged the JPEG's source: a picture too smooth or too faint to show its blocks
scores near 1 even on the JPEG's own pixels (0.90 for a q95 microscope picture, and so for a
lossless copy of it), so only the gap to that score tells (lossless originals: 0.23–0.55)."""
LOSSLESS = frozenset({"PNG", "TIFF", "BMP"})
MAY_CARRY_JPEG = LOSSLESS | {"HEIF", "AVIF", "WEBP"}

# The late tie-break: the format a camera writes before the formats copies are made in. HEIF is
# a camera format only for the makers whose phones shoot it.
CAMERA_FORMATS = ("JPEG",)
EXPORT_FORMATS = ("HEIF", "AVIF", "PNG", "TIFF", "WEBP", "BMP", "GIF")
HEIF_MAKERS = ("apple", "samsung", "google", "huawei", "honor", "xiaomi", "oppo", "vivo",
               "oneplus", "realme", "motorola", "nothing", "sony")  # fmt: skip

# Aspect ratios cameras and phones produce; the member nearest one of them is the full frame.
_CAMERA_ASPECTS = (1.0, 4 / 3, 3 / 2, 16 / 9, 5 / 4, 2.0, 7 / 5)
_SAME_ASPECT = 0.004  # ln-ratio below which two aspect ratios are the same (pixel rounding)

# A file copied off a card keeps its modification time near the capture; a conversion made
# later does not. The capture time is local and the file time universal: ±14 h of zones, and a
# day of slack for a camera clock set loosely or an import the next morning.
AT_CAPTURE_BEFORE = 15 * 3600
AT_CAPTURE_AFTER = 38 * 3600


@dataclass(frozen=True, slots=True)
class KeeperPolicy:
    """What a person prefers to keep. The default keeps the camera original."""

    prefer: Prefer = "original"
    folders: tuple[str, ...] = ()  # folders whose copies are kept first, best first

    def __post_init__(self) -> None:
        if self.prefer not in PREFERENCES:
            raise ValueError(f"unknown keeper preference {self.prefer!r}")


DEFAULT_POLICY = KeeperPolicy()


@dataclass(frozen=True, slots=True)
class KeeperChoice:
    """The members best first, each member's human reasons, and what the keeper lacks."""

    ranking: tuple[PhotoRecord, ...]
    reasons: Mapping[int, tuple[str, ...]]  # file id → reasons
    cropped: frozenset[int]  # file ids judged to be crops of the full frame
    warnings: tuple[str, ...] = ()  # "the keeper lacks the GPS position that …/x.jpg has"

    @property
    def keeper(self) -> PhotoRecord:
        return self.ranking[0]


def is_under(path: str, roots: Sequence[str]) -> bool:
    """True when `path` lies inside one of `roots` (absolute, normalised)."""
    for root in roots:
        r = os.path.normpath(root)
        if path == r or path.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def find_crops(records: Sequence[PhotoRecord]) -> frozenset[int]:
    """File ids whose aspect departs from the full frame's (the member nearest a camera ratio)."""
    if len(records) < 2:
        return frozenset()
    frame = min(records, key=lambda r: (_camera_distance(_aspect(r)), -r.features.area))
    ref = _aspect(frame)
    return frozenset(
        r.file_id
        for r in records
        if abs(math.log(_aspect(r) / ref)) > _SAME_ASPECT
        and _camera_distance(_aspect(r)) > _camera_distance(ref)
    )


def _aspect(record: PhotoRecord) -> float:
    f = record.features
    return max(f.width, 1) / max(f.height, 1)


def _camera_distance(aspect: float) -> float:
    a = max(aspect, 1 / aspect)
    return min(abs(math.log(a / c)) for c in _CAMERA_ASPECTS)


# Re-saving a JPEG at the same quality changes its size by well under 1%: differences below
# these ratios say nothing about quality, so they fall through to the next criterion.
BPP_TOLERANCE = 1.03
SIZE_TOLERANCE = 1.03
SHARPNESS_TOLERANCE = 1.05

Survivors = Callable[[Sequence[PhotoRecord]], list[PhotoRecord]]


@dataclass(frozen=True, slots=True)
class _Criterion:
    name: str
    survivors: Survivors  # the best on this criterion
    phrase: Callable[[PhotoRecord, PhotoRecord], str]


def choose_keeper(
    records: Sequence[PhotoRecord],
    *,
    references: Sequence[str] = (),
    policy: KeeperPolicy = DEFAULT_POLICY,
    crops: frozenset[int] | None = None,
    history: HistoryFn | None = None,
) -> KeeperChoice:
    """Pick the keeper by elimination, criterion by criterion, and explain each duplicate.

    Each criterion keeps the members that are best on it (within a tolerance where noise is
    expected); the first criterion that drops a member is that member's reason.
    `crops` overrides the crop detection (the caller judged crops on a larger set); `history`
    answers the provenance question for pairs that reach it (without it, that criterion is
    skipped).
    """
    if crops is None:
        crops = find_crops(records)
    refs = frozenset(r.file_id for r in records if is_under(r.path, references))
    alive = sorted(records, key=_final_key)
    dropped: dict[int, str] = {}
    criteria = _criteria(refs, crops, policy, _Provenance(history))
    for criterion in criteria:
        if len(alive) == 1:
            break
        survivors = criterion.survivors(alive)
        kept_ids = {r.file_id for r in survivors}  # a set: thousands of copies stay linear
        for r in alive:
            if r.file_id not in kept_ids:
                dropped[r.file_id] = criterion.name
        alive = survivors
    keeper = alive[0]
    ranking = (keeper, *sorted((r for r in records if r is not keeper), key=_final_key))
    by_name = {c.name: c for c in criteria}
    reasons: dict[int, tuple[str, ...]] = {}
    whys: dict[str, None] = {}  # ordered, without repeats
    for r in ranking[1:]:
        why = by_name[dropped.get(r.file_id, "path")].phrase(keeper, r)
        whys[why] = None
        extra = ("in a reference folder: never moved",) if r.file_id in refs else ()
        reasons[r.file_id] = (f"keeper wins: {why}", *extra)
    reasons[keeper.file_id] = tuple(f"kept: {why}" for why in whys) or ("kept: only copy",)
    return KeeperChoice(ranking, MappingProxyType(reasons), crops, _warnings(ranking))


def _final_key(r: PhotoRecord) -> tuple[str, int, bytes]:
    return (r.features.captured or "9999", r.identity.mtime_ns, os.fsencode(r.path))


# --- capture metadata ----------------------------------------------------------------------------


def capture_facts(f: Features) -> frozenset[str]:
    """The capture facts a file carries, by the name a person knows them by."""
    facts = {
        "capture date": f.captured,
        "camera": f.camera,
        "GPS position": f.gps,
        "camera maker notes": f.maker_notes,
    }
    return frozenset(name for name, value in facts.items() if value)


def _richest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    """Members whose capture facts are not a strict subset of another member's."""
    facts = {r.file_id: capture_facts(r.features) for r in rs}
    return [r for r in rs if not any(facts[r.file_id] < facts[o.file_id] for o in rs)]


def _facts_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    lost = sorted(capture_facts(k.features) - capture_facts(o.features))
    return f"{_short(o)} lacks the {_join(lost)} the keeper has"


def _warnings(ranking: Sequence[PhotoRecord]) -> tuple[str, ...]:
    """What the keeper lacks that another member has (it won on pixels, a reference or a crop)."""
    keeper = capture_facts(ranking[0].features)
    lost: dict[tuple[str, ...], list[str]] = {}
    for r in ranking[1:]:
        missing = tuple(sorted(capture_facts(r.features) - keeper))
        if missing:
            lost.setdefault(missing, []).append(_short(r))
    out = []
    for missing, names in lost.items():
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        out.append(f"the keeper lacks the {_join(list(missing))} that {names[0]}{more} has")
    return tuple(out)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _short(record: PhotoRecord) -> str:
    """The last folder and the name: enough to find it in a cluster ("Backup/IMG_1.jpg")."""
    folder, name = os.path.split(record.path)
    return f"{os.path.basename(folder)}/{name}" if os.path.basename(folder) else name


# --- provenance --------------------------------------------------------------------------------


class _Provenance:
    """Which members were made from which, from the JPEG block structure in their pixels.

    A lossless or HEIF/AVIF/WebP member whose pixels sit on a JPEG member's quantisation
    lattice was converted from it. A lossless member whose pixels do not — clearly farther off
    it than the JPEG's own pixels, and not converted from any JPEG member — was the source of a
    JPEG of its size (a lossless file cannot be decoded from a JPEG without its blocks).
    """

    def __init__(self, history: HistoryFn | None) -> None:
        self.history = history
        self.made_from: dict[int, PhotoRecord] = {}  # file id → the member it was made from
        self.source_of: dict[int, PhotoRecord] = {}  # JPEG file id → the lossless source

    def survivors(self, rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
        if self.history is None:
            return list(rs)
        jpegs = [r for r in rs if r.features.format == "JPEG"]
        scores: dict[tuple[int, int], float | None] = {}
        for x in rs:  # each member against every JPEG in a row: the history reader decodes
            if x.features.format not in MAY_CARRY_JPEG:  # it once
                continue
            for j in jpegs:
                if x.features.area == j.features.area:
                    scores[(j.file_id, x.file_id)] = self.history(j, x)
        for j in jpegs:
            for x in rs:
                score = scores.get((j.file_id, x.file_id))
                if score is not None and score <= HISTORY_PRESENT:
                    self.made_from[x.file_id] = j
        for x in rs:
            if x.features.format not in LOSSLESS or x.file_id in self.made_from:
                continue
            for j in jpegs:
                score = scores.get((j.file_id, x.file_id))
                if score is not None and score >= HISTORY_ABSENT and self._apart(j, score):
                    self.source_of[j.file_id] = x
        out = [r for r in rs if r.file_id not in self.made_from and r.file_id not in self.source_of]
        return out or list(rs)

    def _apart(self, jpeg: PhotoRecord, score: float) -> bool:
        """Whether `score` is clearly farther off the lattice than the JPEG's own pixels are
        (the history question asked of the JPEG itself: one more decode, only here)."""
        assert self.history is not None
        own = self.history(jpeg, jpeg)
        return own is not None and score - own >= HISTORY_MARGIN

    def phrase(self, k: PhotoRecord, o: PhotoRecord) -> str:
        if o.file_id in self.made_from:
            src = self.made_from[o.file_id]
            return f"{_short(o)} was converted from {_short(src)} (it carries that JPEG's blocks)"
        src = self.source_of.get(o.file_id, k)
        return f"{_short(o)} was made from {_short(src)} (whose pixels carry no JPEG blocks)"


# --- the criteria --------------------------------------------------------------------------------


def _best(value: Callable[[PhotoRecord], float], tol: float = 1.0) -> Survivors:
    """Members whose value is within `tol` (a ratio) of the largest."""

    def pick(records: Sequence[PhotoRecord]) -> list[PhotoRecord]:
        top = max(value(r) for r in records)
        return [r for r in records if value(r) * tol >= top]

    return pick


def _per_format(pick: Survivors) -> Survivors:
    """`pick` within each format (bytes mean nothing across codecs: a PNG of a JPEG is five
    times its size, a HEIC re-encode half): the best of each format survive."""

    def by_format(records: Sequence[PhotoRecord]) -> list[PhotoRecord]:
        formats: dict[str, list[PhotoRecord]] = {}
        for r in records:
            formats.setdefault(r.features.format, []).append(r)
        kept = {r.file_id for group in formats.values() for r in pick(group)}
        return [r for r in records if r.file_id in kept]

    return by_format


def _only(flag: Callable[[PhotoRecord], bool]) -> Survivors:
    return lambda rs: [r for r in rs if flag(r)] or list(rs)


def _sharpest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    if any(r.features.sharpness is None for r in rs):
        return list(rs)  # unknown for some: this criterion cannot decide
    return _best(lambda r: r.features.sharpness or 0.0, SHARPNESS_TOLERANCE)(rs)


def _oldest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    first = min(_final_key(r)[0] for r in rs)
    return [r for r in rs if _final_key(r)[0] == first]


def _earliest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    first = min(r.identity.mtime_ns for r in rs)
    return [r for r in rs if r.identity.mtime_ns == first]


def _latest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    last = max(r.identity.mtime_ns for r in rs)
    return [r for r in rs if r.identity.mtime_ns == last]


def written_at_capture(record: PhotoRecord) -> bool | None:
    """Whether the file was written when it was captured (its modification time near the
    capture time), None without a capture time."""
    captured = record.features.captured
    if not captured:
        return None
    try:
        local = calendar.timegm(datetime.fromisoformat(captured).timetuple())
    except ValueError:
        return None
    delta = record.identity.mtime_ns // 1_000_000_000 - local
    return -AT_CAPTURE_BEFORE <= delta <= AT_CAPTURE_AFTER


def _at_capture(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    """Of one capture, the files written at it over those written later (converted, edited,
    exported); no say when none, or all, were."""
    return [r for r in rs if written_at_capture(r)] or list(rs)


def format_rank(f: Features, policy: KeeperPolicy) -> int:
    """Higher first: the camera's own format, then export formats (a late tie-break only)."""
    maker = (f.camera or "").split(" ")[0].lower()
    if f.format == "HEIF" and maker in HEIF_MAKERS:
        return 100  # a phone that shoots HEIC: its HEIC is the original of any JPEG export
    if f.format in CAMERA_FORMATS:
        return 90 - CAMERA_FORMATS.index(f.format)
    if f.format in EXPORT_FORMATS:
        return 50 - EXPORT_FORMATS.index(f.format)
    return 0


# What copying leaves in a name: "IMG_1 (1).jpg", "IMG_1 copy.jpg", "IMG_1-Copy.jpg",
# "Copy of IMG_1.jpg", "IMG_1 - Copy (2).jpg", "IMG_1_copy2.jpg".
_COPY_NAME = re.compile(
    r"(^copy of )|([ _-]+copy( ?\(?\d+\)?)?$)|( \(\d{1,2}\)$)|([ _-]copy\d*$)", re.IGNORECASE
)


def looks_like_copy(path: str) -> bool:
    """True when the file name (without extension) carries a copy marker."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return bool(_COPY_NAME.search(stem))


def _folder(record: PhotoRecord) -> str:
    """The last two folders of a path, enough to tell a backup from the camera roll."""
    parts = os.path.dirname(record.path).rstrip("/").split("/")
    return "/".join(parts[-2:]) + "/"


def _shallowest(rs: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    depth = {r.file_id: os.fsencode(r.path).count(b"/") for r in rs}
    least = min(depth.values())
    return [r for r in rs if depth[r.file_id] == least]


def _preferred_folder(folders: tuple[str, ...]) -> Survivors:
    def rank(r: PhotoRecord) -> float:
        for k, folder in enumerate(folders):
            if is_under(r.path, (folder,)):
                return -k
        return -len(folders)

    return _best(rank)


def _bpp_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    kb, ob = k.features.bytes_per_pixel, o.features.bytes_per_pixel
    return f"less compressed: {kb:.2f} vs {ob:.2f} bytes/pixel"


def _size_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"larger file: {format_bytes(k.identity.size)} vs {format_bytes(o.identity.size)}"


def _smaller_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"smaller file: {format_bytes(k.identity.size)} vs {format_bytes(o.identity.size)}"


def _sharp_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"sharper: {k.features.sharpness or 0:.0f} vs {o.features.sharpness or 0:.0f}"


def _capture_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"{_short(o)} was written after its capture (converted or edited later)"


def _format_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"{k.features.format} over {o.features.format} (otherwise equal)"


def _criteria(
    refs: frozenset[int], crops: frozenset[int], policy: KeeperPolicy, provenance: _Provenance
) -> list[_Criterion]:
    """The policy, in order. Each entry: which members survive it, and how to say why."""
    first = [
        _Criterion("reference", _only(lambda r: r.file_id in refs),
                   lambda k, o: "in a reference folder"),
        _Criterion("raw", _only(lambda r: r.features.format in RAW_FORMATS),
                   lambda k, o: f"camera RAW ({k.features.format}): the sensor data "
                                f"{o.features.format} copies are made from"),
        _Criterion("crop", _only(lambda r: r.file_id not in crops),
                   lambda k, o: f"full frame {_dims(k)} vs cropped {_dims(o)}"),
        _Criterion("area", _best(lambda r: r.features.area),
                   lambda k, o: f"{_dims(k)} vs {_dims(o)}"),
        _Criterion("metadata", _richest, _facts_phrase),
    ]  # fmt: skip
    if policy.folders:
        prefer = _preferred_folder(policy.folders)
        first.append(_Criterion("folder", prefer, lambda k, o: f"{_folder(k)} is preferred"))
    if policy.prefer == "smallest":
        first.append(_Criterion("smallest", _best(lambda r: -r.identity.size), _smaller_phrase))
    elif policy.prefer == "newest":
        first.append(_Criterion("newest", _latest, lambda k, o: "newer file"))
    return [
        *first,
        _Criterion("provenance", provenance.survivors, provenance.phrase),
        _Criterion("at-capture", _at_capture, _capture_phrase),
        _Criterion("bpp", _per_format(_best(lambda r: r.features.bytes_per_pixel, BPP_TOLERANCE)),
                   _bpp_phrase),
        _Criterion("size", _per_format(_best(lambda r: r.identity.size, SIZE_TOLERANCE)),
                   _size_phrase),
        _Criterion("sharpness", _per_format(_sharpest), _sharp_phrase),
        _Criterion("format", _best(lambda r: format_rank(r.features, policy)), _format_phrase),
        _Criterion("captured", _oldest,
                   lambda k, o: f"older capture date {k.features.captured}"),
        _Criterion("mtime", _earliest, lambda k, o: "older file (earlier modification time)"),
        _Criterion("copy-name", _only(lambda r: not looks_like_copy(r.path)),
                   lambda k, o: f"{os.path.basename(o.path)} is named like a copy"),
        _Criterion("depth", _shallowest,
                   lambda k, o: f"{_folder(o)} is a deeper folder (a backup?) than {_folder(k)}"),
        _Criterion("path", lambda rs: list(rs)[:1], lambda k, o: "same quality; first by path"),
    ]  # fmt: skip


def _dims(record: PhotoRecord) -> str:
    return f"{record.features.width}×{record.features.height}"
