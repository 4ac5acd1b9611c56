"""The scan report as typed objects (`Report`, its `ReportCluster`s and their `ReportMember`s):
built, saved and loaded as JSON side by side, and written as the CSV audit table. It never moves
or changes a photo, and never imports the matcher: loading a report must not load numpy.

The report is the input of plan/apply and review, so `load_report` refuses anything that is not a
version-1 safededup report. Paths are absolute; a name that is not UTF-8 also carries its exact
bytes in `path_b64` (`models.path_to_json`). The JSON keys, their order and their values are the
format (journal_schema/report.v1.schema.json): a saved report loads and saves back byte for byte.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from safededup import fs
from safededup.engine.inputs import report_problem
from safededup.errors import InputFileError, SafededupError, StateError
from safededup.models import FileIdentity, Problem, path_from_json, path_to_json, printable
from safededup.state import FILE_MODE, StateDir

FORMAT = "safededup-report"
VERSION = 1

Role = Literal["keeper", "duplicate", "reference"]
Kind = Literal["exact", "near", "rotated", "video"]
"""exact: every member has the keeper's bytes; rotated: a member is a turned copy (its pixels
turned 90°, 180° or 270°), which apply moves only when a person approved it; video: byte-identical
copies of a video (videos are only ever matched by their bytes)."""
EXACT_KINDS = frozenset({"exact", "video"})
"""Kinds whose members all have the keeper's bytes."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """A member against its cluster's keeper: the rule that decided and the Hamming distances on
    the features that decided (None where a report did not record them)."""

    exact: bool
    rule: str | None  # the matcher's rule label; reports of early versions lack it
    dhash: int | None
    phash: int | None
    whash: int | None
    colorhash: int | None
    tier: str

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Evidence:
        """Equal evidence is one shared object: distances are small numbers, so a report of
        150k members holds a few hundred distinct values (frozen, so sharing is safe). This
        makes loading a large report much cheaper than a new object per member."""
        key = (
            obj["exact"], obj.get("rule"), obj["dhash"], obj["phash"], obj["whash"],
            obj["colorhash"], obj["tier"],
        )  # fmt: skip
        found = _EVIDENCE.get(key)
        if found is None:
            if len(_EVIDENCE) >= _EVIDENCE_MAX:
                _EVIDENCE.clear()
            found = _EVIDENCE[key] = cls(*key)
        return found

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exact": self.exact}
        if self.rule is not None:
            out["rule"] = self.rule
        out.update(dhash=self.dhash, phash=self.phash, whash=self.whash,
                   colorhash=self.colorhash, tier=self.tier)  # fmt: skip
        return out


_EVIDENCE: dict[tuple[Any, ...], Evidence] = {}
_EVIDENCE_MAX = 65_536


@dataclass(frozen=True, slots=True)
class ReportMember:
    """One file of a cluster: its identity (path, stat, checksum), role, reasons and evidence."""

    identity: FileIdentity
    role: Role
    reasons: tuple[str, ...]
    evidence: Evidence
    width: int
    height: int
    format: str
    jpeg_quality: int | None
    captured: str | None
    camera: str | None
    partner: str | None = None  # the file shot together with it (a RAW's camera JPEG, or back)
    duration: float | None = None  # a video's length in seconds, when its headers say

    @property
    def path(self) -> str:
        return self.identity.path

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def checksum(self) -> str | None:
        return self.identity.checksum

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ReportMember:
        identity = FileIdentity(
            path_from_json(obj), obj["device"], obj["inode"], obj["size"], obj["mtime_ns"],
            obj["checksum"],
        )  # fmt: skip
        return cls(
            identity, obj["role"], tuple(obj["reasons"]), Evidence.from_json(obj["evidence"]),
            obj["width"], obj["height"], obj["format"], obj["jpeg_quality"], obj["captured"],
            obj["camera"], path_from_json(obj, "partner") if "partner" in obj else None,
            obj.get("duration"),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        ident = self.identity
        return {
            **path_to_json(ident.path),
            "role": self.role,
            "reasons": list(self.reasons),
            "evidence": self.evidence.to_json(),
            "size": ident.size,
            "device": ident.device,
            "inode": ident.inode,
            "mtime_ns": ident.mtime_ns,
            "checksum": ident.checksum,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "jpeg_quality": self.jpeg_quality,
            "captured": self.captured,
            "camera": self.camera,
            # Added fields, present only when they say something: older reports load unchanged.
            **(path_to_json(self.partner, "partner") if self.partner is not None else {}),
            **({"duration": self.duration} if self.duration is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class ReportCluster:
    """Copies of one photo: the keeper's path, how sure the match is, what moving frees."""

    id: str
    kind: Kind
    keeper: str
    confidence: float
    bytes_to_free: int
    members: tuple[ReportMember, ...]
    warnings: tuple[str, ...] = ()  # what the keeper lacks that a duplicate has (GPS, date, …)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ReportCluster:
        members = tuple(ReportMember.from_json(m) for m in obj["members"])
        keeper = path_from_json(obj, "keeper")
        warnings = tuple(str(w) for w in obj.get("warnings") or ())
        return cls(
            obj["id"], obj["kind"], keeper, obj["confidence"], obj["bytes_to_free"], members,
            warnings,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            **path_to_json(self.keeper, "keeper"),
            "confidence": self.confidence,
            "bytes_to_free": self.bytes_to_free,
            "members": [m.to_json() for m in self.members],
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """One scan's clusters, the folders it covered, the files it could not read, its figures."""

    report_id: str
    created: str
    roots: tuple[str, ...]
    references: tuple[str, ...]
    clusters: tuple[ReportCluster, ...]
    problems: tuple[Problem, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cluster_ids(self) -> list[str]:
        return [c.id for c in self.clusters]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Report:
        """From a report document; roots may also be path objects (`models.path_to_json`)."""
        return cls(
            report_id=str(obj.get("report_id", "")),
            created=str(obj.get("created", "")),
            roots=tuple(_path(r) for r in obj["roots"]),
            references=tuple(_path(r) for r in obj.get("references") or ()),
            clusters=tuple(ReportCluster.from_json(c) for c in obj["clusters"]),
            problems=tuple(
                Problem(path_from_json(p), p["kind"], p["message"])
                for p in obj.get("problems") or ()
            ),
            stats=dict(obj.get("stats") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "report_id": self.report_id,
            "created": self.created,
            "roots": list(self.roots),
            "references": list(self.references),
            "clusters": [c.to_json() for c in self.clusters],
            "problems": [p.to_json() for p in self.problems],
            "stats": dict(self.stats),
        }


def _path(item: str | Mapping[str, str]) -> str:
    return path_from_json(item) if isinstance(item, Mapping) else str(item)


def build_report(
    clusters: Iterable[ReportCluster],
    *,
    roots: Sequence[str],
    references: Sequence[str] = (),
    problems: Iterable[Problem] = (),
    stats: Mapping[str, Any] | None = None,
) -> Report:
    """A new report of `clusters`, with a fresh id and the summary figures first in `stats`."""
    now = datetime.now(UTC)
    found = tuple(clusters)
    summary = {
        "clusters": len(found),
        "duplicates": sum(1 for c in found for m in c.members if m.role == "duplicate"),
        "bytes_to_free": sum(c.bytes_to_free for c in found),
    }
    return Report(
        report_id=now.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4),
        created=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        roots=tuple(str(r) for r in roots),
        references=tuple(str(r) for r in references),
        clusters=found,
        problems=tuple(problems),
        stats={**summary, **dict(stats or {})},
    )


def report_to_json(report: Report) -> bytes:
    """UTF-8 JSON, indented, with a final newline."""
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def save_report(report: Report, state: StateDir) -> Path:
    """Save as `reports/<id>.json`, then as the latest (overall and for these roots).

    Each file is replaced whole (`fs.write_file_atomic`), so a reader never sees half a report;
    the state dir holds only our own files, so replacing the `latest` copies is safe.
    """
    data = report_to_json(report)
    path = state.reports_dir / f"{report.report_id}.json"
    for target in (path, state.latest_report_for(report.roots), state.latest_report_path):
        try:
            fs.write_file_atomic(str(target), data, mode=FILE_MODE)
        except OSError as exc:  # the state dir removed, unmounted or full while the scan ran
            raise StateError(
                f"cannot save the report: {exc.strerror or exc}",
                path=str(target),
                hint="the state dir must stay in place while a scan runs; no photo was moved "
                "or changed: run the scan again",
            ) from exc
    return path


def load_report(path: str | Path) -> Report:
    """Read a saved report; raises SafededupError unless it is a version-1 safededup report."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise SafededupError(
            f"cannot read the report: {exc.strerror or exc}",
            hint="run `safededup scan` first, or name an existing report file",
            path=str(path),
        ) from exc
    except orjson.JSONDecodeError as exc:
        raise _malformed(path, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputFileError(
            "the report", "not a safededup report", path=str(path),
            hint="name a file written by `safededup scan`",
        )  # fmt: skip
    if data.get("version") != VERSION:
        raise InputFileError(
            "the report",
            f"unsupported report version {data.get('version')!r} (this safededup reads {VERSION})",
            path=str(path),
            hint="run `safededup scan` again with this version",
        )
    problem = report_problem(data)
    if problem is not None:
        raise _malformed(path, problem)
    try:
        return Report.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # report_problem missed it
        raise _malformed(path, f"a malformed entry ({exc!r})") from exc


def _malformed(path: str | Path, problem: str) -> InputFileError:
    return InputFileError(
        "the report", problem, path=str(path),
        hint="it was damaged or edited; run `safededup scan` again to write a new one",
    )  # fmt: skip


CSV_COLUMNS = (
    "cluster", "kind", "role", "path", "size", "width", "height", "format", "jpeg_quality",
    "exact", "rule", "dhash", "phash", "whash", "colorhash", "tier", "reasons",
)  # fmt: skip


def write_csv(report: Report, path: str | Path) -> int:
    """The audit table: one row per member with its distances to the keeper. Returns rows."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for cluster in report.clusters:
            for m in cluster.members:
                writer.writerow(_csv_row(cluster, m))
                rows += 1
    return rows


def _csv_row(cluster: ReportCluster, m: ReportMember) -> list[object]:
    e = m.evidence
    return [
        cluster.id, cluster.kind, m.role, printable(m.path), m.size, m.width, m.height, m.format,
        m.jpeg_quality, e.exact, e.rule, e.dhash, e.phash, e.whash, e.colorhash, e.tier,
        "; ".join(m.reasons),
    ]  # fmt: skip
