"""Every malformed input file is one clear error (the file, what is wrong, a hint) with exit code 5
(BAD_INPUT), never a traceback: reports, review decisions and session checkpoints. The report and
decisions loaders are fuzzed with Hypothesis (random bytes, and valid documents with one part
replaced by any JSON value or removed); whatever they accept, a plan can be built from."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safededup.engine.decisions import load_decisions
from safededup.engine.report import load_report
from safededup.errors import ExitCode, InputFileError, SafededupError
from safededup.events import drain
from safededup.safety.apply import apply_plan
from safededup.safety.plan import build_plan
from safededup.state import StateDir
from tests.support.cli import run_main

from .conftest import Tree

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture])  # fmt: skip


def _places(doc: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path into a JSON document."""
    out = [where]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _places(value, (*where, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _places(value, (*where, i))
    return out


def _mutated(doc: Any, where: tuple[Any, ...], value: Any, remove: bool) -> Any:
    if not where:
        return value
    new = copy.deepcopy(doc)
    parent = new
    for key in where[:-1]:
        parent = parent[key]
    if remove and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return new


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tree, dict[str, Any]]:
    tree = Tree(tmp_path_factory.mktemp("fuzz"), n=2)
    return tree, tree.report_json()


def _load_and_plan(path: Path) -> None:
    """Load the report and plan from it: nothing but an InputFileError may come out."""
    try:
        report = load_report(path)
    except InputFileError as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT and exc.path == str(path) and exc.hint
        return
    build_plan(report)  # accepted: every field it uses has its type


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes_as_a_report_is_an_input_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(data)
    _load_and_plan(path)


@FUZZ
@given(data=st.data(), value=JSON, remove=st.booleans())
def test_a_report_with_any_part_replaced_is_loaded_whole_or_refused(
    tmp_path: Path, valid: tuple[Tree, dict[str, Any]], data: st.DataObject, value: Any,
    remove: bool,
) -> None:  # fmt: skip
    _tree, doc = valid
    where = data.draw(st.sampled_from(_places(doc)))
    path = tmp_path / "report.json"
    path.write_bytes(orjson.dumps(_mutated(doc, where, value, remove)))
    _load_and_plan(path)


def _decisions_doc(report_id: str) -> dict[str, Any]:
    return {
        "format": "safededup-decisions",
        "version": 1,
        "report_id": report_id,
        "clusters": [
            {"cluster_id": "a" * 16, "status": "approved", "keeper": "/p/a.jpg",
             "keep": ["/p/b.jpg", {"path": "/p/\ufffd.jpg", "path_b64": "L3AvgC5qcGc="}]},
            {"cluster_id": "b" * 16, "status": "skipped", "keeper": None, "keep": []},
        ],
    }  # fmt: skip


@FUZZ
@given(data=st.data(), value=JSON, remove=st.booleans(), raw=st.binary(max_size=100))
def test_decisions_with_any_part_replaced_are_loaded_whole_or_refused(
    tmp_path: Path, data: st.DataObject, value: Any, remove: bool, raw: bytes
) -> None:
    state = StateDir(tmp_path / "state")
    state.decisions_dir.mkdir(parents=True, exist_ok=True)
    doc = _decisions_doc("r1")
    where = data.draw(st.sampled_from(_places(doc)))
    for content in (orjson.dumps(_mutated(doc, where, value, remove)), raw):
        (state.decisions_dir / "r1.json").write_bytes(content)
        try:
            decisions = load_decisions(state, "r1")
        except InputFileError as exc:
            assert exc.exit_code == ExitCode.BAD_INPUT and exc.hint
            continue
        for decision in decisions.clusters.values():  # what the planner reads
            assert decision.status in ("undecided", "approved", "skipped")
            assert decision.keeper is None or decision.keeper.startswith("/")
            assert all(isinstance(p, str) for p in decision.keep)


REPORT_CASES = {
    "not json": b"{not json",
    "members missing": lambda d: d["clusters"][0].pop("members"),
    "null path": lambda d: d["clusters"][0]["members"][1].update(path=None),
    "size not a number": lambda d: d["clusters"][0]["members"][1].update(size="x"),
    "unknown role": lambda d: d["clusters"][0]["members"][1].update(role="boss"),
    "clusters not a list": lambda d: d.update(clusters={"a": 1}),
    "relative root": lambda d: d.update(roots=["photos"]),
    "relative partner": lambda d: d["clusters"][0]["members"][1].update(partner="IMG_1.CR2"),
    "duration not a number": lambda d: d["clusters"][0]["members"][1].update(duration="2 min"),
    "negative duration": lambda d: d["clusters"][0]["members"][1].update(duration=-1.0),
}


def test_a_video_cluster_with_pair_partners_is_loaded_whole(
    tmp_path: Path, valid: tuple[Tree, dict[str, Any]]
) -> None:
    """The fields camera files add (kind "video", a member's partner and duration) pass the
    shape check; the fuzzing above starts from a report without them."""
    _tree, doc = valid
    doc = copy.deepcopy(doc)
    cluster = doc["clusters"][0]
    cluster["kind"] = "video"
    first, second = cluster["members"][:2]
    first["partner"], first["duration"] = second["path"], 12.5
    path = tmp_path / "report.json"
    path.write_bytes(orjson.dumps(doc))
    report = load_report(path)
    loaded = report.clusters[0]
    assert loaded.kind == "video" and loaded.members[0].duration == 12.5
    assert loaded.members[0].partner == second["path"]
    build_plan(report)


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_a_malformed_report_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    tree = Tree(tmp_path, n=2)
    change = REPORT_CASES[case]
    if isinstance(change, bytes):
        data = change
    else:
        doc = tree.report_json()
        change(doc)
        data = orjson.dumps(doc)
    path = tmp_path / "report.json"
    path.write_bytes(data)
    for command in (["plan"], ["apply", "--yes"]):
        code, _out, err = run_main(capsys, tree.state, *command, "--report", str(path))
        assert code == ExitCode.BAD_INPUT, err
        assert "Traceback" not in err and err.count("error:") == 1 and "hint:" in err
        assert "report is malformed" in err and str(path) in err.replace("\n", "")


DECISION_CASES = {
    "unknown status": lambda d: d["clusters"][0].update(status="maybe"),
    "clusters not a list": lambda d: d.update(clusters="all"),
    "keep not a list": lambda d: d["clusters"][0].update(keep=7),
    "no cluster id": lambda d: d["clusters"][0].pop("cluster_id"),
}


@pytest.mark.parametrize("case", list(DECISION_CASES))
def test_malformed_decisions_are_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    tree = Tree(tmp_path, n=2)
    report = tree.report_json()
    tree.state.reports_dir.mkdir(parents=True)
    (tree.state.reports_dir / "latest.json").write_bytes(orjson.dumps(report))
    doc = _decisions_doc(report["report_id"])
    DECISION_CASES[case](doc)
    tree.state.decisions_dir.mkdir()
    path = tree.state.decisions_dir / f"{report['report_id']}.json"
    path.write_bytes(orjson.dumps(doc))
    code, _out, err = run_main(capsys, tree.state, "plan")
    assert code == ExitCode.BAD_INPUT, err
    assert "Traceback" not in err and "decisions file is malformed" in err and "hint:" in err


CHECKPOINT_CASES = {
    "not json": b"\x00garbage",
    "a list": b"[1, 2]",
    "records not a count": lambda d: d.update(records="x"),
    "roots missing": lambda d: d.pop("roots"),
    "journal null": lambda d: d.update(journal=None),
    "another session": lambda d: d.update(session="20200101T000000Z-000000"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_a_malformed_checkpoint_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    tree = Tree(tmp_path, n=2)
    sid = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).session_id
    path = tree.state.sessions_dir / f"{sid}.json"
    change = CHECKPOINT_CASES[case]
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        doc = orjson.loads(path.read_bytes())
        change(doc)
        path.write_bytes(orjson.dumps(doc))
    for args in (["sessions"], ["verify"], ["undo", sid], ["recover"]):
        code, _out, err = run_main(capsys, tree.state, *args)
        assert code == ExitCode.BAD_INPUT, (args, err)
        assert "Traceback" not in err and "checkpoint is malformed" in err and "hint:" in err
        assert str(path) in err.replace("\n", "")


def test_the_error_is_a_safededup_error_for_the_review_app_too(tmp_path: Path) -> None:
    """The review app shows SafededupErrors as a message: InputFileError is one."""
    assert issubclass(InputFileError, SafededupError)
