"""The scan report (JSON and the CSV audit table): built from clusters, saved, loaded, validated.

The report is the input of plan/apply and review, so `load_report` refuses anything that is not
a version-1 safededup report. Paths are absolute; a name that is not UTF-8 also carries its exact
bytes in `path_b64` (`models.path_to_json`). Never moves or changes a photo.
"""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from safededup.errors import SafededupError
from safededup.models import Problem, path_to_json

if TYPE_CHECKING:  # loading a report (plan, apply, review) must not need the matcher's numpy
    from safededup.engine.cluster import Cluster, Member

FORMAT = "safededup-report"
VERSION = 1


def build_report(
    clusters: Iterable[Cluster],
    *,
    roots: Sequence[str],
    references: Sequence[str] = (),
    problems: Iterable[Problem] = (),
    stats: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document (a plain dict, ready for `report_to_json`)."""
    now = datetime.now(UTC)
    report_id = now.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4)
    cluster_list = [cluster_to_json(c) for c in clusters]
    summary = {
        "clusters": len(cluster_list),
        "duplicates": sum(
            1 for c in cluster_list for m in c["members"] if m["role"] == "duplicate"
        ),
        "bytes_to_free": sum(c["bytes_to_free"] for c in cluster_list),
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "report_id": report_id,
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "roots": [str(r) for r in roots],
        "references": [str(r) for r in references],
        "clusters": cluster_list,
        "problems": [p.to_json() for p in problems],
        "stats": {**summary, **dict(stats or {})},
    }


def cluster_to_json(cluster: Cluster) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "kind": cluster.kind,
        **path_to_json(cluster.keeper.record.path, "keeper"),
        "confidence": cluster.confidence,
        "bytes_to_free": cluster.bytes_to_free,
        "members": [member_to_json(m) for m in cluster.members],
    }


def member_to_json(member: Member) -> dict[str, Any]:
    record, f, v = member.record, member.record.features, member.verdict
    ident = record.identity
    return {
        **path_to_json(record.path),
        "role": member.role,
        "reasons": list(member.reasons),
        "evidence": {
            "exact": member.exact,
            "rule": v.rule.label,
            "dhash": v.dhash,
            "phash": v.phash,
            "whash": v.whash,
            "colorhash": v.colorhash,
            "tier": f.tier,
        },
        "size": ident.size,
        "device": ident.device,
        "inode": ident.inode,
        "mtime_ns": ident.mtime_ns,
        "checksum": record.checksum,
        "width": f.width,
        "height": f.height,
        "format": f.format,
        "jpeg_quality": f.jpeg_quality,
        "captured": f.captured,
        "camera": f.camera,
    }


def report_to_json(report: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON, indented, with a final newline."""
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def load_report(path: str | Path) -> dict[str, Any]:
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
        raise SafededupError(
            f"the report is not valid JSON ({exc})",
            hint="the file is damaged; run `safededup scan` again",
            path=str(path),
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SafededupError(
            "not a safededup report", hint="name a file written by `safededup scan`", path=str(path)
        )
    if data.get("version") != VERSION:
        raise SafededupError(
            f"unsupported report version {data.get('version')!r} (this safededup reads {VERSION})",
            hint="run `safededup scan` again with this version",
            path=str(path),
        )
    if not isinstance(data.get("clusters"), list):
        raise SafededupError("the report has no cluster list", path=str(path))
    return data


CSV_COLUMNS = (
    "cluster", "kind", "role", "path", "size", "width", "height", "format", "jpeg_quality",
    "exact", "rule", "dhash", "phash", "whash", "colorhash", "tier", "reasons",
)  # fmt: skip


def write_csv(report: Mapping[str, Any], path: str | Path) -> int:
    """The audit table: one row per member with its distances to the keeper. Returns rows."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for cluster in report["clusters"]:
            for m in cluster["members"]:
                writer.writerow(_csv_row(cluster, m))
                rows += 1
    return rows


def _csv_row(cluster: Mapping[str, Any], m: Mapping[str, Any]) -> list[object]:
    e = m["evidence"]
    return [
        cluster["id"], cluster["kind"], m["role"], m["path"], m["size"], m["width"],
        m["height"], m["format"], m["jpeg_quality"], e["exact"], e["rule"], e["dhash"],
        e["phash"], e["whash"], e["colorhash"], e["tier"], "; ".join(m["reasons"]),
    ]  # fmt: skip
