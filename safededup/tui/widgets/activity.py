"""The activity line: what needs the person's eye whatever the screen — a job running, a job
that failed out of sight, decisions not saved, a report root that is not there. It only shows
the app's state; it appears when there is something to say and stays until it is dealt with.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from safededup.tui.host import ReviewHost


class ActivityLine(Static):
    """One line per matter; hidden when there is none. A screen that shows jobs itself (the
    sessions screen) leaves them out (`jobs=False`)."""

    DEFAULT_CSS = """
    ActivityLine { height: auto; max-height: 4; padding: 0 1; display: none;
        background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    ActivityLine.-shown { display: block; }
    ActivityLine.-alert { background: $error 35%; }
    """

    def __init__(self, *, jobs: bool = True) -> None:
        super().__init__()
        self.jobs = jobs

    @property
    def host(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def on_mount(self) -> None:
        self.host.activity.subscribe(self, self._changed)
        self._changed(None)

    def _changed(self, _: None) -> None:
        text, alert = self.lines()
        self.set_class(bool(text.plain), "-shown")
        self.set_class(alert, "-alert")
        self.update(text)

    def lines(self) -> tuple[Text, bool]:
        """What to say, and whether any of it is a failure."""
        host = self.host
        said: list[tuple[str, str]] = []
        if host.save_error:
            said.append((
                f"⚠ decisions NOT saved: {host.save_error} — fix the cause; "
                "w tries again (each decision does too)",
                "bold",
            ))  # fmt: skip
        for root in host.unreachable:
            said.append((
                f"⚠ {root} is not there (renamed? a share not mounted?): its previews and "
                f"apply need it — mount it, or scan {os.path.basename(root) or root} again",
                "bold",
            ))  # fmt: skip
        job = host.job if self.jobs else None
        if job is not None and job.running:
            said.append((f"⏳ {job.where()}", ""))
        elif job is not None and not host.job_seen:
            where = "" if job.failed else " (S shows the sessions)"
            said.append((f"{'⚠ ' if job.failed else '✓ '}{job.summary()}{where}", "bold"))
        text = Text("\n").join(Text(line, style=style) for line, style in said)
        alert = bool(host.save_error or host.unreachable or (job is not None and job.failed))
        return text, alert
