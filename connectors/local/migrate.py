"""Bringing a local CRM file to the typed store, once, in one transaction, losing nothing.

A file of the previous version keeps every record as JSON in one `records` table; a table of
a kind whose columns or constraints differ from what the models now ask for (a field added
to a model, a table recreated by hand) is rebuilt alike. Every record is validated again:
one that validates goes to its kind's table, any other to `records_unreadable`, kept as it
was and reported at every pull. The work runs under SQLite's write lock and is decided again
inside it, so two processes opening the file at once migrate it once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamrules.connectors.local.counts import counts_stale, recount
from kamrules.connectors.local.keyed import Keyed, write
from kamrules.connectors.local.schema import (
    TABLES,
    UNREADABLE,
    UNREADABLE_INDEX,
    records_view,
    stored_json,
)
from kamrules.connectors.transaction import transaction

LEGACY = "records"


@dataclass
class Migration:
    """What opening a file changed: records moved per kind, and how many were unreadable."""

    moved: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    rebuilt: list[str] = field(default_factory=list)


def foreign_tables(path: Path) -> list[str]:
    """The tables of `path` when it is another program's SQLite database (no `records` table or
    view, no `records_unreadable`: every kamrules CRM has one or the other); [] for a kamrules
    CRM, an empty database or no file. Read before anything is written, WAL mode included:
    migrating would turn that program's `accounts` or `tasks` table into records of ours."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    db = sqlite3.connect(path)
    try:
        names = sorted(name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite_%'"))
    finally:
        db.close()
    return [] if not names or {LEGACY, "records_unreadable"} & set(names) else names


def _tables(db: sqlite3.Connection) -> dict[str, str]:
    return {name: sql for name, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}


def _stale(tables: dict[str, str]) -> bool:
    return LEGACY in tables or "records_unreadable" not in tables or any(
        tables.get(kind) != table.ddl()[0] for kind, table in TABLES.items())


def prepare(db: sqlite3.Connection) -> Migration | None:
    """Create, migrate or rebuild what the file needs; None when it was up to date. The
    record counts (counts.py) are made afresh after any change, or when they are not as kept."""
    if not _stale(_tables(db)) and not counts_stale(db):
        return None
    with transaction(db, "BEGIN IMMEDIATE"):  # waits for another opener's migration to finish
        tables = _tables(db)
        done = _migrate(db, tables) if _stale(tables) else None
        if done is not None or counts_stale(db):
            recount(db)
    return done


def _migrate(db: sqlite3.Connection, tables: dict[str, str]) -> Migration:
    done = Migration()
    db.execute(UNREADABLE)
    db.execute(UNREADABLE_INDEX)
    before = db.execute("SELECT COUNT(*) FROM records_unreadable").fetchone()[0]
    pending: dict[str, list[Keyed]] = {}
    for kind, table in TABLES.items():
        wanted = table.ddl()
        if kind in tables and tables[kind] != wanted[0]:
            pending.setdefault(kind, []).extend(_typed_rows(db, kind))
            pending[kind].extend(_unreadable_rows(db, kind))
            db.execute(f'DROP TABLE "{kind}"')
            done.rebuilt.append(kind)
            tables.pop(kind)
        if kind not in tables:
            for statement in wanted:
                db.execute(statement)
    if LEGACY in tables:
        for kind, rid, account, data in db.execute(
                f"SELECT kind, id, account_id, data FROM {LEGACY} ORDER BY rowid").fetchall():
            pending.setdefault(kind, []).append((rid, account, data))
        db.execute(f"DROP TABLE {LEGACY}")
    # In its place (in a new file too) a view of the same shape, over the typed tables
    db.execute(f"DROP VIEW IF EXISTS {LEGACY}")
    db.execute(records_view())
    for kind, items in pending.items():
        write(db, kind, items, replace=True)
        done.moved[kind] = len(items)
    done.unreadable = db.execute("SELECT COUNT(*) FROM records_unreadable").fetchone()[0] - before
    return done


def _typed_rows(db: sqlite3.Connection, kind: str) -> list[Keyed]:
    """A table's rows as the JSON records they stand for (columns the model lacks kept, so a
    record that no longer validates is kept whole in records_unreadable)."""
    cursor = db.execute(f'SELECT * FROM "{kind}" ORDER BY rowid')
    names = [c[0] for c in cursor.description]
    known = set(TABLES[kind].names)
    lists = {c.name for c in TABLES[kind].columns if c.form == "json"}
    out: list[Keyed] = []
    for row in cursor.fetchall():
        values = dict(zip(names, row, strict=True))
        key = values.pop("key", None)
        record: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known and value is None:
                continue
            record[name] = _parsed(value) if name in lists else value
        account = record.get("id") if kind == "accounts" else record.get("account_id")
        out.append((str(key), None if account is None else str(account),
                    json.dumps(record, default=str, ensure_ascii=False)))
    return out


def _parsed(value: Any) -> Any:
    """A JSON column's text as its list (left as text if it is not JSON)."""
    if isinstance(value, str):
        try:
            return stored_json(value)
        except ValueError:
            return value
    return value


def _unreadable_rows(db: sqlite3.Connection, kind: str) -> list[Keyed]:
    """A kind's unreadable records, tried again against the model as it is now."""
    rows = db.execute("SELECT id, account_id, data FROM records_unreadable WHERE kind = ?"
                      " ORDER BY rowid", (kind,)).fetchall()
    db.execute("DELETE FROM records_unreadable WHERE kind = ?", (kind,))
    return [(rid, account, data) for rid, account, data in rows]
