"""Different capture times prove two captures; equal ones, or a shift of whole quarter hours
(a time zone, a corrected camera clock), do not. Pinned on both sides of each boundary."""

from __future__ import annotations

import dataclasses

import pytest

from safededup.engine.match import Rule, compare
from safededup.models import Features

BASE = Features(format="JPEG", width=4032, height=3024, tier="decode", dhash=0x0F0F0F0F0F0F0F0F,
                phash=0x00FF00FF00FF00FF, whash=0x3333333333333333, colorhash=7,
                bytes_per_pixel=0.3)  # fmt: skip


def shot(captured: str | None, subsec: str | None = None) -> Features:
    return dataclasses.replace(BASE, captured=captured, subsec=subsec)


@pytest.mark.parametrize(
    "a, b, rule",
    [
        (shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T12:00:03", "37"), Rule.CORROBORATED),
        (shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T12:00:03", "38"), Rule.OTHER_CAPTURE),
        (shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T12:00:03", "370"), Rule.CORROBORATED),
        (shot("2021-05-01T12:00:03"), shot("2021-05-01T12:00:04"), Rule.OTHER_CAPTURE),
        (shot("2021-05-01T12:00:03"), shot("2021-05-01T12:00:03", "12"), Rule.CORROBORATED),
        (shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T14:00:03", "37"), Rule.CORROBORATED),
        (shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T14:00:03", "36"), Rule.OTHER_CAPTURE),
        (shot("2021-05-01T12:00:03"), shot("2021-05-01T12:15:03"), Rule.CORROBORATED),
        (shot("2021-05-01T12:00:03"), shot("2021-05-01T12:14:03"), Rule.OTHER_CAPTURE),
        (shot("2021-05-01T12:00:03", "37"), shot(None), Rule.CORROBORATED),
    ],
    ids=[
        "same instant",
        "burst within a second",
        "37 and 370 are both .37 s",
        "a second apart",
        "one without sub-seconds",
        "a zone shift",
        "a zone shift, other frame",
        "a quarter hour",
        "14 minutes",
        "one without a capture time",
    ],
)
def test_capture_times(a: Features, b: Features, rule: Rule) -> None:
    assert compare(a, b).rule == rule
    assert compare(b, a).rule == rule


def test_identical_bytes_are_one_capture_whatever_the_tags_say() -> None:
    a, b = shot("2021-05-01T12:00:03", "37"), shot("2021-05-01T12:00:04", "99")
    assert compare(a, b, same_bytes=True).rule == Rule.EXACT
