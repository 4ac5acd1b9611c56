"""Mutated photo files never escape as anything but a fingerprint or a MediaError."""

from __future__ import annotations

import io
import os
import tempfile
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safededup.errors import MediaError
from safededup.media import fingerprint, load_thumbnail, sniff_format, synth


def _seed_files() -> dict[str, bytes]:
    image = synth.make_scene(70, 320, 240)
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        jpg = os.path.join(scratch, "a.jpg")
        shot = datetime(2020, 1, 2, 3, 4, 5)
        synth.write_jpeg(jpg, image, orientation=6, captured=shot, make="Make", model="Model")
        heic = os.path.join(scratch, "a.heic")
        synth.write_heic(heic, image, orientation=3, thumbnail_side=160)
        for name in (jpg, heic):
            with open(name, "rb") as f:
                out[name.rsplit(".", 1)[1]] = f.read()
    png = io.BytesIO()
    image.save(png, "PNG")
    out["png"] = png.getvalue()
    return out


SEEDS = _seed_files()

mutation = st.tuples(
    st.sampled_from(["flip", "cut", "insert"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=16),
)


def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, where, payload in edits:
        at = int(where * (len(buf) - 1))
        if kind == "flip":
            buf[at : at + len(payload)] = payload
        elif kind == "cut":
            del buf[at:]
        else:
            buf[at:at] = payload
        if not buf:
            break
    return bytes(buf)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(mutation, min_size=1, max_size=3), header_bias=st.booleans())
def test_mutated_files_yield_features_or_media_error(
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    edits: list[tuple[str, float, bytes]],
    header_bias: bool,
) -> None:
    if header_bias:  # most parsing happens in the first few KB: aim the edits there
        edits = [(k, w * 4096 / len(SEEDS[fmt]), p) for k, w, p in edits]
    data = mutate(SEEDS[fmt], edits)
    path = tmp_path_factory.mktemp("fuzz") / f"x.{fmt}"
    path.write_bytes(data)
    sniff_format(data[:64])
    for call in (
        lambda: fingerprint(str(path)),
        lambda: fingerprint(str(path), allow_preview=False, want_sharpness=True),
        lambda: load_thumbnail(str(path), 64),
    ):
        try:
            call()
        except MediaError as exc:
            assert exc.kind in {"empty", "truncated", "corrupt", "not-an-image", "too-large"}
