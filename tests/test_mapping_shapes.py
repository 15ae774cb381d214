"""The same portfolio in a Salesforce org and a HubSpot portal shaped unlike the shipped mappings
(revenue as one field per year, the account team as owner fields each with its role, the supplier
status in other labels and case, risk measures as one date field per measure, HubSpot's primary
contact as a checkbox) gives the local CRM's findings, through the shared mapping language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ANCHOR, ROOT, make_workspace
from tests.support.hubspot_workspace import HsWorkspace, start_fake
from tests.support.salesforce import FakeServer
from tests.support.salesforce_workspace import ENV, TOKEN, fake_org, sf_workspace, tls_cert  # noqa: F401

ROLE_FIELDS = {"account_manager": "KAM_Manager__c", "executive_sponsor": "Exec_Sponsor__c",
               "service": "Service_Owner__c"}
SF_ACCOUNT = """
      revenue:
        items:
          - {year: {relative_year: -3}, amount: {field: Revenue_PY2__c, convert: float}}
          - {year: {relative_year: -2}, amount: {field: Revenue_PY__c, convert: float}}
          - {year: {relative_year: -1}, amount: {field: Revenue_LTM__c, convert: float}}
"""
SF_SUPPLIER = """      preferred_supplier:
        field: Supplier__c
        values: {preferred supplier: preferred, Approved Vendor: approved, LOST: lost}
"""
SF_TEAM = """  - name: team
    kind: team
    object: Account
    account_field: Id
    fields:
      account_id: Id
    each:
      items:
        - {user_id: KAM_Manager__c, role: {const: account_manager}}
        - {user_id: Exec_Sponsor__c, role: {const: executive_sponsor}}
        - {user_id: Field_Rep_1__c, role: {const: field_rep}, region: Field_Rep_1_Region__c}
        - {user_id: Field_Rep_2__c, role: {const: field_rep}, region: Field_Rep_2_Region__c}
        - {user_id: Service_Owner__c, role: {const: service}}

"""
MEASURES = [("delivery guarantee", "Delivery_Guarantee_Reviewed__c", "kam_delivery_guarantee_reviewed"),
            ("preventive maintenance", "Maintenance_Reviewed__c", "kam_maintenance_reviewed")]


def _measures(field: int) -> str:
    lines = "\n".join(f"          - {{kind: {{const: {kind}}}, reviewed: {{field: {names[field - 1]},"
                      " convert: date}}" for kind, *names in MEASURES)
    return f"      risk_measures:\n        items:\n{lines}\n"


def _members(records: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per account: the user in each owner field (and the field reps' regions)."""
    out: dict[str, dict[str, Any]] = {}
    for t in records["team"]:
        fields = out.setdefault(t["account_id"], {})
        if t["role"] == "field_rep":
            n = 2 if "Field_Rep_1__c" in fields else 1
            fields[f"Field_Rep_{n}__c"], fields[f"Field_Rep_{n}_Region__c"] = t["user_id"], t["region"]
        else:
            fields[ROLE_FIELDS[t["role"]]] = t["user_id"]
    return out


def _local_fingerprints(tmp_path: Path, records: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    plan = make_workspace(tmp_path / "local", records).run_json(command="plan")
    assert len(plan["changes"]) > 100
    return {(c["fingerprint"], c["subject"]) for c in plan["changes"]}


def _between(text: str, start: str, end: str, new: str) -> str:
    a, b = text.index(start), text.index(end)
    return text[:a] + new + text[b:]


def test_a_differently_shaped_salesforce_org_gives_the_local_findings(
        tmp_path: Path, fake_org: FakeServer, tls_cert: tuple[Path, Path],  # noqa: F811
        demo_records: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    org = fake_org.org
    team = _members(demo_records)
    accounts = {a["id"]: a for a in demo_records["accounts"]}
    org.fields["Account"] -= {"KAM_Revenue_History__c", "KAM_Supplier_Status__c"}
    org.fields["Account"] |= {"Revenue_LTM__c", "Revenue_PY__c", "Revenue_PY2__c", "Supplier__c",
                              *ROLE_FIELDS.values(), "Field_Rep_1__c", "Field_Rep_1_Region__c",
                              "Field_Rep_2__c", "Field_Rep_2_Region__c"}
    for row in org.objects["Account"]:
        a = accounts[row["Id"]]
        revenue = {p["year"]: p["amount"] for p in a.get("revenue") or []}
        del row["KAM_Revenue_History__c"], row["KAM_Supplier_Status__c"]
        for n, name in enumerate(("Revenue_LTM__c", "Revenue_PY__c", "Revenue_PY2__c"), 1):
            row[name] = revenue.get(ANCHOR.year - n)
        row["Supplier__c"] = {"preferred": "PREFERRED SUPPLIER", "approved": "approved vendor",
                              "lost": "lost"}.get(
            a.get("preferred_supplier") or "")
        row.update(team.get(row["Id"], {}))
    del org.fields["AccountTeamMember"], org.objects["AccountTeamMember"]
    plans = {p["account_id"]: p for p in demo_records["plans"]}
    org.fields["KAM_Account_Plan__c"] |= {m[1] for m in MEASURES}
    for row in org.objects["KAM_Account_Plan__c"]:
        reviewed = {m["kind"]: m.get("reviewed") for m in plans[row["Account__c"]]["risk_measures"]}
        row.update({field: reviewed.get(kind) for kind, field, _ in MEASURES})
    org.relationships["KAM_Account_Plan__c"].clear()  # no risk-measure child object either
    del org.fields["KAM_Risk_Measure__c"]

    text = (ROOT / "config" / "salesforce.mapping.yaml").read_text()
    text = text.replace("      revenue: {field: [KAM_Revenue_History__c, AnnualRevenue], convert: revenue}\n",
                        SF_ACCOUNT.lstrip("\n"))
    text = _between(text, "      preferred_supplier:\n", "\n  - name: contacts", SF_SUPPLIER)
    text = _between(text, "  - name: team\n", "  - name: contracts\n", SF_TEAM)
    text = _between(text, "      risk_measures:\n", "\n  - name: surveys", _measures(1))
    for name in ("deals", "tasks", "events"):  # every account's deals and activities, like local
        text = text.replace(f"  - name: {name}\n", f"  - name: {name}\n    scope: all_accounts\n")
    ws = sf_workspace(tmp_path / "ws", fake_org, tls_cert[0], extra_crm="  mapping: shaped.yaml\n")
    (ws.root / "shaped.yaml").write_text(text)

    proc = ws.cli("plan", "--as-of", ANCHOR.isoformat(), "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["warnings"] == [] and report["field_failures"] == []
    assert not any("KAM_Revenue_History__c" in q or "AccountTeamMember" in q for q in org.soql)
    got = {(c["fingerprint"], c["subject"]) for c in report["changes"]}
    assert got == _local_fingerprints(tmp_path, demo_records)


def test_a_differently_shaped_hubspot_portal_gives_the_local_findings(
        tmp_path: Path, demo_records: dict[str, list[dict[str, Any]]]) -> None:
    fake, url, ids = start_fake(demo_records, window=1.0)
    try:
        owner_of = {}  # kamrules user id -> HubSpot owner id, from the loaded team property
        to_hs = ids["accounts"]
        team = _members(demo_records)
        hs_fields = {"KAM_Manager__c": "kam_am", "Exec_Sponsor__c": "kam_exec_sponsor",
                     "Service_Owner__c": "kam_service_owner", "Field_Rep_1__c": "kam_rep_1",
                     "Field_Rep_1_Region__c": "kam_rep_1_region", "Field_Rep_2__c": "kam_rep_2",
                     "Field_Rep_2_Region__c": "kam_rep_2_region"}
        for t in demo_records["team"]:
            props = fake.objects["companies"][to_hs[t["account_id"]]]["properties"]
            for item in props["kam_account_team"].split(";"):
                owner, role = item.split(":")[:2]
                if role == t["role"]:
                    owner_of.setdefault(t["user_id"], owner)
        plans = {p["account_id"]: p for p in demo_records["plans"]}
        contact_ids = ids["contacts"]
        primary = {contact_ids[c["id"]] for c in demo_records["contacts"] if c.get("is_primary")}
        fake.properties["companies"] = [p for p in fake.properties["companies"] if p not in (
            "kam_revenue_history", "kam_supplier_status", "kam_account_team", "kam_plan_risk_measures")]
        fake.properties["companies"] += ["kam_rev_ltm", "kam_rev_py", "kam_rev_py2", "kam_vendor_status",
                                         *hs_fields.values(), *(m[2] for m in MEASURES)]
        fake.properties["contacts"] += ["kam_is_primary"]
        for account in demo_records["accounts"]:
            props = fake.objects["companies"][to_hs[account["id"]]]["properties"]
            for gone in ("kam_revenue_history", "kam_supplier_status", "kam_account_team",
                         "kam_plan_risk_measures"):
                props.pop(gone)
            revenue = {p["year"]: p["amount"] for p in account.get("revenue") or []}
            for n, name in enumerate(("kam_rev_ltm", "kam_rev_py", "kam_rev_py2"), 1):
                props[name] = str(revenue.get(ANCHOR.year - n, ""))
            props["kam_vendor_status"] = {"preferred": "Preferred_Vendor", "approved": "Approved_Vendor",
                                           "lost": "LOST_ACCOUNT"}.get(
                account.get("preferred_supplier") or "", "")
            for sf_name, value in team.get(account["id"], {}).items():
                is_user = not sf_name.endswith("Region__c")
                props[hs_fields[sf_name]] = owner_of[value] if is_user else value
            reviewed = {m["kind"]: m.get("reviewed") for m in plans.get(account["id"], {}).get(
                "risk_measures", [])}
            props.update({prop: reviewed.get(kind) or "" for kind, _, prop in MEASURES})
        for cid, contact in fake.objects["contacts"].items():
            contact["properties"]["kam_is_primary"] = "Yes" if cid in primary else "No"
        for links in fake.links.get(("companies", "contacts"), {}).values():
            for types in links.values():
                types[:] = [t for t in types if t != 2]  # no primary association in this portal
        for links in fake.links.get(("contacts", "companies"), {}).values():
            for types in links.values():
                types[:] = [t for t in types if t != 1]

        text = (ROOT / "config" / "hubspot.mapping.yaml").read_text()
        for gone in ("revenue_history", "preferred_supplier"):
            text = text.replace(f"\n  {gone}:", f"\n  {gone}: null #", 1)
        text = text.replace("\n  team: kam_account_team", "\n  team: null #")
        text = text.replace("\n  risk_measures: kam_plan_risk_measures", "\n  risk_measures: null #")
        text += """
fields:
  accounts:
    revenue:
      items:
        - {year: {relative_year: -3}, amount: {field: kam_rev_py2, convert: float}}
        - {year: {relative_year: -2}, amount: {field: kam_rev_py, convert: float}}
        - {year: {relative_year: -1}, amount: {field: kam_rev_ltm, convert: float}}
    preferred_supplier:
      field: kam_vendor_status
      values: {preferred_vendor: preferred, approved_vendor: approved, lost_account: lost}
  contacts:
    is_primary: {field: kam_is_primary, convert: bool}
  plans:
""" + "\n".join("  " + line for line in _measures(2).splitlines()) + """
  team:
    each:
      items:
        - {user_id: kam_am, role: {const: account_manager}}
        - {user_id: kam_exec_sponsor, role: {const: executive_sponsor}}
        - {user_id: kam_rep_1, role: {const: field_rep}, region: kam_rep_1_region}
        - {user_id: kam_rep_2, role: {const: field_rep}, region: kam_rep_2_region}
        - {user_id: kam_service_owner, role: {const: service}}
"""
        ws = HsWorkspace(tmp_path / "hs", fake, url)
        ws.write_config(extra_crm="  mapping: shaped.yaml\n")
        (ws.root / "shaped.yaml").write_text(text)
        code, report = ws.run_json("plan")
        assert code == 0, report
        assert report["warnings"] == [] and report["field_failures"] == []
        back = {v: k for k, v in to_hs.items()}

        def local_id(change: dict[str, Any]) -> tuple[str, str]:
            parts = change["fingerprint"].split("/")  # pack/rule/account or pack/play/account/step
            parts[2] = back[parts[2]]
            return "/".join(parts), change["subject"]

        got = {local_id(c) for c in report["changes"]}
        assert got == _local_fingerprints(tmp_path, demo_records)
    finally:
        fake.stop()
