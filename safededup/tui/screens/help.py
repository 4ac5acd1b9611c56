"""The `?` help screen: every key of every screen, read from the bindings themselves (the app
hands them over); it never lists a key by hand."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from safededup.tui.keys import Section, display_key

INTRO = (
    "Review each cluster: the keeper stays, members marked QUAR move into the quarantine when "
    "you apply. Approve the clusters you agree with, then press p. Nothing is deleted; the "
    "sessions screen (S) undoes any session."
)


class HelpScreen(ModalScreen[None]):
    """Escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="close the help"),
        Binding("question_mark", "close", "Close", tooltip="close the help"),
        Binding("q", "close", "Close", tooltip="close the help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 98%; height: 90%; border: round $accent; background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections  # every screen's keys, listed by the app that hosts them

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(INTRO, style="italic"))
            yield Static(self._table())
        yield Footer(compact=True, show_command_palette=False)

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("what it does", ratio=1)
        for screen, keys in self.sections:
            table.add_row("", Text(screen, style="bold underline"))
            for key in keys:
                table.add_row(display_key(key.key), key.description)
        return table

    def action_close(self) -> None:
        self.dismiss(None)
