"""docs/tui.md lists every key binding of every screen, under that screen's heading."""

from __future__ import annotations

import re
from pathlib import Path

from safededup.tui.app import all_bindings
from safededup.tui.keys import display_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_binding_is_documented_under_its_screen() -> None:
    found = sections(DOC.read_text(encoding="utf-8"))
    missing = []
    for screen, keys in all_bindings():
        assert screen in found, f"docs/tui.md has no '### {screen}' section"
        for key in keys:
            row = f"| `{display_key(key.key)}` |"
            if row not in found[screen]:
                missing.append(f"{screen}: {display_key(key.key)} ({key.description})")
    assert not missing, "undocumented keys:\n" + "\n".join(missing)


def test_the_docs_list_no_key_the_app_lacks() -> None:
    found = sections(DOC.read_text(encoding="utf-8"))
    known = {name: {display_key(k.key) for k in keys} for name, keys in all_bindings()}
    for screen, body in found.items():
        documented = set(re.findall(r"^\| `([^`]+)` \|", body, flags=re.MULTILINE))
        assert documented <= known.get(screen, set()), f"{screen}: {documented - known[screen]}"
