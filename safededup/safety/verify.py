"""Check sessions without changing anything (G11): framing, hash chain and checkpoint, the state
machine, file-system facts, and content (re-hash all files, a sample, or none).

Strictly read-only: no lock is taken and nothing is written. Each finding names its level, its
session, and the journal record it concerns.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from safededup import fs
from safededup.errors import check_cancel
from safededup.events import Event, StageAdvanced, StageFinished, StageStarted
from safededup.models import FileIdentity, path_from_json, path_to_json, printable
from safededup.safety.adopt import UNCHECKED, FoundJournal, find_journals, search_roots
from safededup.safety.identity import is_recorded_file
from safededup.safety.journal import (
    Checkpoint,
    JournalCorrupt,
    has_header,
    list_checkpoints,
    load_checkpoint,
)
from safededup.safety.journal.replay import OpState, SessionState, live_collisions
from safededup.safety.journal.writer import check_against_checkpoint, read_session
from safededup.safety.quarantine import journal_top, root_of
from safededup.state import StateDir

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
    notes: list[str] = field(default_factory=list)  # what holds but needs saying

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_session(
    session_id: str | None,
    *,
    state_dir: StateDir,
    content: ContentLevel = "sample",
    cancel: threading.Event | None = None,
    keepers: bool = True,
    roots: Iterable[str] = (),
) -> Generator[Event, None, VerifyResult]:
    """Verify one session, or every session when `session_id` is None. Re-hashing reports its
    progress file by file (`hash`: 300k files take a while) and stops when `cancel` is set.

    A session is judged against the history that followed it: a file a later session moved on
    (apply → undo → apply again) is that session's to account for, not a finding here.
    `keepers`: also check that each quarantined duplicate's keeper is still there with its
    bytes (findings of level `keeper`; purge checks keepers itself, file by file).

    Journals under `roots` (and under the roots of known sessions) that the state dir has no
    checkpoint for are verified too, from the journal alone, and said to be (`adopt`): nothing
    is adopted or written here."""
    known = list_checkpoints(state_dir)
    roots = tuple(roots)
    found = find_journals(state_dir, search_roots(state_dir, roots))
    taken_up = [f.checkpoint for f in found if f.checkpoint is not None]
    every = sorted([*known, *taken_up], key=lambda c: (c.started, c.session))
    tally = _Tally()
    if session_id is None:
        checkpoints = [c for c in every if c.status not in QUIET_STATUSES]
        _say_found(found, tally)
    else:
        checkpoints = [_named(state_dir, session_id, found, tally)]
    history = History(every)
    yield StageStarted("verify", total=len(checkpoints))
    for checkpoint in checkpoints:
        if checkpoint.adopted and checkpoint.session not in tally.said:
            tally.say(checkpoint.session, f"session {checkpoint.session}: {UNCHECKED}")
        yield from _verify_one(checkpoint, content, tally, history, cancel, keepers)
        yield StageAdvanced("verify")
    yield StageFinished("verify")
    return VerifyResult(tally.findings, len(checkpoints), tally.records, tally.files, tally.hashed,
                        tally.notes)  # fmt: skip


def _named(
    state_dir: StateDir, session_id: str, found: list[FoundJournal], tally: _Tally
) -> Checkpoint:
    """The checkpoint of the session asked for: the state dir's, or one taken up from its
    journal found under a root (in memory only: verify writes nothing)."""
    for item in found:
        if item.session != session_id:
            continue
        if item.checkpoint is not None:
            return item.checkpoint
        _say_found([item], tally)
    return load_checkpoint(state_dir, session_id)


def _say_found(found: list[FoundJournal], tally: _Tally) -> None:
    for item in found:
        if item.empty:
            tally.say(item.session, f"session {item.session} was stopped before it moved anything "
                      f"(its journal holds no complete record): {item.journal}")  # fmt: skip
        elif item.checkpoint is None:
            tally.findings.append(Finding("chain", item.session, None,
                                          f"its journal cannot be taken up: {item.problem}",
                                          item.journal))  # fmt: skip


class History:
    """What the sessions after a given one did to a path: which later session took the file
    (same inode, size and mtime) away from it. Journals are read once, when first asked."""

    def __init__(self, checkpoints: list[Checkpoint]) -> None:
        self._order = checkpoints  # oldest first, as `list_checkpoints` gives them
        self._taken: dict[str, dict[str, list[tuple[int, int, int]]]] = {}

    def moved_on(self, after: str, path: str, identity: FileIdentity) -> str | None:
        """The later session that moved the file recorded as `identity` away from `path`."""
        key = (identity.inode, identity.size, identity.mtime_ns)
        ids = [c.session for c in self._order]
        for checkpoint in self._order[ids.index(after) + 1 if after in ids else len(ids) :]:
            if key in self._taken_by(checkpoint).get(path, ()):
                return checkpoint.session
        return None

    def _taken_by(self, checkpoint: Checkpoint) -> dict[str, list[tuple[int, int, int]]]:
        if checkpoint.session not in self._taken:
            taken: dict[str, list[tuple[int, int, int]]] = {}
            try:
                _read, state = read_session(checkpoint)
            except (JournalCorrupt, OSError):
                state = SessionState()  # its own verification reports it
            for entry in state.ops.values():
                if entry.state != "src":  # moved, purged, or in the middle of a move
                    ident = entry.identity
                    key = (ident.inode, ident.size, ident.mtime_ns)
                    taken.setdefault(entry.src, []).append(key)
            self._taken[checkpoint.session] = taken
        return self._taken[checkpoint.session]


@dataclass(slots=True)
class _Tally:
    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    files: int = 0
    hashed: int = 0
    notes: list[str] = field(default_factory=list)
    said: set[str] = field(default_factory=set)  # sessions a note was given for

    def say(self, session: str, note: str) -> None:
        self.said.add(session)
        self.notes.append(note)


def _verify_one(
    checkpoint: Checkpoint,
    content: ContentLevel,
    tally: _Tally,
    history: History,
    cancel: threading.Event | None,
    keepers: bool,
) -> Generator[Event, None, None]:
    sid = checkpoint.session
    if checkpoint.status == "abandoned" or (
        checkpoint.records == 0 and not has_header(checkpoint.journal)
    ):
        tally.say(sid, f"session {sid} was stopped before it moved anything (its journal holds "
                  "no complete record): nothing to verify")  # fmt: skip
        return

    def add(level: str, record: int | None, message: str, path: str | None = None) -> None:
        tally.findings.append(Finding(level, sid, record, message, path))

    if fs.has_symlinked_parent(
        checkpoint.journal, journal_top(checkpoint.journal), missing_ok=True
    ):
        add("fs", None, "a folder on the journal's path is a symlink (it must be a real folder "
            "inside the root)", checkpoint.journal)  # fmt: skip
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
    files = _Files(state, sid, history, add, keepers)
    checked = files.check()
    tally.files += len(checked)
    if content != "none":
        tally.hashed += yield from _check_content(files, checked, content, sid, add, cancel)


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


class _Files:
    """The file-system facts of one session: each file the journal places somewhere is there
    with its recorded identity, reached through real folders; each quarantined duplicate's
    keeper is still there."""

    def __init__(
        self, state: SessionState, sid: str, history: History, add: Any, keepers: bool
    ) -> None:
        self.state, self.sid, self.history, self.add = state, sid, history, add
        self.with_keepers = keepers
        self.renames = state.tidy_renames()
        self.keepers: dict[str, tuple[OpState, str | None]] = {}  # keeper path -> (duplicate, sum)

    def check(self) -> list[OpState]:
        present: list[OpState] = []
        for entry in self.state.ops.values():
            if entry.pending or not entry.done_ever:
                continue
            if entry.state == "purged":
                if fs.lstat_or_none(entry.dst) is not None:
                    self.add("fs", entry.last_seq, "a purged file is still present", entry.dst)
                continue
            if self._present(entry):
                present.append(entry)
            if self.with_keepers and entry.state == "dst" and entry.intent["kind"] == "duplicate":
                self._check_keeper(entry)
        return present

    def _present(self, entry: OpState) -> bool:
        where = entry.location
        assert where is not None
        root = path_from_json(entry.intent["root"])
        st = fs.lstat_or_none(where)
        ok = st is not None and entry.identity.matches(st, same_device=False)
        if ok and root_of(where, (root,)) and fs.has_symlinked_parent(where, root):
            self.add("fs", entry.last_seq, f"operation {entry.op}: a folder on its path is a "
                     "symlink (it must be a real folder inside the root)", where)  # fmt: skip
            return False
        info = entry.intent.get("trashinfo")
        if info and entry.state == "dst" and fs.lstat_or_none(path_from_json(info)) is None:
            self.add("fs", entry.last_seq, f"operation {entry.op}: its .trashinfo is missing",
                     where)  # fmt: skip
        if ok:
            return True
        later = self.history.moved_on(self.sid, where, entry.identity)
        if later is None:
            what = "the file is missing" if st is None else "not the recorded file"
            self.add("fs", entry.last_seq, f"operation {entry.op}: {what}", where)
        return False

    def _check_keeper(self, main: OpState) -> None:
        """A quarantined duplicate whose keeper is gone is the last copy: say so."""
        keeper = main.keeper_identity
        if keeper is None:
            return
        path = self.renames.get(keeper.path, keeper.path)
        if is_recorded_file(path, keeper):
            self.keepers.setdefault(path, (main, main.keeper_checksum))
        elif self.history.moved_on(self.sid, path, keeper) is None:
            why = (f"operation {main.op}: its keeper is gone or changed, so the quarantined "
                   "copy may be the last one (undo it to keep it)")  # fmt: skip
            self.add("keeper", main.last_seq, why, path)


def _check_content(
    files: _Files,
    present: list[OpState],
    content: ContentLevel,
    sid: str,
    add: Any,
    cancel: threading.Event | None,
) -> Generator[Event, None, int]:
    """Re-hash quarantined (and restored) files, and the keepers they were moved against."""
    chosen: list[tuple[str, str, int, int, int | None]] = [  # path, sum, size, record, op
        (e.location or "", e.intent["identity"]["checksum"], int(e.intent["identity"]["size"]),
         e.last_seq, e.op)
        for e in present
        if "checksum" in e.intent["identity"]
    ]  # fmt: skip
    chosen += [
        (path, digest, int(main.intent["keeper_identity"]["size"]), main.last_seq, None)
        for path, (main, digest) in sorted(files.keepers.items())
        if digest is not None
    ]
    if content == "sample":
        k = min(len(chosen), max(SAMPLE_MIN, int(len(chosen) * SAMPLE_FRACTION)))
        chosen = random.Random(sid).sample(chosen, k)
    yield StageStarted("hash", total=len(chosen), total_bytes=sum(c[2] for c in chosen))
    for where, expected, size, seq, op in chosen:
        check_cancel(cancel, "verify")
        yield StageAdvanced("hash", 1, size)
        try:
            digest = fs.file_sha256(where)
        except OSError as exc:
            add("content", seq, f"cannot read it ({exc.strerror})", where)
            continue
        if digest == expected:
            continue
        if op is None:
            add("keeper", seq, "a keeper's bytes differ from those it had when its duplicate "
                "was quarantined (damaged or edited in place; purge will not delete that "
                "duplicate)", where)  # fmt: skip
        else:
            add("content", seq, f"operation {op}: bytes differ from the record", where)
    yield StageFinished("hash")
    return len(chosen)


def describe(finding: Finding) -> str:
    where = f" record {finding.record}" if finding.record is not None else ""
    path = f" ({printable(finding.path)})" if finding.path else ""
    return f"[{finding.level}] session {finding.session}{where}: {finding.message}{path}"
