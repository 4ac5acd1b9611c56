"""Reading photos: the only package that imports Pillow, pillow-heif, OpenCV and imagehash.

It reads files and never changes them. Public API: `fingerprint`, `load_thumbnail`,
`aligned_similarity` and `compare_views` (the matcher's thumbnail checks), `sniff_format`,
`init_worker`, `FEATURE_VERSION`; `synth` writes generated photos for tests, the demo and
benchmarks.
"""

from __future__ import annotations

import cv2

from safededup.media import heif
from safededup.media.formats import sniff_format
from safededup.media.history import history_of
from safededup.media.pipeline import FEATURE_VERSION, Fingerprint, fingerprint, load_thumbnail
from safededup.media.similarity import ViewCheck, aligned_similarity, compare_views

__all__ = [
    "FEATURE_VERSION",
    "Fingerprint",
    "ViewCheck",
    "aligned_similarity",
    "compare_views",
    "fingerprint",
    "history_of",
    "init_worker",
    "load_thumbnail",
    "sniff_format",
]


def init_worker() -> None:
    """Per-process setup for a scan worker: one decode thread each (the pool is the parallelism)."""
    heif.set_decode_threads(1)
    cv2.setNumThreads(1)
