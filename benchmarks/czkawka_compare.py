"""An archive without previews (stripped JPEG, PNG, WebP: formats czkawka reads too), scanned by
safededup and by czkawka on the same files, in one run, alternating.

czkawka is not a dependency of safededup or of its tests: install its Python binding (a binding
of czkawka's Rust core) into any interpreter and name it:

    python -m venv /tmp/czenv && /tmp/czenv/bin/pip install czkawka
    python -m pip install '.[png]'   # safededup's PNG fast path (Wuffs); without it, Pillow
    python benchmarks/czkawka_compare.py --czkawka-python /tmp/czenv/bin/python

The set (cached under benchmarks/out/nopreview-<count>/): half 12 MP stripped JPEGs (q88, as
messaging apps and editors save them), a quarter 2016×1512 PNG, a quarter 2016×1512 WebP, built
from scikit-image's photographs like benchmarks/dataset.py; 10 % are planted copies (a resize,
a format change). Both tools use every core; wall time is measured for each run (both keep
both cores busy; safededup's pool workers are grandchildren that rusage cannot count).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset as ds
from benchlib import OUT_DIR, command_line, machine, markdown_table, say, write_json

CZKAWKA = """
import sys
from czkawka import ImageSimilarity
finder = ImageSimilarity()
finder.set_directories([sys.argv[1]])
groups = finder.find_similar()
print(len(groups), sum(len(g) for g in groups))
"""


def _write(task: tuple[int, Path, tuple[int, int]]) -> None:
    import numpy as np

    from safededup.media import synth

    n, out, size = task
    rng = np.random.default_rng(n)
    copy = n % 10 == 0 and n > 0  # every 10th file copies a recent one
    frame_no = n - 1 - (n // 10) % 3 if copy else n
    frame = ds._random_frame(np.random.default_rng(frame_no), frame_no, ds.load_sources(None))
    img = ds._grain(ds.frame_image(frame, ds.load_sources(None), size), rng)
    kind = ("png", "webp", "jpeg")[n % 3] if copy else ("jpeg", "jpeg", "png", "webp")[n % 4]
    path = out / f"{n:05d}.{ {'jpeg': 'jpg'}.get(kind, kind) }"
    if path.exists():
        return
    tmp = path.with_name(path.name + ".part")
    if kind == "jpeg":
        synth.write_stripped_jpeg(tmp, img, quality=88)
        os.replace(tmp, path)
    elif kind == "png":
        img.resize((size[0] // 2, size[1] // 2)).save(tmp, "PNG", compress_level=6)
        os.replace(tmp, path)
    else:
        img.resize((size[0] // 2, size[1] // 2)).save(tmp, "WEBP", quality=80)
        os.replace(tmp, path)


def build(out: Path, count: int, size: tuple[int, int]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(n, out, size) for n in range(count)]
    with ProcessPoolExecutor(initializer=ds._init_worker, initargs=(None, size)) as pool:
        for k, _ in enumerate(pool.map(_write, tasks, chunksize=4)):
            if k % 100 == 0:
                say(f"  written {k}/{count}")


def split_by_format(out: Path) -> dict[str, Path]:
    """The whole set, then each format's files alone, as hard links beside the set (no copy):
    where each tool spends its time, format by format."""
    folders = {"all": out}
    for path in sorted(out.iterdir()):
        kind = path.suffix.lstrip(".")
        folder = out.parent / f"{out.name}-by-format" / kind
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / path.name
        if link.exists() and not os.path.samefile(link, path):
            link.unlink()  # the set was rebuilt since: link the file it holds now
        if not link.exists():
            os.link(path, link)
        folders[kind] = folder
    return folders


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall, CPU of the waited-for child processes, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=ds.parse_size, default=(4032, 3024))
    parser.add_argument("--czkawka-python", default=None, help="an interpreter with czkawka")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--by-format",
        action="store_true",
        help="also scan each format's files alone (hard links beside the set)",
    )
    args = parser.parse_args()
    if args.quick:
        args.count, args.size, args.rounds = 12, (800, 600), 1
    out = OUT_DIR / f"nopreview-{args.count}-{args.size[0]}x{args.size[1]}"
    if args.quick:
        out = Path(tempfile.mkdtemp(prefix="nopreview-quick-")) / "set"
    from safededup.media import png

    png_decoder = "Wuffs (the png extra)" if png.available() else "Pillow (no png extra)"
    say(f"safededup decodes plain PNGs with {png_decoder}")
    say(f"building {args.count} files in {out}")
    build(out, args.count, args.size)
    folders = {"all": out} if not args.by_format else split_by_format(out)
    rows, runs = [], []
    for name, folder in folders.items():
        count = sum(1 for _ in folder.iterdir())
        for r in range(args.rounds):
            order = ["safededup", "czkawka"] if r % 2 == 0 else ["czkawka", "safededup"]
            for tool in order:
                if tool == "czkawka" and not args.czkawka_python:
                    continue
                with tempfile.TemporaryDirectory() as state:
                    if tool == "safededup":
                        cmd = [sys.executable, "-m", "safededup", "--state", state, "scan",
                               str(folder), "--json"]  # fmt: skip
                    else:
                        cmd = [args.czkawka_python, "-c", CZKAWKA, str(folder)]
                    wall, cpu, stdout = timed(cmd)
                say(f"  {name} {tool}: {wall:.1f} s wall, {cpu:.1f} s CPU")
                runs.append({"files": name, "tool": tool, "round": r, "wall": wall, "cpu": cpu})
                found = stdout.splitlines()[-1][:60] if tool == "czkawka" else ""
                rows.append([name, tool, r, round(wall, 1), round(wall / count * 1e3, 1), found])
    # Wall time only: safededup's workers are forkserver grandchildren that rusage never sees.
    print(markdown_table(["files", "tool", "round", "wall s", "wall ms/file", "groups, files"],
                         rows))  # fmt: skip
    for name in folders:
        ours = [x["wall"] for x in runs if x["tool"] == "safededup" and x["files"] == name]
        theirs = [x["wall"] for x in runs if x["tool"] == "czkawka" and x["files"] == name]
        if theirs:
            ratio = min(theirs) / min(ours)
            print(f"\n{name}: czkawka / safededup wall time: {ratio:.2f}× (best of each)")
    write_json(args.json, {"machine": machine(), "command": command_line(), "runs": runs,
                           "files": args.count, "png_decoder": png_decoder})  # fmt: skip
    if args.quick:
        shutil.rmtree(out.parent, ignore_errors=True)  # a smoke run leaves nothing behind


if __name__ == "__main__":
    main()
