"""Records written into the local CRM: keyed, validated once, and put in their kind's table or
in `records_unreadable` (a key is in one of them only)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from kamrules.connectors.local.schema import TABLES

# (key, account id as text, the record as JSON): a record as it is written or migrated
Keyed = tuple[str, "str | None", str]


def record_key(kind: str, record: dict[str, Any], index: int) -> str:
    """Records without their own id (plans, team, surveys) get a stable synthetic one."""
    if "id" in record and record["id"] is not None:
        return text(record["id"]) or ""
    return f"{record.get('account_id')}:{kind}:{index}"


def text(value: Any) -> str | None:
    """A key column's value as text, whatever a CRM export put there."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def keyed(kind: str, records: Iterable[dict[str, Any]], start: int = 0) -> list[Keyed]:
    """Records as written rows; `start`: the position of the first (keys of kinds without ids)."""
    return [(record_key(kind, r, i),
             text(r.get("id") if kind == "accounts" else r.get("account_id")),
             json.dumps(r, default=str, ensure_ascii=False))
            for i, r in enumerate(records, start)]


def split(kind: str, items: Iterable[Keyed]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows for the kind's table (records that validate) and for `records_unreadable`."""
    table = TABLES.get(kind)
    good: list[tuple[Any, ...]] = []
    bad: list[tuple[Any, ...]] = []
    for key, account, data in items:
        if table is not None:
            try:
                record = table.model.model_validate_json(data)
            except ValidationError:
                pass
            else:
                if not table.has_id or record.id == key:  # type: ignore[attr-defined]
                    good.append(table.row(key, record))
                    continue
        bad.append((kind, key, account, data))
    return good, bad


def write(db: sqlite3.Connection, kind: str, items: list[Keyed], replace: bool) -> None:
    """Records of one kind into their tables, inside the caller's transaction. A key is in one
    table only: replacing a record that moved between them removes it from the other."""
    good, bad = split(kind, items)
    table = TABLES.get(kind)
    if table is not None:
        has_bad = db.execute("SELECT 1 FROM records_unreadable WHERE kind = ? LIMIT 1",
                             (kind,)).fetchone() is not None
        if has_bad and good:
            if not replace and _any(db, "SELECT 1 FROM records_unreadable WHERE kind = ? AND id = ?",
                                    ((kind, r[0]) for r in good)):
                raise sqlite3.IntegrityError(f"UNIQUE constraint failed: {kind} key")
            db.executemany("DELETE FROM records_unreadable WHERE kind = ? AND id = ?",
                           [(kind, r[0]) for r in good])
        if bad:
            if not replace and _any(db, f'SELECT 1 FROM "{kind}" WHERE "key" = ?',
                                    ((r[1],) for r in bad)):
                raise sqlite3.IntegrityError(f"UNIQUE constraint failed: {kind} key")
            db.executemany(f'DELETE FROM "{kind}" WHERE "key" = ?', [(r[1],) for r in bad])
        db.executemany(table.insert_sql("INSERT OR REPLACE" if replace else "INSERT"), good)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    db.executemany(f"{verb} INTO records_unreadable (kind, id, account_id, data) VALUES (?,?,?,?)",
                   bad)


def forget(db: sqlite3.Connection, kind: str, accounts: set[str | None]) -> None:
    """A kind without ids loses these accounts' records: their keys are positions in what was
    written, so writing an export again would add its rows beside the old ones, not over them."""
    if kind in TABLES and not TABLES[kind].has_id:
        args = [(a,) for a in accounts]
        db.executemany(f'DELETE FROM "{kind}" WHERE account_id = ?', args)
        db.executemany("DELETE FROM records_unreadable WHERE kind = ? AND account_id = ?",
                       [(kind, a) for (a,) in args])


def _any(db: sqlite3.Connection, sql: str, args: Iterable[tuple[Any, ...]]) -> bool:
    return any(db.execute(sql, a).fetchone() is not None for a in args)
