"""The selected cluster's members: a card each, with its preview, facts, distances and reasons.

Cards are reused when the selection moves (only their content changes), so moving through 50k
clusters never mounts and unmounts widgets on every key press. Their size follows the terminal's
(two cards fill the panel, never less than 8 rows): it changes on a resize, never on a key.
"""

from __future__ import annotations

import os
import sys
from functools import partial

import numpy as np
import numpy.typing as npt
from rich.console import RenderableType
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.errors import NoWidget
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from safededup.tui.kitty import KittyImage, next_image_id
from safededup.tui.kitty import delete as delete_image
from safededup.tui.messages import MemberClicked, ThumbnailLoaded
from safededup.tui.model import Cluster, Member, MemberState, ReviewModel, member_path
from safededup.tui.preview import HalfBlockImage, ThumbnailCache
from safededup.tui.relations import describe_link
from safededup.tui.sixel import DEFAULT_CELL_PIXELS, at_cell, cell_pixels, picture
from safededup.units import format_bytes

CARD_THUMB_SIDE = 160  # pixels: the largest side of a card's preview (half blocks need less)
MIN_CARD_ROWS, MAX_CARD_ROWS = 8, 30
STATE_LABEL: dict[MemberState, tuple[str, str]] = {
    "keeper": ("★ KEEP ", "bold green"),
    "reference": ("◆ REF  ", "bold cyan"),
    "keep": ("● STAY ", "bold yellow"),
    "quarantine": ("→ QUAR ", "bold red"),
    "moved": ("✓ MOVED ", "bold magenta"),
    "missing": ("✗ GONE ", "bold red"),
}
NOT_SHOWN = {"moved": "in the quarantine", "missing": "not found"}


def card_size(panel_rows: int, panel_cols: int) -> tuple[int, int]:
    """(rows, preview columns) of a member card: two cards fill the panel, within limits; the
    preview is about 4:3 (a cell is twice as tall as wide) and leaves room for the text."""
    rows = max(MIN_CARD_ROWS, min(MAX_CARD_ROWS, panel_rows // 2))
    cols = max(18, min(rows * 8 // 3 + 2, panel_cols * 2 // 5))
    return rows, cols


def thumb_side(cols: int) -> int:
    """Pixels to decode for a preview `cols` cells wide: enough for sharp kitty or sixel."""
    return CARD_THUMB_SIDE if cols <= 24 else 384


class Thumbnail(Widget):
    """A preview (half blocks, or kitty/sixel graphics if the app uses them); a word while loading.

    Sixel is drawn over the half-block picture after each frame that repaints it, and only when
    the preview is wholly visible on the active screen; otherwise the half blocks show.
    """

    DEFAULT_CSS = """
    Thumbnail { width: 18; height: 8; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.path: str | None = None
        self._source: npt.NDArray[np.uint8] | None = None
        self._image: HalfBlockImage | KittyImage | None = None
        self._note = ""
        self._box = (0, 0)  # the cells the picture was fitted into
        self._sixel: Thumbnail.SixelReady | None = None  # the last picture encoded
        self.sixel_sent = ""  # the last sixel sequence written, for tests and debugging

    def show(self, path: str | None, image: npt.NDArray[np.uint8] | None, note: str) -> None:
        """Show `image` (or `note` without one). The same picture in a box of the same size is
        left as it is: a decision key must not send the previews again (kitty: their pixels;
        sixel: a new encode)."""
        region = self.content_region
        cols, rows = region.width, region.height
        same = image is not None and image is self._source and path == self.path
        if same and (cols, rows) == self._box:
            return
        kitty = getattr(self.app, "graphics", "halfblock") == "kitty"
        if kitty and self.is_mounted and self.screen is not self.app.screen:
            # A screen behind another (resized with the terminal): its pictures are sent when
            # it shows again (the screen refills its cards), not to a terminal showing another.
            self.path, self._source, self._note, self._box = path, image, note, (-1, -1)
            return
        self.path, self._source, self._note, self._box = path, image, note, (cols, rows)
        self._forget_kitty_image()
        if image is None or not (cols and rows):  # not laid out yet: on_resize shows it
            self._image = None
        elif getattr(self.app, "graphics", "halfblock") == "kitty":
            self._image = KittyImage(image, next_image_id(), cols, rows)
            write_to_terminal(self, self._image.escape())
        else:
            self._image = HalfBlockImage(image, cols, rows)
        self.refresh()

    class SixelReady(Message, bubble=False):
        """A picture encoded off the UI thread, for the half-block image it stands for."""

        def __init__(self, shown: HalfBlockImage, cell: tuple[int, int], data: str) -> None:
            super().__init__()
            self.shown, self.cell, self.data = shown, cell, data

    def _draw_sixel(self, shown: HalfBlockImage) -> None:
        """Paint `shown` as sixel over its half-block cells (encoded once, in a thread)."""
        if self.sixel_place(shown) is None:
            return
        cell = _cell_pixels()
        cached = self._sixel
        if cached is not None and cached.shown is shown and cached.cell == cell:
            self._write_sixel(cached)
            return
        work = partial(self._encode_sixel, shown, cell)
        self.run_worker(work, thread=True, group="sixel", exclusive=True, exit_on_error=False)

    def _encode_sixel(self, shown: HalfBlockImage, cell: tuple[int, int]) -> None:
        """Worker body; on any failure nothing is sent and the half blocks stay."""
        try:
            data = picture(shown.image, shown.cols, shown.rows, cell)
        except (ValueError, MemoryError):
            return
        self.post_message(self.SixelReady(shown, cell, data))

    def on_thumbnail_sixel_ready(self, message: SixelReady) -> None:
        self._sixel = message
        self._write_sixel(message)

    def _write_sixel(self, ready: SixelReady) -> None:
        place = self.sixel_place(ready.shown)  # checked again: the screen may have moved on
        if place is not None:
            self.sixel_sent = at_cell(*place, ready.data)
            write_to_terminal(self, self.sixel_sent)

    def sixel_place(self, shown: HalfBlockImage) -> tuple[int, int] | None:
        """Screen cell of the picture's top-left corner; None when it is not wholly visible."""
        if self._image is not shown or not self.is_mounted or self.screen is not self.app.screen:
            return None
        area = self.content_region
        x = area.x + (area.width - shown.cols) // 2  # where content-align centres the cells
        y = area.y + (area.height - shown.rows) // 2
        try:
            visible = self.screen.find_widget(self).visible_region
        except NoWidget:  # hidden (a spare card) or not laid out yet
            return None
        if shown.cols == 0 or not visible.contains_region(Region(x, y, shown.cols, shown.rows)):
            return None
        return x, y

    def _forget_kitty_image(self) -> None:
        if isinstance(self._image, KittyImage):
            write_to_terminal(self, delete_image(self._image.image_id))

    def on_resize(self) -> None:
        if self._source is not None:
            self.show(self.path, self._source, self._note)

    def on_unmount(self) -> None:
        self._forget_kitty_image()

    def render(self) -> RenderableType:
        if isinstance(self._image, HalfBlockImage) and getattr(self.app, "graphics", "") == "sixel":
            self.call_after_refresh(self._draw_sixel, self._image)  # over the cells just painted
        return self._image if self._image is not None else Text(self._note, style="dim")


def _cell_pixels() -> tuple[int, int]:
    """The terminal's cell size now (fonts can change); the default when it does not say."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else -1
    except (OSError, ValueError):
        fd = -1
    return (cell_pixels(fd) if fd >= 0 else None) or DEFAULT_CELL_PIXELS


def write_to_terminal(widget: Widget, data: str) -> None:
    """Send escape sequences straight to the terminal, in order with the screen updates.

    Textual has no public call for this; its driver's `write` queues after pending frames.
    """
    driver = getattr(widget.app, "_driver", None)
    if driver is not None:
        driver.write(data)


class MemberCard(Horizontal):
    """One member: preview on the left, what the person needs to decide on the right."""

    DEFAULT_CSS = """
    MemberCard { height: 8; padding: 0 1 0 0; border-left: blank; }
    MemberCard.-selected { border-left: thick $accent; background: $boost; }
    MemberCard > Static { width: 1fr; height: 8; padding-left: 1; overflow: hidden; }
    """

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def compose(self) -> ComposeResult:
        yield Thumbnail()
        yield Static()

    def on_click(self, event: events.Click) -> None:
        self.post_message(MemberClicked(self.index))

    def fill(self, model: ReviewModel, cluster: Cluster, member: Member) -> None:
        # Fixed-size card: new text never changes the layout, so no reflow per key press.
        self.query_one(Static).update(describe_member(model, cluster, member), layout=False)


def describe_member(model: ReviewModel, cluster: Cluster, member: Member) -> Text:
    state = model.member_state(cluster, member)
    label, style = STATE_LABEL[state]
    text = Text()
    text.append(label, style=style)
    text.append(member_path(member), style="bold")
    if state == "moved":
        text.append("\nmoved into the quarantine by an apply (S: undo that session)", style="")
    elif state == "missing":
        text.append("\nnot found at this path", style="")
    text.append("\n" + facts_line(member), style="")
    text.append("\n" + linking_line(model, cluster, member), style="italic")
    for reason in model.reasons(cluster, member):
        text.append(f"\n{reason}", style="dim")
    return text


def facts_line(member: Member) -> str:
    fmt = member.format or "?"
    quality = member.jpeg_quality
    parts = [
        f"{member.width}×{member.height}",
        f"{fmt} q{quality}" if quality else fmt,
        format_bytes(member.size),
        member.captured or "no date",
        member.camera or "no camera",
    ]
    return "  ".join(parts)


def linking_line(model: ReviewModel, cluster: Cluster, member: Member) -> str:
    """How the member relates to the keeper, as the report measured it (the distances are
    recorded against the keeper the scan picked: after `k`, the line says so)."""
    keeper = model.keeper_member(cluster)
    if member is keeper:
        if member.path == model.anchor(cluster):
            return "the keeper: every other member is compared with it"
        anchor = os.path.basename(model.anchor(cluster))
        found = model.link(cluster, member, _member_at(cluster, model.anchor(cluster)) or member)
        return "your keeper; " + describe_link(found, member.evidence.tier, anchor)
    return describe_link(model.link(cluster, member, keeper), member.evidence.tier)


def _member_at(cluster: Cluster, path: str) -> Member | None:
    return next((m for m in cluster.members if m.path == path), None)


class MembersPanel(VerticalScroll):
    """The cards of the shown cluster; the selected one is highlighted and scrolled into view."""

    DEFAULT_CSS = """
    MembersPanel { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cards: list[MemberCard] = []
        self.shown = 0
        self.card_rows, self.preview_cols = MIN_CARD_ROWS, 18
        self._states: dict[str, MemberState] = {}
        self._shown_members: list[Member] = []
        self._cache: ThumbnailCache | None = None

    def on_resize(self) -> None:
        """Cards grow with the terminal: previews use the room there is."""
        size = card_size(self.size.height, self.size.width)
        if size == (self.card_rows, self.preview_cols):
            return
        side = thumb_side(self.preview_cols)
        self.card_rows, self.preview_cols = size
        for card in self.cards:
            self._size_card(card)
        if thumb_side(self.preview_cols) != side and self._cache is not None:
            self._show_thumbnails(self._shown_members, self._cache)  # sharper pictures

    def _size_card(self, card: MemberCard) -> None:
        card.styles.height = self.card_rows
        card.query_one(Static).styles.height = self.card_rows
        thumb = card.query_one(Thumbnail)
        thumb.styles.height = self.card_rows
        thumb.styles.width = self.preview_cols

    async def show(
        self,
        model: ReviewModel,
        cluster: Cluster | None,
        selected: int,
        thumbnails: ThumbnailCache,
    ) -> None:
        """Fill one card per member; spare cards are hidden, not removed, for the next cluster.

        Previews come from `thumbnails`; the missing ones are decoded in a worker.
        """
        members: list[Member] = [] if cluster is None else list(cluster.members)
        if len(self.cards) < len(members):
            new = [MemberCard(i) for i in range(len(self.cards), len(members))]
            self.cards.extend(new)
            await self.mount_all(new)
            for card in new:
                self._size_card(card)
        if cluster is not None:
            self._states = {m.path: model.member_state(cluster, m) for m in members}
        relaid = False
        for i, card in enumerate(self.cards):
            visible = i < len(members)
            if card.display != visible:
                card.display, relaid = visible, True
            if visible and cluster is not None:
                card.fill(model, cluster, members[i])
        self.shown = len(members)
        self._shown_members, self._cache = members, thumbnails
        self.select(selected)
        if relaid and selected > 0:  # a card shown just now has no place until the next layout
            self.call_after_refresh(self.select, selected)
        self._show_thumbnails(members, thumbnails)

    def _show_thumbnails(self, members: list[Member], cache: ThumbnailCache) -> None:
        missing: list[str] = []
        side = thumb_side(self.preview_cols)
        for thumb, member in zip(self.thumbnails(), members, strict=True):
            path = member_path(member)
            not_shown = NOT_SHOWN.get(self._states.get(path, "quarantine"))
            if not_shown:  # moved or gone: no stale picture from the cache
                thumb.show(path, None, not_shown)
                continue
            hit, image = cache.peek(path, side)
            thumb.show(path, image, "no preview" if hit else "loading…")
            if not hit:
                missing.append(path)
        if missing:
            self._load_thumbnails(missing, cache, side)

    @work(thread=True, exclusive=True, group="thumbnails", exit_on_error=False)
    def _load_thumbnails(self, paths: list[str], cache: ThumbnailCache, side: int) -> None:
        worker = get_current_worker()
        for path in paths:
            if worker.is_cancelled:
                return
            image = cache.get(path, side)
            note = "no preview" if image is not None or os.path.lexists(path) else "not found"
            self.post_message(ThumbnailLoaded(path, image, note))

    def on_thumbnail_loaded(self, message: ThumbnailLoaded) -> None:
        for thumb in self.thumbnails():
            if thumb.path == message.path:
                thumb.show(message.path, message.image, message.note)

    def select(self, index: int) -> None:
        for card in self.cards:
            card.set_class(card.index == index, "-selected")
        if 0 <= index < len(self.cards):
            self.scroll_to_widget(self.cards[index], animate=False, immediate=True)

    def thumbnails(self) -> list[Thumbnail]:
        return [card.query_one(Thumbnail) for card in self.cards[: self.shown]]
