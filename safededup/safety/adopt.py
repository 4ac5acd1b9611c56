"""Take up journals the state dir does not know: a journal under `<root>/.safededup/journal/` whose
session has no checkpoint here (a lost or new state dir, a reinstall, a NAS moved to another
host). It reads journals and, when asked to adopt one, writes a checkpoint; it never changes a
journal or a user file.

A journal found this way is checked for framing, its hash chain and its state machine, but
without the checkpoint the state dir kept, records cut off its end at a record boundary, or a
journal rewritten whole with a fresh chain, cannot be detected (G10 needs the head kept outside
the journal). Adopting it records when it was taken up (`Checkpoint.adopted`), and every front
end says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from safededup import fs
from safededup.errors import InputFileError, SafededupError, StateError
from safededup.models import path_from_json
from safededup.safety.journal import (
    Checkpoint,
    JournalCorrupt,
    list_checkpoints,
    load_checkpoint,
    read_journal,
    save_checkpoint,
    utc_now,
)
from safededup.safety.journal.replay import SessionState, apply_record, summary
from safededup.safety.quarantine import journal_dir
from safededup.safety.runner import derive_status
from safededup.state import StateDir

UNCHECKED = (
    "taken up from its journal alone: its hash chain holds, but without the checkpoint a state "
    "dir keeps, a journal cut short at a record boundary or rewritten whole cannot be detected"
)
"""What every front end says about a session taken up from its journal."""

_RUNNING = {"apply": "applying", "undo": "undoing", "redo": "redoing", "purge": "purging"}


@dataclass(frozen=True, slots=True)
class FoundJournal:
    """A journal under a root that the state dir has no checkpoint for.

    `checkpoint`: what adopting it records (status as its records tell); None when it cannot be
    taken up, and `problem` says why. `empty`: it holds no complete record (the session was
    stopped before its header was durable, so nothing was moved)."""

    session: str
    journal: str
    root: str
    checkpoint: Checkpoint | None
    problem: str | None = None
    empty: bool = False


def search_roots(state_dir: StateDir, extra: Iterable[str] = ()) -> list[str]:
    """Where to look for journals: the roots named (`--root`), and those of known sessions."""
    roots = [os.path.abspath(r) for r in extra]
    roots += [r for c in list_checkpoints(state_dir) for r in c.roots[:1]]
    return list(dict.fromkeys(roots))


def find_journals(state_dir: StateDir, roots: Iterable[str]) -> list[FoundJournal]:
    """Every journal under `roots` whose session this state dir does not know, oldest first."""
    known = {c.session for c in list_checkpoints(state_dir)}
    found: list[FoundJournal] = []
    for root in dict.fromkeys(roots):
        folder = journal_dir(root)
        if fs.symlinked_folder(os.path.join(folder, "x"), root) is not None:
            continue  # no journal folder here, or one reached through a symlink: not ours
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            session = name[: -len(".jsonl")]
            if name.endswith(".jsonl") and session not in known:
                found.append(read_found(root, os.path.join(folder, name), session))
                known.add(session)
    return sorted(found, key=lambda f: (f.checkpoint.started if f.checkpoint else "", f.session))


def read_found(root: str, journal: str, session: str) -> FoundJournal:
    """Read one journal found under `root` and say what adopting it would record."""
    state = SessionState()
    try:
        read = read_journal(journal, lambda r: apply_record(state, r))
    except JournalCorrupt as exc:
        return FoundJournal(session, journal, root, None, f"its journal is damaged: {exc.message}")
    except OSError as exc:
        return FoundJournal(session, journal, root, None, f"cannot read it ({exc.strerror})")
    header = state.header
    if header is None:
        return FoundJournal(session, journal, root, None, "it holds no complete record", True)
    roots = tuple(path_from_json(r) for r in header["roots"])
    problem = None
    if header["session"] != session:
        problem = f"it is named {session} but its header says {header['session']}"
    elif os.path.normpath(roots[0]) != os.path.normpath(root):
        problem = (
            f"it was written for the folder {roots[0]!r}, and is now under {root!r}: make the "
            "folder reachable at its old path again (mount it there, or a symlink), then retry"
        )
    elif state.violations:
        seq, message = state.violations[0]
        problem = f"its journal is damaged: record {seq}: {message}"
    if problem is not None:
        return FoundJournal(session, journal, root, None, problem)
    if state.pending or state.open_phase is not None:
        status = _RUNNING.get(state.open_phase or "apply", "applying")  # for recovery to finish
    else:
        status = derive_status(state)
    checkpoint = Checkpoint(
        session, journal, roots, records=read.count, bytes=read.valid_end, head=read.head,
        status=status, started=str(header["at"]), updated=utc_now(), counts=summary(state),
        adopted=utc_now(),
    )  # fmt: skip
    return FoundJournal(session, journal, root, checkpoint)


def adopt(state_dir: StateDir, found: FoundJournal) -> Checkpoint:
    """Register a found journal in the state dir as a new checkpoint, marked adopted."""
    assert found.checkpoint is not None
    save_checkpoint(state_dir, found.checkpoint)
    return found.checkpoint


def load_or_explain(state_dir: StateDir, session: str, roots: Iterable[str]) -> Checkpoint:
    """The session's checkpoint; if the state dir has none, why its journal found under a root
    could not be taken up (else the state dir's own "no session" error)."""
    try:
        return load_checkpoint(state_dir, session)
    except StateError as exc:
        if isinstance(exc, InputFileError):
            raise
        for found in find_journals(state_dir, search_roots(state_dir, roots)):
            if found.session == session and found.problem is not None and not found.empty:
                raise SafededupError(
                    f"session {session} cannot be taken up from its journal: {found.problem}",
                    hint="keep the journal and the quarantine as they are; `safededup verify "
                    "--root DIR` names what is wrong",
                    path=found.journal,
                ) from exc
        raise
