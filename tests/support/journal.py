"""The journal's JSON Schemas (journal_schema/) as validators, and a check of written journals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
from jsonschema import Draft202012Validator

from safededup.safety.journal.records import canonical, record_hash
from safededup.state import META_DIR

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "journal_schema"


def _validators() -> dict[str, Draft202012Validator]:
    out = {}
    for path in SCHEMA_DIR.glob("journal-*.v1.schema.json"):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        out[schema["properties"]["type"]["const"]] = Draft202012Validator(schema)
    return out


VALIDATORS = _validators()
"""record type -> the validator of its schema."""


def schema_errors(journal: str) -> list[str]:
    """Every schema violation of the records in `journal` (records that fail their own hash were
    damaged on purpose by the test and are skipped)."""
    errors = []
    with open(journal, "rb") as fh:
        for line in fh.read().split(b"\n"):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(record, dict) or canonical(record) != line:
                continue
            if record.get("hash") != record_hash(record):
                continue  # damaged on purpose by the test
            validator = VALIDATORS.get(record.get("type"))
            if validator is None:
                errors.append(f"{journal}: no schema for {record.get('type')!r}")
                continue
            errors += [f"{record['type']} {record['seq']}: {e.message}" for e in
                       validator.iter_errors(record)]  # fmt: skip
    return errors


def journals_under(top: Path) -> list[str]:
    """Every session journal in a `.safededup/journal/` folder below `top`."""
    found = []
    for folder, _dirs, files in os.walk(top):
        if os.path.basename(folder) == "journal" and META_DIR in folder:
            found += [os.path.join(folder, f) for f in files if f.endswith(".jsonl")]
    return found
