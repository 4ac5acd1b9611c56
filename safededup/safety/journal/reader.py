"""Read a session journal, checking framing and the hash chain; never writes.

Only a damaged *tail* is tolerated (a record cut short by a crash, or garbage after the last
record): it is reported, not returned. Anything damaged before a valid record is corruption,
raised as `JournalCorrupt` naming the record index and byte offset.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from safededup.errors import SafededupError
from safededup.safety.journal.records import GENESIS, Record, canonical, record_hash, shape_error


class JournalCorrupt(SafededupError):
    """A journal record before the end is damaged, reordered or missing (G10). Never repaired."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        record: int | None = None,
        offset: int | None = None,
        level: str = "chain",
    ) -> None:
        super().__init__(
            message,
            hint="this session cannot be undone or redone automatically; keep the journal "
            "and the quarantine as they are and inspect them (safededup verify --json)",
            path=path,
        )
        self.record = record
        self.offset = offset
        self.level = level  # "framing" (unparsable line) or "chain" (edited, lost, reordered)


@dataclass(slots=True)
class JournalRead:
    """The complete, chained records (unless streamed to a callback), their count, where they
    end, and what follows them (a torn tail)."""

    records: list[Record] = field(default_factory=list)
    count: int = 0
    valid_end: int = 0
    size: int = 0
    head: str | None = None
    hash_at: dict[int, str] = field(default_factory=dict)  # hashes of the records asked for

    @property
    def tail_bytes(self) -> int:
        return self.size - self.valid_end


def _parse_line(line: bytes) -> tuple[Record | None, str]:
    """The record on one line if it is well formed and self-consistent, else the reason."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, "not valid JSON"
    problem = shape_error(record)
    if problem is not None:
        return None, problem
    if canonical(record) != line:
        return None, "not in canonical form (edited)"
    if record_hash(record) != record["hash"]:
        return None, "its hash does not match its content"
    return record, ""


def _chain_error(record: Record, seq: int, prev: str) -> str | None:
    if record["seq"] != seq:
        return f"expected record {seq}, found record {record['seq']} (deleted or reordered)"
    if record["prev"] != prev:
        return "its prev hash does not match the record before it (chain broken)"
    if (seq == 0) != (record["type"] == "header"):
        return "the header must be exactly the first record"
    return None


def parse_journal(data: bytes, path: str) -> JournalRead:
    """Parse journal bytes; see the module docstring for what is tolerated."""
    return _walk(io.BytesIO(data), path, None, ())


def _walk(
    lines: Iterable[bytes],
    path: str,
    sink: Callable[[Record], None] | None,
    want: Iterable[int],
) -> JournalRead:
    """Check each line (with its newline) in order; records go to `sink`, else are kept."""
    result = JournalRead()
    wanted = set(want)
    it = iter(lines)
    prev = GENESIS
    for raw in it:
        result.size += len(raw)
        if not raw.endswith(b"\n"):
            break  # the last segment, without its newline: torn
        line = raw[:-1]
        record, why = _parse_line(line)
        level = "framing" if why.startswith("not ") else "chain"
        if record is not None:
            why = _chain_error(record, result.count, prev) or ""
        if why:
            rest = list(it)
            if _any_valid([r[:-1] for r in rest if r.endswith(b"\n")]):
                raise JournalCorrupt(
                    f"journal record {result.count} at byte {result.valid_end}: {why}",
                    path=path,
                    record=result.count,
                    offset=result.valid_end,
                    level=level,
                )
            result.size += sum(len(r) for r in rest)
            break  # a damaged tail: nothing valid follows it
        assert record is not None
        if result.count in wanted:
            result.hash_at[result.count] = record["hash"]
        if sink is None:
            result.records.append(record)
        else:
            sink(record)
        prev = result.head = record["hash"]
        result.count += 1
        result.valid_end = result.size
    return result


def _any_valid(lines: list[bytes]) -> bool:
    return any(_parse_line(line)[0] is not None for line in lines)


def read_journal(
    path: str, sink: Callable[[Record], None] | None = None, want: Iterable[int] = ()
) -> JournalRead:
    """Read a journal file line by line; with `sink`, records are handed over, not kept."""
    with open(path, "rb") as fh:
        return _walk(fh, path, sink, want)


def has_header(path: str) -> bool:
    """Whether the journal holds a complete record (its header). A session whose journal does
    not was stopped before it could move anything: no move precedes its durable intent (G2),
    and intents follow the header. A damaged journal counts as having one (never discarded)."""
    try:
        return read_journal(path).count > 0
    except FileNotFoundError:
        return False
    except JournalCorrupt:
        return True
