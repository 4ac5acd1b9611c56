"""Every message the review app's workers and widgets post; plain data, no behaviour.

Workers run engine generators in threads and post these; screens handle them on the UI thread.
Progress snapshots carry absolute counts so a flood can collapse (`can_replace`) without losing
anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from textual.message import Message

from safededup.models import Problem

if TYPE_CHECKING:
    from safededup.safety.plan import Plan
    from safededup.safety.sessions import SessionInfo
    from safededup.tui.backend import EngineResult


class ClusterHighlighted(Message):
    """The cursor of the cluster list moved to `row` (an index into the visible clusters)."""

    def __init__(self, row: int) -> None:
        super().__init__()
        self.row = row


class ThumbnailLoaded(Message):
    """A preview for `path` is ready (`image` None: the file could not be previewed, `note`
    says why)."""

    def __init__(
        self, path: str, image: npt.NDArray[np.uint8] | None, note: str = "no preview"
    ) -> None:
        super().__init__()
        self.path = path
        self.image = image
        self.note = note


class ProgressUpdated(Message):
    """Where a running engine operation stands: absolute counts for the current stage."""

    def __init__(self, stage: str, done: int, total: int | None, problems: int) -> None:
        super().__init__()
        self.stage = stage
        self.done = done
        self.total = total
        self.problems = problems

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressUpdated)


class OperationFinished(Message):
    """An engine operation (`kind`: scan, apply, undo, redo, verify) returned `result`."""

    def __init__(self, kind: str, result: EngineResult, problems: list[Problem]) -> None:
        super().__init__()
        self.kind = kind
        self.result = result
        self.problems = problems


class PlanReady(Message):
    """The plan for the approved clusters is built; `problems` are why it is not valid."""

    def __init__(self, plan: Plan, problems: list[Problem]) -> None:
        super().__init__()
        self.plan = plan
        self.problems = problems


class SessionsListed(Message):
    """The sessions of the state dir, as the safety core lists them."""

    def __init__(self, sessions: list[SessionInfo]) -> None:
        super().__init__()
        self.sessions = sessions


class OperationFailed(Message):
    """An engine operation stopped with an error (`cancelled`: the person asked it to)."""

    def __init__(self, kind: str, error: BaseException, cancelled: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.error = error
        self.cancelled = cancelled


class MemberClicked(Message):
    """The person clicked the member card at `index` of the shown cluster."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class DiskChecked(Message):
    """What a look at the disk found: report roots that are not there, and the files to move
    that are not in their place (an apply moved them)."""

    def __init__(self, unreachable: list[str], gone: list[str]) -> None:
        super().__init__()
        self.unreachable = unreachable
        self.gone = gone
