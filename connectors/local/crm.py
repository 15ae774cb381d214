"""The embedded local CRM: a SQLite file of canonical records and the tasks written back.

It is the default CRM (no credentials): created and seeded with the demo portfolio on first
use, or loaded from a CSV export with `kamrules import-csv`. A partial unique index makes a
second open task with one fingerprint impossible, whatever happens to a run.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kamrules.connectors.local.keyed import record_key
from kamrules.connectors.local.migrate import foreign_tables, prepare
from kamrules.connectors.local.schema import brief as _brief
from kamrules.connectors.local.schema import stored_json
from kamrules.connectors.local.store import RecordStore
from kamrules.connectors.local.writes import apply_batch, apply_one
from kamrules.connectors.sqlite_wal import connect_wal
from kamrules.connectors.transaction import transaction
from kamrules.errors import EnvironmentFailure
from kamrules.model import RecordWarning, Task, TaskStatus
from kamrules.protocol.changes import Change, ChangeResult
from kamrules.protocol.connector import Progress, no_progress
from kamrules.protocol.faults import checkpoint

__all__ = ["LocalConfig", "LocalCrm", "_brief", "open_connector", "record_key"]

SCHEMA = """
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
    resolution TEXT,
    assigned TEXT
);
CREATE INDEX IF NOT EXISTS task_status ON tasks(status, completed);
CREATE TRIGGER IF NOT EXISTS task_completed_day AFTER UPDATE OF status ON tasks
WHEN NEW.completed IS NULL AND lower(trim(NEW.status)) IN ('completed', 'closed')
BEGIN UPDATE tasks SET completed = date('now') WHERE id = NEW.id; END;
CREATE TABLE IF NOT EXISTS account_fields (
    account_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (account_id, field)
);
"""
# The trigger does what a CRM does when a task is marked done by hand without its day (Salesforce
# and HubSpot fall back to the last-modified date): the day is what holds a finding back for
# `renotify_after_days`; without it the next run made the task again, beside the one just done.
# Apart: a database written without it may hold duplicate open tasks; then it cannot be built
# until reconciliation has closed them down to one (the next open builds it).
ONE_OPEN = "CREATE UNIQUE INDEX IF NOT EXISTS one_open_task ON tasks(fingerprint) WHERE status = 'open'"
# Task columns a row can do without: a bad value is dropped (the model's default used).
OPTIONAL_TASK_FIELDS = ("priority", "due", "created", "completed", "evidence", "owner_id")


STATUSES = set(get_args(TaskStatus))
WRITE_BATCH = 200
ISO_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"  # a GLOB


class LocalConfig(BaseModel):
    """`crm: {type: local}`: where the database lives and what a new one is seeded with."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local"] = "local"
    path: str = ".kamrules/crm.sqlite"
    seed: Literal["demo", "empty"] = "demo"
    demo_accounts: int = Field(default=300, ge=1, le=200_000)


CONFIG = LocalConfig


class LocalCrm(RecordStore):
    """The local CRM as a connector (see kamrules.protocol.connector.Connector); its records
    are in typed tables (see store.py), migrated from an older file when it is opened."""

    def __init__(self, path: Path):
        self.path = path
        foreign = foreign_tables(path)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise EnvironmentFailure(
                f"local CRM {path}: is another program's SQLite database (its tables: {shown}),"
                " left as it is; set crm.path to a file of kamrules' own (a new one is created)")
        self.db = connect_wal(path, timeout=120)
        # a REPLACE's removal of the row it replaces fires delete triggers (counts.py) only so
        self.db.execute("PRAGMA recursive_triggers = ON")
        try:
            self.db.executescript(SCHEMA)
            _add_assigned(self.db)
            self.migration = prepare(self.db)
        except BaseException:
            self.db.close()
            raise
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

    # --- account fields kamrules writes (kamrules.protocol.health) -----------------------

    def read_account_fields(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        marks = ",".join("?" * len(names))
        for account, name, value in self.db.execute(
                f"SELECT account_id, field, value FROM account_fields WHERE field IN ({marks})",
                tuple(names)):
            try:  # a value edited by hand into what is not JSON is read as never written
                parsed = stored_json(value)
            except (ValueError, TypeError):
                continue
            out.setdefault(account, {})[name] = parsed
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

    def accounts_with_tasks(self, fingerprints: str) -> set[str]:
        return {a for (a,) in self.db.execute(
            "SELECT DISTINCT account_id FROM tasks WHERE fingerprint GLOB ?", (fingerprints,))}

    def revision(self) -> tuple[int, ...]:
        """SQLite's count of the commits other connections made (any process), and this
        connection's own changes (kamrules.protocol.connector.SplitConnector)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self.db.total_changes

    def list_tasks(self, completed_since: date) -> list[Task]:
        """Every task but those plainly finished before `completed_since`: a row edited by hand
        into a status kamrules does not know (`done`) or a completion date that is not one
        (`01/11/2026`) is read, and warned of, not passed over (a new task was made beside it
        without a word, the one its owner had just completed among them)."""
        return self._tasks(
            "SELECT * FROM tasks WHERE NOT coalesce(lower(trim(status)) IN ('completed', 'closed')"
            f" AND completed < ? AND completed GLOB '{ISO_DAY}', 0)",
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

    def writes_in_parts(self) -> bool:  # kamrules.protocol.connector.PartWriter
        return True

    def apply(self, changes: Sequence[Change], progress: Progress = no_progress) -> list[ChangeResult]:
        writes = [c for c in changes if c.writes]
        results: list[ChangeResult] = []
        for start in range(0, len(writes), WRITE_BATCH):
            # One transaction per batch: a crash loses only uncommitted writes, which the
            # next run's reconciliation makes again.
            batch = writes[start:start + WRITE_BATCH]
            with transaction(self.db, "BEGIN IMMEDIATE"):  # a full disk: none of the batch
                results += apply_batch(self.db, batch)
                for _ in batch:
                    checkpoint("write")
            progress("write", len(results), len(writes))
        return results

    def _apply_one(self, change: Change) -> ChangeResult:
        return apply_one(self.db, change)

    def complete_task(self, crm_id: str, on: date) -> None:
        """What an account manager does by hand: mark a task done."""
        self.db.execute(
            "UPDATE tasks SET status='completed', completed=? WHERE id=?", (on.isoformat(), crm_id)
        )


def _add_assigned(db: sqlite3.Connection) -> None:
    """The `assigned` column (whom kamrules last assigned a task to) in a file made before it:
    its tasks read as not known, and are assigned as they were."""
    if "assigned" in {r[1] for r in db.execute("PRAGMA table_info(tasks)")}:
        return
    try:
        db.execute("ALTER TABLE tasks ADD COLUMN assigned TEXT")
    except sqlite3.OperationalError as exc:
        # another process added it first; or a file only read (a plan): its writes refuse it
        if "duplicate column" not in str(exc) and "readonly" not in str(exc):
            raise


def _task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        fingerprint=row["fingerprint"],
        account_id=row["account_id"],
        subject=row["subject"],
        body=row["body"],
        owner_id=row["owner_id"],
        due=row["due"],
        **({"priority": row["priority"]} if row["priority"] is not None else {}),
        status=_status(row["status"]),
        evidence=stored_json(row["evidence"] or "{}"),
        crm_id=str(row["id"]),
        created=row["created"],
        completed=row["completed"],
        assigned=row.get("assigned") if isinstance(row.get("assigned"), str) else None,
    )


def _status(value: Any) -> Any:
    """A status typed by hand as `Open` or ` Completed` is that status; any other is refused."""
    if isinstance(value, str) and value.strip().lower() in STATUSES:
        return value.strip().lower()
    return value


def _field_ok(row: dict[str, Any], name: str) -> bool:
    """Whether one optional column of a task row reads on its own."""
    probe = {**row, **dict.fromkeys(OPTIONAL_TASK_FIELDS)}
    probe[name] = row[name]
    try:
        _task_from_row(probe)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


def open_connector(config: LocalConfig, base_dir: Path, state_dir: Path) -> LocalCrm:
    from kamrules.connectors.local.seeding import open_local

    return open_local(config, base_dir)
