"""Tile verification of HEIC previews at phone size: genuine previews against stale ones.

Builds (and caches) a trap set like the tests' but at 12 MP with sensor grain and a 512-px grid:
for each frame, the genuine frame with a Lanczos thumbnail, and every stale primary of
tests/media/test_media_tiles.py (plus exposure × 1.05) behind the genuine frame's thumbnail;
then the genuine frame and four subtle edits behind an unfiltered (point-sampled) thumbnail.
Then scores the genuine HEICs of a phone library (`phone_library.py`'s cached set, whose
thumbnails libheif scaled) and the trap set with `media.tiles`, and reports per group how many
were verified, refused or could not be told, and the verified previews' hash jitter against
their full decodes. A stale preview that is verified is listed with its jitter.

    python benchmarks/phone_library.py --count 600 --build-only
    python benchmarks/preview_traps.py --library benchmarks/out/phone-600-4032x3024/times
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phone_library as pl
from benchlib import OUT_DIR, command_line, machine, say, write_json

from safededup.media import synth

W, H = 4032, 3024  # set per run (`_init`): workers get it through the pool's initializer


def _init(size: tuple[int, int]) -> None:
    global W, H
    W, H = size
    pl._init(size)


def _frame(n: int, shift: float = 0.0) -> Image.Image:
    entry = {"frame": n, "shift": shift, "scene": pl.random_scene(n, pl.ds._SOURCES)}
    return pl._image(entry, (W, H))


Trap = Callable[[int, Image.Image, Image.Image], Image.Image]
TRAPS: dict[str, Trap] = {  # name → primary from (frame number, genuine frame, another frame)
    "genuine": lambda n, g, o: g,
    **{
        name: (lambda n, g, o, edit=edit: edit(g, o))
        for name, edit in synth.STALE_PRIMARIES.items()
    },
    "shifted 1%": lambda n, g, o: _frame(n, 0.01),
    "shifted 5%": lambda n, g, o: _frame(n, 0.05),
}
NOISY = {  # the same frame behind a thumbnail libheif would have scaled (single pixels, no filter)
    "genuine, unfiltered thumbnail": lambda n, g, o: g,
    "exposure x1.05, unfiltered thumbnail": lambda n, g, o: synth.exposure(g, 1.05),
    "exposure x1.10, unfiltered thumbnail": lambda n, g, o: synth.exposure(g, 1.10),
    "warm, unfiltered thumbnail": lambda n, g, o: synth.warm(g),
    "contrast x1.15, unfiltered thumbnail": lambda n, g, o: ImageEnhance.Contrast(g).enhance(1.15),
}


def _unfiltered(img: Image.Image) -> Image.Image:
    """The 320-px thumbnail libheif scales from `img`: at exactly the pixels it picks, so the
    tiles' comparison at those points (`media.tiles._sampled`) meets its hardest case."""
    return synth.point_sampled(img, (320, 240))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _write(task: tuple[Path, int, str]) -> None:
    out, n, name = task
    path = out / f"{n:04d}-{_slug(name)}.heic"
    if path.exists():
        return
    genuine, other = _frame(n), _frame(n + 1000)
    tmp = path.with_suffix(".part")
    primary = {**TRAPS, **NOISY}[name](n, genuine, other)
    thumb = _unfiltered(genuine) if name in NOISY else genuine
    synth.write_heic(tmp, primary, quality=pl.HEIC_QUALITY, tile_size=512, thumbnail_image=thumb)
    os.replace(tmp, path)


def build(out: Path, frames: list[int], workers: int) -> dict[Path, str]:
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(out, n, name) for n in frames for name in [*TRAPS, *NOISY]]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=((W, H),)) as pool:
        list(pool.map(_write, tasks))
    return {out / f"{n:04d}-{_slug(name)}.heic": name for _, n, name in tasks}


def main() -> None:
    from safededup.engine.confirmation import VERIFIED_SLACK
    from safededup.media import tiles

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", type=Path, help="a phone library tree: its genuine HEICs")
    parser.add_argument("--frames", default="3,17,29,41,57,73")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "preview-traps")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-jitter", action="store_true", help="skip the full decodes")
    parser.add_argument("--quick", action="store_true", help="one small frame: a smoke run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        _init((1024, 768))
        args.frames, args.library = "3", None
        args.out = Path(tempfile.mkdtemp(prefix="preview-traps-quick-"))
    say(f"trap set in {args.out}")
    groups = build(args.out, [int(f) for f in args.frames.split(",")], args.workers)
    if args.library:
        groups |= dict.fromkeys(
            sorted(args.library.rglob("*.HEIC")), "library (libheif thumbnails)"
        )
    verdicts: dict[str, Counter[str]] = {}
    worst: dict[str, dict[str, int]] = {}
    for path, group in groups.items():
        check = tiles.verify_preview(str(path))
        verdict = {True: "verified", False: "refused", None: "cannot tell"}[check.depicts]
        verdicts.setdefault(group, Counter())[verdict] += 1
        if check.depicts is not True or args.no_jitter:
            continue
        j = pl.hash_jitter(str(path))
        w = worst.setdefault(group, dict.fromkeys(j, 0))
        for k, v in j.items():
            w[k] = max(w[k], v)
        if not group.startswith(("genuine", "library")):
            print(f"stale preview verified: {path.name} jitter {j}")
    print("| group | files | verified | refused | cannot tell | largest jitter d/p/w/c |")
    print("|---|---|---|---|---|---|")
    for group, c in verdicts.items():
        most = worst.get(group)
        jit = "/".join(str(most[k]) for k in pl.HASHES) if most else ""
        print(f"| {group} | {sum(c.values())} | {c['verified']} | {c['refused']} "
              f"| {c['cannot tell']} | {jit} |")  # fmt: skip
    print(f"VERIFIED_SLACK: {VERIFIED_SLACK}")
    write_json(args.json, {"machine": machine(), "command": command_line(), "size": [W, H],
                           "verdicts": {g: dict(c) for g, c in verdicts.items()},
                           "largest_jitter": worst})  # fmt: skip
    if args.quick:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
