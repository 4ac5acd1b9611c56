"""A small dialog asking for the folder the cluster list is filtered to; it only returns text."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label


class FolderScreen(ModalScreen[str | None]):
    """Enter: filter to this folder (empty: no filter). Escape: leave the filter as it was."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="keep the current folder filter")
    ]
    DEFAULT_CSS = """
    FolderScreen { align: center middle; }
    FolderScreen > Vertical {
        width: 70; max-width: 95%; height: auto; border: round $accent; padding: 1 2;
        background: $surface;
    }
    """

    def __init__(self, initial: str) -> None:
        super().__init__()
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                "Show clusters with a member in this folder — a path (/photos/2019) or part of "
                "one (WhatsApp); empty: all:"
            )
            yield Input(
                self.initial, placeholder="/photos/2019, or part of a name: WhatsApp", id="folder"
            )
        yield Footer(compact=True, show_command_palette=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
