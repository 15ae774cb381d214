"""`kamrules doctor`: pre-flight, then per canonical field its CRM source, fill share, the enum
values seen and the unmapped ones; writes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401


def test_doctor_on_salesforce_shows_sources_fill_and_unmapped_values(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    keys = [a for a in fake_org.org.objects["Account"] if a.get("Type") == "Key Account"]
    keys[0]["KAM_Supplier_Status__c"] = "Maybe"
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0])
    proc = ws.cli("doctor", "--as-of", "2026-11-01", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    fields = {f["field"]: f for f in report["fields"]}
    supplier = fields["accounts.preferred_supplier"]
    assert supplier["source"] == "Account.KAM_Supplier_Status__c"
    assert supplier["values"]["Preferred"] > 10 and supplier["unmapped"] == ["Maybe"]
    assert supplier["failed"] == 1 and supplier["samples"] == ["'Maybe'"]
    assert fields["accounts.name"]["fill_share"] == 1.0
    assert 0 < fields["accounts.potential"]["fill_share"] < 1  # key accounts only
    assert fields["deals.stage"]["source"] == "Opportunity.StageName"
    assert report["data_quality"] == []
    assert fake_org.org.calls["write"] == 0

    text = ws.cli("doctor", "--as-of", "2026-11-01", check=False).stdout
    line = next(x for x in text.splitlines() if x.startswith("accounts.preferred_supplier\t"))
    assert "Account.KAM_Supplier_Status__c" in line and line.endswith("Maybe")


def test_doctor_on_hubspot_shows_values_the_mapping_lacks(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, ids = start_fake(demo_records, window=1.0)
    try:
        fake.update("companies", ids["accounts"]["ACC-000002"], {"hs_ideal_customer_profile": "tier_9"})
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config()
        code, report = ws.run_json("doctor")
        assert code == 0, report
        fields = {f["field"]: f for f in report["fields"]}
        assert fields["values.tier"]["unmapped"] == ["tier_9"]
        # a value table's row in text: no fill share of a field (it read "0"), its values
        text = ws.cli("doctor", "--as-of", "2026-11-01").stdout
        line = next(x for x in text.splitlines() if x.startswith("values.tier\t"))
        assert line.split("\t")[1:3] == ["value map", ""] and line.endswith("\ttier_9"), line
        assert fields["accounts.potential"]["source"] == "kam_potential"
        assert fields["accounts.name"]["fill_share"] == 1.0
        assert fake.tasks() == [] and not fake.calls["GET /crm/v3/objects/tasks"]
    finally:
        fake.stop()


def test_doctor_on_the_local_crm_counts_fill_and_values_from_its_records(
        workspace_factory: Callable[..., Workspace], demo_records: dict[str, list[dict[str, Any]]]
) -> None:
    """The local CRM maps no fields (its records are stored canonical), so doctor counts each
    field's fill and the values of those with few from the records, instead of 0% for all."""
    records = {k: list(v) for k, v in demo_records.items()}
    records["contacts"].append({"id": "BAD-1", "account_id": "ACC-000001", "name": 7})
    records["contacts"][0] = {**records["contacts"][0], "title": "Boss\x1b[31m\tX\nY"}
    ws = workspace_factory(records)
    proc = ws.cli("doctor", "--as-of", "2026-11-01", "--format", "json")
    report = json.loads(proc.stdout)
    fields = {f["field"]: f for f in report["fields"]}
    accounts = records["accounts"]
    assert fields["accounts.name"]["fill_share"] == 1.0
    key = sum(1 for a in accounts if a["is_key"])
    assert fields["accounts.tier"]["filled"] == sum(1 for a in accounts if a.get("tier"))
    assert fields["accounts.is_key"]["values"] == {"True": key, "False": len(accounts) - key}
    stances = Counter(c["stance"] for c in records["contacts"] if c.get("stance"))
    assert fields["contacts.stance"]["values"] == dict(stances)
    assert fields["contacts.name"]["values"] == {}  # as many names as contacts: not listed
    whole = fields["contacts (whole records)"]
    assert (whole["failed"], whole["filled"]) == (1, len(records["contacts"]))
    assert report["data_quality"] == []
    assert fields["contacts.title"]["values"]["Boss\x1b[31m\tX\nY"] == 1  # the JSON escapes it
    # the text table: a CRM's value on one line and in one cell, without terminal controls
    lines = ws.cli("doctor", "--as-of", "2026-11-01").stdout.splitlines()
    [title] = [line for line in lines if line.startswith("contacts.title\t")]
    assert len(title.split("\t")) == 6 and "Boss X Y (1)" in title and "\x1b" not in title
