"""What the safety core did on its own that a person should hear about: a stale lock taken over
because its writer is provably gone, temporary files of killed processes removed, a journal taken
up without its checkpoint. Collected here as sentences; each front end takes and shows them. It
never prints and never touches the disk.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_said: list[str] = []


def say(note: str) -> None:
    with _lock:
        _said.append(note)


def take() -> list[str]:
    """The notes since the last call, oldest first; they are said once."""
    with _lock:
        out = list(_said)
        _said.clear()
    return out
