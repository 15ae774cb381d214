"""Worker processes that pull their own chunks of the local CRM (issue #18) report exactly what a
one-process run reports: warnings in the same order, data-quality tallies, changes, plays."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

from kamrules.cli.wiring import open_connector
from kamrules.connectors.local.demo import demo_portfolio
from kamrules.run.config import load_config, load_configured_packs
from kamrules.run.sync import run
from kamrules.run.workers import POOLS

AS_OF = date(2026, 11, 1)


def _damaged(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The demo portfolio with what a careless CRM holds: orphans, records that do not
    validate (kept unreadable), a duplicate id and values that do not parse."""
    contact = records["contacts"][5]
    records["contacts"] += [
        {**contact, "id": "orphan-contact", "account_id": "no-such-account"},
        {**contact, "id": "zz-orphan", "account_id": "zzz-after-every-account"},
        {**contact, "id": "bad-date", "created": "2026-13-45"},
    ]
    records["activities"].append({**records["activities"][3], "id": "bad-kind", "date": "yesterday"})
    records["deals"].append({**records["deals"][2], "id": "deal-amount", "amount": "a lot"})
    records["accounts"].append({**records["accounts"][7], "id": "acc-broken", "revenue": "n/a"})
    return records


def _forced(db: sqlite3.Connection) -> dict[str, str]:
    """Rows edited by hand past their tables' constraints: a contact of a key account and one
    of an account that is not key (contacts are read of key accounts only), an activity; their
    ids by what they are."""
    db.execute("PRAGMA ignore_check_constraints = ON")
    forced = {}
    for kind, column, key in (("contacts", "created", 1), ("contacts", "created", 0),
                              ("activities", "date", 0)):
        [(rowid, rid)] = db.execute(
            f'SELECT rowid, "key" FROM "{kind}" WHERE account_id IN'
            ' (SELECT "key" FROM accounts WHERE is_key = ?) ORDER BY rowid LIMIT 1', (key,))
        db.execute(f'UPDATE "{kind}" SET "{column}" = \'2026-02-30\' WHERE rowid = ?', (rowid,))
        forced[f"{kind}-{key}"] = rid
    db.execute("PRAGMA ignore_check_constraints = OFF")
    return forced


def _plan(root: Path, workers: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    loaded = load_config(root / "kamrules.yaml")
    connector = open_connector(loaded)
    try:
        for kind, rows in _damaged(demo_portfolio(AS_OF, accounts=300)).items():
            connector.insert_records(kind, rows)
        forced = _forced(connector.db)
        report = run(connector, load_configured_packs(loaded), loaded, AS_OF, True,
                     chunk_size=37, digest=False, workers=workers)
    finally:
        connector.close()
    return {**report.model_dump(mode="json", exclude={"started", "finished"}), "forced": forced}


def test_workers_pulling_their_chunks_report_what_one_process_reports(tmp_path: Path) -> None:
    one = _plan(tmp_path / "one", 1)
    before = dict(POOLS)
    two = _plan(tmp_path / "two", 2)
    assert POOLS["started"] == before["started"] + 1 and POOLS["chunks"] - before["chunks"] >= 8
    assert one["warnings"] and one["changes"]
    ids = {w["record_id"] for w in one["warnings"]}
    assert {"orphan-contact", "zz-orphan", "bad-date", "bad-kind", "deal-amount", "acc-broken"} <= ids
    # a row forced past its table's constraints is read (and reported) where the run reads its
    # kind; the contacts of an account that is not key are not read, by one process or by two
    forced = one["forced"]
    assert {forced["contacts-1"], forced["activities-0"]} <= ids and forced["contacts-0"] not in ids
    tallied = {s["field"]: s["failed"] for s in one["field_failures"]}
    assert tallied["activities (whole records)"] == 2  # "bad-kind", kept unreadable, and the row
    # the key account's forced row, "bad-date" (kept unreadable) and the two of no account; not
    # the forced row of the account that is not key (not read)
    assert tallied["contacts (whole records)"] == 4
    assert two == one
