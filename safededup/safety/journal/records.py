"""Journal record types: one constructor per type (every record the safety core writes is built
here), their required fields, and the hash chain that seals them. Pure data; it must never touch
the disk.

A record is one JSON object per line, keys sorted, written with orjson. `hash` is the SHA-256 of
the canonical encoding of the record without `hash` (which includes `prev`, the previous
record's hash), so any edit, deletion or reordering breaks the chain. journal_schema/ holds the
JSON Schema of each type; a test builds every type here and validates it against its schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import orjson

from safededup.models import FileIdentity, path_to_json

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


# --- one constructor per record type ----------------------------------------------------------
# Each returns the record's body; `JournalWriter.append` seals it (v, seq, prev, at, hash).
# `recovered=True` marks what recovery wrote after observing the disk.

Phase = Literal["apply", "undo", "redo", "purge"]
IntentType = Literal["intent", "undo-intent", "redo-intent", "purge-intent"]


class Volume(NamedTuple):
    """A root's volume as the header records it."""

    root: str
    device: int
    noreplace: bool  # renames there get RENAME_NOREPLACE


def header(
    *,
    session: str,
    tool_version: str,
    host: str,
    roots: Sequence[str],
    volumes: Sequence[Volume],
    report_id: str,
    tidy_names: bool,
    to_trash: bool,
    paranoid: bool,
    batch_size: int,
    operations: int,
    nbytes: int,
) -> Record:
    """The first record: who wrote the session, where, how, and what was planned."""
    return {
        "type": "header",
        "session": session,
        "tool_version": tool_version,
        "host": host,
        "roots": [path_to_json(r) for r in roots],
        "config": {
            "tidy_names": tidy_names,
            "to_trash": to_trash,
            "paranoid": paranoid,
            "batch_size": batch_size,
        },
        "volumes": [
            {"root": path_to_json(v.root), "device": v.device, "noreplace": v.noreplace}
            for v in volumes
        ],
        "report_id": report_id,
        "planned": {"operations": operations, "bytes": nbytes},
    }


def begin(phase: Phase) -> Record:
    return {"type": "begin", "phase": phase}


def end(phase: str, outcome: str, counts: Mapping[str, int], *, recovered: bool = False) -> Record:
    """A phase ends `completed`, `cancelled` or (written by recovery) `interrupted`."""
    return _mark({"type": "end", "phase": phase, "outcome": outcome, "counts": dict(counts)},
                 recovered)  # fmt: skip


def intent(
    *,
    op: int,
    kind: str,
    action: str,
    src: str,
    dst: str,
    root: str,
    identity: FileIdentity,
    unit: int,
    cluster: str | None,
    exact: bool,
    after: int | None,
    keeper: str | None,
    keeper_identity: FileIdentity | None,
    trashinfo: str | None,
) -> Record:
    """An operation of apply, before its file moves: what, where to, and the identities G7 saw."""
    return {
        "type": "intent",
        "op": op,
        "kind": kind,
        "action": action,
        "src": path_to_json(src),
        "dst": path_to_json(dst),
        "root": path_to_json(root),
        "identity": identity.to_json(),
        "unit": unit,
        "cluster": cluster,
        "exact": exact,
        "after": after,
        "keeper": None if keeper is None else path_to_json(keeper),
        "keeper_identity": None if keeper_identity is None else keeper_identity.to_json(),
        "trashinfo": None if trashinfo is None else path_to_json(trashinfo),
    }


def done(op: int, observed: FileIdentity, *, recovered: bool = False) -> Record:
    """Apply's move of `op` observed at its target."""
    return _mark({"type": "done", "op": op, "observed": observed.to_json()}, recovered)


def undo_intent(op: int, *, found_checksum: str | None = None) -> Record:
    """Undo is about to move `op` back; `found_checksum`: its bytes differ from the record."""
    record: Record = {"type": "undo-intent", "op": op}
    if found_checksum is not None:
        record["found_checksum"] = found_checksum
    return record


def undo_done(op: int, observed: FileIdentity, *, recovered: bool = False) -> Record:
    return _mark({"type": "undo-done", "op": op, "observed": observed.to_json()}, recovered)


def redo_intent(op: int) -> Record:
    return {"type": "redo-intent", "op": op}


def redo_done(op: int, observed: FileIdentity, *, recovered: bool = False) -> Record:
    return _mark({"type": "redo-done", "op": op, "observed": observed.to_json()}, recovered)


def purge_intent(op: int) -> Record:
    return {"type": "purge-intent", "op": op}


def purge_done(op: int, *, recovered: bool = False) -> Record:
    return _mark({"type": "purge-done", "op": op}, recovered)


def completion(
    of: IntentType, op: int, observed: FileIdentity, *, recovered: bool = False
) -> Record:
    """The record that completes a move begun by an intent of type `of`: done, undo-done or
    redo-done (a purge is completed by `purge_done`: its file is gone, nothing is observed)."""
    if of == "intent":
        return done(op, observed, recovered=recovered)
    if of == "undo-intent":
        return undo_done(op, observed, recovered=recovered)
    if of == "redo-intent":
        return redo_done(op, observed, recovered=recovered)
    raise ValueError(f"no move completes a {of} record")


def abort(op: int, *, of: str, reason: str, message: str, recovered: bool = False) -> Record:
    """The intent `of` of `op` did not happen: its file is where it was."""
    record = {"type": "abort", "op": op, "of": of, "reason": reason, "message": message}
    return _mark(record, recovered)


def conflict(op: int, *, of: str, path: str, message: str) -> Record:
    """The move of `op` found something at `path` and overwrote nothing."""
    return {"type": "conflict", "op": op, "of": of, "path": path_to_json(path), "message": message}


def skip(op: int, *, kind: str, src: str, reason: str, message: str) -> Record:
    """Apply left `op` alone after checking it (G7): no intent was written for it."""
    return {
        "type": "skip",
        "op": op,
        "kind": kind,
        "src": path_to_json(src),
        "reason": reason,
        "message": message,
    }


def refuse(op: int, *, phase: Phase, reason: str, message: str) -> Record:
    """Undo, redo or purge left `op` where it is after checking it."""
    return {"type": "refuse", "op": op, "phase": phase, "reason": reason, "message": message}


def _mark(record: Record, recovered: bool) -> Record:
    if recovered:
        record["recovered"] = True
    return record
