"""Opening a SQLite file in WAL mode when another process may be opening it at the same moment.

Switching a file's journal mode to WAL needs an exclusive lock, and two processes switching at
once can deadlock inside SQLite, which then answers "database is locked" at once, without
waiting (the busy timeout does not apply). The mode is persistent, so it is read first and the
switch, when still needed, is retried until `timeout`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(path: Path, timeout: float) -> sqlite3.Connection:
    """An autocommit connection to `path` with the file in WAL mode."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        deadline = time.monotonic() + timeout
        # an in-memory database has no WAL ("memory" is all it can be): nothing to switch
        while db.execute("PRAGMA journal_mode").fetchone()[0].lower() not in ("wal", "memory"):
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    except BaseException:
        db.close()
        raise
    return db
