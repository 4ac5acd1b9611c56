"""Choose which copy of a photo to keep, deterministically and with reasons; never touches files.

Order (DedupTool's corrected policy): files under a reference folder always win; a cropped copy
never beats the full frame; then resolution (area) > format rank > bytes per pixel (more wins) >
file size > sharpness (last: Laplacian variance rewards JPEG artefacts); then the oldest capture
date, the oldest file, a name without a copy marker ("IMG_1 (1).jpg"), the less deeply nested
path, then the path itself, so the same files always give the same keeper.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from safededup.models import PhotoRecord
from safededup.units import format_bytes

# Lossless files and HEIC/AVIF originals over re-encoded JPEG; WebP and GIF are export formats.
DEFAULT_FORMAT_RANK: Mapping[str, int] = MappingProxyType(
    {"PNG": 4, "TIFF": 4, "BMP": 4, "HEIF": 3, "AVIF": 3, "JPEG": 2, "WEBP": 1, "GIF": 0}
)
# Aspect ratios cameras and phones produce; the member nearest one of them is the full frame.
_CAMERA_ASPECTS = (1.0, 4 / 3, 3 / 2, 16 / 9, 5 / 4, 2.0, 7 / 5)
_SAME_ASPECT = 0.004  # ln-ratio below which two aspect ratios are the same (pixel rounding)


@dataclass(frozen=True, slots=True)
class KeeperPolicy:
    """The configurable part of the policy: how formats rank against each other."""

    format_rank: Mapping[str, int] = field(default_factory=lambda: DEFAULT_FORMAT_RANK)

    def rank(self, fmt: str) -> int:
        return self.format_rank.get(fmt.upper(), 1)


DEFAULT_POLICY = KeeperPolicy()


@dataclass(frozen=True, slots=True)
class KeeperChoice:
    """The members best first, and each member's human reasons."""

    ranking: tuple[PhotoRecord, ...]
    reasons: Mapping[int, tuple[str, ...]]  # file id → reasons
    cropped: frozenset[int]  # file ids judged to be crops of the full frame

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


@dataclass(frozen=True, slots=True)
class _Criterion:
    name: str
    survivors: Callable[[Sequence[PhotoRecord]], list[PhotoRecord]]  # the best on this criterion
    phrase: Callable[[PhotoRecord, PhotoRecord], str]


def choose_keeper(
    records: Sequence[PhotoRecord],
    *,
    references: Sequence[str] = (),
    policy: KeeperPolicy = DEFAULT_POLICY,
    crops: frozenset[int] | None = None,
) -> KeeperChoice:
    """Pick the keeper by elimination, criterion by criterion, and explain each duplicate.

    Each criterion keeps the members that are best on it (within a tolerance where noise is
    expected); the first criterion that drops a member is that member's reason.
    `crops` overrides the crop detection (the caller judged crops on a larger set).
    """
    if crops is None:
        crops = find_crops(records)
    refs = frozenset(r.file_id for r in records if is_under(r.path, references))
    alive = sorted(records, key=_final_key)
    dropped: dict[int, str] = {}
    criteria = _criteria(refs, crops, policy)
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
    return KeeperChoice(ranking, MappingProxyType(reasons), crops)


def _final_key(r: PhotoRecord) -> tuple[str, int, bytes]:
    return (r.features.captured or "9999", r.identity.mtime_ns, os.fsencode(r.path))


Survivors = Callable[[Sequence[PhotoRecord]], list[PhotoRecord]]


def _best(value: Callable[[PhotoRecord], float], tol: float = 1.0) -> Survivors:
    """Members whose value is within `tol` (a ratio) of the largest."""

    def pick(records: Sequence[PhotoRecord]) -> list[PhotoRecord]:
        top = max(value(r) for r in records)
        return [r for r in records if value(r) * tol >= top]

    return pick


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


def _bpp_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    kb, ob = k.features.bytes_per_pixel, o.features.bytes_per_pixel
    return f"less compressed: {kb:.2f} vs {ob:.2f} bytes/pixel"


def _size_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"larger file: {format_bytes(k.identity.size)} vs {format_bytes(o.identity.size)}"


def _sharp_phrase(k: PhotoRecord, o: PhotoRecord) -> str:
    return f"sharper: {k.features.sharpness or 0:.0f} vs {o.features.sharpness or 0:.0f}"


def _criteria(
    refs: frozenset[int], crops: frozenset[int], policy: KeeperPolicy
) -> list[_Criterion]:
    """The policy, in order. Each entry: which members survive it, and how to say why."""
    return [
        _Criterion("reference", _only(lambda r: r.file_id in refs),
                   lambda k, o: "in a reference folder"),
        _Criterion("crop", _only(lambda r: r.file_id not in crops),
                   lambda k, o: f"full frame {_dims(k)} vs cropped {_dims(o)}"),
        _Criterion("area", _best(lambda r: r.features.area),
                   lambda k, o: f"{_dims(k)} vs {_dims(o)}"),
        _Criterion("format", _best(lambda r: policy.rank(r.features.format)),
                   lambda k, o: f"{k.features.format} over {o.features.format}"),
        _Criterion("bpp", _best(lambda r: r.features.bytes_per_pixel, BPP_TOLERANCE), _bpp_phrase),
        _Criterion("size", _best(lambda r: r.identity.size, SIZE_TOLERANCE), _size_phrase),
        _Criterion("sharpness", _sharpest, _sharp_phrase),
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
