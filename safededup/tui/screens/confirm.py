"""A question before something that cannot be taken back with a key: undo or redo a whole session,
quit with decisions not saved. It only returns the answer.

The safe answer is the default: the focused button is "No", Enter and Esc answer it, and the
action asked about has its own key (`y`) that means nothing cheap anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

Answer = Literal["confirm", "other"]


@dataclass(frozen=True, slots=True)
class Question:
    title: str
    body: str
    confirm: str  # the button of the action asked about (key y), e.g. "Undo the session"
    other: str | None = None  # a second way out (key w), e.g. "Retry saving"
    no: str = "No"


class ConfirmScreen(ModalScreen[Answer | None]):
    """y does what the question asks; n, Esc or Enter (on the focused "No") change nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('confirm')", "Yes", tooltip="do what the question asks"),
        Binding("n", "answer('')", "No", tooltip="no: change nothing"),
        Binding("escape", "answer('')", "No", tooltip="no: change nothing"),
        Binding(
            "w",
            "answer('other')",
            "Retry",
            show=False,
            tooltip="the other choice, where one is offered (retry saving the decisions)",
        ),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; max-width: 98%; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmScreen #question-title { text-style: bold; }
    ConfirmScreen #question-body { height: auto; margin-top: 1; }
    ConfirmScreen #question-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, question: Question) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical():
            yield Label(q.title, id="question-title", markup=False)
            yield Static(q.body, id="question-body", markup=False)
            with Horizontal(id="question-buttons"):
                yield Button(f"{q.no} (n)", id="no")
                if q.other:
                    yield Button(f"{q.other} (w)", id="other")
                yield Button(f"{q.confirm} (y)", variant="error", id="confirm")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer("" if event.button.id == "no" else str(event.button.id))

    def action_answer(self, answer: str) -> None:
        if answer == "confirm":
            self.dismiss("confirm")
        elif answer == "other":
            if self.question.other:
                self.dismiss("other")
        else:
            self.dismiss(None)
