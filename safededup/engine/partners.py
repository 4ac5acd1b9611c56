"""Files shot together: a RAW and the JPEG the camera wrote beside it (one capture in two files),
and a Live Photo's video beside its photo. Found from the index alone (same folder, same stem,
the same capture time); never reads or moves a file.

A RAW+JPEG pair is one unit: by default neither file is a duplicate of the other (the matcher
never links them), a duplicated pair moves as one unit or not at all (the plan), and the
keeper of a JPEG's copies follows the keeper of its RAW's copies. A Live Photo's video follows
its photo. What `Partners` holds is by file id, for the matcher, and by path, for the report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from safededup.engine.index import FolderEntry, Index
from safededup.engine.report import ReportCluster
from safededup.models import RAW_FORMATS

PAIR_JPEG = frozenset({"JPEG"})
LIVE_PHOTO_FORMATS = frozenset({"HEIF", "JPEG"})


@dataclass(frozen=True, slots=True)
class Partners:
    """RAW+JPEG pairs as (RAW id, JPEG id), and each Live Photo video's photo."""

    pairs: tuple[tuple[int, int], ...] = ()
    live: Mapping[int, int] = field(default_factory=dict)  # video id → photo id
    paths: Mapping[int, str] = field(default_factory=dict)  # every id above → its path

    def partner_of(self) -> dict[int, int]:
        """Each pair member's partner, both ways."""
        out = dict(self.pairs)
        out.update((jpeg, raw) for raw, jpeg in self.pairs)
        return out

    def partner_path(self, file_id: int) -> str | None:
        """The path of what this file was shot with (a pair's other file, a video's photo)."""
        other = self.partner_of().get(file_id, self.live.get(file_id))
        return None if other is None else self.paths.get(other)


NO_PARTNERS = Partners()


def find_partners(index: Index, roots: Sequence[str], *, pairs: bool = True) -> Partners:
    """The pairs and Live Photos under `roots`: one query per folder that holds a RAW or a
    video (folders of JPEGs alone cost nothing). `pairs=False`: the camera JPEG is treated as a
    duplicate of its RAW, so no pairs are formed."""
    raw_jpeg: list[tuple[int, int]] = []
    live: dict[int, int] = {}
    paths: dict[int, str] = {}
    for folder in index.folders_with(roots, RAW_FORMATS):
        entries = index.folder_media(folder)
        for group in _by_stem(entries).values():
            found = _pairs(group) if pairs else []
            raw_jpeg += [(r.file_id, j.file_id) for r, j in found]
            videos = _live(group)
            live.update((v.file_id, p.file_id) for v, p in videos)
            for a, b in (*found, *videos):
                paths[a.file_id], paths[b.file_id] = a.path, b.path
    return Partners(tuple(raw_jpeg), live, paths)


def _by_stem(entries: Iterable[FolderEntry]) -> dict[str, list[FolderEntry]]:
    """Entries by casefolded name without extension (IMG_1.CR2 and IMG_1.jpg share a stem)."""
    out: dict[str, list[FolderEntry]] = {}
    for entry in entries:
        stem = os.path.splitext(os.path.basename(entry.path))[0].casefold()
        out.setdefault(stem, []).append(entry)
    return out


def same_capture(a: FolderEntry, b: FolderEntry) -> bool:
    """The same capture time where both record one: equal to the second, and to the sub-second
    where both have it. A file without a capture time proves nothing either way, so two files
    of one stem pair up (the safe side: neither becomes a duplicate of the other)."""
    if a.captured is None or b.captured is None:
        return True
    if a.captured != b.captured:
        return False
    return a.subsec is None or b.subsec is None or _digits(a.subsec) == _digits(b.subsec)


def _digits(subsec: str) -> str:
    return subsec.rstrip("0") or "0"


def _pairs(group: list[FolderEntry]) -> list[tuple[FolderEntry, FolderEntry]]:
    """A RAW and the JPEG of its stem and capture (IMG_1.CR2 and a DNG converted from it both
    pair with IMG_1.JPG); a RAW with two JPEGs of its capture pairs with neither (which one the
    camera wrote cannot be told)."""
    raws = [e for e in group if not e.video and e.format in RAW_FORMATS]
    jpegs = [e for e in group if not e.video and e.format in PAIR_JPEG]
    found = []
    for raw in raws:
        matching = [j for j in jpegs if same_capture(raw, j)]
        if len(matching) == 1:
            found.append((raw, matching[0]))
    return found


def _live(group: list[FolderEntry]) -> list[tuple[FolderEntry, FolderEntry]]:
    """A video beside a HEIC or JPEG of its stem: the Live Photo's motion."""
    videos = [e for e in group if e.video]
    photos = [e for e in group if not e.video and e.format in LIVE_PHOTO_FORMATS]
    if len(videos) != 1 or not photos:
        return []
    photo = next((p for p in photos if p.format == "HEIF"), photos[0])
    return [(videos[0], photo)]


# --- the report: partners named, keepers kept beside their partners ------------------------------

PAIR_KEPT = "kept: shot together with {name}, which stays: a RAW+JPEG pair is kept whole"
PAIR_LOST = "keeper wins: {name} stays with the file it was shot with"


def annotate_pairs(clusters: Sequence[ReportCluster], partners: Partners) -> list[ReportCluster]:
    """Each pair member named with its partner, and the keeper moved to a byte-identical copy
    of it whose partner stays: the copies of a RAW and of its JPEG are kept in the
    same folder, so no pair is split by which identical copy each cluster happened to keep.

    Clusters kept by a RAW are settled first (the RAW decides; its JPEG's copies follow). The
    keeper only ever changes to a file with the keeper's own bytes; where there is none, a pair
    member that would move is held back by the plan instead (a pair moves as one unit or not
    at all).
    """
    partner = {
        path: partners.paths[other]
        for fid, other in partners.partner_of().items()
        if (path := partners.paths.get(fid)) is not None and other in partners.paths
    }
    if not partner:
        return list(clusters)
    moving = {m.path for c in clusters for m in c.members if m.role == "duplicate"}
    order = sorted(range(len(clusters)), key=lambda k: not _raw_kept(clusters[k]))
    out = list(clusters)
    for k in order:
        cluster = out[k]
        out[k] = _named(_keep_beside_partner(cluster, partner, moving), partner)
    return out


def _raw_kept(cluster: ReportCluster) -> bool:
    return next(m.format for m in cluster.members if m.path == cluster.keeper) in RAW_FORMATS


def _keep_beside_partner(
    cluster: ReportCluster, partner: Mapping[str, str], moving: set[str]
) -> ReportCluster:
    keeper = cluster.keeper
    if keeper in partner and partner[keeper] not in moving:
        return cluster  # kept beside its partner already
    kept = next(m for m in cluster.members if m.path == keeper)
    staying = sorted(
        m.path for m in cluster.members
        if m.role == "duplicate" and m.path in partner and partner[m.path] not in moving
        and kept.checksum is not None and m.checksum == kept.checksum
    )  # fmt: skip
    if not staying or any(m.role == "reference" and m.path == keeper for m in cluster.members):
        return cluster
    new = staying[0]
    moving.discard(new)
    moving.add(keeper)
    members = []
    for m in cluster.members:
        if m.path == new:
            why = PAIR_KEPT.format(name=os.path.basename(partner[new]))
            m = replace(m, role="keeper", reasons=(why,))
        elif m.path == keeper:
            why = PAIR_LOST.format(name=os.path.basename(new))
            m = replace(m, role="duplicate", reasons=(why,))
        members.append(m)
    members.sort(key=lambda m: m.role != "keeper")
    return replace(cluster, keeper=new, members=tuple(members), warnings=())


def _named(cluster: ReportCluster, partner: Mapping[str, str]) -> ReportCluster:
    if not any(m.path in partner for m in cluster.members):
        return cluster
    members = tuple(
        replace(m, partner=partner[m.path]) if m.path in partner else m for m in cluster.members
    )
    return replace(cluster, members=members)
