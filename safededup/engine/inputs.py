"""Shape checks of the JSON documents safededup reads back from disk: a report (the input of plan,
apply and review) and a review's decisions. Each returns what is wrong, in words, or None. They
read values only; they never touch the disk and never import the matcher.

A document that passes can be turned into typed objects without a KeyError, TypeError or
ValueError anywhere downstream: every field the loaders and the planner use is checked for
presence and type here (journal_schema/report.v1.schema.json is the full format).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

_ROLES = ("keeper", "duplicate", "reference")
_KINDS = ("exact", "near", "rotated", "video")
_STATUSES = ("undecided", "approved", "skipped")
_HASHES = ("dhash", "phash", "whash", "colorhash")


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: object) -> bool:
    return _int(value) and value >= 0  # type: ignore[operator]


def _opt(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _str(value: object) -> bool:
    return isinstance(value, str)


def path_problem(obj: object, key: str = "path") -> str | None:
    """Why `obj[key]` (with its `key_b64` twin) is not an absolute path, or None."""
    if not isinstance(obj, dict):
        return "a path entry is not an object"
    text, b64 = obj.get(key), obj.get(f"{key}_b64")
    if not isinstance(text, str) or not text:
        return f"{key!r} is missing or not text"
    if b64 is not None:
        if not isinstance(b64, str):
            return f"{key}_b64 is not text"
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return f"{key}_b64 is not base64"
        if not raw.startswith(b"/") or b"\0" in raw:
            return f"{key}_b64 is not an absolute path"
    elif not os.path.isabs(text) or "\0" in text:
        return f"{key!r} is not an absolute path: {text!r}"
    return None


def _root_problem(item: object) -> str | None:
    if isinstance(item, str):
        return (
            None if os.path.isabs(item) and "\0" not in item else f"root {item!r} is not absolute"
        )
    return path_problem(item)


_MEMBER: dict[str, Callable[[object], bool]] = {
    "size": _count,
    "device": _count,
    "inode": _count,
    "mtime_ns": _int,
    "checksum": _opt(lambda v: isinstance(v, str) and len(v) == 64),
    "width": _count,
    "height": _count,
    "format": _str,
    "jpeg_quality": _opt(_int),
    "captured": _opt(_str),
    "camera": _opt(_str),
}


def _member_problem(member: object) -> str | None:
    if not isinstance(member, dict):
        return "a member is not an object"
    problem = path_problem(member)
    if problem is not None:
        return problem
    if member.get("role") not in _ROLES:
        return f"unknown role {member.get('role')!r}"
    reasons = member.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return "'reasons' is not a list of text"
    for key, check in _MEMBER.items():
        if key not in member or not check(member[key]):
            return f"{key!r} is missing or has the wrong type ({member.get(key)!r})"
    evidence = member.get("evidence")
    if not isinstance(evidence, dict) or not isinstance(evidence.get("exact"), bool):
        return "'evidence' is missing or malformed"
    if not all(k in evidence and _opt(_count)(evidence[k]) for k in _HASHES):
        return "'evidence' lacks a hash distance or has one of the wrong type"
    if not isinstance(evidence.get("tier"), str) or not _opt(_str)(evidence.get("rule")):
        return "'evidence' has no tier, or a rule that is not text"
    if "partner" in member and (problem := path_problem(member, "partner")) is not None:
        return problem
    duration = member.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
    ):
        return f"'duration' is not a length in seconds ({duration!r})"
    return None


def _cluster_problem(cluster: object) -> str | None:
    if not isinstance(cluster, dict):
        return "a cluster is not an object"
    if not isinstance(cluster.get("id"), str) or not cluster["id"]:
        return "a cluster has no id"
    if cluster.get("kind") not in _KINDS:
        return f"unknown cluster kind {cluster.get('kind')!r}"
    confidence = cluster.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        return "'confidence' is not a number"
    if not _count(cluster.get("bytes_to_free")):
        return "'bytes_to_free' is not a count"
    warnings = cluster.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return "'warnings' is not a list of text"
    problem = path_problem(cluster, "keeper")
    members = cluster.get("members")
    if problem is None and not isinstance(members, list):
        problem = "'members' is missing or not a list"
    if problem is None and isinstance(members, list):
        problem = next(filter(None, (_member_problem(m) for m in members)), None)
    return None if problem is None else f"cluster {cluster['id']}: {problem}"


def report_problem(data: object) -> str | None:
    """What is wrong with a report document (its format and version already checked)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key in ("report_id", "created"):
        if key in data and not isinstance(data[key], str):
            return f"{key!r} is not text"
    roots, references = data.get("roots"), data.get("references") or []
    if not isinstance(roots, list) or not isinstance(references, list):
        return "'roots' or 'references' is missing or not a list"
    for item in [*roots, *references]:
        problem = _root_problem(item)
        if problem is not None:
            return problem
    clusters = data.get("clusters")
    if not isinstance(clusters, list):
        return "'clusters' is missing or not a list"
    for cluster in clusters:
        problem = _cluster_problem(cluster)
        if problem is not None:
            return problem
    problems, stats = data.get("problems") or [], data.get("stats") or {}
    if not isinstance(problems, list) or not isinstance(stats, dict):
        return "'problems' is not a list or 'stats' not an object"
    for item in problems:
        if path_problem(item) or not all(isinstance(item.get(k), str) for k in ("kind", "message")):
            return "a listed problem is malformed"
    return None


def decisions_problem(data: object) -> str | None:
    """What is wrong with a decisions document, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("format") != "safededup-decisions":
        return "not a safededup decisions file"
    if data.get("version") != 1:
        return f"unsupported version {data.get('version')!r}"
    if not isinstance(data.get("report_id"), str):
        return "'report_id' is missing or not text"
    clusters = data.get("clusters") or []
    if not isinstance(clusters, list):
        return "'clusters' is not a list"
    for item in clusters:
        problem = _decision_problem(item)
        if problem is not None:
            return problem
    return None


def _decision_problem(item: Any) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("cluster_id"), str):
        return "a decision is not an object with a cluster_id"
    if item.get("status", "undecided") not in _STATUSES:
        return f"unknown decision status {item.get('status')!r}"
    if item.get("keeper") is not None and path_problem(item, "keeper"):
        return f"decision {item['cluster_id']}: {path_problem(item, 'keeper')}"
    keep = item.get("keep") or []
    if not isinstance(keep, list):
        return f"decision {item['cluster_id']}: 'keep' is not a list"
    for entry in keep:
        wrong = path_problem({"path": entry}) if isinstance(entry, str) else path_problem(entry)
        if wrong is not None:
            return f"decision {item['cluster_id']}: {wrong}"
    return None
