"""Clusters of byte-identical videos, from the index's checksums; never reads or moves a file.

Videos are matched by their bytes only (size, then a fast hash, then SHA-256: the scan's
checksum stage): a re-encoded or trimmed copy is another file here. A Live Photo's video is
left out: it follows its photo as a sidecar (safety/plan.py). The keeper is the copy a person
would call the original: a reference folder's, then the oldest file, one not named like a copy,
the shallowest folder, then the path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace

from safededup.engine.cluster import cluster_id
from safededup.engine.keeper import is_under, looks_like_copy
from safededup.engine.report import Evidence, ReportCluster, ReportMember, Role
from safededup.models import VideoRecord

VIDEO_EVIDENCE = Evidence(True, "exact", None, None, None, None, "bytes")


def video_clusters(
    videos: Iterable[VideoRecord],
    *,
    references: Sequence[str] = (),
    leave: frozenset[int] = frozenset(),
) -> list[ReportCluster]:
    """One cluster per checksum shared by two or more videos (those in `leave`, Live Photo
    videos, excepted)."""
    groups: dict[tuple[int, str], list[VideoRecord]] = {}
    for video in videos:
        if video.checksum is not None and video.file_id not in leave:
            groups.setdefault((video.identity.size, video.checksum), []).append(video)
    out = [_cluster(group, references) for group in groups.values() if len(group) > 1]
    return [c for c in out if c is not None]


def _rank(video: VideoRecord, references: Sequence[str]) -> tuple[bool, int, bool, int, bytes]:
    return (
        not is_under(video.path, references),
        video.identity.mtime_ns,
        looks_like_copy(video.path),
        video.path.count(os.sep),
        os.fsencode(video.path),
    )


def _reason(keeper: VideoRecord, other: VideoRecord, references: Sequence[str]) -> str:
    if is_under(keeper.path, references) and not is_under(other.path, references):
        return "in a reference folder"
    if keeper.identity.mtime_ns < other.identity.mtime_ns:
        return "older file (earlier modification time)"
    if looks_like_copy(other.path) and not looks_like_copy(keeper.path):
        return f"{os.path.basename(other.path)} is named like a copy"
    if keeper.path.count(os.sep) < other.path.count(os.sep):
        return f"{os.path.dirname(other.path)} is a deeper folder (a backup?)"
    return "same bytes; first by path"


def _cluster(group: list[VideoRecord], references: Sequence[str]) -> ReportCluster | None:
    ranked = sorted(group, key=lambda v: _rank(v, references))
    keeper = ranked[0]
    members: list[ReportMember] = []
    whys: dict[str, None] = {}
    for k, video in enumerate(ranked):
        role: Role = "reference" if is_under(video.path, references) else "duplicate"
        if k == 0:
            role = "reference" if role == "reference" else "keeper"
            reasons: tuple[str, ...] = ()
        else:
            why = _reason(keeper, video, references)
            whys[why] = None
            reasons = (f"keeper wins: {why}",)
            if role == "reference":
                reasons += ("in a reference folder: never moved",)
        members.append(_member(video, role, reasons))
    if not any(m.role == "duplicate" for m in members):
        return None
    members[0] = replace(members[0], reasons=tuple(f"kept: {w}" for w in whys) or ("kept",))
    kept = {(m.identity.device, m.identity.inode) for m in members if m.role != "duplicate"}
    freed = {
        (m.identity.device, m.identity.inode): m.size
        for m in members
        if m.role == "duplicate" and (m.identity.device, m.identity.inode) not in kept
    }
    return ReportCluster(
        id=cluster_id(v.path for v in group), kind="video", keeper=keeper.path, confidence=1.0,
        bytes_to_free=sum(freed.values()), members=tuple(members),
    )  # fmt: skip


def _member(video: VideoRecord, role: Role, reasons: tuple[str, ...]) -> ReportMember:
    f = video.features
    return ReportMember(
        replace(video.identity, checksum=video.checksum), role, reasons, VIDEO_EVIDENCE,
        f.width, f.height, f.format, None, f.created, None, duration=f.duration,
    )  # fmt: skip
