"""Buying roles from OpportunityContactRole: the role map, precedence of the custom Contact
field, several opportunities per contact, unknown Role values, and incremental pulls of roles."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kamrules.connectors.salesforce import connector as salesforce
from kamrules.connectors.salesforce.mapping import (
    CONTACT_ROLES,
    Describe,
    FieldSpec,
    MappingError,
    Resolved,
    load_mapping,
    objects_needed,
    resolve,
)
from kamrules.connectors.salesforce.pull import on_path
from kamrules.connectors.salesforce.roles import merge_roles
from kamrules.evaluation.facts.registry import DECISION_ROLES
from kamrules.model import Contact, Deal
from tests.conftest import ANCHOR, ROOT
from tests.support.salesforce import FakeOrg, FakeServer, sf_time
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, tls_cert  # noqa: F401
from tests.test_salesforce_cross import sf_config

# Salesforce's standard Role picklist of OpportunityContactRole and the canonical role of each
STANDARD = {"Business User": "user", "Decision Maker": "decision_maker",
            "Economic Buyer": "economic_buyer", "Economic Decision Maker": "economic_buyer",
            "Evaluator": "influencer", "Executive Sponsor": "executive_sponsor",
            "Influencer": "influencer", "Technical Buyer": "gatekeeper", "Other": "other"}


def roles_stream(mapping_path: Path | None = None) -> Resolved:
    mapping = load_mapping(mapping_path)
    org = FakeOrg()
    describe = Describe({n: org.describe_of(n) for n in objects_needed(mapping) if n in org.fields})
    streams, errors, _ = resolve(mapping, describe)
    assert errors == []
    return next(s for s in streams if s.spec.kind == CONTACT_ROLES)


def ocr(rid: str, contact: str, deal: str, role: str | None, primary: bool = False,
        account: str = "A1") -> dict[str, Any]:
    """A row as the cache keeps it (REST parent fields flattened, as Bulk API CSV has them)."""
    return {"Id": rid, "ContactId": contact, "OpportunityId": deal, "Opportunity.AccountId": account,
            "Role": role, "IsPrimary": primary}


def deal(did: str, closed_days_ago: int | None = None, account: str = "A1") -> Deal:
    if closed_days_ago is None:
        return Deal(id=did, account_id=account, created=date(2026, 1, 5))
    return Deal(id=did, account_id=account, created=date(2024, 1, 5), is_closed=True,
                close_date=date.fromordinal(ANCHOR.toordinal() - closed_days_ago))


def person(cid: str, **kw: Any) -> Contact:
    return Contact(id=cid, account_id=kw.pop("account_id", "A1"), name=cid, **kw)


def test_the_standard_role_values_map_to_the_canonical_roles_the_facts_read() -> None:
    r = roles_stream()
    spec = r.spec.fields["role"]
    assert isinstance(spec, FieldSpec) and spec.values == STANDARD
    contacts = [person(f"C{i}") for i in range(len(STANDARD))]
    rows = [ocr(f"R{i}", f"C{i}", "D1", value) for i, value in enumerate(STANDARD)]
    merged, warnings = merge_roles(contacts, [deal("D1")], [(r, rows)], ANCHOR)
    assert warnings == []
    assert {c.id: c.buying_role for c in merged} == {f"C{i}": STANDARD[v] for i, v in enumerate(STANDARD)}
    # decision_makers (KAM-REL-007) counts exactly the deciding roles
    deciding = {v for v, canon in STANDARD.items() if canon in DECISION_ROLES}
    assert deciding == {"Decision Maker", "Economic Buyer", "Economic Decision Maker"}


def test_the_custom_contact_field_wins_and_roles_fill_only_empty_values() -> None:
    r = roles_stream()
    contacts = [person("C1", buying_role="influencer"), person("C2", buying_role="  "),
                person("C3", is_primary=True), person("C4")]
    rows = [ocr("R1", "C1", "D1", "Decision Maker", primary=True), ocr("R2", "C2", "D1", "Evaluator"),
            ocr("R3", "C3", "D1", None), ocr("R4", "C4", "D2", "Other", primary=True)]
    merged, _ = merge_roles(contacts, [deal("D1"), deal("D2")], [(r, rows)], ANCHOR)
    by_id = {c.id: c for c in merged}
    assert by_id["C1"].buying_role == "influencer"  # the custom field's value wins
    assert by_id["C1"].is_primary  # an unticked custom flag is filled from IsPrimary
    assert by_id["C2"].buying_role == "influencer"  # a blank custom value is empty
    assert by_id["C3"].is_primary and by_id["C3"].buying_role is None  # no Role: no role
    assert by_id["C4"].buying_role == "other" and by_id["C4"].is_primary


def test_a_contact_on_several_opportunities_gets_its_most_senior_live_role() -> None:
    r = roles_stream()
    contacts = [person("C1"), person("C2"), person("C3"), person("C4", account_id="A2")]
    deals = [deal("OPEN1"), deal("OPEN2"), deal("RECENT", closed_days_ago=200),
             deal("OLD", closed_days_ago=400)]
    rows = [
        # C1: user and technical buyer on open deals, decision maker on a recently closed one,
        # economic buyer on one closed too long ago (recent_days 365): decision maker
        ocr("R1", "C1", "OPEN1", "Business User"), ocr("R2", "C1", "OPEN2", "Technical Buyer"),
        ocr("R3", "C1", "RECENT", "Decision Maker"), ocr("R4", "C1", "OLD", "Economic Buyer", True),
        # C2: only on an old deal: no role, not primary
        ocr("R5", "C2", "OLD", "Decision Maker", primary=True),
        # C3: on an opportunity the deals stream did not bring: its role still counts
        ocr("R6", "C3", "UNKNOWN", "Influencer"),
        # C4 belongs to A2: its role on A1's opportunity is not a role in A2's buying unit
        ocr("R7", "C4", "OPEN1", "Economic Buyer"),
    ]
    merged, _ = merge_roles(contacts, deals, [(r, rows)], ANCHOR)
    by_id = {c.id: c for c in merged}
    assert by_id["C1"].buying_role == "decision_maker" and not by_id["C1"].is_primary
    assert by_id["C2"].buying_role is None and not by_id["C2"].is_primary
    assert by_id["C3"].buying_role == "influencer"
    assert by_id["C4"].buying_role is None
    # the order of the rows does not matter
    again, _ = merge_roles(contacts, deals, [(r, rows[::-1])], ANCHOR)
    assert again == merged


def test_the_role_map_is_configured_in_the_mapping_file(tmp_path: Path) -> None:
    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    assert "Technical Buyer: gatekeeper, Other: other}" in text
    custom = text.replace("Technical Buyer: gatekeeper, Other: other}",
                          "Technical Buyer: gatekeeper, Other: other, Champion: champion}")
    custom = custom.replace("seniority: [economic_buyer,", "seniority: [champion, economic_buyer,")
    (tmp_path / "m.yaml").write_text(custom)
    r = roles_stream(tmp_path / "m.yaml")
    merged, warnings = merge_roles([person("C1")], [deal("D1")],
                                   [(r, [ocr("R1", "C1", "D1", "Economic Buyer"),
                                         ocr("R2", "C1", "D1", "Champion")])], ANCHOR)
    assert warnings == [] and merged[0].buying_role == "champion"

    (tmp_path / "bad.yaml").write_text(text.replace("Other: other}", "Other: other, Champion: champion}"))
    with pytest.raises(MappingError, match="seniority does not rank champion"):
        load_mapping(tmp_path / "bad.yaml")
    data = YAML(typ="safe").load(text)
    stream = next(s for s in data["streams"] if s["kind"] == CONTACT_ROLES)
    stream["fields"]["role"] = "Role"
    (tmp_path / "none.yaml").write_text(json.dumps(data))  # JSON is YAML
    with pytest.raises(MappingError, match="role field needs `values`"):
        load_mapping(tmp_path / "none.yaml")
    del stream["roles"]
    (tmp_path / "none.yaml").write_text(json.dumps(data))
    with pytest.raises(MappingError, match="needs fields contact_id, deal_id, account_id, role and roles"):
        load_mapping(tmp_path / "none.yaml")


def test_key_account_filter_reaches_account_through_the_opportunity() -> None:
    path = "Opportunity.Account"
    assert on_path("Type = 'Key Account'", path) == "Opportunity.Account.Type = 'Key Account'"
    assert on_path("Key_Account__c = true AND (Tier__c IN ('A', 'B') OR AnnualRevenue > 1000000)",
                   path) == ("Opportunity.Account.Key_Account__c = true AND (Opportunity.Account.Tier__c"
                             " IN ('A', 'B') OR Opportunity.Account.AnnualRevenue > 1000000)")
    assert on_path("CALENDAR_YEAR(CreatedDate) >= 2020 AND Name LIKE 'Type = x%'", path) == (
        "CALENDAR_YEAR(Opportunity.Account.CreatedDate) >= 2020 AND Opportunity.Account.Name"
        " LIKE 'Type = x%'")
    assert on_path("Type NOT IN ('Partner') AND LastActivityDate = LAST_N_DAYS:90", path) == (
        "Opportunity.Account.Type NOT IN ('Partner') AND"
        " Opportunity.Account.LastActivityDate = LAST_N_DAYS:90")
    with pytest.raises(ValueError, match="subquery"):
        on_path("Id IN (SELECT Account__c FROM KAM_Account_Plan__c)", path)


def pull(server: FakeServer, cert: Path, folder: Path, **extra: Any) -> tuple[Any, dict[str, str]]:
    conn = salesforce.open_connector(sf_config(server, cert, **extra), folder, folder / "state")
    try:
        snap = conn.pull(ANCHOR)
        conn.commit()
        return snap, dict(conn.puller.modes)
    finally:
        conn.close()


def test_roles_are_pulled_selectively_and_an_unknown_role_value_is_a_record_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    keys = {a["Id"] for a in org.objects["Account"] if a["Type"] == "Key Account"}
    opps = {o["Id"]: o["AccountId"] for o in org.objects["Opportunity"]}
    row = next(r for r in org.objects["OpportunityContactRole"]
               if r["Role"] == "Business User" and opps[r["OpportunityId"]] in keys)
    odd = org.add("OpportunityContactRole", {"ContactId": row["ContactId"],
                                             "OpportunityId": row["OpportunityId"], "Role": "Champion"})
    snap, _ = pull(fake_org, tls_cert[0], tmp_path, incremental=False)
    assert [(w.kind, w.record_id) for w in snap.warnings] == [("contacts", odd["Id"])]
    assert "'Champion'" in snap.warnings[0].message and "role map" in snap.warnings[0].message
    # the contact keeps the role its other rows give (it is a decision-maker: the Business User
    # row is its second one)
    contact = next(c for c in snap.contacts if c.id == row["ContactId"])
    assert contact.buying_role in DECISION_ROLES
    query = next(q for q in org.soql if "FROM OpportunityContactRole" in q)
    assert query.startswith("SELECT Id, ContactId, OpportunityId, Opportunity.AccountId, Role, IsPrimary")
    assert query.endswith("WHERE (Opportunity.Account.Type = 'Key Account')")
    assert org.returned["OpportunityContactRole"] == sum(
        1 for r in org.objects["OpportunityContactRole"] if opps[r["OpportunityId"]] in keys)


def test_role_changes_are_pulled_incrementally_and_deleted_roles_are_noticed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    keys = {a["Id"] for a in org.objects["Account"] if a["Type"] == "Key Account"}
    opps = {o["Id"]: o["AccountId"] for o in org.objects["Opportunity"]}
    rows = org.objects["OpportunityContactRole"]
    per_contact: dict[str, int] = {}
    for r in rows:
        per_contact[r["ContactId"]] = per_contact.get(r["ContactId"], 0) + 1
    row = next(r for r in rows if r["Role"] == "Influencer" and opps[r["OpportunityId"]] in keys
               and per_contact[r["ContactId"]] == 1)

    def role(snap: Any) -> str | None:
        return next(c for c in snap.contacts if c.id == row["ContactId"]).buying_role

    first, modes = pull(fake_org, tls_cert[0], tmp_path)
    assert modes["contact_roles"] == "full" and role(first) == "influencer"
    row.update(Role="Economic Buyer", SystemModstamp=sf_time())
    org.soql.clear()
    second, modes = pull(fake_org, tls_cert[0], tmp_path)
    assert modes["contact_roles"] == "incremental" and role(second) == "economic_buyer"
    assert [q for q in org.soql if q.startswith("SELECT COUNT() FROM OpportunityContactRole")]
    # a contact role removed in Salesforce is deleted for good: no IsDeleted row shows it
    rows.remove(row)
    third, modes = pull(fake_org, tls_cert[0], tmp_path)
    assert modes["contact_roles"] == "full (count changed)" and role(third) is None
    fourth, modes = pull(fake_org, tls_cert[0], tmp_path)
    assert modes["contact_roles"] == "incremental" and role(fourth) is None
    assert fourth.contacts == third.contacts


def test_the_contact_role_object_and_filter_are_checked_before_any_data_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    with pytest.raises(MappingError, match="stream contact_roles: key_account_filter cannot be applied"):
        salesforce.open_connector(sf_config(fake_org, tls_cert[0], key_account_filter=(
            "Id IN (SELECT Account__c FROM KAM_Account_Plan__c)")), tmp_path, tmp_path / "state")
    del org.fields["OpportunityContactRole"]
    with pytest.raises(MappingError, match="object OpportunityContactRole does not exist"):
        salesforce.open_connector(sf_config(fake_org, tls_cert[0]), tmp_path, tmp_path / "state")
    assert org.calls["query"] == 0 and org.calls["describe"] > 0


def test_roles_read_through_bulk_api_match_the_rest_pull(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_org: FakeServer,  # noqa: F811
        tls_cert: tuple[Path, Path]) -> None:  # noqa: F811
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    keys = {a["Id"] for a in org.objects["Account"] if a["Type"] == "Key Account"}
    opp = next(o["Id"] for o in org.objects["Opportunity"] if o["AccountId"] in keys)
    for i in range(2100):  # roles of contacts kamrules does not pull (another account's): ignored
        org.add("OpportunityContactRole", {"ContactId": f"003ELSEWHERE{i:05d}", "OpportunityId": opp,
                                           "Role": "Other", "IsPrimary": False})
    rest, modes = pull(fake_org, tls_cert[0], tmp_path / "rest", incremental=False)
    assert modes["contact_roles"] == "full"
    bulk, modes = pull(fake_org, tls_cert[0], tmp_path / "bulk", incremental=False, bulk_threshold=2000)
    assert modes["contact_roles"] == "bulk-full"  # CSV: Opportunity.AccountId column, "true"/""
    assert bulk.contacts == rest.contacts and bulk.warnings == rest.warnings == []
    assert any(c.buying_role for c in bulk.contacts) and any(c.is_primary for c in bulk.contacts)
