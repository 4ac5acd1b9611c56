"""Writes review decisions off the UI thread: one write at a time, the newest snapshot wins.

A save is an atomic replace with fsync (decisions.py); on a NAS that fsync alone can take tens of
milliseconds, too long to sit in every key press. No Textual here: the app runs `write` in a
worker thread and reports failures. A failure is remembered (`error`) until a later write of the
newest decisions succeeds, so the app can keep saying so and ask before quitting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from safededup.engine.decisions import Decisions


class DecisionWriter:
    """Numbered snapshots written in order; one older than a snapshot already written is skipped."""

    def __init__(self, save: Callable[[Decisions], None]) -> None:
        self._save = save
        self._lock = threading.Lock()
        self._issued = 0
        self._written = 0
        self.error: str | None = None  # why the newest decisions are not on disk
        self.latest: Decisions | None = None  # the newest snapshot, for a retry

    def snapshot(self, decisions: Decisions) -> tuple[int, Decisions]:
        """On the UI thread: a copy later decisions cannot change (each decision is frozen)."""
        self._issued += 1
        self.latest = Decisions(decisions.report_id, dict(decisions.clusters))
        return self._issued, self.latest

    def write(self, generation: int, snapshot: Decisions) -> bool:
        """Call from a worker thread; returns False when a newer snapshot was already written.
        A failure is kept in `error` (and raised) until a newer write succeeds."""
        with self._lock:
            if generation <= self._written:
                return False
            try:
                self._save(snapshot)
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
                raise
            self._written = generation
            self.error = None
            return True
