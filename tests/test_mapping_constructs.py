"""Constructs of the shared mapping language through each connector against its fake server:
a multi-select split into a list of objects (risk measures), coalesce (a contact's region from the
first filled of two fields), a case-insensitive value map with a default, and a constant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kamrules.connectors.hubspot.config import HubSpotConfig, Mapping
from kamrules.connectors.hubspot.connector import HubSpotConnector
from kamrules.connectors.hubspot.http import HubSpotApi
from kamrules.connectors.salesforce import connector as salesforce
from kamrules.inputs.secrets import Secret
from tests.conftest import ANCHOR, ROOT
from tests.support.hubspot_workspace import TOKEN as HS_TOKEN
from tests.support.hubspot_workspace import start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_config, tls_cert  # noqa: F401

KINDS = "Delivery Guarantee;PREVENTIVE MAINTENANCE;Escrow"
EXPECTED = ["delivery guarantee", "preventive maintenance", "other"]
MEASURE_VALUES = "{delivery guarantee: delivery guarantee, preventive maintenance: preventive maintenance}"


def test_salesforce_split_into_objects_coalesce_values_and_const(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    org.fields["KAM_Account_Plan__c"].add("Risk_Kinds__c")
    plan = org.objects["KAM_Account_Plan__c"][0]
    plan["Risk_Kinds__c"] = KINDS
    org.fields["Contact"].add("MailingState")
    contact = next(c for c in org.objects["Contact"] if c.get("KAM_Region__c"))
    contact["KAM_Region__c"], contact["MailingState"] = None, "Bavaria"
    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    a, b = text.index("      risk_measures:\n"), text.index("\n  - name: surveys")
    text = (text[:a] + f"      risk_measures: {{field: Risk_Kinds__c, split: ';', item: kind,\n"
            f"                      values: {MEASURE_VALUES}, default: other}}\n" + text[b:])
    for before, after in (("      region: {field: KAM_Region__c, optional: true}\n",
                           "      region: {coalesce: [KAM_Region__c, MailingState]}\n"),
                          ("      title: {field: Title, optional: true}", "      title: {const: Buyer}")):
        start = text.index("  - name: contacts\n")  # the contacts stream's fields
        assert before in text[start:text.index("\n  - name:", start + 1)], before
        text = text[:start] + text[start:].replace(before, after, 1)
    (tmp_path / "m.yaml").write_text(text)
    config = sf_config(fake_org, tls_cert[0], incremental=False, mapping="m.yaml")
    conn = salesforce.open_connector(config, tmp_path, tmp_path / "state")
    snap = conn.pull(ANCHOR)
    conn.close()
    [got] = [p for p in snap.plans if p.account_id == plan["Account__c"]]
    assert [m.kind for m in got.risk_measures] == EXPECTED
    assert {c.region for c in snap.contacts if c.id == contact["Id"]} == {"Bavaria"}
    assert {c.title for c in snap.contacts} == {"Buyer"}
    stat = snap.field_stats["plans.risk_measures"]
    assert stat.unmapped == ["Escrow"] and stat.values["Delivery Guarantee"] == 1


def test_hubspot_split_into_objects_coalesce_values_and_const(
        demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, ids = start_fake(demo_records, window=1.0)
    try:
        fake.properties["companies"].append("kam_risk_kinds")
        fake.properties["contacts"].append("state")
        company = ids["accounts"]["ACC-000002"]
        fake.update("companies", company, {"kam_risk_kinds": KINDS})
        contact = ids["contacts"]["CON-000001"]
        fake.update("contacts", contact, {"kam_region": "", "state": "Bavaria"})
        data = YAML(typ="safe").load((ROOT / "config" / "hubspot.mapping.yaml").read_text())
        data["fields"] = YAML(typ="safe").load(f"""
plans:
  risk_measures: {{field: kam_risk_kinds, split: ";", item: kind, values: {MEASURE_VALUES}, default: other}}
contacts:
  region: {{coalesce: [kam_region, state]}}
  title: {{const: Buyer}}
""")
        config = HubSpotConfig.model_validate({"type": "hubspot", "access_token": {"env": "UNUSED"},
                                               "base_url": url, "incremental": False})
        api = HubSpotApi(Secret(HS_TOKEN), url, 40, 4, config.retry, window=1.0)
        conn = HubSpotConnector(config, Mapping.model_validate(data), api, None)
        snap = conn.pull(ANCHOR)
        [plan] = [p for p in snap.plans if p.account_id == company]
        assert [m.kind for m in plan.risk_measures] == EXPECTED
        assert {c.region for c in snap.contacts if c.id == contact} == {"Bavaria"}
        assert {c.title for c in snap.contacts} == {"Buyer"}
        assert snap.field_stats["plans.risk_measures"].unmapped == ["Escrow"]
        assert not [w for w in snap.warnings if w.kind == "hubspot mapping"]  # the properties exist
    finally:
        fake.stop()
