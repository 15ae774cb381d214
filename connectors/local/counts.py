"""How many records each account has, kept by SQLite as records are written.

A run sizes its chunks by records (`RecordStore.chunk_spans`): counting every account's records
over the indexes cost 0.19 s at 100,000 accounts, a sixth of reading them. The `record_counts`
table holds those counts instead, kept by triggers on every related kind's table, so a hand edit
counts as much as kamrules' own writes. A `REPLACE` removes the row it replaces through SQLite's
delete triggers only with `PRAGMA recursive_triggers` on: kamrules' connection turns it on; an
edit without it over-counts, which sizes chunks a little smaller and changes nothing else.
Records kept in `records_unreadable` are few and are counted when asked.
"""

from __future__ import annotations

import sqlite3

from kamrules.model import RECORD_KINDS

RELATED = tuple(k for k in RECORD_KINDS if k not in ("users", "accounts"))
RELATED_UNREADABLE = "kind NOT IN ('accounts', 'users')"
TABLE = ("CREATE TABLE record_counts (account_id TEXT NOT NULL PRIMARY KEY,"
         " n INTEGER NOT NULL) WITHOUT ROWID")
_ADD = ("INSERT INTO record_counts (account_id, n) VALUES (NEW.account_id, 1)"
        " ON CONFLICT (account_id) DO UPDATE SET n = n + 1;")
_REMOVE = ("UPDATE record_counts SET n = n - 1 WHERE account_id = OLD.account_id;"
           " DELETE FROM record_counts WHERE account_id = OLD.account_id AND n <= 0;")


def triggers() -> dict[str, str]:
    """Each trigger's name and the SQL SQLite keeps of it: on insert, delete and a record moved
    to another account, of every related kind's table."""
    out = {}
    for kind in RELATED:
        out[f"{kind}_counted_insert"] = (
            f'CREATE TRIGGER "{kind}_counted_insert" AFTER INSERT ON "{kind}" BEGIN {_ADD} END')
        out[f"{kind}_counted_delete"] = (
            f'CREATE TRIGGER "{kind}_counted_delete" AFTER DELETE ON "{kind}" BEGIN {_REMOVE} END')
        out[f"{kind}_counted_move"] = (
            f'CREATE TRIGGER "{kind}_counted_move" AFTER UPDATE OF account_id ON "{kind}"'
            f" WHEN OLD.account_id IS NOT NEW.account_id BEGIN {_REMOVE} {_ADD} END")
    return out


def counts_stale(db: sqlite3.Connection) -> bool:
    """Whether the counts table or any of its triggers is missing or not as kamrules makes it
    (an older kamrules rebuilding a table drops that table's triggers)."""
    found = dict(db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' OR name = 'record_counts'"))
    return found.get("record_counts") != TABLE or any(
        found.get(name) != sql for name, sql in triggers().items())


def recount(db: sqlite3.Connection) -> None:
    """The counts table and its triggers made afresh, counted from the tables (inside the
    caller's transaction; after every table exists)."""
    for name in triggers():
        db.execute(f'DROP TRIGGER IF EXISTS "{name}"')
    db.execute("DROP TABLE IF EXISTS record_counts")
    db.execute(TABLE)
    per_kind = " UNION ALL ".join(
        f'SELECT account_id, COUNT(*) AS n FROM "{k}" GROUP BY account_id' for k in RELATED)
    db.execute(f"INSERT INTO record_counts SELECT account_id, SUM(n) FROM ({per_kind})"
               " GROUP BY account_id")
    for sql in triggers().values():
        db.execute(sql)


def related_counts(db: sqlite3.Connection) -> tuple[list[tuple[str, int]], bool]:
    """Every account key (readable or not) in key order with its number of related records, the
    kept counts and the unreadable records together; and whether some related record's account
    is not in the CRM. One pass over the accounts' index, a lookup of each in `record_counts`:
    a dict of a million counts and a set of a million keys cost three times as much."""
    rows = db.execute('SELECT a."key", c.n FROM accounts a LEFT JOIN record_counts c'
                      ' ON c.account_id = a."key" ORDER BY a."key"').fetchall()
    unreadable = db.execute(  # accounts kept unreadable (few)
        "SELECT u.id, c.n FROM records_unreadable u LEFT JOIN record_counts c ON c.account_id"
        " = u.id WHERE u.kind = 'accounts' AND u.id NOT IN (SELECT \"key\" FROM accounts)"
        " GROUP BY u.id").fetchall()
    if unreadable:  # in their place: SQLite's order of text is Python's (UTF-8 bytes, code points)
        rows = sorted(rows + unreadable)
    found = sum(1 for _, n in rows if n is not None)
    orphaned = found != db.execute("SELECT COUNT(*) FROM record_counts").fetchone()[0]
    extra: dict[str | None, int] = dict(db.execute(
        "SELECT account_id, COUNT(*) FROM records_unreadable"
        f" WHERE {RELATED_UNREADABLE} GROUP BY account_id"))
    if len(rows) > found or extra:  # else every n is a count already
        rows = [(k, (n or 0) + extra.pop(k, 0)) for k, n in rows]
        orphaned = orphaned or bool(extra)  # unreadable records of no account in the CRM
    return rows, orphaned
