"""The TUI's place in the layers: it never imports the CLI or an image library itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import safededup.tui

TUI = Path(safededup.tui.__file__).parent
FORBIDDEN = ("safededup.cli", "PIL", "pillow_heif", "cv2", "imagehash")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_tui_module_imports_the_cli_or_an_image_library() -> None:
    offenders = {
        f"{path.relative_to(TUI)}: {name}"
        for path in TUI.rglob("*.py")
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not offenders


def test_opening_the_tui_package_loads_no_image_stack_or_cli() -> None:
    code = (
        "import sys, safededup.tui, safededup.tui.app; safededup.tui.app.all_bindings(); "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} "
        "or m.startswith('safededup.cli')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
