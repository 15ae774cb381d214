"""Incremental pulls: a SystemModstamp bookmark per stream, committed only after write-back,
capped at the run's start with a lookback; and the API-call budget of a whole run."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from kamrules.connectors.cache import RecordCache
from kamrules.connectors.salesforce import connector as salesforce
from kamrules.model import Snapshot
from tests.conftest import ANCHOR, ROOT
from tests.support.salesforce import FakeServer, sf_time
from tests.support.salesforce_budget import in_scope, minimal_calls, readback_rows
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401
from tests.test_salesforce_cross import sf_config


def contact(snap: Snapshot, cid: str):  # noqa: ANN201
    return next((c for c in snap.contacts if c.id == cid), None)


def test_incremental_pull_merges_changes_and_deletes_and_commits_only_on_success(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    state = tmp_path / "state"

    def pull() -> tuple[Snapshot, dict[str, str]]:
        conn = salesforce.open_connector(sf_config(fake_org, tls_cert[0], lookback_minutes=5),
                                         tmp_path, state)
        snap = conn.pull(ANCHOR)
        modes = dict(conn.puller.modes)
        conn.commit() if committing else None
        conn.close()
        return snap, modes

    committing = True
    before = datetime.now(UTC)
    first, modes = pull()
    assert set(modes.values()) == {"full"}
    bookmarks = RecordCache(state / "salesforce-cache.sqlite").bookmarks()
    assert all(before <= datetime.fromisoformat(b) <= datetime.now(UTC) for b in bookmarks.values())

    contacts = {c["Id"]: c for c in org.objects["Contact"]}
    renamed, gone = first.contacts[0].id, first.contacts[1].id
    contacts[renamed].update(Name="Renamed Person", SystemModstamp=sf_time())
    contacts[gone].update(IsDeleted=True, SystemModstamp=sf_time())
    # risk measures are children of plans whose changes leave the plan's SystemModstamp alone
    plans = {p["Id"]: p["Account__c"] for p in org.objects["KAM_Account_Plan__c"]}
    measures = [m for m in org.objects["KAM_Risk_Measure__c"] if m["Plan__c"] in plans]
    edited = measures[0]
    removed = next(m for m in measures if m["Plan__c"] != edited["Plan__c"])
    edited.update(Reviewed__c="2026-10-30", SystemModstamp=sf_time())
    removed.update(IsDeleted=True, SystemModstamp=sf_time())
    org.soql.clear()

    committing = False  # a run whose writes failed: the bookmarks stay where they were
    second, modes = pull()
    assert modes["contacts"] == "incremental" and modes["plans"] == "incremental"
    reread = [q for q in org.soql if "FROM KAM_Account_Plan__c" in q and "Id IN (" in q]
    assert len(reread) == 1 and all(f"'{m['Plan__c']}'" in reread[0] for m in (edited, removed))
    assert reread[0].split("Id IN (")[1].count(",") == 1  # those two plans, no others
    plan_of = {p.account_id: p for p in second.plans}
    earlier = {p.account_id: p for p in first.plans}
    assert len(second.plans) == len(first.plans)
    assert date(2026, 10, 30) in [m.reviewed for m in plan_of[plans[edited["Plan__c"]]].risk_measures]
    gone_plan = plans[removed["Plan__c"]]
    assert len(plan_of[gone_plan].risk_measures) == len(earlier[gone_plan].risk_measures) - 1
    assert contact(second, renamed).name == "Renamed Person" and contact(second, gone) is None
    assert len(second.contacts) == len(first.contacts) - 1
    assert len(second.activities) == len(first.activities)  # unchanged rows come from the cache
    since = [q for q in org.soql if "FROM Contact" in q][0].rsplit("SystemModstamp > ", 1)[1]
    moment = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert moment <= before - timedelta(minutes=5) + timedelta(seconds=2)  # lookback applied
    assert RecordCache(state / "salesforce-cache.sqlite").bookmarks() == bookmarks

    # an account that becomes key: its older children were never pulled, so they are now
    other = next(a for a in org.objects["Account"] if a["Type"] != "Key Account"
                 and any(c["AccountId"] == a["Id"] for c in org.objects["Contact"]))
    other.update(Type="Key Account", SystemModstamp=sf_time())
    committing = True
    third, modes = pull()
    assert modes["contacts"] == "full"
    assert any(c.account_id == other["Id"] for c in third.contacts)
    assert next(a for a in third.accounts if a.id == other["Id"]).is_key


def test_a_run_uses_no_more_than_1_2_times_the_minimal_api_calls(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    org.page_size = 200  # small pages, so the portfolio spans many of them
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0], extra_crm="  page_size: 200\n")
    rows, readback = in_scope(org), readback_rows(org)
    report = ws.run_json()
    written = report["counts"]["created"]
    minimal = minimal_calls(rows, written, readback, page=200)
    assert report["api_calls"] == sum(org.calls.values())
    assert sum(org.calls.values()) <= 1.2 * minimal, (dict(org.calls), minimal)
    assert org.calls["write"] == -(-written // 200)
    assert sum(org.returned.values()) == sum(rows.values())  # each row in scope read once
    # the yardstick comes from the org's records, not from what the connector read
    assert rows["Account"] == len(org.objects["Account"]) and rows["Task"] < len(org.objects["Task"])
    assert 0 < rows["OpportunityContactRole"] < len(org.objects["OpportunityContactRole"])
    assert minimal == 15 + sum(-(-n // 200) for n in rows.values()) + 1 + -(-written // 200)


def test_bench_incremental_runs_stay_near_the_minimal_calls() -> None:
    """bench/salesforce_calls at a tiny size, small pages: full, unchanged and 1%-changed rows."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "salesforce_calls"),
                           "--key-accounts", "40", "--page-size", "200"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {cols[1].split(" (")[0]: cols for line in proc.stdout.splitlines()[1:]
            if len(cols := line.split(" | ")) == 10}
    assert set(rows) == {"full", "unchanged", "1% changed"}, proc.stdout
    for label in ("unchanged", "1% changed"):
        calls, minimal = int(rows[label][4].split(" (")[0]), int(rows[label][6])
        assert calls <= 1.2 * minimal and float(rows[label][7]) <= 1.2, rows[label]
        assert int(rows[label][2]) < int(rows["full"][2]) / 5  # deltas, not everything again
    assert rows["unchanged"][3].startswith("0 ") and "write" not in rows["unchanged"][4]
    assert int(rows["1% changed"][3].split(" ")[0]) > 0  # the changes moved some findings
