"""The local state store: run history (a cache and a record, never the only copy of a task)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from kamrules.inputs.environment import database_place, failure, is_corrupt
from kamrules.run.liveness import still_running, this_process

T = TypeVar("T")
KEPT_BYTES = 32_000_000  # a report's JSON kept whole to be stored, not made twice (`finish_run`)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    as_of TEXT NOT NULL,
    mode TEXT NOT NULL,
    outcome TEXT,
    exit_code INTEGER,
    counts TEXT,
    api_calls INTEGER,
    warnings INTEGER,
    report TEXT,
    pid INTEGER,
    runner TEXT
);
CREATE TABLE IF NOT EXISTS digests (
    message_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    status TEXT NOT NULL,
    recorded TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (message_id, channel)
);
"""


# columns a state file of an earlier version may lack: added when it is opened (read as
# NULL where it cannot be written)
ADDED = {"pid": "INTEGER", "runner": "TEXT"}


def _columns(db: sqlite3.Connection) -> set[str]:
    return {c[1] for c in db.execute("PRAGMA table_info(runs)")}


def _writes(method: Callable[..., T]) -> Callable[..., T]:
    """A write to the state store that fails on the machine's side is named, not a bug."""

    @functools.wraps(method)
    def wrapped(self: StateStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.OperationalError, OSError) as exc:
            raise failure("state store", self.path, exc) from None

    return wrapped


class StateStore:
    """Run history in `state.sqlite`; a corrupt file is moved aside and rebuilt (it is a cache)."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / "state.sqlite"
        self.moved_aside: Path | None = None
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise failure("state store", self.path, exc) from None
            self._move_aside()
            self.db = self._open()
        except OSError as exc:
            raise failure("state folder", state_dir, exc) from None

    def _open(self) -> sqlite3.Connection:
        database_place(self.path, "state store", "remove it or set state_dir elsewhere")
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.executescript(SCHEMA)
            db.execute("SELECT id, started, finished, as_of, mode, outcome, exit_code, counts,"
                       " api_calls, warnings, report FROM runs LIMIT 1").fetchall()
            for column in ADDED.keys() - _columns(db):  # a file of before them
                with contextlib.suppress(sqlite3.OperationalError):  # read-only: read as it is
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} {ADDED[column]}")
        except sqlite3.DatabaseError as exc:
            db.close()
            if "no such column" in str(exc):  # a foreign table named runs: corrupt for us
                raise sqlite3.DatabaseError("file is not a database (unknown runs table)") from None
            raise
        return db

    def _move_aside(self) -> None:
        aside = self.path.with_name(f"state.sqlite.corrupt-{int(time.time())}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm", "-journal"):
                extra = Path(str(self.path) + suffix)
                if extra.exists():
                    os.replace(extra, Path(str(aside) + suffix))
        except OSError as exc:
            raise failure("corrupt state store (could not move it aside)", self.path,
                          exc) from None
        self.moved_aside = aside
        sys.stderr.write(f"warning: the state store {self.path} was corrupt; moved it to"
                         f" {aside.name} and started a new one (run history before it is"
                         " there; tasks live in the CRM and are not affected)\n")

    @_writes
    def start_run(self, started: str, as_of: str, mode: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started, as_of, mode, outcome, pid, runner)"
            " VALUES (?,?,?,'running',?,?)", (started, as_of, mode, os.getpid(), this_process()),
        )
        return int(cur.lastrowid or 0)

    @_writes
    def finish_run(self, run_id: int, report: Any) -> None:
        """A run's end and its report (a `kamrules.run.sync.RunReport`), kept as the JSON pydantic
        writes for the model. A long report goes in a batch of changes at a time through an
        incremental blob (`json_pieces` twice: its length, then its bytes), never whole in
        memory: at a million accounts the text and SQLite's copy of it were 0.6 GB at once."""
        from kamrules.report.streamed import json_pieces

        columns = ("UPDATE runs SET finished=?, outcome=?, exit_code=?, counts=?, api_calls=?,"
                   " warnings=?, report=")
        values = (report.finished, report.outcome, report.exit_code, json.dumps(report.counts),
                  report.api_calls, len(report.warnings))
        pieces = json_pieces(report)
        first = next(pieces)
        rest = next(pieces, None)
        if rest is None:  # one piece: a short report, kept as text
            self.db.execute(columns + "? WHERE id=?", (*values, first.decode(), run_id))
            return
        # the pieces are kept while they are few (made twice, they were ~0.1 s of a run over
        # 100,000 accounts); past KEPT_BYTES they are counted, then made again as they are written
        kept: list[bytes] | None = [first, rest]
        size = len(first) + len(rest)
        for piece in pieces:
            size += len(piece)
            if kept is not None and size <= KEPT_BYTES:
                kept.append(piece)
            else:
                kept = None
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(columns + "zeroblob(?) WHERE id=?", (*values, size, run_id))
            with self.db.blobopen("runs", "report", run_id) as blob:
                for piece in kept if kept is not None else json_pieces(report):
                    blob.write(piece)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back itself (a full disk)
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise

    @_writes
    def fail_run(self, run_id: int, finished: str, message: str) -> None:
        """A run that stopped on an error: recorded as such, with the message."""
        self.db.execute(
            "UPDATE runs SET finished=?, outcome='error', report=? WHERE id=?",
            (finished, json.dumps({"error": message}), run_id),
        )

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first. One still `running` whose process is gone ended without
        recording its end (killed, or its end could not be written: a full disk): `interrupted`
        (it showed as running for ever); one of another machine stays `running` (liveness.py)."""
        have = _columns(self.db)
        added = ", ".join(f"{c if c in have else 'NULL'} AS {c}" for c in ADDED)
        rows = self.db.execute(
            "SELECT id, started, finished, as_of, mode, outcome, exit_code, counts, api_calls,"
            f" warnings, {added} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        columns = [c[0] for c in rows.description]
        out = []
        for row in rows:
            item = dict(zip(columns, row, strict=True))
            item["counts"] = _json(item["counts"], {})
            if item["outcome"] == "running" and not still_running(item["pid"], item["runner"]):
                item["outcome"] = "interrupted"
            for column in ADDED:
                del item[column]
            out.append(item)
        return out

    def reports(self, limit: int = 100) -> list[dict[str, Any]]:
        """The stored reports of finished runs and plans, oldest first, each with its run id."""
        rows = self.db.execute(
            "SELECT id, report FROM runs WHERE outcome IN ('ok', 'partial') AND report IS NOT NULL"
            " ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        out = []
        for run_id, report in reversed(rows):
            parsed = _json(report, None)
            if isinstance(parsed, dict) and _readable_report(parsed):
                out.append({**parsed, "id": run_id})
            else:
                sys.stderr.write(f"warning: run {run_id} in {self.path} has an unreadable"
                                 " report; left out\n")
        return out

    # --- digests (additive): what was sent, and what failed and waits for the next run ----

    def digest_sent(self, message_id: str, channel: str) -> bool:
        row = self.db.execute("SELECT status FROM digests WHERE message_id=? AND channel=?",
                              (message_id, channel)).fetchone()
        return row is not None and row[0] == "sent"

    def record_digest(self, message: Any) -> None:
        """Record a digest message as sent or failed (a failed one is retried next run)."""
        from kamrules.run.sync import now_iso

        self.db.execute(
            "INSERT OR REPLACE INTO digests (message_id, channel, owner_id, status, recorded, message)"
            " VALUES (?,?,?,?,?,?)",
            (message.message_id, message.channel, message.owner_id, message.status, now_iso(),
             message.model_dump_json()))

    def failed_digests(self) -> list[Any]:
        from kamrules.digest.build import DigestMessage

        rows = self.db.execute("SELECT message FROM digests WHERE status='failed' ORDER BY recorded")
        return [DigestMessage.model_validate_json(m).model_copy(update={"status": "planned"})
                for (m,) in rows]

    def close(self) -> None:
        self.db.close()


def _readable_report(report: dict[str, Any]) -> bool:
    """Whether a stored report has what `kamrules report` reads of it (its date, mode and
    changes) in the shape a run writes: JSON of another shape (a damaged row, another
    version's) is left out with a warning, as JSON that does not parse is."""
    try:
        date.fromisoformat(report["as_of"])
    except (KeyError, TypeError, ValueError):
        return False
    changes = report.get("changes", [])
    return isinstance(report.get("mode"), str) and isinstance(changes, list) and all(
        isinstance(c, dict) and isinstance(c.get("fingerprint"), str)
        and isinstance(c.get("action"), str)
        and (not c.get("severity") or isinstance(c.get("account_id"), str))
        for c in changes)


def _json(text: Any, default: Any) -> Any:
    """A stored JSON column, or `default` when it is empty or not JSON (a damaged row)."""
    try:
        value = json.loads(text) if text else default
    except (ValueError, TypeError):
        return default
    return value if isinstance(value, type(default)) or default is None else default
