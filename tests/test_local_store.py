"""The local CRM's typed store: a file of the previous version migrated once and losing
nothing, hand edits refused or reported, chunks sized by records, task writes in batches."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local import migrate
from kamrules.connectors.local.crm import LocalCrm
from kamrules.errors import EnvironmentFailure
from kamrules.model import RECORD_KINDS, Snapshot, Task
from kamrules.protocol.changes import Change
from tests.support import legacy_crm

DAY = date(2026, 11, 1)
RELATED = ("contacts", "deals", "activities", "cases", "plans", "team", "surveys", "contracts")
BAD = {
    "contacts": [{"id": "BAD-1", "account_id": "ACC-000001", "name": "No date", "created": "yesterday"},
                 {"id": "BAD-2", "account_id": "NOPE", "name": "Orphan"},
                 {"id": "BAD-3", "account_id": "ACC-000002", "name": 7}],
    "accounts": [{"id": "BAD-ACC", "is_key": "perhaps"}],
    "surveys": [{"account_id": "ACC-000003", "date": "2026-02-30", "score": 5}],
    "plans": [{"account_id": "ACC-000004", "risk_measures": [{"kind": 3}]}],
}
TASKS = [  # as the previous version's apply() and a person completing a task left them
    ("kam-core/KAM-REL-004/ACC-000001", "ACC-000001", "s1", "b1", "U01", "2026-11-20", "high",
     "open", '{"contacts": 1}', "2026-11-01", None, None),
    ("kam-core/KAM-DO-003/ACC-000003", "ACC-000003", "s2", "b2", None, None, "normal",
     "completed", "{}", "2026-10-01", "2026-10-20", None),
    ("kam-core/KAM-PLAN-001/ACC-000002", "ACC-000002", "s3", "b3", "U02", None, "low",
     "closed", "{}", "2026-09-01", "2026-10-02", "resolved"),
]


def _records(demo_records: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    records = {k: list(v) for k, v in demo_records.items()}
    for kind, rows in BAD.items():
        records[kind] = records[kind] + rows
    return records


def _legacy(path: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    legacy_crm.create(path, records)
    db = sqlite3.connect(path, isolation_level=None)
    db.executemany("INSERT INTO tasks (fingerprint, account_id, subject, body, owner_id, due,"
                   " priority, status, evidence, created, completed, resolution)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", TASKS)
    db.close()


def _tasks(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM tasks ORDER BY id").fetchall()
    finally:
        db.close()


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def test_a_file_of_the_previous_version_reads_the_same_after_migration(
        tmp_path: Path, demo_records: dict) -> None:
    path = tmp_path / "crm.sqlite"
    _legacy(path, _records(demo_records))
    before, tasks = legacy_crm.pull(path, DAY), _tasks(path)
    assert len(before.warnings) == 5 and len(before.accounts) == 300

    crm = LocalCrm(path)
    assert crm.migration is not None and crm.migration.unreadable == 5
    after = crm.pull(DAY)
    for kind in ("users", "accounts", *RELATED):
        assert getattr(after, kind) == getattr(before, kind), kind  # record by record, in order
        assert [r.model_dump_json() for r in getattr(after, kind)] == [
            r.model_dump_json() for r in getattr(before, kind)]
    assert after.warnings == before.warnings
    # records skipped whole, tallied for the data-quality gate (the previous version had none)
    failed = {k: (s.failed, s.present) for k, s in after.field_stats.items() if s.failed}
    assert failed == {"contacts (whole records)": (3, len(after.contacts) + 2),  # BAD-2: orphan
                      "surveys (whole records)": (1, len(after.surveys) + 1),
                      "plans (whole records)": (1, len(after.plans) + 1)}
    assert after.model_copy(update={"field_stats": {}}) == before
    # the tasks as they were, with whom kamrules assigned each not known (a column added)
    assert [row[:-1] for row in _tasks(path)] == tasks and {row[-1] for row in _tasks(path)} == {None}
    assert sorted(t.fingerprint for t in crm.list_tasks(date(2026, 10, 1))) == sorted(t[0] for t in TASKS)
    crm.close()

    tables = _tables(path)
    assert "records" not in tables and {"records_unreadable", "accounts", "cases"} <= tables
    db = sqlite3.connect(path)
    kept = db.execute("SELECT kind, id, data FROM records_unreadable ORDER BY kind, id").fetchall()
    db.close()
    assert [(k, i.split(":")[0]) for k, i, _ in kept] == [
        ("accounts", "BAD-ACC"), ("contacts", "BAD-1"), ("contacts", "BAD-3"),
        ("plans", "ACC-000004"), ("surveys", "ACC-000003")]
    assert '"created": "yesterday"' in kept[1][2]  # kept as it was written

    # a view in the old table's place reads like it: every record, the same when validated
    db = sqlite3.connect(path)
    view = db.execute("SELECT kind, id, data FROM records ORDER BY kind, id").fetchall()
    db.close()
    assert len(view) == sum(len(v) for v in _records(demo_records).values())
    readable = [(k, RECORD_KINDS[k].model_validate_json(d)) for k, i, d in view
                if i not in {w.record_id for w in before.warnings}]
    assert sorted(r.model_dump_json() for k, r in readable if k == "accounts") == sorted(
        a.model_dump_json() for a in before.accounts)
    assert len(readable) == sum(len(getattr(before, k)) for k in ("users", "accounts", *RELATED))

    again = LocalCrm(path)  # migrated once: the second open changes nothing
    assert again.migration is None and again.pull(DAY) == after
    again.close()


def test_chunks_of_a_migrated_file_equal_its_whole_pull(tmp_path: Path, demo_records: dict) -> None:
    path = tmp_path / "crm.sqlite"
    _legacy(path, _records(demo_records))
    before = legacy_crm.pull(path, DAY)
    crm = LocalCrm(path)
    chunks = list(crm.pull_chunks(DAY, 40))
    assert len(chunks) > 300 // 40
    for kind in ("accounts", *RELATED):
        got = sorted(r.model_dump_json() for c in chunks for r in getattr(c, kind))
        want = sorted(r.model_dump_json() for r in getattr(before, kind)
                      if kind == "accounts" or r.account_id != "NOPE")
        assert got == want, kind
    warned = sorted((w.kind, w.record_id, w.message) for c in chunks for w in c.warnings)
    assert warned == sorted([*((w.kind, w.record_id, w.message) for w in before.warnings
                               if w.record_id != "BAD-2"),
                             ("contacts", "BAD-2", "refers to account 'NOPE', which does not exist")])
    crm.close()


def _open(path: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        crm = LocalCrm(Path(path))
        out.put(("ok", crm.migration is not None, len(crm.pull(DAY).contacts)))
        crm.close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}", 0))


def test_processes_opening_an_old_file_together_migrate_it_once(
        tmp_path: Path, demo_records: dict) -> None:
    path = tmp_path / "crm.sqlite"
    _legacy(path, _records(demo_records))
    contacts = len(legacy_crm.pull(path, DAY).contacts)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_open, args=(str(path), barrier, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(60)
    assert all(r[0] == "ok" for r in results), results
    assert sorted(r[1] for r in results) == [False, False, True]  # one migrated, two waited
    assert {r[2] for r in results} == {contacts}
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == contacts
    assert db.execute("SELECT COUNT(*) FROM records_unreadable").fetchone()[0] == 5
    db.close()


def test_a_failed_migration_leaves_the_old_file_as_it_was(
        tmp_path: Path, demo_records: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "crm.sqlite"
    _legacy(path, _records(demo_records))
    before = legacy_crm.pull(path, DAY)
    calls = []

    def failing(*args: Any, **kwargs: Any) -> None:
        calls.append(args[1])
        if len(calls) == 4:
            raise sqlite3.OperationalError("database or disk is full")
        real(*args, **kwargs)

    real = migrate.write
    monkeypatch.setattr(migrate, "write", failing)
    with pytest.raises(EnvironmentFailure, match=f"local CRM {path}: the disk is full"):
        LocalCrm(path)
    assert "records" in _tables(path) and "contacts" not in _tables(path)
    assert legacy_crm.pull(path, DAY) == before
    monkeypatch.undo()
    crm = LocalCrm(path)
    assert crm.pull(DAY).model_copy(update={"field_stats": {}}) == before
    crm.close()


@pytest.mark.parametrize(("table", "column", "value"), [
    ("cases", "closed", "2026-02-30"), ("cases", "closed", "31.10.2026"),
    ("cases", "priority", "urgent"), ("cases", "escalated", 2), ("cases", "subject", None),
    ("deals", "amount", float("inf")), ("deals", "amount", "a lot"),
    ("accounts", "regions", "north"), ("accounts", "id", "ACC-999999"),
])
def test_hand_edits_to_invalid_values_are_refused_by_the_file(
        tmp_path: Path, demo_records: dict, table: str, column: str, value: Any) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    with pytest.raises(sqlite3.IntegrityError):
        crm.db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = 1', (value,))
    crm.close()


def test_a_row_forced_past_the_constraints_is_reported_and_skipped(
        tmp_path: Path, demo_records: dict) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    crm.db.execute("PRAGMA ignore_check_constraints = ON")  # what a determined hand can do
    bad = {"C": ("cases", "closed", "2026-02-30"), "D": ("deals", "is_won", 7),
           "A": ("accounts", "revenue", '[{"year": "soon"}]')}
    keys = {}
    for table, column, value in bad.values():
        keys[table] = crm.db.execute(f'SELECT "key" FROM "{table}" WHERE rowid = 2').fetchone()[0]
        crm.db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = 2', (value,))
    whole = crm.pull(DAY)
    warned = {(w.kind, w.record_id): w.message for w in whole.warnings}
    assert set(warned) == {(t, keys[t]) for t in keys}
    assert "revenue.0.year" in warned[("accounts", keys["accounts"])]
    assert len(whole.cases) == len(demo_records["cases"]) - 1
    chunked = list(crm.pull_chunks(DAY, 50))
    assert sorted((w.kind, w.record_id) for c in chunked for w in c.warnings) == sorted(warned)
    assert keys["accounts"] not in {a.id for a in crm.pull_accounts(DAY)}
    crm.close()


def test_a_table_rebuilt_by_hand_without_its_constraints_is_checked_again(
        tmp_path: Path, demo_records: dict) -> None:
    path = tmp_path / "crm.sqlite"
    crm = LocalCrm(path)
    crm.insert_all(demo_records)
    crm.db.execute("ALTER TABLE cases RENAME TO cases_old")
    crm.db.execute("CREATE TABLE cases AS SELECT * FROM cases_old")  # no types, no checks
    crm.db.execute("DROP TABLE cases_old")
    crm.db.execute("UPDATE cases SET priority = 'urgent' WHERE rowid = 3")
    rid = crm.db.execute("SELECT id FROM cases WHERE rowid = 3").fetchone()[0]
    crm.close()
    crm = LocalCrm(path)
    assert crm.migration is not None and crm.migration.rebuilt == ["cases"]
    snapshot = crm.pull(DAY)
    assert [(w.kind, w.record_id) for w in snapshot.warnings] == [("cases", rid)]
    assert len(snapshot.cases) == len(demo_records["cases"]) - 1
    with pytest.raises(sqlite3.IntegrityError):  # the constraints are back
        crm.db.execute("UPDATE cases SET priority = 'urgent'")
    crm.close()


def test_a_record_rewritten_valid_leaves_records_unreadable(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_records("accounts", [{"id": "A1", "name": "Acme", "is_key": "perhaps"}])
    assert [w.record_id for w in crm.pull(DAY).warnings] == ["A1"]
    crm.insert_records("accounts", [{"id": "A1", "name": "Acme", "is_key": True}])
    snapshot = crm.pull(DAY)
    assert snapshot.warnings == [] and [a.is_key for a in snapshot.accounts] == [True]
    crm.insert_records("accounts", [{"id": "A1", "name": None}])
    assert [a.id for a in crm.pull(DAY).accounts] == [] and not crm.is_empty()
    with pytest.raises(sqlite3.IntegrityError):
        crm.insert_records("accounts", [{"id": "A1", "name": "Acme"}], replace=False)
    crm.close()


def _related(chunk: Snapshot) -> int:
    return sum(len(getattr(chunk, k)) for k in RELATED)


def test_chunks_are_sized_by_records_and_never_split_an_account(
        tmp_path: Path, demo_records: dict) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    whole = crm.pull(DAY)
    per_account: dict[str, int] = {}
    for kind in RELATED:
        for r in getattr(whole, kind):
            per_account[r.account_id] = per_account.get(r.account_id, 0) + 1
    chunks = list(crm.pull_chunks(DAY, 100, records=400))
    assert [a.id for c in chunks for a in c.accounts] == [a.id for a in whole.accounts]
    for chunk in chunks:
        ids = {a.id for a in chunk.accounts}
        assert len(ids) <= 100
        assert all(getattr(r, "account_id", None) in ids for k in RELATED for r in getattr(chunk, k))
        assert _related(chunk) == sum(per_account.get(i, 0) for i in ids)  # whole accounts
        assert _related(chunk) + len(ids) <= 400 or len(ids) == 1
    # key accounts come first: by accounts the first chunk holds far more records than the
    # last; sized by records (the default budget), no chunk is much above the mean
    by_default = list(crm.pull_chunks(DAY, 100))
    counts = [_related(c) + len(c.accounts) for c in by_default]
    mean = sum(per_account.values()) / len(whole.accounts) + 1
    assert max(counts) <= 100 * mean + max(per_account.values()) and len(by_default) > 3
    crm.close()


def _create(fp: str) -> Change:
    task = Task(fingerprint=fp, account_id=fp.rsplit("/", 1)[1], subject="s " + fp, body="b",
                evidence={"fp": fp}, created=DAY)
    return Change(action="create", fingerprint=fp, task=task)


def test_batched_task_writes_match_writes_one_by_one(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    first = crm.apply([_create(f"p/R/A{i:03}") for i in range(450)])
    assert all(r.ok for r in first) and len({r.crm_id for r in first}) == 450
    by_id = {t.crm_id: t for t in crm.all_tasks()}
    assert all(by_id[r.crm_id].fingerprint == r.fingerprint for r in first)
    assert by_id[first[7].crm_id or ""].evidence == {"fp": "p/R/A007"}

    open_one = by_id[first[0].crm_id or ""]
    close = Change(action="close", fingerprint=open_one.fingerprint, reason="resolved",
                   task=open_one.model_copy(update={"completed": DAY}))
    # a duplicate open fingerprint fails alone; a close before a create of its fingerprint works
    results = crm.apply([_create("p/R/B1"), _create("p/R/A005"), _create("p/R/B2"),
                         close, _create(open_one.fingerprint)])
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert "UNIQUE" in (results[1].error or "")
    tasks = crm.all_tasks()
    assert len(tasks) == 453 and sum(t.fingerprint == "p/R/A000" for t in tasks) == 2
    assert {t.status for t in tasks if t.fingerprint == "p/R/A000"} == {"open", "closed"}
    crm.close()


def test_an_older_kamrules_refuses_a_migrated_file_instead_of_seeding_it(
        tmp_path: Path, demo_records: dict) -> None:
    path = tmp_path / "crm.sqlite"
    _legacy(path, {"accounts": demo_records["accounts"][:3]})
    LocalCrm(path).close()
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.OperationalError, match="views may not be indexed"):
        db.executescript(legacy_crm.SCHEMA)  # what the previous version runs on every open
    db.close()
    assert [a.id for a in LocalCrm(path).pull(DAY).accounts] == ["ACC-000001", "ACC-000002",
                                                                 "ACC-000003"]


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """`crm.path` pointed at another program's SQLite file: its `accounts` table was rebuilt
    into kamrules' (its rows moved to records_unreadable, the table dropped), the file switched
    to WAL, and the run went on with exit 0. Now exit 7 naming its tables, the file untouched."""
    from tests.test_admin_cli import kamrules

    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    db.execute("INSERT INTO accounts VALUES (1, 'Alice', 'a@example.com')")
    db.commit()
    db.close()
    before = path.read_bytes()
    (tmp_path / "kamrules.yaml").write_text(
        "crm: {type: local, path: app.db, seed: demo}\nstate_dir: state\n")
    for command in ("plan", "run"):
        proc = kamrules(tmp_path, command)
        assert proc.returncode == 7, proc.stderr
        assert "is another program's SQLite database (its tables: accounts)" in proc.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app.db")) == ["app.db"]
    # kamrules' own files, of this version and the previous one, open as before
    LocalCrm(tmp_path / "new.sqlite").close()
    LocalCrm(tmp_path / "new.sqlite").close()
    _legacy(tmp_path / "old.sqlite", {"accounts": [{"id": "A1", "name": "Acme"}]})
    assert [a.id for a in LocalCrm(tmp_path / "old.sqlite").pull(DAY).accounts] == ["A1"]
