"""Worker processes that pull their own chunks of the local CRM (issue #18) report exactly what a
one-process run reports: warnings in the same order, changes, plays."""

from __future__ import annotations

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


def _plan(root: Path, workers: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kamrules.yaml").write_text(
        "crm: {type: local, path: crm.sqlite, seed: empty}\nstate_dir: state\n")
    loaded = load_config(root / "kamrules.yaml")
    connector = open_connector(loaded)
    try:
        for kind, rows in _damaged(demo_portfolio(AS_OF, accounts=300)).items():
            connector.insert_records(kind, rows)
        report = run(connector, load_configured_packs(loaded), loaded, AS_OF, True,
                     chunk_size=37, digest=False, workers=workers)
    finally:
        connector.close()
    return report.model_dump(mode="json", exclude={"started", "finished"})


def test_workers_pulling_their_chunks_report_what_one_process_reports(tmp_path: Path) -> None:
    one = _plan(tmp_path / "one", 1)
    before = dict(POOLS)
    two = _plan(tmp_path / "two", 2)
    assert POOLS["started"] == before["started"] + 1 and POOLS["chunks"] - before["chunks"] >= 8
    assert one["warnings"] and one["changes"]
    ids = {w["record_id"] for w in one["warnings"]}
    assert {"orphan-contact", "zz-orphan", "bad-date", "bad-kind", "deal-amount", "acc-broken"} <= ids
    assert two == one
