"""The local CRM's kept record counts (connectors/local/counts.py) equal a count of the tables
after kamrules' writes, replaced and moved records, hand edits, a migration of the previous
versions' files and an older kamrules that dropped a table's triggers; and the chunk plan made
from them is the plan counted live."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

from kamrules.connectors.local.counts import RELATED, triggers
from kamrules.connectors.local.crm import LocalCrm
from tests.support import legacy_crm

DAY = date(2026, 11, 1)


def _live(db: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in RELATED:
        for account, n in db.execute(f'SELECT account_id, COUNT(*) FROM "{kind}" GROUP BY 1'):
            counts[account] = counts.get(account, 0) + n
    return counts


def _kept(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        assert dict(db.execute("SELECT account_id, n FROM record_counts")) == _live(db)
        return _live(db)
    finally:
        db.close()


def test_counts_follow_writes_replacements_moves_and_hand_edits(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    path = tmp_path / "crm.sqlite"
    crm = LocalCrm(path)
    crm.insert_all(demo_records)
    first = _kept(path)
    assert sum(first.values()) == sum(len(demo_records[k]) for k in RELATED)
    # written again (REPLACE), one contact moved to another account, one of an unknown account
    contacts = [dict(c) for c in demo_records["contacts"][:20]]
    moved = contacts[0]["account_id"]
    contacts[0]["account_id"] = "ACC-000299"
    crm.insert_records("contacts", [*contacts, {**contacts[1], "id": "CON-X", "account_id": "GHOST"}])
    counts = _kept(path)
    assert counts[moved] == first[moved] - 1 and counts["ACC-000299"] == first["ACC-000299"] + 1
    assert counts["GHOST"] == 1
    crm.close()
    # by hand, with another tool's connection: delete, move, insert
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM activities WHERE account_id = 'ACC-000001'")
    db.execute("UPDATE deals SET account_id = 'ACC-000002' WHERE account_id = 'ACC-000003'")
    db.execute("INSERT INTO team SELECT 'T-NEW', account_id, user_id, role, region FROM team LIMIT 1")
    db.execute("DELETE FROM contacts WHERE account_id = 'GHOST'")
    db.close()
    counts = _kept(path)
    assert "GHOST" not in counts  # an account whose last record went leaves no row
    LocalCrm(path).close()
    assert _kept(path) == counts  # nothing to make afresh


def test_counts_are_made_for_old_files_and_after_an_older_kamrules_dropped_triggers(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    legacy = tmp_path / "legacy.sqlite"
    legacy_crm.create(legacy, demo_records)  # the JSON store: no counts at all
    crm = LocalCrm(legacy)
    assert crm.migration is not None
    crm.close()
    assert sum(_kept(legacy).values()) == sum(len(demo_records[k]) for k in RELATED)

    path = tmp_path / "crm.sqlite"
    crm = LocalCrm(path)
    crm.insert_all(demo_records)
    crm.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute('DROP TRIGGER "contacts_counted_insert"')  # as rebuilding the table would
    db.execute("INSERT INTO contacts (key, id, account_id, name, is_primary, status)"
               " VALUES ('C-NEW', 'C-NEW', 'ACC-000005', 'New', 0, 'active')")
    assert dict(db.execute("SELECT account_id, n FROM record_counts")) != _live(db)
    db.close()
    crm = LocalCrm(path)  # made afresh when opened
    crm.close()
    _kept(path)
    db = sqlite3.connect(path)
    assert {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")} \
        == {*triggers(), "task_completed_day"}  # the counts' and the tasks' own
    db.close()


def test_the_plan_from_kept_counts_is_the_plan_counted_live(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    crm.insert_records("contacts", [
        {**demo_records["contacts"][0], "id": "CON-O", "account_id": "NOPE"},
        {**demo_records["contacts"][0], "id": "CON-U", "account_id": "ACC-000007A"},
        # unreadable (kept in records_unreadable): of an account, of none in the CRM, of none
        *({"id": f"CON-BAD-{i}", "account_id": "ACC-000004", "created": "x"} for i in range(150)),
        {"id": "CON-BAD-NOPE", "account_id": "NOPE-2", "created": "x"},
        {"id": "CON-BAD-NONE", "created": "x"}])
    # an account that does not validate, between two that do, with records of its own
    crm.insert_records("accounts", [{"id": "ACC-000007A", "is_key": "perhaps"}])
    crm.insert_records("surveys", [{"account_id": "ACC-000007A", "date": "2026-02-30"}])
    spans, orphans = crm.chunk_spans(DAY, 40, records=300)
    live = _live(crm.db)
    for account, n in crm.db.execute(
            "SELECT account_id, COUNT(*) FROM records_unreadable WHERE kind != 'accounts'"
            " GROUP BY 1"):
        live[account] = live.get(account, 0) + n
    keys = sorted([a["id"] for a in demo_records["accounts"]] + ["ACC-000007A"])
    expected, chunk, used = [], [], 0
    for key in keys:
        n = live.get(key, 0) + 1
        if chunk and (len(chunk) >= 40 or used + n > 300):
            expected.append((chunk[0], chunk[-1], len(chunk)))
            chunk, used = [], 0
        chunk.append(key)
        used += n
    expected.append((chunk[0], chunk[-1], len(chunk)))
    assert live["ACC-000004"] > 150 and live["ACC-000007A"] == 2
    assert [(s.first, s.last, s.accounts) for s in spans] == expected
    assert all(s.filtered for s in spans)
    assert [(w.kind, w.record_id) for w in orphans] == [
        ("contacts", "CON-BAD-NONE"), ("contacts", "CON-BAD-NOPE"), ("contacts", "CON-O")]
    crm.close()


def test_orphans_readable_or_not_are_found_alone(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    crm = LocalCrm(tmp_path / "crm.sqlite")
    crm.insert_all(demo_records)
    spans, orphans = crm.chunk_spans(DAY, 40)
    assert orphans == [] and not any(s.filtered for s in spans)
    assert sum(s.accounts for s in spans) == len(demo_records["accounts"])
    crm.insert_records("accounts", [{"id": "ACC-000007A", "is_key": "perhaps"}])  # no records
    spans, orphans = crm.chunk_spans(DAY, 40)
    assert orphans == [] and sum(s.accounts for s in spans) == len(demo_records["accounts"]) + 1
    crm.insert_records("contacts", [{**demo_records["contacts"][0], "id": "CON-O", "account_id": "NOPE"}])
    assert [w.record_id for w in crm.chunk_spans(DAY, 40)[1]] == ["CON-O"]
    crm.db.execute("DELETE FROM contacts WHERE id = 'CON-O'")  # by hand
    assert crm.chunk_spans(DAY, 40)[1] == []
    crm.insert_records("contacts", [{"id": "CON-BAD-NOPE", "account_id": "NOPE", "created": "x"}])
    spans, orphans = crm.chunk_spans(DAY, 40)
    assert [w.record_id for w in orphans] == ["CON-BAD-NOPE"] and all(s.filtered for s in spans)
    crm.close()
