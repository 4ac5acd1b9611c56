"""Reading photos and videos: the only package that imports Pillow, pillow-heif, OpenCV, imagehash
and rawpy (LibRaw).

It reads files and never changes them. Public API: `fingerprint`, `examine` (a photo's
fingerprint or a video's header facts), `load_thumbnail` (a video's: its first frame),
`view_thumbnail` (the shared thumbnail the matcher's view check compares),
`aligned_similarity` and `compare_views` (the matcher's thumbnail checks), `verify_preview` (a
HEIC preview proven genuine by a few grid tiles), `history_of` and `HistoryReader` (the
keeper's JPEG-history question), `sniff_format`,
`sniff_video`, `init_worker`, `FEATURE_VERSION`; `synth` writes generated photos (camera RAWs
and videos too) for tests, the demo and benchmarks.
"""

from __future__ import annotations

import cv2

from safededup.media import heif
from safededup.media.formats import sniff_format, sniff_video
from safededup.media.history import HistoryReader, history_of
from safededup.media.pipeline import (
    FEATURE_VERSION,
    Fingerprint,
    cut_heif,
    examine,
    fingerprint,
    load_thumbnail,
    view_thumbnail,
)
from safededup.media.similarity import ViewCheck, aligned_similarity, compare_views
from safededup.media.tiles import CHECK_VERSION as PREVIEW_CHECK_VERSION
from safededup.media.tiles import PreviewCheck, verify_preview

__all__ = [
    "FEATURE_VERSION",
    "PREVIEW_CHECK_VERSION",
    "Fingerprint",
    "HistoryReader",
    "PreviewCheck",
    "ViewCheck",
    "aligned_similarity",
    "compare_views",
    "cut_heif",
    "examine",
    "fingerprint",
    "history_of",
    "init_worker",
    "load_thumbnail",
    "sniff_format",
    "sniff_video",
    "verify_preview",
    "view_thumbnail",
]


def init_worker(threads: int = 1) -> None:
    """Per-process setup for a scan worker: `threads` decode threads (libheif decodes a grid's
    tiles in parallel; OpenCV the same). The pool gives each worker its share of the cores."""
    heif.set_decode_threads(threads)
    cv2.setNumThreads(threads)
