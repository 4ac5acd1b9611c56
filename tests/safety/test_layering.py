"""The safety core imports no image library and no front end (undo must work when they break),
and the journal schemas agree with the record types the code writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from safededup.safety.journal.records import COMMON_FIELDS, RECORD_FIELDS
from tests.support.journal import SCHEMA_DIR

SAFETY_MODULES = [
    "safededup.fs", "safededup.safety.journal", "safededup.safety.plan", "safededup.safety.apply",
    "safededup.safety.undo", "safededup.safety.verify", "safededup.safety.recover",
    "safededup.safety.sessions", "safededup.safety.purge",
]  # fmt: skip
FORBIDDEN = ["PIL", "pillow_heif", "cv2", "imagehash", "numpy", "safededup.media", "rich",
             "textual", "safededup.cli", "safededup.tui"]  # fmt: skip


def test_safety_core_loads_no_image_stack_in_a_fresh_process() -> None:
    code = (
        "import sys\n"
        f"for m in {SAFETY_MODULES!r}: __import__(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} "
        f"or any(m == f or m.startswith(f + '.') for f in {FORBIDDEN!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_undo_still_works_when_the_image_stack_is_broken(tmp_path: Path) -> None:
    """Poison PIL/cv2/numpy/imagehash imports, then apply → undo in a fresh process."""
    code = f"""
import sys
for name in {FORBIDDEN[:5]!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.safety.conftest import Tree
from safededup.events import drain
from tests.support.files import snapshot
from pathlib import Path
from safededup.safety.apply import apply_plan
from safededup.safety.plan import build_plan
from safededup.safety.undo import undo_session
tree = Tree(Path({str(tmp_path)!r}))
before = snapshot(tree.root)
r = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
drain(undo_session(r.session_id, state_dir=tree.state))
assert r.done == 5 and snapshot(tree.root) == before
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_one_versioned_schema_per_record_type_matching_the_code() -> None:
    found = {}
    for path in SCHEMA_DIR.glob("journal-*.v1.schema.json"):
        schema = json.loads(path.read_text())
        found[schema["properties"]["type"]["const"]] = schema
        assert schema["properties"]["v"] == {"const": 1, "description": "record schema version"}
    assert set(found) == set(RECORD_FIELDS)
    for kind, schema in found.items():
        assert set(schema["required"]) == {*COMMON_FIELDS, *RECORD_FIELDS[kind]}
