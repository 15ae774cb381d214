"""`health_fields:` account health written to the (local) CRM: equal to the report's, written
only when changed, counted but not written by plan; a connector without the capability refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kamrules.errors import KamError
from kamrules.writeback.health import check_supported
from tests.conftest import ANCHOR, Workspace

FIELDS = ("health_fields: {health: kam_health, worst_severity: kam_worst,"
          " open_findings: kam_open, last_evaluated: kam_evaluated}\n")


def _fields(ws: Workspace) -> dict[str, dict[str, Any]]:
    crm = ws.crm()
    try:
        return crm.read_account_fields(["kam_health", "kam_worst", "kam_open", "kam_evaluated"])
    finally:
        crm.close()


def _report_rows(ws: Workspace) -> list[dict[str, Any]]:
    report = json.loads(ws.cli("report", "--as-of", ANCHOR.isoformat(), "--format", "json",
                               "-o", "-").stdout)
    return report["accounts"] + report["other_accounts"]


def _assert_equal_to_report(ws: Workspace) -> None:
    fields = _fields(ws)
    rows = _report_rows(ws)
    assert rows
    for row in rows:
        mine = fields[row["id"]]
        assert mine["kam_health"] == row["health"], row["name"]
        assert mine["kam_worst"] == row["worst"], row["name"]
        assert mine["kam_open"] == len([f for f in row["findings"] if not f.get("snooze")])
    reported = {r["id"] for r in rows}
    assert all(v["kam_health"] == 100 and v["kam_open"] == 0 for a, v in fields.items()
               if a not in reported)


def test_health_fields_equal_the_report_and_are_written_only_when_changed(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, Any]) -> None:
    ws = workspace_factory(demo_records, FIELDS)
    planned = ws.run_json(command="plan")
    assert planned["health_written"] == planned["accounts"] == 300
    assert _fields(ws) == {}

    first = ws.run_json()
    assert first["health_written"] == 300
    assert {v["kam_evaluated"] for v in _fields(ws).values()} == {ANCHOR.isoformat()}
    _assert_equal_to_report(ws)
    assert ws.run_json()["health_written"] == 0

    crm = ws.crm()  # Ural Steelworks' late delivery is escalated and closed
    crm.db.execute("UPDATE cases SET closed = '2026-10-31', escalated = 1"
                   " WHERE id LIKE '%-C1'")
    crm.close()
    old = _fields(ws)
    third = ws.run_json()
    new = _fields(ws)
    moved = {a for a in new if new[a] != old[a]}
    assert "ACC-000003" in moved and third["health_written"] == len(moved)
    assert all(new[a]["kam_evaluated"] == ANCHOR.isoformat() for a in moved)
    assert new["ACC-000003"]["kam_health"] > old["ACC-000003"]["kam_health"]
    assert new["ACC-000003"]["kam_open"] < old["ACC-000003"]["kam_open"]
    _assert_equal_to_report(ws)


def test_a_connector_without_account_fields_is_refused_before_pulling() -> None:
    with pytest.raises(KamError, match="cannot write account fields"):
        check_supported(object())
