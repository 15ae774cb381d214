"""The embedded local CRM: a SQLite file of canonical records and the tasks written back.

It is the default CRM (no credentials): created and seeded with the demo portfolio on first
use, or loaded from a CSV export with `kamrules import-csv`. A partial unique index makes a
second open task with one fingerprint impossible, whatever happens to a run.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kamrules.connectors.sqlite_wal import connect_wal
from kamrules.model import RECORD_KINDS, Account, RecordWarning, Snapshot, Task
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress
from kamrules.protocol.faults import checkpoint

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
# Apart: a database written without it may hold duplicate open tasks; then it cannot be built
# until reconciliation has closed them down to one (the next open builds it).
ONE_OPEN = "CREATE UNIQUE INDEX IF NOT EXISTS one_open_task ON tasks(fingerprint) WHERE status = 'open'"
# Task columns a row can do without: a bad value is dropped (the model's default used).
OPTIONAL_TASK_FIELDS = ("priority", "due", "created", "completed", "evidence", "owner_id")


WRITE_BATCH = 200


class LocalConfig(BaseModel):
    """`crm: {type: local}`: where the database lives and what a new one is seeded with."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local"] = "local"
    path: str = ".kamrules/crm.sqlite"
    seed: Literal["demo", "empty"] = "demo"
    demo_accounts: int = Field(default=300, ge=1, le=200_000)


CONFIG = LocalConfig


def record_key(kind: str, record: dict[str, Any], index: int) -> str:
    """Records without their own id (plans, team, surveys) get a stable synthetic one."""
    if "id" in record and record["id"] is not None:
        return _text(record["id"]) or ""
    return f"{record.get('account_id')}:{kind}:{index}"


def _text(value: Any) -> str | None:
    """A key column's value as text, whatever a CRM export put there."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


class LocalCrm:
    """The local CRM as a connector (see kamrules.protocol.connector.Connector)."""

    def __init__(self, path: Path):
        self.path = path
        self.db = connect_wal(path, timeout=120)
        self.db.executescript(SCHEMA)
        # duplicate open tasks: this run closes them, the next open builds the index
        with contextlib.suppress(sqlite3.IntegrityError):
            self.db.execute(ONE_OPEN)
        self.task_warnings: list[RecordWarning] = []

    @property
    def api_calls(self) -> int:
        return 0

    def commit(self) -> None:
        return None  # the local CRM is always pulled whole: no bookmarks

    def close(self) -> None:
        self.db.close()

    # --- records ---------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0

    def insert_records(self, kind: str, records: Iterable[dict[str, Any]], replace: bool = True) -> int:
        return self.insert_all({kind: records}, replace)[kind]

    def insert_all(self, by_kind: dict[str, Iterable[dict[str, Any]]],
                   replace: bool = True) -> dict[str, int]:
        """Records of several kinds in one transaction: all of them or none."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        counts: dict[str, int] = {}
        self.db.execute("BEGIN")
        try:
            for kind, records in by_kind.items():
                rows = [
                    (kind, record_key(kind, r, i),
                     _text(r.get("id") if kind == "accounts" else r.get("account_id")),
                     json.dumps(r, default=str, ensure_ascii=False))
                    for i, r in enumerate(records)
                ]
                self.db.executemany(
                    f"{verb} INTO records (kind, id, account_id, data) VALUES (?,?,?,?)", rows)
                counts[kind] = len(rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return counts

    def pull(self, as_of: date, progress: Progress = no_progress) -> Snapshot:
        """Every record, validated; a record that does not validate is skipped with a warning."""
        warnings: list[RecordWarning] = []
        parts: dict[str, list[Any]] = {}
        total = self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        done = 0
        for kind in RECORD_KINDS:
            rows = self.db.execute("SELECT id, data FROM records WHERE kind = ? ORDER BY id", (kind,))
            parts[kind] = self._validated(kind, rows, warnings)
            done += len(parts[kind])
            progress("pull", done, total)
        progress("pull", total, total)
        return Snapshot(as_of=as_of, warnings=warnings, **parts)

    def pull_accounts(self, as_of: date) -> Iterator[Account]:
        for (data,) in self.db.execute("SELECT data FROM records WHERE kind = 'accounts'"):
            try:
                yield Account.model_validate_json(data)
            except ValidationError:
                continue  # pull_chunks reports it

    def pull_chunks(self, as_of: date, size: int, progress: Progress = no_progress) -> Iterator[Snapshot]:
        """Accounts in id order, `size` at a time, with their records found through an index."""
        warnings: list[RecordWarning] = []
        users = self._validated(
            "users", self.db.execute("SELECT id, data FROM records WHERE kind = 'users'"), warnings)
        warnings += self._orphans()
        ids = [r[0] for r in self.db.execute("SELECT id FROM records WHERE kind = 'accounts' ORDER BY id")]
        for start in range(0, max(len(ids), 1), size):
            chunk = ids[start:start + size]
            members = set(chunk)
            parts: dict[str, list[Any]] = {"users": users}
            for kind in RECORD_KINDS:
                if kind == "users":
                    continue
                rows = self.db.execute(
                    "SELECT id, account_id, data FROM records WHERE kind = ?"
                    " AND account_id BETWEEN ? AND ?", (kind, chunk[0], chunk[-1])) if chunk else []
                # a record of an account that is not in the CRM falls in some id range too;
                # _orphans has reported it already
                parts[kind] = self._validated(
                    kind, ((rid, data) for rid, account, data in rows if account in members), warnings)
            yield Snapshot(as_of=as_of, warnings=warnings, **parts)
            warnings = []
            progress("pull", start + len(chunk), len(ids))

    def _validated(self, kind: str, rows: Iterable[tuple[str, str]],
                   warnings: list[RecordWarning]) -> list[Any]:
        model = RECORD_KINDS[kind]
        good = []
        for rid, data in rows:
            try:
                good.append(model.model_validate_json(data))
            except ValidationError as exc:
                warnings.append(RecordWarning(kind=kind, record_id=rid, message=_brief(exc)))
        return good

    def _orphans(self) -> list[RecordWarning]:
        """Records whose account is not in the CRM at all: no chunk holds them."""
        rows = self.db.execute(
            "SELECT r.kind, r.id, r.account_id FROM records r WHERE r.kind NOT IN ('accounts', 'users')"
            " AND NOT EXISTS (SELECT 1 FROM records a WHERE a.kind = 'accounts' AND a.id = r.account_id)"
            " ORDER BY r.kind, r.id")
        return [RecordWarning(kind=kind, record_id=rid,
                              message=f"refers to account {account!r}, which does not exist")
                for kind, rid, account in rows]

    # --- tasks -----------------------------------------------------------------------------

    # --- account fields kamrules writes (kamrules.protocol.health) -----------------------

    def read_account_fields(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        marks = ",".join("?" * len(names))
        for account, name, value in self.db.execute(
                f"SELECT account_id, field, value FROM account_fields WHERE field IN ({marks})",
                tuple(names)):
            out.setdefault(account, {})[name] = json.loads(value)
        return out

    def write_account_fields(self, values: Mapping[str, Mapping[str, Any]]) -> int:
        rows = [(a, k, json.dumps(v)) for a, fields in values.items() for k, v in fields.items()]
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO account_fields VALUES (?,?,?)", rows)
        self.db.execute("COMMIT")
        return len(values)

    def task_url(self, task_id: str) -> str | None:
        """The local CRM has no UI: a report shows the task's id (look it up with the CLI)."""
        return None

    def list_tasks(self, completed_since: date) -> list[Task]:
        return self._tasks(
            "SELECT * FROM tasks WHERE status = 'open'"
            " OR (status IN ('completed', 'closed') AND completed >= ?)",
            (completed_since.isoformat(),),
        )

    def all_tasks(self) -> list[Task]:
        return self._tasks("SELECT * FROM tasks ORDER BY id", ())

    def _tasks(self, sql: str, args: tuple[Any, ...]) -> list[Task]:
        rows = self.db.execute(sql, args)
        columns = [c[0] for c in rows.description]
        tasks = []
        for row in rows:
            task = self._readable(dict(zip(columns, row, strict=True)))
            if task is not None:
                tasks.append(task)
        return tasks

    def _readable(self, row: dict[str, Any]) -> Task | None:
        """A task row as a Task; a bad optional value is dropped with a warning, a row without
        a usable fingerprint, account or status is reported and left alone."""
        try:
            return _task_from_row(row)
        except (ValidationError, ValueError, TypeError) as exc:
            problem = _brief(exc) if isinstance(exc, ValidationError) else str(exc)
        salvaged = dict(row)
        for name in OPTIONAL_TASK_FIELDS:
            salvaged[name] = None
        try:
            task = _task_from_row(salvaged)
        except (ValidationError, ValueError, TypeError):
            self.task_warnings.append(RecordWarning(
                kind="tasks", record_id=str(row.get("id")),
                message=f"unreadable task row left alone: {problem}"))
            return None
        good = {n: row[n] for n in OPTIONAL_TASK_FIELDS if _field_ok(row, n)}
        task = _task_from_row({**salvaged, **good})
        self.task_warnings.append(RecordWarning(
            kind="tasks", record_id=str(row.get("id")),
            message=f"task row has bad values, read without them: {problem}"))
        return task

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        writes = [c for c in changes if c.writes]
        results: list[ChangeResult] = []
        for start in range(0, len(writes), WRITE_BATCH):
            # One transaction per batch: a crash loses only uncommitted writes, which the
            # next run's reconciliation makes again.
            self.db.execute("BEGIN IMMEDIATE")
            for change in writes[start:start + WRITE_BATCH]:
                results.append(self._apply_one(change))
                checkpoint("write")
            self.db.execute("COMMIT")
            progress("write", len(results), len(writes))
        return results

    def _apply_one(self, change: Change) -> ChangeResult:
        t = change.task
        try:
            if change.action == "create":
                cur = self.db.execute(
                    "INSERT INTO tasks (fingerprint, account_id, subject, body, owner_id, due,"
                    " priority, status, evidence, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (t.fingerprint, t.account_id, t.subject, t.body, t.owner_id, _iso(t.due),
                     t.priority, "open", json.dumps(t.evidence), _iso(t.created)),
                )
                crm_id = str(cur.lastrowid)
            elif change.action == "update":
                self.db.execute(
                    "UPDATE tasks SET subject=?, body=?, owner_id=?, priority=?, evidence=?"
                    " WHERE id=? AND status='open'",
                    (t.subject, t.body, t.owner_id, t.priority, json.dumps(t.evidence),
                     int(t.crm_id or 0)),
                )
                crm_id = t.crm_id
            else:
                self.db.execute(
                    "UPDATE tasks SET status='closed', resolution=?, completed=COALESCE(?, completed)"
                    " WHERE id=? AND status='open'",
                    (change.reason, _iso(t.completed), int(t.crm_id or 0)),
                )
                crm_id = t.crm_id
        except sqlite3.Error as exc:
            return ChangeResult(fingerprint=change.fingerprint, action=change.action, ok=False,
                                error=f"{type(exc).__name__}: {exc}")
        return ChangeResult(fingerprint=change.fingerprint, action=change.action, ok=True,
                            crm_id=crm_id)

    def complete_task(self, crm_id: str, on: date) -> None:
        """What an account manager does by hand: mark a task done."""
        self.db.execute(
            "UPDATE tasks SET status='completed', completed=? WHERE id=?", (on.isoformat(), crm_id)
        )


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        fingerprint=row["fingerprint"],
        account_id=row["account_id"],
        subject=row["subject"],
        body=row["body"],
        owner_id=row["owner_id"],
        due=row["due"],
        **({"priority": row["priority"]} if row["priority"] is not None else {}),
        status=row["status"],
        evidence=json.loads(row["evidence"] or "{}"),
        crm_id=str(row["id"]),
        created=row["created"],
        completed=row["completed"],
    )


def _field_ok(row: dict[str, Any], name: str) -> bool:
    """Whether one optional column of a task row reads on its own."""
    probe = {**row, **dict.fromkeys(OPTIONAL_TASK_FIELDS)}
    probe[name] = row[name]
    try:
        _task_from_row(probe)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def open_connector(config: LocalConfig, base_dir: Path, state_dir: Path) -> LocalCrm:
    from kamrules.connectors.local.seeding import open_local

    return open_local(config, base_dir)
