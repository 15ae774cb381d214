"""The demo portfolio's canonical records as Salesforce rows, shaped as the shipped mapping reads
them (the inverse of config/salesforce.mapping.yaml), loaded into a FakeOrg.

Buying roles and primary contacts are contact roles on opportunities (OpportunityContactRole),
not the custom Contact fields: each on the account's main opportunity (open, else the latest
closed), a decision-maker also as Business User on another one (the most senior role wins), and
any other contact as Decision Maker on an opportunity closed long ago (too old to count).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import ANCHOR
from tests.support.salesforce import FakeOrg

DEAL_TYPE = {"new": "New Business", "upsell": "Upsell", "renewal": "Renewal"}
DEAL_KIND = {"new_product": "New Product", "new_application": "New Application", "upsell": "Upsell",
             "reorder": "Reorder", "renewal": "Renewal"}
ACTIVITY_TYPE = {"call": "Call", "email": "Email", "note": "Note", "gift": "Gift"}
ROLE = {"account_manager": "Account Manager", "executive_sponsor": "Executive Sponsor",
        "field_rep": "Sales Rep", "service": "Service", "technical": "Technical",
        "finance": "Finance", "other": "Other"}
STATUS = {"preferred": "Preferred", "approved": "Approved", "lost": "Lost", "unknown": "Unknown"}
BUYING_ROLE = {"decision_maker": "Decision Maker", "economic_buyer": "Economic Buyer",
               "influencer": "Influencer", "user": "Business User", "gatekeeper": "Technical Buyer"}
OLD = (ANCHOR - timedelta(days=400)).isoformat()  # closed before this: beyond recent_days (365)
RENEWAL = {"none": "None", "in_progress": "In Progress", "renewed": "Renewed", "lost": "Lost"}


def stamp(day: str | None) -> str | None:
    return f"{day}T12:00:00.000+0000" if day else None


def cap(value: str | None) -> str | None:
    return value.title() if value else None


def load_demo(org: FakeOrg, records: dict[str, list[dict[str, Any]]]) -> None:
    for u in records["users"]:
        org.add("User", {"Id": u["id"], "Name": u["name"], "Email": u.get("email")})
    for a in records["accounts"]:
        revenue = a.get("revenue") or []
        org.add("Account", {
            "Id": a["id"], "Name": a["name"], "OwnerId": a.get("owner_id"),
            "Type": "Key Account" if a.get("is_key") else "Customer",
            "KAM_Tier__c": a.get("tier"), "KAM_Key_Reason__c": a.get("key_reason"),
            "Industry": a.get("industry"),
            "KAM_Regions__c": ";".join(a.get("regions") or []) or None,
            "KAM_Revenue_History__c": ";".join(f"{p['year']}:{p['amount']}" for p in revenue) or None,
            "AnnualRevenue": revenue[-1]["amount"] if revenue else None,
            "KAM_Potential__c": a.get("potential"),
            "KAM_Customer_Since__c": a.get("customer_since"),
            "KAM_Supplier_Status__c": STATUS.get(a.get("preferred_supplier") or ""),
        })
    for c in records["contacts"]:
        org.add("Contact", {
            "Id": c["id"], "AccountId": c["account_id"], "Name": c["name"], "Title": c.get("title"),
            "Department": c.get("department"), "KAM_Buying_Role__c": None,
            "KAM_Is_Primary__c": False, "KAM_Region__c": c.get("region"),
            "KAM_Contact_Status__c": cap(c.get("status")), "KAM_Stance__c": cap(c.get("stance")),
            "KAM_Win_Over_Plan__c": c.get("win_over_plan"),
            "CreatedDate": stamp(c.get("created")),
        })
    for d in records["deals"]:
        org.add("Opportunity", {
            "Id": d["id"], "AccountId": d["account_id"], "Name": d.get("name", ""),
            "StageName": d.get("stage"), "Amount": d.get("amount"), "Type": DEAL_TYPE[d["type"]],
            "KAM_Deal_Kind__c": DEAL_KIND.get(d.get("kind") or ""), "OwnerId": d.get("owner_id"),
            "CreatedDate": stamp(d["created"]), "CloseDate": d.get("close_date"),
            "IsClosed": d["is_closed"], "IsWon": d["is_won"],
        })
    load_contact_roles(org, records)
    for a in records["activities"]:
        meeting = a["type"] == "meeting"
        obj, rel, fk = ("Event", "EventWhoRelation", "EventId") if meeting else \
            ("Task", "TaskWhoRelation", "TaskId")
        row = {"Id": a["id"], "AccountId": a["account_id"], "WhatId": a["account_id"],
               "ActivityDate": a["date"], "Subject": a.get("subject", ""),
               "Description": a.get("body") or None, "OwnerId": a.get("owner_id")}
        if not meeting:
            row.update(Type=ACTIVITY_TYPE[a["type"]], KAM_Direction__c=cap(a.get("direction")),
                       KAM_Amount__c=a.get("amount"), Status="Completed", IsClosed=True)
        org.add(obj, row)
        for contact in a.get("contact_ids") or []:
            org.add(rel, {fk: a["id"], "RelationId": contact})
    for c in records["cases"]:
        org.add("Case", {
            "Id": c["id"], "AccountId": c["account_id"], "Subject": c.get("subject", ""),
            "Priority": cap(c.get("priority")), "Type": c.get("category"),
            "CreatedDate": stamp(c["opened"]), "ClosedDate": stamp(c.get("closed")),
            "KAM_Case_Owner__c": c.get("owner_id"), "IsEscalated": bool(c.get("escalated")),
        })
    for t in records["team"]:
        org.add("AccountTeamMember", {"AccountId": t["account_id"], "UserId": t["user_id"],
                                      "TeamMemberRole": ROLE[t["role"]], "KAM_Region__c": t.get("region")})
    for k in records["contracts"]:
        org.add("Contract", {"AccountId": k["account_id"], "StartDate": k.get("start_date"),
                             "EndDate": k["end_date"],
                             "KAM_Renewal_Status__c": RENEWAL[k.get("renewal_status", "none")]})
    for p in records["plans"]:
        plan = org.add("KAM_Account_Plan__c", {
            "Account__c": p["account_id"], "Horizon_Years__c": p.get("horizon_years"),
            "Objectives__c": p.get("objectives"), "Objectives_Reviewed__c": p.get("objectives_reviewed"),
            "Customer_Goals__c": p.get("customer_goals"), "Pain_Points__c": p.get("pain_points"),
            "Selection_Criteria__c": p.get("selection_criteria"),
            "Decision_Process__c": p.get("decision_process"), "Risk_Reviewed__c": p.get("risk_reviewed"),
            "Relationship_Reviewed__c": p.get("relationship_reviewed"),
            "Value_For_Customer__c": p.get("value_for_customer"),
            "Value_For_Us__c": p.get("value_for_us"), "Value_Reviewed__c": p.get("value_reviewed"),
        })
        for m in p.get("risk_measures") or []:
            org.add("KAM_Risk_Measure__c", {"Plan__c": plan["Id"], "Name": m["kind"],
                                            "Reviewed__c": m.get("reviewed")})
    for s in records["surveys"]:
        org.add("KAM_Survey__c", {"Account__c": s["account_id"], "Survey_Date__c": s["date"],
                                  "Kind__c": s.get("kind", "csat").upper(), "Score__c": s["score"]})


def load_contact_roles(org: FakeOrg, records: dict[str, list[dict[str, Any]]]) -> None:
    """The contacts' buying roles and primary flags as OpportunityContactRole rows."""
    deals: dict[str, list[dict[str, Any]]] = {}
    for d in records["deals"]:
        deals.setdefault(d["account_id"], []).append(d)
    for c in records["contacts"]:
        mine = deals.get(c["account_id"], [])
        if not mine:
            continue
        main = max(mine, key=lambda d: (not d["is_closed"], d.get("close_date") or "", d["id"]))
        role = c.get("buying_role")
        if role or c.get("is_primary"):
            org.add("OpportunityContactRole", {"ContactId": c["id"], "OpportunityId": main["id"],
                                               "Role": BUYING_ROLE.get(role or ""),
                                               "IsPrimary": bool(c.get("is_primary"))})
        other = next((d for d in mine if d is not main), None)
        if role in ("decision_maker", "economic_buyer") and other is not None:
            org.add("OpportunityContactRole", {"ContactId": c["id"], "OpportunityId": other["id"],
                                               "Role": "Business User", "IsPrimary": False})
        old = next((d for d in mine if d["is_closed"] and (d.get("close_date") or "9") < OLD), None)
        if role not in ("decision_maker", "economic_buyer") and old is not None:
            org.add("OpportunityContactRole", {"ContactId": c["id"], "OpportunityId": old["id"],
                                               "Role": "Decision Maker", "IsPrimary": False})
