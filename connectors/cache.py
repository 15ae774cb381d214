"""Raw CRM rows kept between runs, so an incremental pull still evaluates whole accounts.

A remote connector pulls only what changed since a stream's bookmark, merges it here and maps
every cached row to canonical records. Bookmarks follow meltano's rules: staged during a run,
committed only once the run's writes succeeded (`commit`), so a failed or killed run pulls the
same window again. A stream's `shape` (its field list) is stored with it: when the mapping
changes, the cache of that stream is void and the next pull is full.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kamrules.connectors.crm_json import CrmJson
from kamrules.connectors.sqlite_wal import connect_wal
from kamrules.connectors.transaction import transaction
from kamrules.inputs.environment import database_place, failure, is_corrupt

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    stream TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (stream, id)
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    shape TEXT NOT NULL,
    bookmark TEXT,
    full_at TEXT
);
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecordCache:
    """One SQLite file per connector in the state dir; a cache, never the only copy of anything."""

    def __init__(self, path: Path):
        self.decoded = CrmJson()
        database_place(path, "record cache", "remove it (a cache: the next pull is a full one)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = self._open(path)
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise failure("record cache", path, exc) from None
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            os.replace(path, aside)  # a cache: the next pull is full, nothing is lost
            sys.stderr.write(f"warning: the record cache {path} was corrupt; moved it to"
                             f" {aside.name}; this pull is a full one\n")
            self.db = self._open(path)
        except OSError as exc:
            raise failure("record cache", path, exc) from None
        self._staged: dict[str, tuple[str, str, str | None]] = {}

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = connect_wal(path, timeout=30)
        try:
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    def since(self, stream: str, shape: str, lookback: timedelta,
              full_every: timedelta | None) -> datetime | None:
        """Where an incremental pull of `stream` starts, or None when it must be full."""
        row = self.db.execute(
            "SELECT shape, bookmark, full_at FROM streams WHERE stream = ?", (stream,)
        ).fetchone()
        if row is None or row[0] != shape or row[1] is None:
            return None
        try:
            if full_every is not None and (
                row[2] is None or utc_now() - datetime.fromisoformat(row[2]) >= full_every
            ):
                return None
            return datetime.fromisoformat(row[1]) - lookback
        except (TypeError, ValueError, OverflowError):  # a damaged bookmark, or one at year 1
            return None  # a full pull sets it afresh

    def replace(self, stream: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """A full pull: the stream's rows become exactly these."""
        with transaction(self.db, what="record cache"):
            self.db.execute("DELETE FROM rows WHERE stream = ?", (stream,))
            return self._insert(stream, rows)

    def upsert(self, stream: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """An incremental pull: changed rows replace their old versions, new ones are added."""
        with transaction(self.db, what="record cache"):
            return self._insert(stream, rows)

    def delete(self, stream: str, ids: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM rows WHERE stream = ? AND id = ?",
                            [(stream, i) for i in ids])

    def _insert(self, stream: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        batch = [(stream, rid, json.dumps(data, default=str)) for rid, data in rows]
        self.db.executemany("INSERT OR REPLACE INTO rows (stream, id, data) VALUES (?,?,?)", batch)
        return len(batch)

    def rows(self, stream: str) -> Iterator[dict[str, Any]]:
        for (data,) in self.db.execute("SELECT data FROM rows WHERE stream = ? ORDER BY id",
                                       (stream,)):
            yield self.decoded.loads(data)  # a cache kept before answers were cleaned: cleaned here

    def ids(self, stream: str) -> set[str]:
        return {i for (i,) in self.db.execute("SELECT id FROM rows WHERE stream = ?", (stream,))}

    def count(self, stream: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM rows WHERE stream = ?", (stream,)).fetchone()[0]

    def stage(self, stream: str, shape: str, bookmark: datetime, full: bool) -> None:
        """Remember where this pull got to; it becomes the bookmark on `commit`.

        `bookmark` should be the run's start (or the newest modstamp seen, if earlier): rows
        changed while the run pulled are then pulled again next time, not lost.
        """
        full_at = bookmark.isoformat() if full else None
        self._staged[stream] = (shape, bookmark.isoformat(), full_at)

    def commit(self) -> None:
        with transaction(self.db, what="record cache"):
            for stream, (shape, bookmark, full_at) in self._staged.items():
                self.db.execute(
                    "INSERT INTO streams (stream, shape, bookmark, full_at) VALUES (?,?,?,?)"
                    " ON CONFLICT(stream) DO UPDATE SET shape=excluded.shape, bookmark="
                    "excluded.bookmark, full_at=COALESCE(excluded.full_at, streams.full_at)",
                    (stream, shape, bookmark, full_at),
                )
        self._staged.clear()

    def bookmarks(self) -> dict[str, str | None]:
        return dict(self.db.execute("SELECT stream, bookmark FROM streams"))
