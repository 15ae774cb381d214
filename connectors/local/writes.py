"""Task changes written to the local CRM a batch at a time: one statement per run of changes
of one kind, inside the caller's transaction.

A statement that fails (a second open task for a fingerprint, refused by the unique index) is
rolled back to its savepoint and its changes written one by one, so each failing change gets
its own error and the others are written, exactly as if they had been written singly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from itertools import groupby
from typing import Any

from kamrules.inputs.environment import as_environment_failure
from kamrules.model import construct_held
from kamrules.protocol.changes import Change, ChangeResult

COLUMNS = ("fingerprint, account_id, subject, body, owner_id, due, priority, status, evidence, created,"
           " assigned")
# `Open` typed by hand is read as open (crm.py), so it is written as open
OPEN = "lower(trim(status))='open'"
UPDATE = ("UPDATE tasks SET subject=?, body=?, owner_id=?, priority=?, evidence=?, assigned=?"
          f" WHERE id=? AND {OPEN}")
CLOSE = ("UPDATE tasks SET status='closed', resolution=?, completed=COALESCE(?, completed)"
         f" WHERE id=? AND {OPEN}")
RESULT_FIELDS = set(ChangeResult.model_fields)  # shared by every result (see `apply_batch`)


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _row(change: Change) -> tuple[Any, ...]:
    t = change.task
    if change.action == "create":
        return (t.fingerprint, t.account_id, t.subject, t.body, t.owner_id, iso(t.due),
                t.priority, "open", json.dumps(t.evidence), iso(t.created), t.assigned)
    if change.action == "update":
        return (t.subject, t.body, t.owner_id, t.priority, json.dumps(t.evidence), t.assigned,
                int(t.crm_id or 0))
    return (change.reason, iso(t.completed), int(t.crm_id or 0))


def apply_batch(db: sqlite3.Connection, batch: Sequence[Change]) -> list[ChangeResult]:
    """Results in the order of `batch`; runs of one action keep their order."""
    results: list[ChangeResult] = []
    for action, run in groupby(batch, key=lambda c: c.action):
        changes = list(run)
        db.execute("SAVEPOINT batch")
        try:
            ids = _write(db, action, changes)
        except sqlite3.Error as exc:
            if as_environment_failure(exc) is not None:  # the disk's, not a change's: the run's
                raise
            db.execute("ROLLBACK TO batch")
            db.execute("RELEASE batch")
            results += [apply_one(db, c) for c in changes]
            continue
        db.execute("RELEASE batch")
        # one per write, held to the end of the run: made as kamrules/construct.py makes its
        # models (not validated again, one shared set of field names, compact)
        results += [construct_held(ChangeResult, {
            "fingerprint": c.fingerprint, "action": c.action, "ok": True,
            "crm_id": ids[c.fingerprint] if ids is not None else c.task.crm_id, "error": None},
            RESULT_FIELDS) for c in changes]
    return results


def _write(db: sqlite3.Connection, action: str, changes: list[Change]) -> dict[str, str] | None:
    """One statement for the run; the new tasks' ids by fingerprint for creates."""
    rows = [_row(c) for c in changes]
    if action != "create":
        db.executemany(UPDATE if action == "update" else CLOSE, rows)
        return None
    marks = ", ".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * len(rows))
    flat = [v for row in rows for v in row]
    cursor = db.execute(f"INSERT INTO tasks ({COLUMNS}) VALUES {marks} RETURNING id, fingerprint",
                        flat)
    ids = {fp: str(i) for i, fp in cursor.fetchall()}
    if len(ids) != len(changes):  # one fingerprint twice: only singly can each get its id
        raise sqlite3.IntegrityError("a fingerprint twice in one batch")
    return ids


def apply_one(db: sqlite3.Connection, change: Change) -> ChangeResult:
    """One change in its own statement; a database error is this change's result."""
    try:
        if change.action == "create":
            cur = db.execute(f"INSERT INTO tasks ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             _row(change))
            crm_id = str(cur.lastrowid)
        else:
            db.execute(UPDATE if change.action == "update" else CLOSE, _row(change))
            crm_id = change.task.crm_id
    except sqlite3.Error as exc:
        if as_environment_failure(exc) is not None:  # a full disk fails the run, not the change
            raise
        return ChangeResult(fingerprint=change.fingerprint, action=change.action, ok=False,
                            error=f"{type(exc).__name__}: {exc}")
    return ChangeResult(fingerprint=change.fingerprint, action=change.action, ok=True,
                        crm_id=crm_id)
