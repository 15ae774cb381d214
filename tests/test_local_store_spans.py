"""The local CRM's chunks as spans a worker process can pull on its own (`chunk_spans`,
`pull_span`), and records built from typed rows that behave as validated ones."""

from __future__ import annotations

import copy
import gc
import multiprocessing
import pickle
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.local import collector
from kamrules.connectors.local.crm import LocalCrm
from kamrules.connectors.local.schema import TABLES
from kamrules.connectors.local.store import ChunkSpan
from kamrules.model import RECORD_KINDS

DAY = date(2026, 11, 1)
RELATED = ("contacts", "deals", "activities", "cases", "plans", "team", "surveys", "contracts")
BAD = {  # records that do not validate (kept in records_unreadable) and orphans
    "contacts": [{"id": "BAD-1", "account_id": "ACC-000001", "name": "No date", "created": "x"},
                 {"id": "BAD-2", "account_id": "NOPE", "name": "Orphan"},
                 {"id": "ORPHAN-IN-RANGE", "account_id": "ACC-000002A", "name": "Orphan 2"}],
    "accounts": [{"id": "ACC-000003A", "is_key": "perhaps"}],
    "surveys": [{"account_id": "ACC-000003", "date": "2026-02-30", "score": 5}],
}


@pytest.fixture
def crm(tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> Any:
    records = {k: list(v) + BAD.get(k, []) for k, v in demo_records.items()}
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(records)
    # a row forced past the constraints, as a determined hand can
    crm.db.execute("PRAGMA ignore_check_constraints = ON")
    crm.db.execute("UPDATE deals SET is_won = 7 WHERE rowid = 5")
    crm.db.execute("PRAGMA ignore_check_constraints = OFF")
    yield crm
    crm.close()


def _flat(snapshots: list[Any]) -> dict[str, list[str]]:
    out = {k: [r.model_dump_json() for s in snapshots for r in getattr(s, k)]
           for k in ("accounts", *RELATED)}
    out["warnings"] = [w.model_dump_json() for s in snapshots for w in s.warnings]
    return out


def test_spans_pulled_one_by_one_are_the_chunks_in_order(crm: LocalCrm) -> None:
    chunks = list(crm.pull_chunks(DAY, 40))
    users, warnings = crm.pull_users()
    spans, orphans = crm.chunk_spans(DAY, 40)
    assert len(spans) == len(chunks) > 300 // 40
    assert all(s.filtered for s in spans)  # orphans exist: members are checked
    assert sum(s.accounts for s in spans) == 301
    pulled = [crm.pull_span(DAY, s, users) for s in spans]
    assert [c.users for c in chunks] == [users] * len(chunks)
    # one process: users' warnings, then the orphans', then each chunk's own, in that order
    assert _flat(chunks) == _flat(pulled) | {"warnings": [
        w.model_dump_json() for w in [*warnings, *orphans, *(x for p in pulled for x in p.warnings)]]}
    assert [(w.kind, w.record_id) for w in orphans] == [
        ("contacts", "BAD-2"), ("contacts", "ORPHAN-IN-RANGE")]
    assert chunks[0].warnings[:len(orphans)] == orphans
    # the whole pull holds the same records; the orphans are in it, not in any chunk
    whole = crm.pull(DAY)
    for kind in ("accounts", *RELATED):
        assert sorted(_flat(chunks)[kind]) == sorted(
            r.model_dump_json() for r in getattr(whole, kind)
            if kind == "accounts" or r.account_id not in ("NOPE", "ACC-000002A")), kind
    reported = {(w.kind, w.record_id) for c in chunks for w in c.warnings}
    assert {("deals", _key(crm, "deals", 5)),
            ("accounts", "ACC-000003A"), ("contacts", "BAD-1")} <= reported


def _key(crm: LocalCrm, table: str, rowid: int) -> str:
    return crm.db.execute(f'SELECT "key" FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()[0]


def test_without_orphans_spans_do_not_filter(tmp_path: Path, demo_records: dict) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    spans, orphans = crm.chunk_spans(DAY, 100)
    assert orphans == [] and spans and not any(s.filtered for s in spans)
    assert [(s.first, s.last) for s in spans][0][0] == "ACC-000001"
    assert pickle.loads(pickle.dumps(spans)) == spans
    with pytest.raises(AttributeError):
        spans[0].first = "x"  # type: ignore[misc]
    crm.close()


def test_an_empty_crm_has_no_spans_and_one_empty_chunk(tmp_path: Path) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_records("users", [{"id": "U1", "name": "Ann"}])
    assert crm.chunk_spans(DAY, 10) == ([], [])
    chunks = list(crm.pull_chunks(DAY, 10))
    assert len(chunks) == 1 and [u.id for u in chunks[0].users] == ["U1"]
    assert chunks[0].accounts == []
    assert {k: (s.present, s.failed) for k, s in chunks[0].field_stats.items()} == {
        "users (whole records)": (1, 0)}
    crm.close()


def _pull_in_child(path: str, span: ChunkSpan, out: Any) -> None:
    try:
        crm = LocalCrm(Path(path))
        users, _ = crm.pull_users()
        chunk = crm.pull_span(DAY, span, users)
        out.put(("ok", [a.id for a in chunk.accounts], len(chunk.contacts),
                 [w.record_id for w in chunk.warnings]))
        crm.close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}", 0, []))


def test_a_forked_process_pulls_a_span_while_the_first_is_open_and_writing(crm: LocalCrm) -> None:
    spans, _ = crm.chunk_spans(DAY, 60)
    users, _ = crm.pull_users()
    want = [crm.pull_span(DAY, s, users) for s in spans[:2]]
    # the first connection holds the write lock with an uncommitted change: WAL readers go on
    crm.db.execute("BEGIN IMMEDIATE")
    crm.db.execute("DELETE FROM contacts")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_pull_in_child, args=(str(crm.path), s, out)) for s in spans[:2]]
    for proc in procs:
        proc.start()
    results = sorted((out.get(timeout=120) for _ in procs), key=lambda r: r[1])
    for proc in procs:
        proc.join(60)
    crm.db.execute("ROLLBACK")
    assert all(r[0] == "ok" for r in results), results
    assert [(r[1], r[2], r[3]) for r in results] == [
        ([a.id for a in w.accounts], len(w.contacts), [x.record_id for x in w.warnings])
        for w in want]
    assert all(p.exitcode == 0 for p in procs)


@pytest.mark.parametrize("kind", list(RECORD_KINDS))
def test_built_records_behave_as_validated_ones(crm: LocalCrm, kind: str) -> None:
    table = TABLES[kind]
    rows = crm.db.execute(f'SELECT {table.read} FROM "{kind}" ORDER BY rowid LIMIT 50')
    model = RECORD_KINDS[kind]
    checked = 0
    for row in rows:
        if kind == "deals" and row[table.names.index("is_won")] == 7:
            continue
        built = table.build(row)
        valid = model.model_validate(table.as_dict(table.values_of(row)))
        assert type(built) is model and built == valid and valid == built
        assert built.model_dump() == valid.model_dump()
        assert built.model_dump_json() == valid.model_dump_json()
        # every field set, each to a value of its own type (a date, not its ISO text)
        assert [type(getattr(built, n)) for n in model.model_fields] == [
            type(getattr(valid, n)) for n in model.model_fields]
        assert pickle.loads(pickle.dumps(built)) == valid
        assert copy.deepcopy(built) == valid and copy.copy(built) == valid
        first = table.names[0]
        changed = built.model_copy(update={first: valid.model_dump()[first]})
        assert changed == valid and changed is not built
        assert repr(built) == repr(valid)
        checked += 1
    assert checked > 0


@pytest.fixture
def freezing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "FREEZE", True)


@pytest.mark.usefixtures("freezing")
def test_a_pull_leaves_nothing_frozen_from_the_cycle_collector(crm: LocalCrm) -> None:
    assert gc.get_freeze_count() == 0
    chunks = crm.pull_chunks(DAY, 40)
    first = next(chunks)
    assert gc.get_freeze_count() > 0  # the chunk in use is not walked by the collector
    next(chunks)
    chunks.close()  # a consumer that stops early
    assert gc.get_freeze_count() == 0 and first.accounts
    assert len(list(crm.pull_chunks(DAY, 40))) > 1 and gc.get_freeze_count() == 0
    spans, _ = crm.chunk_spans(DAY, 40)
    users, _ = crm.pull_users()
    for chunk, span in zip(crm.pull_spans(DAY, spans, users), spans, strict=True):
        assert gc.get_freeze_count() > 0 and chunk == crm.pull_span(DAY, span, users)
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("freezing")
def test_objects_frozen_by_someone_else_stay_frozen(crm: LocalCrm) -> None:
    theirs = [[]]  # tracked by the collector until frozen
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        for _ in crm.pull_chunks(DAY, 40):
            assert 0 < gc.get_freeze_count() <= frozen  # nothing of ours added
        assert gc.get_freeze_count() > 0
        assert not any(o is theirs for o in gc.get_objects())  # still frozen
    finally:
        gc.unfreeze()


def test_a_span_query_uses_the_account_index(crm: LocalCrm) -> None:
    for kind in RELATED:
        plan = " ".join(str(r[-1]) for r in crm.db.execute(
            f'EXPLAIN QUERY PLAN SELECT * FROM "{kind}" WHERE account_id BETWEEN ? AND ?'
            " ORDER BY account_id, rowid", ("A", "B")))
        assert f"USING INDEX {kind}_account" in plan and "TEMP B-TREE" not in plan, plan
    assert isinstance(crm.db, sqlite3.Connection)


def test_a_choice_forced_past_the_constraints_is_reported_and_skipped(crm: LocalCrm) -> None:
    crm.db.execute("PRAGMA ignore_check_constraints = ON")
    crm.db.execute("UPDATE cases SET priority = 'urgent' WHERE rowid = 2")
    crm.db.execute("UPDATE activities SET direction = 'sideways' WHERE rowid = 3")
    keys = {t: _key(crm, t, r) for t, r in (("cases", 2), ("activities", 3))}
    cases = crm.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    for snapshots in ([crm.pull(DAY)], list(crm.pull_chunks(DAY, 50))):
        warned = {(w.kind, w.record_id): w.message for s in snapshots for w in s.warnings}
        assert "priority" in warned[("cases", keys["cases"])]
        assert "direction" in warned[("activities", keys["activities"])]
        assert sum(len(s.cases) for s in snapshots) == cases - 1
        assert keys["activities"] not in {a.id for s in snapshots for a in s.activities}
    # a valid choice is one shared text object, whatever row it came from
    whole = crm.pull(DAY)
    assert len({id(c.priority) for c in whole.cases}) <= 4


@pytest.mark.usefixtures("freezing")
def test_a_chunk_plan_read_by_a_reader_gives_the_chunks(crm: LocalCrm) -> None:
    chunks = list(crm.pull_chunks(DAY, 40))
    plan = crm.chunk_plan(DAY, 40)
    assert plan is not None and all(isinstance(c, ChunkSpan) for c in plan.chunks)
    assert len(pickle.dumps(plan.chunks[0])) < 200  # a description, not the accounts' keys
    reader = crm.reader()
    try:
        pulled = [reader.pull_chunk(DAY, c, plan.users) for c in plan.chunks]
        assert gc.get_freeze_count() > 0  # the last chunk, until the reader closes
    finally:
        reader.close()
    assert gc.get_freeze_count() == 0
    assert _flat(chunks) == _flat(pulled) | {"warnings": [
        w.model_dump_json() for w in [*plan.warnings, *(x for p in pulled for x in p.warnings)]]}
    reader = crm.reader()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.db.execute("DELETE FROM contacts")
    reader.close()
    memory = LocalCrm(Path(":memory:"))
    assert memory.chunk_plan(DAY, 40) is None
    memory.close()
