"""The local CRM file as the previous version wrote and read it: every record as JSON in one
`records` table. Copied from connectors/local/crm.py as it was before the typed store (commit
ade1fa9), so migration tests open a file really made by that code, and compare what it read
with what the new store reads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kamrules.model import RECORD_KINDS, RecordWarning, Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    account_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    account_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    owner_id TEXT,
    due TEXT,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created TEXT,
    completed TEXT,
    resolution TEXT
);
CREATE INDEX IF NOT EXISTS task_status ON tasks(status, completed);
CREATE INDEX IF NOT EXISTS record_account ON records(kind, account_id);
CREATE TABLE IF NOT EXISTS account_fields (
    account_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (account_id, field)
);
"""
ONE_OPEN = "CREATE UNIQUE INDEX IF NOT EXISTS one_open_task ON tasks(fingerprint) WHERE status = 'open'"


def record_key(kind: str, record: dict[str, Any], index: int) -> str:
    if "id" in record and record["id"] is not None:
        return _text(record["id"]) or ""
    return f"{record.get('account_id')}:{kind}:{index}"


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def create(path: Path, by_kind: dict[str, Iterable[dict[str, Any]]]) -> None:
    """A CRM file of the previous version holding these records (its insert_all)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.execute(ONE_OPEN)
    db.execute("BEGIN")
    for kind, records in by_kind.items():
        rows = [
            (kind, record_key(kind, r, i),
             _text(r.get("id") if kind == "accounts" else r.get("account_id")),
             json.dumps(r, default=str, ensure_ascii=False))
            for i, r in enumerate(records)
        ]
        db.executemany("INSERT OR REPLACE INTO records (kind, id, account_id, data) VALUES (?,?,?,?)",
                       rows)
    db.execute("COMMIT")
    db.close()


def pull(path: Path, as_of: date) -> Snapshot:
    """What the previous version's `pull` returned for the file."""
    db = sqlite3.connect(path)
    warnings: list[RecordWarning] = []
    parts: dict[str, list[Any]] = {}
    for kind in RECORD_KINDS:
        rows = db.execute("SELECT id, data FROM records WHERE kind = ? ORDER BY id", (kind,))
        model = RECORD_KINDS[kind]
        parts[kind] = []
        for rid, data in rows:
            try:
                parts[kind].append(model.model_validate_json(data))
            except ValidationError as exc:
                warnings.append(RecordWarning(kind=kind, record_id=rid, message=_brief(exc)))
    db.close()
    return Snapshot(as_of=as_of, warnings=warnings, **parts)


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
