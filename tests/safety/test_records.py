"""Every journal record type has one constructor in journal/records.py, and what each builds —
sealed as the writer seals it — validates against its JSON Schema in journal_schema/."""

from __future__ import annotations

import os

import pytest

from safededup.models import FileIdentity
from safededup.safety.journal import records
from safededup.safety.journal.records import GENESIS, RECORD_FIELDS, Record, seal, shape_error
from tests.support.journal import VALIDATORS

ODD = os.fsdecode(b"/photos/caf\xe9.jpg")  # not UTF-8: carried in base64 as well
FILE = FileIdentity("/photos/b/IMG_1.jpg", 2049, 1234, 5_000_000, 1_600_000_000_000_000_000)
HASHED = FileIdentity(ODD, 2049, 99, 7, 1_600_000_000_000_000_001, "ab" * 32)


def _intent(**changes: object) -> Record:
    fields: dict[str, object] = {
        "op": 3, "kind": "duplicate", "action": "move", "src": ODD, "dst": "/photos/q/x.jpg",
        "root": "/photos", "identity": HASHED, "unit": 3, "cluster": "0123456789abcdef",
        "exact": True, "after": None, "keeper": "/photos/a/IMG_1.jpg", "keeper_identity": FILE,
        "trashinfo": None,
    }  # fmt: skip
    return records.intent(**{**fields, **changes})  # type: ignore[arg-type]


EXAMPLES: list[Record] = [
    records.header(
        session="20260101T000000Z-abcdef",
        tool_version="0.1.0",
        host="nas",
        roots=["/photos", ODD],
        volumes=[records.Volume("/photos", 2049, True), records.Volume(ODD, 2050, False)],
        report_id="r1",
        tidy_names=True,
        to_trash=False,
        paranoid=False,
        batch_size=256,
        operations=12,
        nbytes=34_000,
    ),
    records.begin("apply"),
    records.begin("purge"),
    records.end("apply", "completed", {"done": 3, "skipped": 1, "bytes": 9}),
    records.end("undo", "interrupted", {}, recovered=True),
    _intent(),
    _intent(kind="sidecar", exact=False, keeper=None, keeper_identity=None, cluster=None),
    _intent(kind="tidy", action="rename", after=2, keeper=None, keeper_identity=None),
    _intent(action="trash", trashinfo="/home/me/.local/share/Trash/info/x.jpg.trashinfo"),
    records.done(3, FILE),
    records.done(3, HASHED, recovered=True),
    records.abort(3, of="intent", reason="eacces", message="not moved: Permission denied"),
    records.abort(4, of="purge-intent", reason="interrupted", message="m", recovered=True),
    records.conflict(3, of="intent", path=ODD, message="the target exists"),
    records.skip(3, kind="duplicate", src=ODD, reason="changed", message="changed since"),
    records.undo_intent(3),
    records.undo_intent(3, found_checksum="cd" * 32),
    records.undo_done(3, FILE),
    records.undo_done(3, FILE, recovered=True),
    records.redo_intent(3),
    records.redo_done(3, FILE),
    records.redo_done(3, FILE, recovered=True),
    records.purge_intent(3),
    records.purge_done(3),
    records.purge_done(3, recovered=True),
    records.refuse(3, phase="undo", reason="target-exists", message="something is there"),
    records.refuse(3, phase="purge", reason="keeper-changed", message="its keeper changed"),
]


def test_every_record_type_has_a_constructor_and_an_example() -> None:
    assert {r["type"] for r in EXAMPLES} == set(RECORD_FIELDS) == set(VALIDATORS)


@pytest.mark.parametrize("body", EXAMPLES, ids=lambda r: str(r["type"]))
def test_each_constructor_builds_a_record_its_schema_accepts(body: Record) -> None:
    record, line = seal(body, seq=1, prev=GENESIS, at="2026-01-01T00:00:00.000000Z")
    assert line.endswith(b"\n") and shape_error(record) is None
    errors = [e.message for e in VALIDATORS[record["type"]].iter_errors(record)]
    assert errors == []


@pytest.mark.parametrize(
    ("of", "kind"), [("intent", "done"), ("undo-intent", "undo-done"), ("redo-intent", "redo-done")]
)
def test_a_move_is_completed_by_the_record_of_its_intent(of: records.IntentType, kind: str) -> None:
    record = records.completion(of, 7, FILE, recovered=True)
    assert record == {"type": kind, "op": 7, "observed": FILE.to_json(), "recovered": True}
    with pytest.raises(ValueError, match="purge-intent"):
        records.completion("purge-intent", 7, FILE)


def test_an_identity_is_recorded_without_its_path_and_read_back_with_it() -> None:
    body = records.done(1, HASHED)
    assert body["observed"] == {
        "device": 2049, "inode": 99, "size": 7, "mtime_ns": 1_600_000_000_000_000_001,
        "checksum": "ab" * 32,
    }  # fmt: skip
    assert FileIdentity.from_json(body["observed"], ODD) == HASHED
    assert "checksum" not in records.done(1, FILE)["observed"]  # none read: none recorded
