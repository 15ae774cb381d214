"""`health_fields:` on Salesforce, through the CLI against the fake org: custom Account fields
preflighted with describe, read with the pull, written through sObject Collections (200 a call)
only when changed, equal to the report's; a crash between batches then a rerun writes the rest."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kamrules.connectors.salesforce.account_fields import normal
from tests import kamrules_process
from tests.conftest import ANCHOR, ROOT, Workspace
from tests.support.salesforce import FakeServer, sf_time
from tests.support.salesforce_fields import HEALTH, add_health_fields
from tests.support.salesforce_workspace import ENV, TOKEN, new_org, sf_workspace, tls_cert  # noqa: F401

CONFIG = "health_fields: {" + ", ".join(f"{k}: {v}" for k, v in HEALTH.items()) + "}\n"


@pytest.fixture
def org_server(demo_records: dict[str, Any], tls_cert: tuple[Path, Path]  # noqa: F811
               ) -> Iterator[FakeServer]:
    org = new_org(demo_records)
    add_health_fields(org)
    with FakeServer(org, *tls_cert) as server:
        yield server


@pytest.fixture(autouse=True)
def session_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


def account_patches(server: FakeServer) -> list[int]:
    """Count the org's Account PATCH calls (each call: the number of accounts in it)."""
    org = server.org
    seen: list[int] = []
    inner: Callable[[str, dict[str, Any]], list[dict[str, Any]]] = org.write

    def write(method: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        types = {(r.get("attributes") or {}).get("type") for r in body.get("records", [])}
        if "Account" in types:
            seen.append(len(body["records"]))
        return inner(method, body)
    org.write = write  # type: ignore[method-assign]
    return seen


def health_of(server: FakeServer) -> dict[str, dict[str, Any]]:
    return {a["Id"]: {k: a.get(name) for k, name in HEALTH.items()}
            for a in server.org.objects["Account"]}


def report_rows(ws: Workspace) -> list[dict[str, Any]]:
    proc = ws.cli("report", "--as-of", ANCHOR.isoformat(), "--format", "json", "-o", "-")
    report = json.loads(proc.stdout)
    return report["accounts"] + report["other_accounts"]


def test_health_fields_written_once_equal_to_the_report_at_one_call_per_200_accounts(
        tmp_path: Path, org_server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = org_server.org
    patches = account_patches(org_server)
    plain = sf_workspace(tmp_path / "plain", org_server, tls_cert[0])
    ws = sf_workspace(tmp_path / "ws", org_server, tls_cert[0], extra=CONFIG)

    # the preflight and the read of the current values cost no call: describe and the pull do it
    assert ws.cli("doctor", "--as-of", ANCHOR.isoformat()).returncode == 0  # the fields fit
    without = plain.run_json(command="plan")["api_calls"]
    planned = ws.run_json(command="plan")
    assert planned["api_calls"] == without
    assert planned["health_written"] == planned["accounts"] == 300 and patches == []
    assert all(v["health"] is None for v in health_of(org_server).values())

    before = sum(org.calls.values())
    first = ws.run_json()
    assert first["exit_code"] == 0 and first["health_written"] == 300
    assert patches == [200, 100]  # one call per 200 changed accounts
    tasks = math.ceil(first["counts"]["created"] / 200)
    assert sum(org.calls.values()) - before == first["api_calls"] == without + tasks + 2

    values = health_of(org_server)
    rows = report_rows(ws)
    assert rows
    for row in rows:
        mine = values[row["id"]]
        assert mine["health"] == row["health"], row["name"]
        assert mine["worst_severity"] == row["worst"], row["name"]
        assert mine["open_findings"] == len([f for f in row["findings"] if not f.get("snooze")])
        assert mine["last_evaluated"] == ANCHOR.isoformat()
    reported = {r["id"] for r in rows}  # the report lists accounts with findings
    assert all(v["health"] == 100 and v["open_findings"] == 0 and v["worst_severity"] is None
               for a, v in values.items() if a not in reported)
    assert any(v["health"] < 100 for v in values.values())

    second = ws.run_json()  # an incremental pull re-reads the accounts the first run wrote
    assert second["health_written"] == 0 and patches == [200, 100]

    # someone edits one account's score by hand: the next run writes that account only
    victim = rows[0]["id"]
    org.by_id("Account", victim)[HEALTH["health"]] = 7.0
    org.by_id("Account", victim)["SystemModstamp"] = sf_time()  # as an edit in the org does
    third = ws.run_json()
    assert third["health_written"] == 1 and patches[-1] == 1
    assert health_of(org_server)[victim]["health"] == rows[0]["health"]


def kamrules_run(root: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), ENV: TOKEN}
    env.pop("KAMRULES_CRASH_AT", None)
    if crash_at:
        env["KAMRULES_CRASH_AT"] = crash_at
    return kamrules_process.run(["run", "--as-of", ANCHOR.isoformat(), "--json"], cwd=root, env=env)


def test_killed_between_batches_a_rerun_writes_only_what_is_still_different(
        tmp_path: Path, org_server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    patches = account_patches(org_server)
    ws = sf_workspace(tmp_path / "ws", org_server, tls_cert[0], extra=CONFIG)
    killed = kamrules_run(ws.root, crash_at="health:1")
    assert killed.returncode == 137, killed.stderr
    assert patches == [200]
    assert sum(v["health"] is not None for v in health_of(org_server).values()) == 200

    again = kamrules_run(ws.root)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["health_written"] == 100 and patches == [200, 100]
    assert report["counts"]["created"] == 0  # the tasks were written before the crash
    assert all(v["health"] is not None for v in health_of(org_server).values())
    assert json.loads(kamrules_run(ws.root).stdout)["health_written"] == 0


def test_preflight_names_missing_mistyped_and_read_only_fields_before_anything_moves(
        tmp_path: Path, demo_records: dict[str, Any], tls_cert: tuple[Path, Path]  # noqa: F811
) -> None:
    org = new_org(demo_records)
    add_health_fields(org, health={"type": "string", "length": 20},
                      open_findings={"updateable": False},
                      worst_severity={"picklistValues": [{"value": "high", "active": True}]})
    org.fields["Account"].discard(HEALTH["last_evaluated"])
    with FakeServer(org, *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0], extra=CONFIG)
        for command in ("doctor", "plan", "run"):
            proc = ws.cli(command, "--as-of", ANCHOR.isoformat(), check=False)
            assert proc.returncode == 2, (command, proc.stderr)
            err = proc.stderr
            assert "Account.KAM_Health__c is of type string" in err, err
            assert "Account.KAM_Open_Findings__c is read-only" in err
            assert "Account.KAM_Worst_Severity__c is a restricted picklist without" in err
            assert "info, low, medium, critical" in err
            assert "Account.KAM_Last_Evaluated__c does not exist" in err
            assert "Traceback" not in err
        assert org.calls["query"] == 0 and org.calls["write"] == 0  # describe only


def test_a_refused_account_is_a_warning_and_the_run_is_partial(
        tmp_path: Path, org_server: FakeServer, tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    org = org_server.org
    refused = org.objects["Account"][5]["Id"]
    org.reject = lambda rec: ({"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                               "message": "Account is locked for review", "fields": []}
                              if rec.get("Id") == refused else None)
    ws = sf_workspace(tmp_path / "ws", org_server, tls_cert[0], extra=CONFIG)
    proc = ws.cli("run", "--as-of", ANCHOR.isoformat(), "--json", check=False)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["health_written"] == 299 and report["counts"]["failed"] == 0
    warned = [w for w in report["warnings"] if w["kind"] == "health_fields"]
    assert [w["record_id"] for w in warned] == [refused]
    assert "Account is locked for review" in warned[0]["message"]

    org.reject = lambda rec: None
    again = ws.run_json()
    assert again["health_written"] == 1 and again["exit_code"] == 0


def test_values_read_back_compare_equal_whatever_the_api_form() -> None:
    # SOQL JSON gives doubles, Bulk API CSV gives text and "" for null
    assert normal(85.0, "double") == 85 and normal("85", "double") == 85 and normal("", "double") is None
    assert normal("12.5", "percent") == 12.5 and normal("x", "double") == "x"
    assert normal("", "picklist") is None and normal("high", "picklist") == "high"
    assert normal("2026-11-01", "date") == "2026-11-01"


@pytest.mark.parametrize("override, named", [
    ({"worst_severity": {"type": "string", "length": "wide", "picklistValues": None}},
     "KAM_Worst_Severity__c whose length is not a count"),
    ({"worst_severity": {"type": "string", "length": None}},
     "KAM_Worst_Severity__c whose length is not a count"),
    ({"health": {"precision": "3"}}, "KAM_Health__c whose precision is not a count"),
    ({"open_findings": {"scale": [0]}}, "KAM_Open_Findings__c whose scale is not a count"),
    ({"worst_severity": {"picklistValues": ["info", "low", "medium", "high", "critical"]}},
     "KAM_Worst_Severity__c whose picklistValues is not a list of objects"),
    ({"worst_severity": {"picklistValues": "info;low"}},
     "KAM_Worst_Severity__c whose picklistValues is not a list of objects"),
])
def test_a_describe_of_another_shape_for_a_health_field_is_a_crm_failure_naming_it(
        tmp_path: Path, demo_records: dict[str, Any], tls_cert: tuple[Path, Path],  # noqa: F811
        override: dict[str, dict[str, Any]], named: str) -> None:
    """Field metadata Salesforce documents as counts and lists of objects, answered as text, null
    or a list of names (a proxy, a broken org), stops every command naming it (it was exit 5, or
    a null length read as a field too short): never a Python error, nothing pulled or written."""
    org = new_org(demo_records)
    add_health_fields(org, **override)
    with FakeServer(org, *tls_cert) as server:
        ws = sf_workspace(tmp_path / "ws", server, tls_cert[0], extra=CONFIG)
        for command in ("doctor", "run"):
            proc = ws.cli(command, "--as-of", ANCHOR.isoformat(), check=False)
            assert proc.returncode == 4, (command, proc.stdout, proc.stderr)
            assert named in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr
        assert org.calls["query"] == 0 and org.calls["write"] == 0
