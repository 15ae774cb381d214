"""The local state store: run history (a cache and a record, never the only copy of a task)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

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
    report TEXT
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


class StateStore:
    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_dir / "state.sqlite", timeout=30, isolation_level=None)
        self.db.executescript(SCHEMA)

    def start_run(self, started: str, as_of: str, mode: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started, as_of, mode, outcome) VALUES (?,?,?,'running')",
            (started, as_of, mode),
        )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE runs SET finished=?, outcome=?, exit_code=?, counts=?, api_calls=?, warnings=?,"
            " report=? WHERE id=?",
            (report["finished"], report["outcome"], report["exit_code"],
             json.dumps(report["counts"]), report["api_calls"], len(report["warnings"]),
             json.dumps(report, default=str), run_id),
        )

    def fail_run(self, run_id: int, finished: str, message: str) -> None:
        """A run that stopped on an error: recorded as such, with the message."""
        self.db.execute(
            "UPDATE runs SET finished=?, outcome='error', report=? WHERE id=?",
            (finished, json.dumps({"error": message}), run_id),
        )

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, started, finished, as_of, mode, outcome, exit_code, counts, api_calls,"
            " warnings FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        columns = [c[0] for c in rows.description]
        out = []
        for row in rows:
            item = dict(zip(columns, row, strict=True))
            item["counts"] = json.loads(item["counts"] or "{}")
            out.append(item)
        return out

    def reports(self, limit: int = 100) -> list[dict[str, Any]]:
        """The stored reports of finished runs and plans, oldest first, each with its run id."""
        rows = self.db.execute(
            "SELECT id, report FROM runs WHERE outcome IN ('ok', 'partial') AND report IS NOT NULL"
            " ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [{**json.loads(report), "id": run_id} for run_id, report in reversed(rows)]

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
