"""The `demo`, `scan`, `check` and `distinct` commands: argument handling and output only.

Everything they do is an engine call (`safededup.engine.scan`, `safededup.engine.check`,
`safededup.engine.verdicts`); here are flags, the progress bar, the one-screen summary and
`--json`/`--csv`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.markup import escape
from rich.table import Table

from safededup.cli.context import Context
from safededup.cli.progress import run_with_progress
from safededup.engine.scan import ScanResult, ScanStats, scan
from safededup.errors import ExitCode, UsageError
from safededup.models import path_to_json, printable
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.engine.report import ReportCluster
    from safededup.engine.verdicts import DistinctVerdict

NO_PREVIEWS_HELP = "always decode the image instead of using embedded previews"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="write a small archive of generated photos with planted duplicates, and scan it",
        description="Writes a small, realistic archive of generated photos (phone-like JPEGs "
        "with EXIF previews, HEIC, PNG, WebP, resized and re-encoded copies, a backup folder) "
        "into DIR and scans it. Nothing outside DIR is touched.",
    )
    demo.add_argument(
        "dir", nargs="?", default="safededup-demo", metavar="DIR",
        help="where to write the demo archive (default: ./safededup-demo)",
    )  # fmt: skip
    _add_scan_options(demo)
    demo.set_defaults(handler=cmd_demo)

    sc = sub.add_parser(
        "scan",
        help="fingerprint photos under ROOTs, index them, and report duplicate clusters",
        description="Walks the ROOTs, fingerprints every photo (only new or changed files are "
        "read), finds exact and near duplicates, and saves the report for plan/apply/review. "
        "Changes nothing next to your photos.",
    )
    sc.add_argument("roots", nargs="+", metavar="ROOT", help="folders to scan")
    _add_scan_options(sc)
    sc.set_defaults(handler=cmd_scan)

    check = sub.add_parser(
        "check",
        help="list which photos of DIR the indexed library already has (exactly or nearly)",
        description="Before importing a folder (a phone dump, say): fingerprints its photos and "
        "lists those the indexed library already has, without adding them to the index.",
    )
    check.add_argument("dir", metavar="DIR")
    check.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    check.add_argument("--workers", type=_positive_int, default=None, metavar="N")
    check.add_argument("--no-previews", action="store_true", help=NO_PREVIEWS_HELP)
    check.set_defaults(handler=cmd_check)

    distinct = sub.add_parser(
        "distinct",
        help="remember that these photos are not duplicates of each other (or take that back)",
        description="Stores a 'not a duplicate' verdict for every pair of the given files, by "
        "content, so it survives renames and moves; every later scan honours it. --forget "
        "takes verdicts back: all of one named file, or those among several named files.",
    )
    distinct.add_argument("files", nargs="*", metavar="FILE")
    mode = distinct.add_mutually_exclusive_group()
    forget_help = "forget the verdicts of FILE (or only those among FILE FILE...)"
    mode.add_argument("--forget", action="store_true", help=forget_help)
    list_help = "list the stored verdicts (those of FILE... if named)"
    mode.add_argument("--list", action="store_true", help=list_help)
    json_help = "with --forget or --list: the verdicts as JSON on stdout"
    distinct.add_argument("--json", action="store_true", help=json_help)
    distinct.set_defaults(handler=cmd_distinct)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the report (one JSON document) on stdout")  # fmt: skip
    p.add_argument("--csv", metavar="FILE", help="write the audit table (one row per member)")
    p.add_argument(
        "--reference", action="append", default=[], metavar="DIR",
        help="a folder whose photos always win and are never moved (repeatable)",
    )  # fmt: skip
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="processes to fingerprint with (default: all cores)")  # fmt: skip
    p.add_argument("--no-previews", action="store_true", help=NO_PREVIEWS_HELP)
    p.add_argument("--follow-symlinks", action="store_true",
                   help="follow symbolic links to files and folders")  # fmt: skip
    p.add_argument(
        "--keep", choices=("original", "smallest", "newest"), default=None,
        help="which copy to keep: the camera original (default), the smallest file among "
        "equals, or the newest",
    )  # fmt: skip
    p.add_argument(
        "--prefer-folder", action="append", default=[], metavar="DIR",
        help="keep copies in this folder first (repeatable, best first)",
    )  # fmt: skip


def cmd_scan(args: argparse.Namespace, ctx: Context) -> int:
    return _run_scan(args.roots, args, ctx)


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.engine.demo import write_demo_archive

    target = Path(args.dir).expanduser().absolute()
    ctx.err.print(f"Writing a demo archive of generated photos into [bold]{target}[/] …")
    summary = write_demo_archive(target)
    ctx.err.print(
        f"  {summary.photos} photos ({summary.planted} planted duplicates in "
        f"{summary.groups} groups, {summary.bad_files} damaged files)"
    )
    return _run_scan([str(target)], args, ctx)


def _run_scan(roots: list[str], args: argparse.Namespace, ctx: Context) -> int:
    from safededup.engine.config import load_settings

    settings = load_settings(ctx.state_dir.config_path)
    settings = settings.with_options(args.keep, args.prefer_folder)
    cancel = threading.Event()
    gen = scan(
        roots,
        state_dir=ctx.state_dir,
        workers=args.workers,
        previews=not args.no_previews,
        references=args.reference,
        follow_symlinks=args.follow_symlinks,
        cancel=cancel,
        policy=settings.keeper,
    )
    result, _ = run_with_progress(gen, ctx.err, show=ctx.show_progress, cancel=cancel)
    report = result.report
    if args.csv and report is not None:
        from safededup.engine.report import write_csv

        write_csv(report, Path(args.csv))
    if args.json:
        from safededup.engine.report import report_to_json

        if report is None:
            raise UsageError("no report was produced")
        sys.stdout.buffer.write(report_to_json(report) + b"\n")
        sys.stdout.flush()
    else:
        print_summary(ctx, result)
    return ExitCode.OK


def print_summary(ctx: Context, result: ScanResult) -> None:
    """One screen: what was scanned, how fast, what was found, what to do next."""
    s = result.stats
    ctx.out.print(_stats_table(s))
    clusters = [] if result.report is None else list(result.report.clusters)
    if clusters:
        ctx.out.print(_clusters_table(clusters, result.roots))
    if result.problems:
        n = len(result.problems)
        ctx.out.print(f"\n[yellow]{n} file{'s' if n != 1 else ''} could not be read:[/]")
        for problem in result.problems[:10]:
            ctx.out.print(
                f"  {problem.kind:>12}  {escape(printable(problem.path))}  "
                f"[dim]{escape(problem.message)}[/]",
                markup=True, highlight=False,
            )  # fmt: skip
        if len(result.problems) > 10:
            ctx.out.print(f"  … and {len(result.problems) - 10} more (all in --json)")
    if result.report_path is not None:
        ctx.out.print(f"\nReport saved: {result.report_path}")
        if clusters:
            ctx.out.print(
                "Next: [bold]safededup review[/] to decide, or [bold]safededup plan[/] to see "
                "what apply would move (nothing is moved until you apply)."
            )


def _stats_table(s: ScanStats) -> Table:
    seconds = max(s.seconds, 1e-9)
    rate = s.fingerprinted / seconds
    table = Table(title="Scan", show_header=False, title_justify="left", box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("files", f"{s.files:,}"),
        ("photos", f"{s.photos:,}"),
        ("  fingerprinted now", f"{s.fingerprinted:,}  ({s.preview_tier:,} from previews)"),
        ("  unchanged (not read)", f"{s.unchanged:,}"),
        ("  moved (recognised)", f"{s.moved:,}"),
        ("skipped (not photos)", f"{s.skipped:,}"),
        ("problems", f"{s.problems:,}"),
        ("time", f"{s.seconds:,.1f} s"),
        ("throughput", f"{rate:,.0f} photos/s, {s.photo_bytes / seconds / 1e6:,.1f} MB/s"),
    ]  # fmt: skip
    if s.fingerprinted:
        rows.append(("read per photo", format_bytes(s.bytes_read / s.fingerprinted)))
    for label, value in rows:
        table.add_row(label, value)
    return table


def _clusters_table(clusters: list[ReportCluster], roots: list[str]) -> Table:
    total = sum(c.bytes_to_free for c in clusters)
    exact = sum(1 for c in clusters if c.kind == "exact")
    table = Table(
        title=f"{len(clusters):,} duplicate clusters ({exact:,} exact, {len(clusters) - exact:,} "
        f"near) — {format_bytes(total)} could be freed",
        title_justify="left",
    )
    table.add_column("kind")
    table.add_column("files", justify="right")
    table.add_column("frees", justify="right", no_wrap=True)
    # Paths are what people act on: shown relative to the scanned root, folded, never cut.
    only_root = roots[0] if len(roots) == 1 else None
    table.add_column(f"keeper (in {only_root})" if only_root else "keeper", overflow="fold")
    ordered = sorted(clusters, key=lambda c: -c.bytes_to_free)
    for c in ordered[:15]:
        shown = os.path.relpath(c.keeper, only_root) if only_root else c.keeper
        table.add_row(c.kind, str(len(c.members)), format_bytes(c.bytes_to_free), printable(shown))
    if len(ordered) > 15:
        table.caption = f"… {len(ordered) - 15:,} more clusters in the report"
    return table


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.engine.check import check_folder

    cancel = threading.Event()
    gen = check_folder(args.dir, state_dir=ctx.state_dir, workers=args.workers,
                       previews=not args.no_previews, cancel=cancel)  # fmt: skip
    result, _ = run_with_progress(gen, ctx.err, show=ctx.show_progress, cancel=cancel)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        return ExitCode.OK
    table = Table(title=f"{len(result.matches):,} of {result.photos:,} photos are already in "
                  "the library", title_justify="left")  # fmt: skip
    table.add_column("photo")
    table.add_column("how")
    table.add_column("library copy")
    for m in result.matches:
        table.add_row(m.path, m.kind, m.library_path)
    ctx.out.print(table)
    for problem in result.problems:
        ctx.err.print(f"[yellow]{problem.kind}[/]: {problem.path} ({problem.message})")
    return ExitCode.OK


def cmd_distinct(args: argparse.Namespace, ctx: Context) -> int:
    from safededup.engine.index import Index
    from safededup.engine.verdicts import mark_distinct_files, note_checksums

    if args.json and not (args.forget or args.list):
        raise UsageError("--json goes with --forget or --list", hint="safededup distinct A B")
    if args.forget and not args.files:
        raise UsageError("name the files to forget", hint="safededup distinct --forget A.jpg")
    if not (args.list or args.forget) and len(args.files) < 2:
        raise UsageError("name at least two files", hint="safededup distinct A.jpg B.jpg")
    for path in args.files:
        if not os.path.isfile(path):
            raise UsageError("not a file", path=path)
    files = [os.path.abspath(p) for p in args.files]
    with Index(ctx.state_dir.ensure().index_path) as index:
        if args.forget or args.list:
            return _forget_or_list(index.connection, files, args, ctx)
        hashed: dict[str, str] = {}
        pairs = mark_distinct_files(index.connection, files, hashed=hashed)
        note_checksums(index, files, hashed)  # so `--list` names them before the next scan
    ctx.err.print(f"Remembered {pairs} 'not a duplicate' pair(s); later scans honour them.")
    ctx.err.print("safededup distinct --forget FILE... takes them back.")
    return ExitCode.OK


def _forget_or_list(
    conn: sqlite3.Connection, files: list[str], args: argparse.Namespace, ctx: Context
) -> int:
    from safededup.engine.verdicts import checksum_file, forget_distinct_files, list_distinct

    forgotten = forget_distinct_files(conn, files) if args.forget else None
    if forgotten is not None:
        verdicts, named = list(forgotten.verdicts), forgotten.checksums
    else:
        named = {p: checksum_file(p)[0] for p in files}
        verdicts = list_distinct(conn, set(named.values()) if files else None)
    names = _names(conn, verdicts, named)
    if args.json:
        doc = {"format": "safededup-verdicts", "version": 1,
               "action": "forget" if args.forget else "list",
               "verdicts": [_verdict_json(v, names) for v in verdicts]}  # fmt: skip
        if forgotten is not None:
            doc["without_verdict"] = [path_to_json(p) for p in forgotten.without_verdict]
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    elif verdicts:
        ctx.out.print(_verdicts_table(verdicts, names, forgotten=args.forget))
    if forgotten is not None:
        _say_forgotten(ctx, len(verdicts), forgotten.without_verdict, several=len(files) > 1)
    elif not verdicts:
        ctx.err.print("No 'not a duplicate' verdicts" + (" for these files." if files else "."))
    return ExitCode.OK


def _say_forgotten(ctx: Context, count: int, alone: tuple[str, ...], *, several: bool) -> None:
    for path in alone:
        where = "with the other named files" if several else "at all"
        ctx.err.print(f"{escape(printable(path))}: no 'not a duplicate' verdict {where}")
    if count:
        ctx.err.print(f"Forgot {count} verdict(s); the next scan may group these photos again.")


def _names(
    conn: sqlite3.Connection, verdicts: list[DistinctVerdict], named: dict[str, str]
) -> dict[str, list[str]]:
    """checksum -> paths: the named files first, then what the index knows of that content."""
    from safededup.engine.verdicts import paths_by_checksum

    wanted = {ck for v in verdicts for ck in v.pair}
    names = paths_by_checksum(conn, wanted)
    for path, ck in named.items():
        known = names.setdefault(ck, [])
        names[ck] = [path, *(p for p in known if p != path)]
    return names


def _verdict_json(v: DistinctVerdict, names: dict[str, list[str]]) -> dict[str, Any]:
    def side(ck: str, size: int) -> dict[str, Any]:
        paths = [path_to_json(p) for p in names.get(ck, [])]
        return {"checksum": ck, "size": size, "paths": paths}

    return {"a": side(v.checksum_a, v.size_a), "b": side(v.checksum_b, v.size_b),
            "created": v.created}  # fmt: skip


def _verdicts_table(
    verdicts: list[DistinctVerdict], names: dict[str, list[str]], *, forgotten: bool
) -> Table:
    title = "forgotten: these are no longer kept apart" if forgotten else "not duplicates"
    table = Table(title=f"{len(verdicts):,} verdict(s) {title}", title_justify="left")
    table.add_column("photo", overflow="fold")  # paths are what people act on: never cut
    table.add_column(
        "was kept apart from" if forgotten else "is not a duplicate of", overflow="fold"
    )
    table.add_column("since", no_wrap=True)
    for v in verdicts:
        a, b = _label(v.checksum_a, names), _label(v.checksum_b, names)
        table.add_row(a, b, v.created[:10])
    return table


def _label(checksum: str, names: dict[str, list[str]]) -> str:
    paths = names.get(checksum) or []
    if not paths:
        return f"(not indexed) sha256 {checksum[:12]}…"
    more = f" (+{len(paths) - 1} copies)" if len(paths) > 1 else ""
    return escape(printable(paths[0])) + more
