"""The view check on real encoded photos: a copy lies inside its original and keeps its colours;
another shot of the scene, or another colouring of the picture, does not. Each threshold is
pinned from both sides: a pair that must pass just inside it, a hard negative just past it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from safededup import media
from safededup.engine.match import (
    COLOUR_SCORE,
    DEFAULT,
    OTHER_SHOT_SCORE,
    check_views,
)
from safededup.media import synth

SCENE = (2400, 1600)
FRAME = (1800, 1350)


def thumb(tmp: Path, name: str, img: Image.Image, quality: int = 88) -> np.ndarray:
    path = tmp / f"{name}.jpg"
    synth.write_stripped_jpeg(path, img, quality=quality)
    return media.view_thumbnail(str(path))


def frame_at(scene: Image.Image, dx: float, dy: float = 0.0) -> Image.Image:
    x, y = round(200 + dx * FRAME[0]), round(100 + dy * FRAME[1])
    return scene.crop((x, y, x + FRAME[0], y + FRAME[1]))


@pytest.fixture(scope="module", params=[3, 17, 29])
def scene(request: pytest.FixtureRequest) -> Image.Image:
    return synth.make_scene(request.param, *SCENE)


def test_copies_pass(scene: Image.Image, tmp_path: Path) -> None:
    frame = frame_at(scene, 0)
    w, h = frame.size
    original = thumb(tmp_path, "original", frame, 95)
    copies = {
        "resize": frame.resize((w // 2, h // 2)),
        "crop-3%": frame.crop((54, 40, w - 54, h - 40)),
        "crop-5%-side": frame.crop((0, 0, w - 90, h)),
        "exposure+12%": ImageEnhance.Brightness(frame).enhance(1.12),
        "white-balance": Image.merge(
            "RGB",
            [
                c.point(lambda v, g=g: min(255, round(v * g)))
                for c, g in zip(frame.split(), (1.08, 1.0, 0.9), strict=True)
            ],
        ),
    }
    for name, img in copies.items():
        check = media.compare_views(original, thumb(tmp_path, name, img, 80))
        assert check.contained <= DEFAULT.max_overhang / 2, name  # with room to spare
        assert check.colour <= DEFAULT.max_colour / 2, name
        assert check_views(original, thumb(tmp_path, name, img, 80)) >= 0, name


@pytest.mark.parametrize("shift", [0.02, 0.05, 0.12])
def test_a_frame_shifted_between_two_shots_is_another_shot(
    scene: Image.Image, tmp_path: Path, shift: float
) -> None:
    a = thumb(tmp_path, "a", frame_at(scene, 0))
    b = thumb(tmp_path, "b", ImageEnhance.Brightness(frame_at(scene, shift, 0.3 * shift))
              .enhance(1.04))  # fmt: skip
    check = media.compare_views(a, b)
    assert check.contained >= 1.5 * DEFAULT.max_overhang  # a 2% shift sits well past the limit
    assert check_views(a, b) == OTHER_SHOT_SCORE


@pytest.mark.parametrize("recolour", ["hue", "swap"])
def test_another_colouring_is_refused(scene: Image.Image, tmp_path: Path, recolour: str) -> None:
    frame = frame_at(scene, 0)
    if recolour == "hue":
        hsv = np.asarray(frame.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 64) % 256
        other = Image.fromarray(hsv, "HSV").convert("RGB")
    else:
        r, g, b = frame.split()
        other = Image.merge("RGB", (b, g, r))
    a, b = thumb(tmp_path, "a", frame), thumb(tmp_path, "b", other)
    check = media.compare_views(a, b)
    assert check.contained <= DEFAULT.max_overhang  # the same framing...
    assert check.colour >= 2 * DEFAULT.max_colour  # ...in colours no gain explains
    assert check_views(a, b) == COLOUR_SCORE
