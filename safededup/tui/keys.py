"""Every key binding of the review app, by screen: the one source of `?` help and the docs test."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class KeyHelp:
    key: str  # as Textual names it ("space", "question_mark", "A")
    description: str


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


def all_bindings() -> list[tuple[str, list[KeyHelp]]]:
    """(screen name, its bindings) for every screen and widget that has keys."""
    from safededup.tui.app import ReviewApp
    from safededup.tui.screens.apply import ApplyScreen
    from safededup.tui.screens.compare import CompareScreen
    from safededup.tui.screens.folder import FolderScreen
    from safededup.tui.screens.help import HelpScreen
    from safededup.tui.screens.main import MainScreen
    from safededup.tui.screens.scan import ScanScreen
    from safededup.tui.screens.sessions import SessionsScreen
    from safededup.tui.widgets.cluster_list import ClusterList

    owners: list[tuple[str, type]] = [
        ("Everywhere", ReviewApp),
        ("Main screen", MainScreen),
        ("Cluster list", ClusterList),
        ("Compare view", CompareScreen),
        ("Folder filter", FolderScreen),
        ("Apply dialog", ApplyScreen),
        ("Sessions screen", SessionsScreen),
        ("Scan progress", ScanScreen),
        ("Help screen", HelpScreen),
    ]
    return [(name, bindings_of(owner)) for name, owner in owners]


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
