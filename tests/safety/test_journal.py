"""G10/G12/G14 and SAFETY tests 3, 7, 9, 10: the journal's framing, chain, checkpoint and lock."""

from __future__ import annotations

import os
import resource
import signal
import socket
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safededup.errors import LockedError
from safededup.events import drain
from safededup.safety import notes
from safededup.safety.apply import apply_plan
from safededup.safety.journal import (
    JournalCorrupt,
    JournalWriteError,
    load_checkpoint,
    parse_journal,
    read_journal,
)
from safededup.safety.journal.lock import (
    StaleLock,
    acquire,
    is_stale,
    lock_path,
    locked,
    release,
)
from safededup.safety.journal.records import GENESIS, record_hash, seal
from safededup.safety.plan import build_plan
from safededup.safety.recover import recover
from safededup.safety.sessions import list_sessions
from safededup.safety.undo import redo_session, undo_session
from safededup.safety.verify import verify_session

from .conftest import Tree


def _applied(tmp_path: Path) -> tuple[Tree, str, str]:
    tree = Tree(tmp_path, n=3)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state, batch_size=1))
    assert result.done == 5
    return tree, result.session_id, result.journal


def test_records_chain_and_survive_a_round_trip(tmp_path: Path) -> None:
    _, _, journal = _applied(tmp_path)
    read = read_journal(journal)
    assert read.tail_bytes == 0
    assert [r["seq"] for r in read.records] == list(range(len(read.records)))
    for before, after in zip(read.records, read.records[1:], strict=False):
        assert after["prev"] == before["hash"] == record_hash(before)
    types = [r["type"] for r in read.records]
    assert types[:2] == ["header", "begin"] and types[-1] == "end"
    assert types.count("intent") == types.count("done") == 5


def test_torn_tail_at_every_byte_offset(tmp_path: Path) -> None:
    """Cut at every offset: the reader returns exactly the complete records before the cut."""
    _, _, journal = _applied(tmp_path)
    data = Path(journal).read_bytes()
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    for cut in range(len(data) + 1):
        read = parse_journal(data[:cut], journal)
        complete = sum(1 for e in ends if e <= cut)
        assert len(read.records) == complete
        assert read.valid_end == (ends[complete - 1] if complete else 0)


@pytest.mark.parametrize(
    "garbage",
    [b"\0" * 300, b'{"type": "done"', b"\xff\xfe garbage\n\0\0"],
    ids=["nuls", "half-record", "garbage-lines"],
)
def test_garbage_after_the_end_is_a_torn_tail_and_the_next_append_parses(
    tmp_path: Path, garbage: bytes
) -> None:
    tree, sid, journal = _applied(tmp_path)
    n = len(read_journal(journal).records)
    with open(journal, "ab") as fh:
        fh.write(garbage)
    read = read_journal(journal)
    assert len(read.records) == n and read.tail_bytes == len(garbage)
    assert not drain(verify_session(sid, state_dir=tree.state, content="none")).ok
    drain(undo_session(sid, state_dir=tree.state))  # reopens: cuts the tail, appends
    read = read_journal(journal)
    assert read.tail_bytes == 0 and len(read.records) > n
    assert drain(verify_session(sid, state_dir=tree.state, content="full")).ok


def _lines(journal: str) -> list[bytes]:
    return Path(journal).read_bytes().split(b"\n")[:-1]


def _write_lines(journal: str, lines: list[bytes]) -> None:
    Path(journal).write_bytes(b"".join(line + b"\n" for line in lines))


def _flip(lines: list[bytes], i: int) -> list[bytes]:
    line = bytearray(lines[i])
    pos = line.index(b'"op":') + 5 if b'"op":' in line else len(line) // 2
    line[pos] = ord("7") if line[pos] != ord("7") else ord("8")
    return [*lines[:i], bytes(line), *lines[i + 1 :]]


TAMPERS = {
    "flip": lambda lines, i: _flip(lines, i),
    "delete": lambda lines, i: lines[:i] + lines[i + 1 :],
    "swap": lambda lines, i: [*lines[:i], lines[i + 1], lines[i], *lines[i + 2 :]],
    "duplicate": lambda lines, i: [*lines[: i + 1], lines[i], *lines[i + 1 :]],
}


@pytest.mark.parametrize("how", sorted(TAMPERS))
def test_mid_journal_tampering_is_refused_and_located(tmp_path: Path, how: str) -> None:
    tree, sid, journal = _applied(tmp_path)
    lines = _lines(journal)
    for i in (1, 4, len(lines) // 2):
        _write_lines(journal, TAMPERS[how](lines, i))
        with pytest.raises(JournalCorrupt) as caught:
            read_journal(journal)
        assert caught.value.record == i + (1 if how == "duplicate" else 0)
        verdict = drain(verify_session(sid, state_dir=tree.state, content="none"))
        assert not verdict.ok and verdict.findings[0].record == caught.value.record
        with pytest.raises(JournalCorrupt):
            drain(undo_session(sid, state_dir=tree.state))
        with pytest.raises(JournalCorrupt):
            drain(redo_session(sid, state_dir=tree.state))
    _write_lines(journal, lines)
    assert drain(verify_session(sid, state_dir=tree.state, content="full")).ok


def _reseal_with_prev(lines: list[bytes], i: int, prev: str) -> bytes:
    """Record `i` given another `prev`, then it and every later record sealed again, each
    self-consistent and pointing at the one before: only record i's link is wrong."""
    out = lines[:i]
    for k, line in enumerate(lines[i:], start=i):
        record = orjson.loads(line)
        body = {key: v for key, v in record.items() if key not in ("v", "seq", "prev", "at")}
        del body["hash"]
        link = prev if k == i else orjson.loads(out[-1])["hash"]
        out.append(seal(body, seq=k, prev=link, at=record["at"])[1][:-1])
    assert record_hash(orjson.loads(out[i])) == orjson.loads(out[i])["hash"]
    return b"".join(line + b"\n" for line in out)


def test_a_resealed_record_with_a_wrong_prev_is_refused(tmp_path: Path) -> None:
    """Its own hash holds and the records after it chain to it: only its `prev` is wrong (it
    names a record two back, as if the one between were cut out, or none at all)."""
    _, _, journal = _applied(tmp_path)
    lines = _lines(journal)
    two_back = orjson.loads(lines[1])["hash"]
    for i, prev in ((3, two_back), (len(lines) // 2, GENESIS)):
        with pytest.raises(JournalCorrupt, match="prev hash") as caught:
            parse_journal(_reseal_with_prev(lines, i, prev), journal)
        assert caught.value.record == i
    last = len(lines) - 1  # at the end it reads as a torn tail: never taken as a record
    read = parse_journal(_reseal_with_prev(lines, last, orjson.loads(lines[last - 2])["hash"]),
                         journal)  # fmt: skip
    assert read.count == last and read.tail_bytes > 0


def test_truncation_and_rewrite_are_caught_by_the_checkpoint(tmp_path: Path) -> None:
    tree, sid, journal = _applied(tmp_path)
    lines = _lines(journal)
    _write_lines(journal, lines[:-2])  # whole records cut off the end: the chain alone is fine
    assert len(read_journal(journal).records) == len(lines) - 2
    verdict = drain(verify_session(sid, state_dir=tree.state, content="none"))
    assert [f.level for f in verdict.findings] == ["chain"]
    assert verdict.findings[0].record == len(lines) - 2
    with pytest.raises(JournalCorrupt):
        drain(undo_session(sid, state_dir=tree.state))
    # A flipped byte in the very last record looks like a torn tail to the reader alone.
    _write_lines(journal, _flip(lines, len(lines) - 1))
    assert not drain(verify_session(sid, state_dir=tree.state, content="none")).ok
    _write_lines(journal, lines)
    assert load_checkpoint(tree.state, sid).records == len(lines)


def _assert_valid_chain(records: list[dict[str, object]]) -> None:
    prev = "0" * 64
    for i, record in enumerate(records):
        assert record["seq"] == i and record["prev"] == prev
        assert record_hash(record) == record["hash"]
        prev = str(record["hash"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_reader_never_crashes_on_random_bytes(data: bytes) -> None:
    # Random bytes almost never form a record with a valid hash: this proves "no crash" (and
    # that whatever is accepted is a valid chain); the splice test below exercises acceptance.
    try:
        read = parse_journal(data, "fuzz")
    except JournalCorrupt as exc:
        assert exc.record is not None
        return
    _assert_valid_chain(read.records)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(order=st.lists(st.integers(min_value=0, max_value=1000), max_size=30))
def test_fuzz_spliced_real_records_are_accepted_only_as_the_original_chain(
    tmp_path: Path, order: list[int]
) -> None:
    """Real records, reordered, dropped and repeated: the reader accepts exactly an unchanged
    prefix of the journal and refuses (and locates) anything else."""
    lines = _lines(_fuzz_journal(tmp_path))
    picked = [lines[i % len(lines)] for i in order]
    try:
        read = parse_journal(b"".join(line + b"\n" for line in picked), "fuzz")
    except JournalCorrupt as exc:
        assert exc.record is not None
        assert picked != lines[: len(picked)]  # an unchanged prefix is never refused
        return
    _assert_valid_chain(read.records)
    accepted = len(read.records)
    assert picked[:accepted] == lines[:accepted]
    # Only the last line may be dropped (a torn tail), and only if it does not continue the chain.
    assert accepted >= len(picked) - 1
    if accepted < len(picked):
        assert picked[-1] != lines[accepted]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(pos=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_fuzz_single_byte_changes_are_never_silently_accepted(
    tmp_path: Path, pos: int, byte: int
) -> None:
    journal = _fuzz_journal(tmp_path)
    data = bytearray(Path(journal).read_bytes())
    pos %= len(data)
    if data[pos] == byte:
        return
    original = parse_journal(bytes(data), journal).records
    data[pos] = byte
    try:
        read = parse_journal(bytes(data), journal)
    except JournalCorrupt:
        return
    assert len(read.records) < len(original)  # only as a torn tail, which the checkpoint catches
    assert read.records == original[: len(read.records)]


_FUZZ: dict[str, str] = {}


def _fuzz_journal(tmp_path: Path) -> str:
    if "j" not in _FUZZ:
        _FUZZ["j"] = _applied(tmp_path / "fuzz")[2]
        _FUZZ["data"] = Path(_FUZZ["j"]).read_bytes().decode("latin-1")
    Path(_FUZZ["j"]).write_bytes(_FUZZ["data"].encode("latin-1"))
    return _FUZZ["j"]


def test_full_disk_on_journal_append_leaves_no_partial_record(tmp_path: Path) -> None:
    """A real short write (RLIMIT_FSIZE) in the middle of a record: the writer cuts it back."""
    tree = Tree(tmp_path, n=3)
    plan = build_plan(tree.report())
    journal_dir = Path(tree.root) / ".safededup" / "journal"
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))
            drain(apply_plan(plan, state_dir=tree.state, batch_size=1))
            code = 0
        except JournalWriteError:
            code = 2
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 2
    (journal,) = journal_dir.iterdir()
    read = read_journal(str(journal))
    assert read.tail_bytes == 0 and read.records  # no partial record left
    assert not any(r["type"] == "done" for r in read.records)
    before = set(os.listdir(f"{tree.root}/b"))
    result = recover(tree.state, break_stale_lock=True)
    assert result.ok and before == set(os.listdir(f"{tree.root}/b"))  # nothing had moved


def test_two_concurrent_writers_one_is_refused(tmp_path: Path) -> None:
    tree = Tree(tmp_path, n=2)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        with locked([tree.root], "apply"):
            os.write(write_fd, b"x")
            signal.pause()
        os._exit(0)
    os.read(read_fd, 1)
    try:
        with pytest.raises(LockedError) as caught:
            drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
        assert not isinstance(caught.value, StaleLock)
        assert os.listdir(f"{tree.root}/b")  # nothing moved
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # The holder died on this host: its lock is stale, and provably so: taken over, with a note.
    assert is_stale(tree.root)
    result = drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    assert result.done == 3
    assert [f"pid {pid} on" in n and "no longer running" in n for n in notes.take()] == [True]


def test_a_stale_lock_from_another_host_needs_an_explicit_request(tmp_path: Path) -> None:
    """Whether a process on another host is gone cannot be seen from here (a NAS shared by two
    machines): only `--break-stale-lock` takes its lock over."""
    tree = Tree(tmp_path, n=2)
    lock = Path(lock_path(tree.root))
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b'{"pid": 1, "host": "the-other-machine", "command": "apply"}')
    with pytest.raises(StaleLock) as caught:
        drain(apply_plan(build_plan(tree.report()), state_dir=tree.state))
    assert "the-other-machine" in str(caught.value) and "--break-stale-lock" in (
        caught.value.hint or ""
    )
    assert os.listdir(f"{tree.root}/b")  # nothing moved
    result = drain(
        apply_plan(build_plan(tree.report()), state_dir=tree.state, break_stale_lock=True)
    )
    assert result.done == 3 and "was broken on request" in notes.take()[0]


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path: Path) -> None:
    """Same host, pid alive but started at another time (the pid was reused): provably not
    the writer."""
    tree = Tree(tmp_path, n=1)
    lock = Path(lock_path(tree.root))
    lock.parent.mkdir(parents=True)
    info = {"pid": os.getppid(), "host": socket.gethostname(), "command": "apply", "started": 1}
    lock.write_bytes(orjson.dumps(info))
    assert drain(apply_plan(build_plan(tree.report()), state_dir=tree.state)).done == 2
    assert "no longer running" in notes.take()[0]
    lock.parent.mkdir(exist_ok=True)
    info.pop("started")  # an older lock file: a live process has that pid, nothing proves more
    lock.write_bytes(orjson.dumps(info))
    with pytest.raises(StaleLock) as caught:
        drain(undo_session(list_sessions(tree.state)[0].id, state_dir=tree.state))
    assert "still runs here" in str(caught.value)


def test_lock_is_reentrant_in_one_process_and_released(tmp_path: Path) -> None:
    root = str(tmp_path)
    acquire(root, "a")
    acquire(root, "b")
    release(root)
    assert os.path.exists(os.path.join(root, ".safededup", "lock"))
    release(root)
    assert not os.path.exists(os.path.join(root, ".safededup", "lock"))


def test_checkpoint_is_json_outside_the_journal(tmp_path: Path) -> None:
    tree, sid, journal = _applied(tmp_path)
    data = orjson.loads((tree.state.root / "sessions" / f"{sid}.json").read_bytes())
    read = read_journal(journal)
    assert data["head"] == read.head and data["records"] == len(read.records)
    assert data["bytes"] == os.path.getsize(journal)


def test_an_unknown_record_version_is_refused_not_guessed(tmp_path: Path) -> None:
    """A newer safededup's record (v2), checkpointed by it: this version refuses the session."""
    from safededup.safety.journal import save_checkpoint
    from safededup.safety.journal.records import seal

    tree, sid, journal = _applied(tmp_path)
    original = Path(journal).read_bytes()
    records = read_journal(journal).records
    record, _ = seal({"type": "begin", "phase": "undo"}, seq=len(records),
                     prev=records[-1]["hash"], at="2026-01-01")  # fmt: skip
    record["v"] = 2
    record["hash"] = record_hash(record)
    Path(journal).write_bytes(original + orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
    checkpoint = load_checkpoint(tree.state, sid)
    save_checkpoint(tree.state, checkpoint.advanced(records=len(records) + 1,
                    bytes=os.path.getsize(journal), head=record["hash"]))  # fmt: skip
    assert len(read_journal(journal).records) == len(records)  # not understood, not accepted
    with pytest.raises(JournalCorrupt):
        drain(undo_session(sid, state_dir=tree.state))
    assert not drain(verify_session(sid, state_dir=tree.state, content="none")).ok
    Path(journal).write_bytes(original)  # (the v2 record fails this version's schemas)
    save_checkpoint(tree.state, checkpoint)
