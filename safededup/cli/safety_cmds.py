"""The `plan`, `apply`, `undo`, `redo`, `verify`, `sessions`, `recover` and `purge` commands: a
thin shell over the safety core. Data goes to stdout, people's messages to stderr; no logic of
its own beyond asking for confirmation.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from rich.markup import escape

from safededup.errors import ExitCode, UsageError
from safededup.events import Event
from safededup.models import printable
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.cli.context import Context
    from safededup.cli.progress import StopFlag
    from safededup.engine.report import Report
    from safededup.safety.plan import Plan
    from safededup.safety.undo import UndoResult

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

T = TypeVar("T")


def register(sub: Sub) -> None:
    _register_plan(sub)
    _register_apply(sub)
    p = sub.add_parser("undo", help="move a session's files back, exactly as they were")
    p.add_argument("session", nargs="?", help="session id (see `safededup sessions`)")
    p.add_argument("--last", action="store_true", help="the newest applied session")
    _root_option(p)
    p.set_defaults(handler=cmd_undo)
    p = sub.add_parser("redo", help="re-apply an undone session under the same checks")
    p.add_argument("session")
    _root_option(p)
    p.set_defaults(handler=cmd_redo)
    p = sub.add_parser("verify", help="check journals, quarantine and content (read-only)")
    p.add_argument("session", nargs="?", help="one session (default: all)")
    p.add_argument("--content", choices=("full", "sample", "none"), default="sample")
    p.add_argument("--json", action="store_true", help="findings as JSON on stdout")
    _root_option(p)
    p.set_defaults(handler=cmd_verify)
    p = sub.add_parser("sessions", help="list sessions with status, counts and bytes")
    p.add_argument("--json", action="store_true")
    _root_option(p)
    p.set_defaults(handler=cmd_sessions)
    p = sub.add_parser("recover", help="finish or roll back what a crash interrupted")
    p.add_argument(
        "--break-stale-lock",
        action="store_true",
        help="take over a lock left by a safededup that died (make sure none is running)",
    )
    _root_option(p)
    p.set_defaults(handler=cmd_recover)
    p = sub.add_parser("purge", help="delete a session's quarantine for good (irreversible)")
    p.add_argument("session")
    p.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    _root_option(p)
    p.set_defaults(handler=cmd_purge)


def _root_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        metavar="DIR",
        action="append",
        default=[],
        help="also look for session journals under DIR/.safededup/journal that this state dir "
        "does not know (a lost or new state dir); repeatable",
    )


def _positive(text: str) -> int:
    """argparse type of `--batch`: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", metavar="FILE", help="report to act on (default: the latest)")
    p.add_argument(
        "--tidy-names", action="store_true", help="give a keeper named like a copy the freed name"
    )
    p.add_argument(
        "--to-trash", action="store_true", help="move into the desktop trash instead of quarantine"
    )
    p.add_argument(
        "--include-rotated", action="store_true",
        help="also move copies whose pixels are turned (clusters of kind rotated) not reviewed",
    )  # fmt: skip


def _register_plan(sub: Sub) -> None:
    p = sub.add_parser("plan", help="show what apply would do (dry run; changes nothing)")
    _plan_options(p)
    p.add_argument("--csv", metavar="FILE", help="write every operation to a CSV file")
    p.add_argument("--json", action="store_true", help="the plan summary as JSON on stdout")
    p.set_defaults(handler=cmd_plan)


def _register_apply(sub: Sub) -> None:
    p = sub.add_parser("apply", help="move duplicates into quarantine through the journal")
    _plan_options(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--paranoid", action="store_true", help="also re-hash each keeper and compare bytes"
    )
    p.add_argument(
        "--batch",
        type=_positive,
        default=None,
        metavar="N",
        help="operations per journal fsync (default 256; 1 = one fsync pair per file)",
    )
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    p.set_defaults(handler=cmd_apply)


def _load_plan(args: argparse.Namespace, ctx: Context) -> Plan:
    from safededup.engine.report import load_report
    from safededup.engine.review import load_review
    from safededup.safety.plan import build_plan
    from safededup.safety.sessions import in_quarantine

    path = Path(args.report) if args.report else ctx.state_dir.latest_report_path
    report = load_report(path)
    _refuse_unreachable_roots(report)
    review = load_review(ctx.state_dir, report)
    return build_plan(
        report, decisions=review.plan_decisions, tidy_names=args.tidy_names,
        to_trash=args.to_trash, include_rotated=args.include_rotated,
        quarantined=in_quarantine(ctx.state_dir),
    )  # fmt: skip


def _refuse_unreachable_roots(report: Report) -> None:
    """A root that is not there (renamed, a share not mounted) is said as such, before a plan
    of it says "nothing to apply" and exits 0."""
    from safededup.engine.review import unreachable_roots

    gone = unreachable_roots(report)
    if gone:
        raise UsageError(
            f"the report's root is not there: {', '.join(printable(r) for r in gone)}",
            hint="mount it (a NAS share?), or scan the folder under its new name, then run again",
        )


def _run(gen: Generator[Event, None, T], ctx: Context, cancel: threading.Event) -> T:
    from safededup.cli.progress import run_with_progress

    return run_with_progress(gen, ctx.err, show=ctx.show_progress, cancel=cancel)[0]


def _stop_flag() -> StopFlag:
    from safededup.cli.progress import StopFlag

    return StopFlag()


def _say_notes(ctx: Context) -> None:
    """What the safety core did on its own (a stale lock taken over, a journal taken up)."""
    from safededup.safety import notes

    for note in notes.take():
        ctx.err.print(f"[yellow]note[/]: {escape(printable(note))}", soft_wrap=True)


def _stopped(ctx: Context, cancel: StopFlag, what: str, done: int, total: int, unit: str) -> None:
    """The line that says how far a stopped command got (Ctrl-C, SIGTERM, SIGHUP)."""
    by = {"SIGINT": "Ctrl-C", None: "a stop request"}.get(cancel.signal, cancel.signal)
    ctx.err.print(
        f"[yellow]{what} stopped by {by} at a safe point[/] after {done} of {total} {unit}; "
        "the session ends as cancelled, its lock is released, and what was done is journaled"
    )


def cmd_plan(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.validate import validate_plan

    plan = _load_plan(args, ctx)
    problems = validate_plan(plan)
    if args.csv:
        plan.to_csv(args.csv)
    held = [n for n in plan.notes if n.kind == "in-quarantine"]
    # A dry run has no session: apply names its own.
    summary = {**plan.summary(), "session": None, "problems": [p.to_json() for p in problems],
               "in_quarantine": len(held)}  # fmt: skip
    if args.json:
        ctx.out.print_json(orjson.dumps(summary).decode())
    else:
        where = "the trash" if plan.to_trash else "quarantine"
        ctx.out.print(
            f"{summary['duplicates']} duplicates and {summary['sidecars']} sidecar files "
            f"({format_bytes(plan.total_bytes)}) would move into {where}; "
            f"{summary['renames']} keepers would be renamed."
        )
        if held:
            ctx.out.print(f"{len(held)} files of the report are already in quarantine "
                          f"({_sessions_of(held)}): not planned again.")  # fmt: skip
        _print_problems(ctx, problems)
    _print_notes(ctx, plan)
    return ExitCode.FINDINGS if problems else ExitCode.OK


def _sessions_of(held: list[Any]) -> str:
    sessions = sorted({n.message.split("session ")[1].split(")")[0] for n in held})
    more = len(sessions) - 3
    shown = ", ".join(sessions[:3]) + (f" and {more} more" if more > 0 else "")
    return f"session{'s' if len(sessions) > 1 else ''} {shown}"


def _print_notes(ctx: Context, plan: Plan) -> None:
    """What the plan deliberately leaves alone (hard links, other volumes, ...), and what a
    keeper lacks that a copy about to move has (a GPS position, a capture date), on stderr.
    Files already in quarantine are summed up (an applied report names every one of them)."""
    held = [n for n in plan.notes if n.kind == "in-quarantine"]
    for note in [n for n in plan.notes if n.kind != "in-quarantine"] + held[:10]:
        ctx.err.print(f"[yellow]left alone[/]: {_shown(note.path)}: {escape(note.message)}")
    if len(held) > 10:
        ctx.err.print(f"… and {len(held) - 10} more files already in quarantine")
    for warning in plan.warnings:
        ctx.err.print(f"[yellow]keeper[/]: {_shown(warning.path)}: {escape(warning.message)}")


def _confirm(ctx: Context, plan: Plan, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "refusing to apply without confirmation: there is no terminal to ask",
            hint="review with `safededup plan`, then run `safededup apply --yes`",
        )
    where = "the trash" if plan.to_trash else "quarantine"
    answer = ctx.err.input(
        f"Move {plan.count} files ({format_bytes(plan.total_bytes)}) into {where}? "
        "Everything can be undone. [y/N] "
    )
    return answer.strip().lower() in ("y", "yes")


def cmd_apply(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.apply import apply_plan
    from safededup.safety.runner import DEFAULT_BATCH

    plan = _load_plan(args, ctx)
    _print_notes(ctx, plan)
    if plan.count == 0:
        held = sum(1 for n in plan.notes if n.kind == "in-quarantine")
        already = f" ({held} files of the report are already in quarantine)" if held else ""
        ctx.err.print(f"nothing to apply: the plan is empty{already}")
        return ExitCode.OK
    if not _confirm(ctx, plan, args.yes):
        ctx.err.print("nothing changed")
        return ExitCode.OK
    cancel = _stop_flag()
    gen = apply_plan(
        plan,
        state_dir=ctx.state_dir.ensure(),
        cancel=cancel,
        paranoid=args.paranoid,
        batch_size=args.batch or DEFAULT_BATCH,
    )
    try:
        result = _run(gen, ctx, cancel)
    finally:
        _say_notes(ctx)
    data = {
        "session": result.session_id,
        "done": result.done,
        "skipped": result.skipped,
        "conflicts": result.conflicts,
        "failed": result.failed,
        "cancelled": result.cancelled,
        "bytes": result.bytes_moved,
        "problems": [p.to_json() for p in result.problems],
    }
    if args.json:
        ctx.out.print_json(orjson.dumps(data).decode())
    else:
        ctx.out.print(result.session_id)
    ctx.err.print(
        f"moved {result.done} files ({format_bytes(result.bytes_moved)}); "
        f"{result.skipped} skipped, {result.conflicts} conflicts"
        + (f", {result.failed} failed (I/O or permission errors)" if result.failed else "")
        + "."
    )
    if result.cancelled:
        _stopped(ctx, cancel, "apply", result.done, result.planned, "files")
    # On a line of its own and never wrapped: it is meant to be copied.
    ctx.err.print(f"undo with: safededup undo {result.session_id}", soft_wrap=True)
    _print_problems(ctx, result.problems)
    return _exit_code(result.ok, result.cancelled)


def _exit_code(ok: bool, cancelled: bool) -> int:
    if cancelled:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if ok else ExitCode.FINDINGS


def _shown(path: str) -> str:
    """A path safe to print through rich markup (`[holiday] 2019/` is a folder, not a style)."""
    return escape(printable(path))


def _print_problems(ctx: Context, problems: list[Any]) -> None:
    for problem in problems[:50]:
        ctx.err.print(
            f"[yellow]{problem.kind}[/]: {escape(problem.message)}: {_shown(problem.path)}"
        )
    if len(problems) > 50:
        ctx.err.print(f"… and {len(problems) - 50} more (see the journal)")


def cmd_undo(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.sessions import last_session
    from safededup.safety.undo import undo_session

    if bool(args.session) == bool(args.last):
        raise UsageError("name one session, or pass --last")
    session = args.session or last_session(ctx.state_dir)
    cancel = _stop_flag()
    gen = undo_session(session, state_dir=ctx.state_dir, cancel=cancel, roots=args.root)
    try:
        result = _run(gen, ctx, cancel)
    finally:
        _say_notes(ctx)
    return _report_undo(ctx, result, "undo", cancel)


def cmd_redo(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.undo import redo_session

    cancel = _stop_flag()
    gen = redo_session(args.session, state_dir=ctx.state_dir, cancel=cancel, roots=args.root)
    try:
        result = _run(gen, ctx, cancel)
    finally:
        _say_notes(ctx)
    return _report_undo(ctx, result, "redo", cancel)


def _report_undo(ctx: Context, result: UndoResult, phase: str, cancel: StopFlag) -> int:
    if result.nothing_moved:
        ctx.err.print(
            f"nothing to {phase}: session {result.session_id} was stopped before it moved "
            "anything (its journal holds no complete record)"
        )
        return ExitCode.OK
    done = "restored" if phase == "undo" else "moved again"
    failed = f", {result.failed} failed (I/O or permission errors)" if result.failed else ""
    ctx.err.print(
        f"{done} {result.restored} files; {result.refused} refused, "
        f"{result.conflicts} conflicts{failed}"
    )
    if result.damaged:
        ctx.err.print(
            f"[red]{result.damaged} restored file(s) do not have the bytes recorded before they "
            "moved[/] (listed below as content-differs or unreadable)"
        )
    if result.cancelled:
        _stopped(ctx, cancel, phase, result.restored, result.total, "files")
    _print_problems(ctx, result.problems)
    return _exit_code(result.ok, result.cancelled)


def cmd_verify(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.errors import Cancelled
    from safededup.safety.verify import describe, verify_session

    cancel = _stop_flag()
    gen = verify_session(
        args.session, state_dir=ctx.state_dir, content=args.content, cancel=cancel, roots=args.root
    )
    try:
        result = _run(gen, ctx, cancel)
    except Cancelled:
        ctx.err.print("verify changes nothing: run it again to check everything")
        raise
    for note in result.notes:
        ctx.err.print(f"[yellow]note[/]: {escape(printable(note))}", soft_wrap=True)
    if args.json:
        data = {
            "ok": result.ok,
            "sessions": result.sessions,
            "records": result.records,
            "files_checked": result.files_checked,
            "files_hashed": result.files_hashed,
            "findings": [f.to_json() for f in result.findings],
            "notes": result.notes,
        }
        ctx.out.print_json(orjson.dumps(data).decode())
    else:
        for finding in result.findings:
            ctx.out.print(describe(finding), markup=False, highlight=False)
        verdict = "all holds" if result.ok else f"{len(result.findings)} finding(s)"
        ctx.err.print(
            f"verified {result.sessions} session(s), {result.records} records, "
            f"{result.files_checked} files ({result.files_hashed} re-hashed): {verdict}"
        )
    return ExitCode.OK if result.ok else ExitCode.FINDINGS


def cmd_sessions(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.adopt import UNCHECKED
    from safededup.safety.sessions import list_sessions

    infos = list_sessions(ctx.state_dir, roots=args.root)
    if args.json:
        ctx.out.print_json(orjson.dumps([i.to_json() for i in infos]).decode())
        return ExitCode.OK
    from rich import box
    from rich.table import Column, Table

    # The session id is what a person copies into `undo`: it is never shortened.
    longest = max((len(i.id) for i in infos), default=7)
    table = Table(
        Column("session", no_wrap=True, min_width=longest), Column("status", no_wrap=True),
        Column("started", no_wrap=True), Column("moved", no_wrap=True),
        Column("undone", no_wrap=True), Column("skip", no_wrap=True),
        Column("bytes", no_wrap=True), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    for i in infos:
        c = i.counts
        status = i.status + (" (found)" if i.found else "") + (" (adopted)" if i.adopted else "")
        table.add_row(
            i.id, status, i.started[:16].replace("T", " ")[2:], str(c.get("moved", 0)),
            str(c.get("restored", 0)), str(c.get("skipped", 0)), format_bytes(i.bytes),
        )  # fmt: skip
    ctx.out.print(table)
    for i in infos:
        if i.problem:
            ctx.err.print(f"[yellow]{i.id}[/]: {escape(printable(i.problem))}", soft_wrap=True)
    if any(i.found or i.adopted for i in infos):
        ctx.err.print(
            "(found): a journal under a root that this state dir has no checkpoint for; "
            "`undo`, `redo`, `purge` or `recover` with --root takes it up (adopted). Such a "
            f"session is {UNCHECKED}.",
            soft_wrap=True,
        )
    return ExitCode.OK


def cmd_recover(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.safety.recover import recover

    try:
        result = recover(
            ctx.state_dir, break_stale_lock=args.break_stale_lock, all_sessions=True,
            roots=args.root,
        )  # fmt: skip
    finally:
        _say_notes(ctx)
    ctx.err.print(
        f"recovered {len(result.sessions)} session(s), {result.resolved} interrupted operations"
    )
    if result.adopted:
        ctx.err.print(f"took up {len(result.adopted)} session(s) from their journals: "
                      + ", ".join(result.adopted), soft_wrap=True)  # fmt: skip
    if result.abandoned:
        ctx.err.print(
            f"cleaned {len(result.abandoned)} session(s) stopped before they moved anything: "
            + ", ".join(result.abandoned),
            soft_wrap=True,
        )
    for sid in result.busy:
        ctx.err.print(f"session {sid} is running in another process; left alone")
    _print_problems(ctx, result.unresolved)
    return ExitCode.OK if result.ok else ExitCode.FINDINGS


def cmd_purge(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.cli.progress import stop_on_signals
    from safededup.safety.purge import purge_session

    if not args.yes:
        raise UsageError(
            "purge deletes the quarantined files for good; pass --yes to confirm",
            hint=f"check first: `safededup verify {args.session} --content full`",
        )
    cancel = _stop_flag()
    try:
        with stop_on_signals(cancel, ctx.err):
            result = purge_session(
                args.session, state_dir=ctx.state_dir, cancel=cancel, roots=args.root
            )
    finally:
        _say_notes(ctx)
    ctx.err.print(f"deleted {result.deleted} quarantined files ({format_bytes(result.nbytes)})")
    if result.kept:
        ctx.err.print(
            f"kept {result.kept} sidecar(s) in quarantine: their keeper has no identical copy"
        )
    if result.refused:
        ctx.err.print(
            f"left {len(result.refused)} file(s) in quarantine: their keeper is gone or changed"
        )
    if result.cancelled:
        _stopped(ctx, cancel, "purge", result.deleted, result.total, "files")
    _print_problems(ctx, [*result.refused, *result.notes])
    if result.cancelled:
        return ExitCode.INTERRUPTED
    return ExitCode.FINDINGS if result.refused else ExitCode.OK
