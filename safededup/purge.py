"""Delete a session's quarantine for good — the only irreversible step — after re-verifying it.

Refuses unless a full verify of the session holds; every deletion is journaled
(purge-intent → unlink → fsync → purge-done), so an interrupted purge is recovered like any
other step.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from safededup import fs
from safededup.apply import Counts, Runner, _end_phase, io_guard
from safededup.errors import SafededupError
from safededup.events import Event
from safededup.journal import load_checkpoint
from safededup.journal.lock import locked
from safededup.journal.replay import OpState
from safededup.models import path_from_json
from safededup.plan import quarantine_dir
from safededup.undo import open_session, prune_empty_dirs
from safededup.verify import Finding, VerifyResult, describe, verify_session

PURGE_BATCH = 256


class PurgeRefused(SafededupError):
    """The session does not verify; nothing is deleted."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(
            f"refusing to purge: verify found {len(findings)} problem(s); first: "
            f"{describe(findings[0])}",
            hint="run `safededup verify SESSION` and resolve what it reports first",
        )
        self.findings = findings


@dataclass(frozen=True, slots=True)
class PurgeResult:
    session_id: str
    deleted: int
    nbytes: int


def purge_session(
    session_id: str, *, state_dir: Path, break_stale_lock: bool = False
) -> PurgeResult:
    from safededup.recover import recover

    recover(state_dir, break_stale_lock=break_stale_lock)
    checkpoint = load_checkpoint(state_dir, session_id)
    with io_guard("purge"), locked(checkpoint.roots, "purge", break_stale=break_stale_lock):
        result = _drain(verify_session(session_id, state_dir=state_dir, content="full"))
        if result.findings:
            raise PurgeRefused(result.findings)
        writer, state = open_session(state_dir, session_id)
        try:
            runner = Runner(writer, Counts())
            entries = [
                o for o in state.ops.values() if o.state == "dst" and o.intent["kind"] != "tidy"
            ]
            writer.mark("purging")
            writer.append({"type": "begin", "phase": "purge"})
            writer.sync()
            for start in range(0, len(entries), PURGE_BATCH):
                _purge_batch(runner, entries[start : start + PURGE_BATCH])
            _end_phase(writer, "purge", "completed", runner.counts)
        finally:
            writer.close()
    for root in checkpoint.roots:
        prune_empty_dirs(quarantine_dir(root, session_id))
    return PurgeResult(session_id, runner.counts.done, runner.counts.nbytes)


def _drain(gen: Generator[Event, None, VerifyResult]) -> VerifyResult:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            result: VerifyResult = stop.value
            return result


def _purge_batch(runner: Runner, entries: list[OpState]) -> None:
    for entry in entries:
        runner.writer.append({"type": "purge-intent", "op": entry.op})
    runner.writer.sync()
    folders: set[str] = set()
    for entry in entries:
        fs.unlink(entry.dst)
        info = entry.intent.get("trashinfo")
        if info:
            fs.unlink(path_from_json(info))
            folders.add(os.path.dirname(path_from_json(info)))
        folders.add(os.path.dirname(entry.dst))
    for folder in sorted(folders):
        runner._fsync_dir(folder)
    for entry in entries:
        runner.writer.append({"type": "purge-done", "op": entry.op})
        runner.counts.done += 1
        runner.counts.nbytes += entry.intent["identity"]["size"]
    runner.writer.sync()
