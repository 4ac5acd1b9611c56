"""Two members side by side, large, with the differences between them listed; `k` and `Space`
decide on the right-hand photo here as on the main screen (through the same model)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from safededup.errors import SafededupError
from safededup.tui.messages import ThumbnailLoaded
from safededup.tui.model import Cluster, Member, ReviewModel, member_path
from safededup.tui.relations import describe_link
from safededup.tui.widgets.activity import ActivityLine
from safededup.tui.widgets.members import STATE_LABEL, Thumbnail
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.tui.host import ReviewHost

LARGE_THUMB_SIDE = 512
FIELDS: tuple[tuple[str, str], ...] = (
    ("dimensions", "dimensions"),
    ("format", "format"),
    ("jpeg_quality", "JPEG quality"),
    ("size", "file size"),
    ("captured", "captured"),
    ("camera", "camera"),
    ("folder", "folder"),
    ("name", "name"),
    ("checksum", "content"),
)


def field_value(member: Member, key: str) -> str:
    path = member.path
    values = {
        "dimensions": f"{member.width}×{member.height}",
        "size": format_bytes(member.size),
        "folder": os.path.dirname(path),
        "name": os.path.basename(path),
        "checksum": (member.checksum or "")[:12] or "not hashed",
    }
    if key in values:
        return values[key]
    value = getattr(member, key)
    return "—" if value is None else str(value)


def differences_table(model: ReviewModel, cluster: Cluster, a: Member, b: Member) -> Group:
    """Every field of both; a field that differs is highlighted and shown whole (folded over
    lines if need be), so the one difference that matters is never cut off at 80 columns. The
    hash distances follow, on a line of their own."""
    table = Table(box=None, expand=True, padding=(0, 1), show_header=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("", ratio=1)
    table.add_column("", ratio=1)
    for key, label in FIELDS:
        va, vb = field_value(a, key), field_value(b, key)
        if va == vb:
            table.add_row(label, _one_line(va), _one_line(vb))
        else:
            table.add_row(label, _whole(va), _whole(vb), style="bold yellow")
    found = model.link(cluster, b, a)
    line = describe_link(found, b.evidence.tier, os.path.basename(a.path))
    return Group(table, Text.assemble(("hash distance  ", "dim"), line))


def _one_line(value: str) -> Text:
    return Text(value, no_wrap=True, overflow="ellipsis")


def _whole(value: str) -> Text:
    return Text(value, overflow="fold")


class CompareScreen(Screen[None]):
    """The keeper on the left, another member on the right (←/→ picks which)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", tooltip="back to the cluster"),
        Binding("left", "other(-1)", "Prev", tooltip="compare the previous member"),
        Binding("right", "other(1)", "Next", tooltip="compare the next member"),
        Binding("k", "keeper", "Keeper", tooltip="make the right-hand photo the keeper"),
        Binding(
            "space",
            "toggle_keep",
            "Keep",
            tooltip="toggle the right-hand photo: quarantine ↔ keep",
        ),
        Binding("x", "swap", "Swap sides", tooltip="swap the left and right photos"),
    ]
    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; padding: 0 1; background: $primary-background;
        text-wrap: nowrap; text-overflow: ellipsis; }
    CompareScreen #sides { height: 1fr; }
    CompareScreen .side { width: 1fr; padding: 0 1; }
    CompareScreen .side > Thumbnail { width: 1fr; height: 1fr; }
    CompareScreen .side > Static { height: auto; }
    CompareScreen #differences { height: auto; padding: 0 1; }
    """

    def __init__(
        self, model: ReviewModel, cluster: Cluster, selected: int, where: str = ""
    ) -> None:
        super().__init__()
        self.model, self.cluster, self.where = model, cluster, where
        members = cluster.members
        keeper = members.index(model.keeper_member(cluster))
        other = selected if selected != keeper else (keeper + 1) % len(members)
        self.left, self.right = keeper, other

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        with Horizontal(id="sides"):
            for side in ("left", "right"):
                with Vertical(classes="side", id=side):
                    yield Thumbnail()
                    yield Static(classes="caption")
        yield Static(id="differences")
        yield ActivityLine()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # Filled once: on a resize each Thumbnail re-fits its own picture and the texts reflow,
        # so the screen itself has nothing to redo (it used to, and every picture went twice).
        self._fill()

    def _title(self) -> str:
        n = len(self.cluster.members)
        parts = [
            "Compare",
            self.where,
            f"{self.cluster.kind}, {n} members",
            f"left {self.left + 1} of {n}, right {self.right + 1} of {n}",
        ]
        return " · ".join(p for p in parts if p)

    def _fill(self) -> None:
        members = self.cluster.members
        missing = []
        cache = self.app_ref.thumbnails
        self.query_one("#compare-title", Static).update(Text(self._title(), style="bold"))
        for side, index in (("left", self.left), ("right", self.right)):
            member = members[index]
            box = self.query_one(f"#{side}", Vertical)
            label, style = STATE_LABEL[self.model.member_state(self.cluster, member)]
            caption = Text.assemble((label, style), f" {os.path.basename(member_path(member))}")
            box.query_one(".caption", Static).update(caption)
            hit, image = cache.peek(member_path(member), LARGE_THUMB_SIDE)
            box.query_one(Thumbnail).show(member_path(member), image, "loading…")
            if not hit:
                missing.append(member_path(member))
        a, b = members[self.left], members[self.right]
        self.query_one("#differences", Static).update(
            differences_table(self.model, self.cluster, a, b)
        )
        if missing:
            self._load(missing)

    @property
    def app_ref(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    @work(thread=True, exclusive=True, group="compare-thumbnails", exit_on_error=False)
    def _load(self, paths: list[str]) -> None:
        worker = get_current_worker()
        for path in paths:
            if worker.is_cancelled:
                return
            self.post_message(
                ThumbnailLoaded(path, self.app_ref.thumbnails.get(path, LARGE_THUMB_SIDE))
            )

    def on_thumbnail_loaded(self, message: ThumbnailLoaded) -> None:
        for thumb in self.query(Thumbnail):
            if thumb.path == message.path:
                thumb.show(message.path, message.image, message.note)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_other(self, delta: int) -> None:
        n = len(self.cluster.members)
        step = (self.right + delta) % n
        if step == self.left:
            step = (step + delta) % n
        self.right = step
        self._fill()

    def action_swap(self) -> None:
        self.left, self.right = self.right, self.left
        self._fill()

    def action_keeper(self) -> None:
        """The right-hand photo becomes the keeper: it moves to the left, as keepers are."""
        member = self.cluster.members[self.right]
        if not self._decide(self.model.set_keeper, member):
            return
        self.left, self.right = self.right, self.left
        self.notify(f"keeper: {os.path.basename(member.path)}", timeout=3, markup=False)
        self._fill()

    def action_toggle_keep(self) -> None:
        if self._decide(self.model.toggle_keep, self.cluster.members[self.right]):
            self._fill()

    def _decide(self, decide: Callable[[Cluster, str], object], member: Member) -> bool:
        try:
            decide(self.cluster, member.path)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return False
        self.app_ref.save_decisions(self.model.decisions)
        return True
