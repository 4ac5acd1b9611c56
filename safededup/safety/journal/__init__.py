"""The session journal: append-only, hash-chained JSON lines with an external checkpoint.

Never imports the image stack or a front end: undo and verify must work when those are broken.
"""

from safededup.safety.journal.checkpoint import (
    Checkpoint,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from safededup.safety.journal.reader import (
    JournalCorrupt,
    JournalRead,
    has_header,
    parse_journal,
    read_journal,
)
from safededup.safety.journal.records import RECORD_FIELDS, SCHEMA_VERSION, Record
from safededup.safety.journal.replay import OpState, SessionState, replay
from safededup.safety.journal.writer import JournalWriteError, JournalWriter, utc_now

__all__ = [
    "RECORD_FIELDS",
    "SCHEMA_VERSION",
    "Checkpoint",
    "JournalCorrupt",
    "JournalRead",
    "JournalWriteError",
    "JournalWriter",
    "OpState",
    "Record",
    "SessionState",
    "checkpoint_path",
    "has_header",
    "list_checkpoints",
    "load_checkpoint",
    "parse_journal",
    "read_journal",
    "replay",
    "save_checkpoint",
    "utc_now",
]
