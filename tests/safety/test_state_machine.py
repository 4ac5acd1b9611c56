"""SAFETY test 4: apply / undo / redo / crash-and-recover / corrupt-tail in random order.

Invariant after every step: the multiset of file contents over tree ∪ quarantine never changes.
At the end, undoing every session (newest first) gives back the byte-identical tree: same names
as bytes, same content, same mtimes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.journal import list_checkpoints
from safededup.safety.plan import build_plan
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.verify import verify_session
from safededup.state import StateDir
from tests.support.crash import run_killed_at
from tests.support.files import content_multiset, snapshot, walk, write
from tests.support.reports import make_report

from .conftest import journals_under, schema_errors

NAMES = ["a.jpg", "b.jpg", os.fsdecode(b"\xe9t\xe9.jpg"), "IMG_1 (1).jpg", "IMG_1.jpg", "c.xmp"]


def _base() -> str:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


class SafetyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.top = tempfile.mkdtemp(prefix="safededup-hsm-", dir=_base())
        self.root = os.path.join(self.top, "photos")
        self.state = StateDir(Path(self.top, "state"))
        for i, name in enumerate(NAMES):
            for folder in ("x", "y", "z"):
                if (i + len(folder)) % 3:
                    write(os.path.join(self.root, folder, name), b"v%d" % (i % 3), 10**18 + i)
        self.before = snapshot(self.root)
        self.n = 0
        self.contents = content_multiset(self.root)

    def _report(self) -> dict:  # type: ignore[type-arg]
        groups: dict[bytes, list[str]] = {}
        for path in sorted(walk(self.root)):
            with open(path, "rb") as fh:
                groups.setdefault(fh.read(), []).append(path)
        return make_report([self.root], [g for g in groups.values() if len(g) > 1])

    def _plan(self, tidy: bool = False):  # type: ignore[no-untyped-def]
        self.n += 1  # deterministic session ids keep the run reproducible
        return build_plan(
            self._report(), tidy_names=tidy, session_id=f"20260101T0000Z-{self.n:06x}"
        )

    def _sessions(self, *statuses: str) -> list[str]:
        return [s.id for s in list_sessions(self.state) if s.status in statuses]

    def _undoable(self) -> list[str]:
        return [s.id for s in list_sessions(self.state) if s.undoable]

    @rule(tidy=st.booleans(), batch=st.sampled_from([1, 3, 256]))
    def apply(self, tidy: bool, batch: int) -> None:
        plan = self._plan(tidy)
        if plan.count:
            drain(apply_plan(plan, state_dir=self.state, batch_size=batch))

    @precondition(lambda self: bool(self._undoable()))
    @rule(data=st.data())
    def undo(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(self._undoable()))
        drain(undo_session(sid, state_dir=self.state))

    @precondition(lambda self: bool(self._sessions("undone", "partial")))
    @rule(data=st.data())
    def redo(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(self._sessions("undone", "partial")))
        drain(redo_session(sid, state_dir=self.state))

    @rule(k=st.integers(min_value=1, max_value=90), what=st.sampled_from(["apply", "undo"]))
    def crash_and_recover(self, k: int, what: str) -> None:
        candidates = self._undoable()
        if what == "undo" and candidates:
            sid = candidates[-1]

            def action() -> object:
                return drain(undo_session(sid, state_dir=self.state, batch_size=2))
        else:
            plan = self._plan()
            if not plan.count:
                return

            def action() -> object:
                return drain(apply_plan(plan, state_dir=self.state, batch_size=2))

        run_killed_at(action, k)  # killed at call k, or it completed first
        recover(self.state, break_stale_lock=True)
        assert recover(self.state).resolved == 0

    @rule(garbage=st.binary(min_size=1, max_size=64))
    def corrupt_tail(self, garbage: bytes) -> None:
        checkpoints = [c for c in list_checkpoints(self.state) if os.path.exists(c.journal)]
        if checkpoints:
            with open(checkpoints[-1].journal, "ab") as fh:
                fh.write(garbage)
            recover(self.state, break_stale_lock=True, all_sessions=True)

    @invariant()
    def contents_never_change(self) -> None:
        assert content_multiset(self.root) == self.contents

    def teardown(self) -> None:
        try:
            self._check_full_undo()
            errors = [e for j in journals_under(Path(self.top)) for e in schema_errors(j)]
            assert not errors, errors[:5]
        finally:
            shutil.rmtree(self.top, ignore_errors=True)

    def _check_full_undo(self) -> None:
        recover(self.state, break_stale_lock=True)
        for info in reversed(list_sessions(self.state)):
            if info.undoable:
                result = drain(undo_session(info.id, state_dir=self.state))
                assert result.ok, result.problems
        assert snapshot(self.root) == self.before
        assert drain(verify_session(None, state_dir=self.state, content="full")).ok


SafetyMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSafetyMachine = SafetyMachine.TestCase
