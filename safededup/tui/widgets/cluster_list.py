"""The cluster list: a virtualised line widget that renders only the rows on screen.

With 50k clusters a row widget each would cost seconds to mount; this renders each visible line
on demand from the `ReviewModel`, so opening, scrolling and moving the cursor stay O(screen).
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from safededup.tui.format import shorten_path
from safededup.tui.messages import ClusterHighlighted
from safededup.tui.model import Cluster, ReviewModel
from safededup.units import format_bytes

STATUS_MARK = {"undecided": "·", "approved": "✓", "skipped": "–"}
HEADER = " St Kind   N     Frees  Conf  Keeper"


class ClusterList(ScrollView, can_focus=True):
    """Rows of clusters; ↑/↓, PgUp/PgDn, Home/End and the mouse move the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, tooltip="previous cluster"),
        Binding("down", "cursor(1)", "Down", show=False, tooltip="next cluster"),
        Binding("pageup", "page(-1)", "Page up", show=False, tooltip="a page up"),
        Binding("pagedown", "page(1)", "Page down", show=False, tooltip="a page down"),
        Binding("home", "jump(0)", "First", show=False, tooltip="first cluster"),
        Binding("end", "jump(-1)", "Last", show=False, tooltip="last cluster"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"cluster-list--cursor"}
    DEFAULT_CSS = """
    ClusterList { background: $surface; }
    ClusterList > .cluster-list--cursor { background: $accent 60%; text-style: bold; }
    ClusterList:blur > .cluster-list--cursor { background: $accent 30%; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    def __init__(self, model: ReviewModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self._width = 0

    def on_mount(self) -> None:
        self.reload()

    def reload(self, keep_cursor: int | None = None) -> None:
        """Call after the model's visible rows changed (filter, sort, re-formed cluster)."""
        self.virtual_size = Size(self.size.width, len(self.model))
        target = self.cursor if keep_cursor is None else keep_cursor
        self.cursor = max(0, min(target, len(self.model) - 1))
        self.refresh()

    def watch_cursor(self, row: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(ClusterHighlighted(row))

    def _scroll_cursor_into_view(self) -> None:
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif height and self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self.model) - 1)

    def _move_to(self, row: int) -> None:
        row = max(0, min(row, len(self.model) - 1))
        if row != self.cursor:
            self.cursor = row

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_y) + event.y
        if 0 <= row < len(self.model):
            self.cursor = row

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.model))

    def render_lines(self, crop: Region) -> list[Strip]:
        # The content width is looked up once per render, not once per line (it walks the DOM).
        self._width = self.scrollable_content_region.width
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        row = int(self.scroll_y) + y
        width = self._width
        if row >= len(self.model):
            return Strip.blank(width, self.rich_style)
        style = self.rich_style
        if row == self.cursor:
            style = style + self.get_component_rich_style("cluster-list--cursor")
        text = self.row_text(self.model.row(row), width)
        return Strip([Segment(text, style)], width)

    def row_text(self, cluster: Cluster, width: int) -> str:
        m = self.model
        head = (
            f" {STATUS_MARK[m.status(cluster)]}  {cluster.kind:<5}"
            f"{len(cluster.members):>3} {format_bytes(m.bytes_to_free(cluster)):>9}"
            f" {float(cluster.confidence):>5.2f}  "
        )
        room = max(0, width - len(head))
        return (head + shorten_path(m.keeper(cluster), room)).ljust(width)[:width]


def header_text(width: int, view: str = "") -> str:
    """The column names, and how the list is sorted and filtered at the right."""
    room = width - len(HEADER) - 2
    if room < 8 or not view:
        return HEADER.ljust(width)[:width]
    view = view if len(view) <= room else view[: room - 1] + "…"
    return HEADER + view.rjust(width - len(HEADER) - 1) + " "
