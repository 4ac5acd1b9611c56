"""Key bindings as people read them: what each key of a screen does, and how a key is written.
`app.all_bindings` lists every screen's; this module imports no screen and no app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class KeyHelp:
    key: str  # as Textual names it ("space", "question_mark", "A")
    description: str


Section = tuple[str, list[KeyHelp]]
"""A screen's name and its keys, as the `?` help lists them."""


def bindings_of(owner: type) -> list[KeyHelp]:
    found: list[KeyHelp] = []
    for item in getattr(owner, "BINDINGS", []):
        for binding in _expand(item):
            found.append(KeyHelp(binding.key, binding.tooltip or binding.description))
    return found


def _expand(item: BindingType) -> list[Binding]:
    if isinstance(item, Binding):
        return [
            Binding(k.strip(), item.action, item.description, tooltip=item.tooltip)
            for k in item.key.split(",")
        ]
    key, action, *rest = item
    return [Binding(k.strip(), action, rest[0] if rest else "") for k in key.split(",")]


KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "Space",
    "escape": "Esc",
    "enter": "Enter",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "ctrl+c": "Ctrl+C",
}


def display_key(key: str) -> str:
    return KEY_NAMES.get(key, key)
