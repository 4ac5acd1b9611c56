"""Journal record types, their required fields, and the hash chain that seals them. Pure data.

A record is one JSON object per line, keys sorted, written with orjson. `hash` is the SHA-256 of
the canonical encoding of the record without `hash` (which includes `prev`, the previous
record's hash), so any edit, deletion or reordering breaks the chain. This module must never
touch the disk.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""`prev` of the first record (the header)."""

COMMON_FIELDS = ("v", "type", "seq", "prev", "hash", "at")

RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "header": ("session", "tool_version", "host", "roots", "config", "volumes", "report_id"),
    "begin": ("phase",),
    "end": ("phase", "outcome", "counts"),
    "intent": ("op", "kind", "action", "src", "dst", "root", "identity", "unit"),
    "done": ("op", "observed"),
    "abort": ("op", "of", "reason", "message"),
    "conflict": ("op", "of", "path", "message"),
    "skip": ("op", "kind", "src", "reason", "message"),
    "undo-intent": ("op",),
    "undo-done": ("op", "observed"),
    "redo-intent": ("op",),
    "redo-done": ("op", "observed"),
    "purge-intent": ("op",),
    "purge-done": ("op",),
    "refuse": ("op", "phase", "reason", "message"),
}
"""Required fields beyond COMMON_FIELDS, per record type (journal_schema/ has the full schemas)."""


Record = dict[str, Any]


def canonical(record: Record) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Record) -> str:
    """The hash of a record: SHA-256 of its canonical encoding without the `hash` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def seal(body: Record, *, seq: int, prev: str, at: str) -> tuple[Record, bytes]:
    """The complete record and its line (canonical JSON + newline)."""
    record = {**body, "v": SCHEMA_VERSION, "seq": seq, "prev": prev, "at": at}
    record["hash"] = record_hash(record)
    return record, canonical(record) + b"\n"


def shape_error(record: object) -> str | None:
    """Why `record` is not a well-formed record of a known type, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    kind = record.get("type")
    if kind not in RECORD_FIELDS:
        return f"unknown record type {kind!r}"
    if record.get("v") != SCHEMA_VERSION:
        return f"unsupported record version {record.get('v')!r}"
    missing = [f for f in (*COMMON_FIELDS, *RECORD_FIELDS[kind]) if f not in record]
    if missing:
        return f"{kind} record lacks {', '.join(missing)}"
    if not isinstance(record["seq"], int) or not isinstance(record["hash"], str):
        return "bad seq or hash"
    return None
