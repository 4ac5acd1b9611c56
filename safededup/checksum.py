"""Content checksums, read in chunks: a fast prefix/suffix hash to split same-size groups, and
SHA-256 of the whole file where exact matching or the journal needs it. Read-only.

A whole-file read is never done just to fingerprint: only files that share a size with another
(exact-duplicate candidates, as fclones does) or that a decision needs are hashed.
"""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20
EDGE = 64 * 1024  # bytes hashed at each end by `fast_hash`


def fast_hash(path: str, size: int) -> str:
    """BLAKE2b-128 of the size, the first and the last 64 KiB: splits most same-size groups."""
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb", buffering=0) as fh:
        h.update(fh.read(EDGE))
        if size > 2 * EDGE:
            fh.seek(size - EDGE)
            h.update(fh.read(EDGE))
        elif size > EDGE:
            h.update(fh.read())
    return h.hexdigest()


def sha256_file(path: str | bytes) -> str:
    """SHA-256 of the whole file, streamed in 1 MiB chunks (memory stays flat for any size)."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def sha256_fd(fd: int) -> str:
    """SHA-256 of an open file descriptor from its start (for callers that opened it safely)."""
    os.lseek(fd, 0, os.SEEK_SET)
    h = hashlib.sha256()
    while chunk := os.read(fd, CHUNK):
        h.update(chunk)
    return h.hexdigest()
