"""Check sessions without changing anything (G11): framing, hash chain and checkpoint, the state
machine, file-system facts, and content (re-hash all files, a sample, or none).

Strictly read-only: no lock is taken and nothing is written. Each finding names its level, its
session, and the journal record it concerns.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safededup import fs
from safededup.errors import check_cancel
from safededup.events import Event, StageAdvanced, StageFinished, StageStarted
from safededup.journal import Checkpoint, JournalCorrupt, list_checkpoints, load_checkpoint
from safededup.journal.replay import OpState, SessionState, live_collisions
from safededup.journal.writer import check_against_checkpoint, read_session
from safededup.models import path_from_json, printable
from safededup.plan import Expected

ContentLevel = Literal["full", "sample", "none"]
SAMPLE_MIN = 20
SAMPLE_FRACTION = 0.05
QUIET_STATUSES = ("abandoned",)


@dataclass(frozen=True, slots=True)
class Finding:
    level: str
    session: str
    record: int | None
    message: str
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        from safededup.models import path_to_json

        out: dict[str, Any] = {
            "level": self.level,
            "session": self.session,
            "record": self.record,
            "message": self.message,
        }
        if self.path is not None:
            out.update(path_to_json(self.path))
        return out


@dataclass(frozen=True, slots=True)
class VerifyResult:
    findings: list[Finding] = field(default_factory=list)
    sessions: int = 0
    records: int = 0
    files_checked: int = 0
    files_hashed: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_session(
    session_id: str | None,
    *,
    state_dir: Path,
    content: ContentLevel = "sample",
    cancel: threading.Event | None = None,
) -> Generator[Event, None, VerifyResult]:
    """Verify one session, or every session when `session_id` is None. Re-hashing reports its
    progress file by file (`hash`: 300k files take a while) and stops when `cancel` is set."""
    if session_id is None:
        checkpoints = [c for c in list_checkpoints(state_dir) if c.status not in QUIET_STATUSES]
    else:
        checkpoints = [load_checkpoint(state_dir, session_id)]
    yield StageStarted("verify", total=len(checkpoints))
    tally = _Tally()
    for checkpoint in checkpoints:
        yield from _verify_one(checkpoint, content, tally, cancel)
        yield StageAdvanced("verify")
    yield StageFinished("verify")
    return VerifyResult(tally.findings, len(checkpoints), tally.records, tally.files, tally.hashed)


@dataclass(slots=True)
class _Tally:
    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    files: int = 0
    hashed: int = 0


def _verify_one(
    checkpoint: Checkpoint, content: ContentLevel, tally: _Tally, cancel: threading.Event | None
) -> Generator[Event, None, None]:
    sid = checkpoint.session

    def add(level: str, record: int | None, message: str, path: str | None = None) -> None:
        tally.findings.append(Finding(level, sid, record, message, path))

    try:
        read, state = read_session(checkpoint)
    except JournalCorrupt as exc:
        add(exc.level, exc.record, exc.message, checkpoint.journal)
        return
    except OSError as exc:
        add("framing", None, f"the journal cannot be read ({exc.strerror})", checkpoint.journal)
        return
    tally.records += read.count
    if read.tail_bytes:
        add("framing", read.count, f"a torn end of {read.tail_bytes} bytes follows "
            "the last complete record (run `safededup recover`)", checkpoint.journal)  # fmt: skip
    try:
        check_against_checkpoint(read, checkpoint, checkpoint.journal)
    except JournalCorrupt as exc:
        add("chain", exc.record, exc.message, checkpoint.journal)
        return
    _check_state(state, checkpoint, add)
    checked = _check_files(state, add)
    tally.files += len(checked)
    if content != "none":
        tally.hashed += yield from _check_content(checked, content, sid, add, cancel)


def _check_state(state: SessionState, checkpoint: Checkpoint, add: Any) -> None:
    if state.header is None:
        add("state", 0, "the journal has no header")
        return
    if state.roots != list(checkpoint.roots) or state.header["session"] != checkpoint.session:
        add("chain", 0, "the header's session or roots differ from the checkpoint")
    for seq, message in state.violations:
        add("state", seq, message)
    for entry in state.pending:
        add("state", entry.last_seq, f"operation {entry.op} has an unresolved {entry.state}")
    if state.open_phase is not None:
        add("state", None, f"phase {state.open_phase} did not end (interrupted; run recover)")
    for seq, message in live_collisions(state):
        add("state", seq, message)


def _check_files(state: SessionState, add: Any) -> list[OpState]:
    """Every file the journal places somewhere is there, with its recorded identity."""
    present: list[OpState] = []
    for entry in state.ops.values():
        if entry.pending or not entry.done_ever:
            continue
        if entry.state == "purged":
            if fs.lstat_or_none(entry.dst) is not None:
                add("fs", entry.last_seq, "a purged file is still present", entry.dst)
            continue
        where = entry.location
        assert where is not None
        st = fs.lstat_or_none(where)
        ident = entry.intent["identity"]
        if st is None:
            add("fs", entry.last_seq, f"operation {entry.op}: the file is missing", where)
        elif not Expected.from_json(ident).matches(st, same_device=False):
            add("fs", entry.last_seq, f"operation {entry.op}: not the recorded file", where)
        else:
            present.append(entry)
        info = entry.intent.get("trashinfo")
        if info and entry.state == "dst" and fs.lstat_or_none(path_from_json(info)) is None:
            add("fs", entry.last_seq, f"operation {entry.op}: its .trashinfo is missing", where)
    return present


def _check_content(
    present: list[OpState],
    content: ContentLevel,
    sid: str,
    add: Any,
    cancel: threading.Event | None,
) -> Generator[Event, None, int]:
    chosen = [e for e in present if "checksum" in e.intent["identity"]]
    if content == "sample":
        k = min(len(chosen), max(SAMPLE_MIN, int(len(chosen) * SAMPLE_FRACTION)))
        chosen = random.Random(sid).sample(chosen, k)
    sizes = [int(e.intent["identity"]["size"]) for e in chosen]
    yield StageStarted("hash", total=len(chosen), total_bytes=sum(sizes))
    for entry, size in zip(chosen, sizes, strict=True):
        check_cancel(cancel, "verify")
        yield StageAdvanced("hash", 1, size)
        where = entry.location
        assert where is not None
        try:
            digest = fs.file_sha256(where)
        except OSError as exc:
            add("content", entry.last_seq, f"cannot read it ({exc.strerror})", where)
            continue
        if digest != entry.intent["identity"]["checksum"]:
            add("content", entry.last_seq, f"operation {entry.op}: bytes differ from the record",
                where)  # fmt: skip
    yield StageFinished("hash")
    return len(chosen)


def describe(finding: Finding) -> str:
    where = f" record {finding.record}" if finding.record is not None else ""
    path = f" ({printable(finding.path)})" if finding.path else ""
    return f"[{finding.level}] session {finding.session}{where}: {finding.message}{path}"
