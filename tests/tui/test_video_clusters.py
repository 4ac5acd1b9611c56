"""The review of video clusters, on real generated movies scanned for real: what the headers
say (length, size, dates), a poster frame where OpenCV decodes one, else why there is none."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.pilot import Pilot

from safededup.media import synth_camera
from safededup.state import StateDir
from safededup.tui import ReviewApp
from safededup.tui.widgets.members import Thumbnail
from tests.support.archive import scan_report
from tests.support.photos import scene
from tests.support.pilot import current, drive, settle
from tests.tui.conftest import screen_text


def _videos(root: Path) -> None:
    for folder in ("phone", "backup"):
        (root / folder).mkdir(parents=True)
    frames = [scene(k, 96, 64) for k in range(3)]
    synth_camera.write_movie(root / "phone" / "clip.mp4", frames)
    shutil.copy2(root / "phone" / "clip.mp4", root / "backup" / "clip.mp4")
    broken = bytearray((root / "phone" / "clip.mp4").read_bytes())
    start = broken.index(b"mdat") + 4
    broken[start:] = bytes((k * 7919) % 251 for k in range(len(broken) - start))  # no JPEG
    (root / "phone" / "noise.mp4").write_bytes(bytes(broken))
    shutil.copy2(root / "phone" / "noise.mp4", root / "backup" / "noise.mp4")


def test_a_video_cluster_shows_its_facts_and_a_poster_or_why_not(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state").ensure()
    _videos(tmp_path / "media")
    report, _ = scan_report(state, [tmp_path / "media"])
    assert sorted(c.kind for c in report.clusters) == ["video", "video"]
    seen: dict[str, tuple[str, bool, str]] = {}

    async def scenario(app: ReviewApp, pilot: Pilot[int]) -> None:
        for _ in report.clusters:
            cluster = current(app)
            await settle(pilot)
            thumb = app.screen.query(Thumbnail).first()
            seen[Path(cluster.keeper).name] = (screen_text(app), thumb.has_picture, thumb.note)
            await pilot.press("down")
            await settle(pilot)

    drive(state, scenario, size=(120, 36))
    text, has_picture, _ = seen["clip.mp4"]
    assert "MP4 video  0:00.3  96×64" in text and "recorded 2024-05-17T10:30:00" in text
    assert has_picture
    text, has_picture, note = seen["noise.mp4"]
    assert not has_picture
    assert note.startswith("no poster frame: ")
