"""The fake HubSpot's data: HubSpot's standard and custom properties and option values, and the
loader that turns the canonical demo portfolio into HubSpot objects (optionally with plans,
surveys and contracts as records of custom objects), and user-like edits.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.hubspot import FakeHubSpot

TYPES = ("companies", "contacts", "deals", "meetings", "calls", "emails", "notes", "tickets", "tasks")
PRIMARY_COMPANY_TO_CONTACT = 2
UNLABELED = {
    "contacts": 280,
    "deals": 342,
    "tickets": 340,
    "meetings": 188,
    "calls": 182,
    "emails": 186,
    "notes": 190,
    "tasks": 192,
}
ROLE_OUT = {
    "decision_maker": "DECISION_MAKER",
    "economic_buyer": "BUDGET_HOLDER",
    "influencer": "INFLUENCER",
    "user": "END_USER",
    "gatekeeper": "BLOCKER",
}
CATEGORY_OUT = {
    "billing": "BILLING_ISSUE",
    "quality": "PRODUCT_ISSUE",
    "delivery": "DELIVERY_ISSUE",
    "it": "IT_ISSUE",
}
PRIORITY_OUT = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "URGENT"}
DEALTYPE_OUT = {"new": "newbusiness", "upsell": "existingbusiness", "renewal": "renewal"}
TIER_OUT = {"major": "tier_1", "standard": "tier_2", "small": "tier_3"}
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment scheduled", "false", "0.2"),
    ("presentationscheduled", "Proposal", "false", "0.6"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
TICKET_STAGES = [("1", "New", "OPEN"), ("2", "Waiting on contact", "OPEN"), ("4", "Closed", "CLOSED")]
STANDARD = {
    "companies": [
        "name",
        "hubspot_owner_id",
        "hs_is_target_account",
        "hs_ideal_customer_profile",
        "industry",
        "annualrevenue",
        "domain",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ],
    "contacts": [
        "firstname",
        "lastname",
        "jobtitle",
        "hs_buying_role",
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ],
    "deals": [
        "dealname",
        "dealstage",
        "pipeline",
        "amount",
        "dealtype",
        "createdate",
        "closedate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hubspot_owner_id",
    ],
    "meetings": [
        "hs_meeting_start_time",
        "hs_meeting_title",
        "hs_meeting_body",
        "hubspot_owner_id",
        "hs_timestamp",
        "hs_lastmodifieddate",
    ],
    "calls": [
        "hs_timestamp",
        "hs_call_title",
        "hs_call_body",
        "hs_call_direction",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "emails": [
        "hs_timestamp",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "notes": ["hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_lastmodifieddate"],
    "tickets": [
        "subject",
        "hs_ticket_priority",
        "hs_ticket_category",
        "hs_pipeline",
        "hs_pipeline_stage",
        "createdate",
        "closed_date",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "tasks": [
        "hs_task_subject",
        "hs_task_body",
        "hs_task_status",
        "hs_task_priority",
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_task_completion_date",
        "hs_createdate",
        "hs_lastmodifieddate",
    ],
}
CUSTOM = {
    "companies": [
        "kam_key_reason",
        "kam_regions",
        "kam_revenue_history",
        "kam_potential",
        "kam_customer_since",
        "kam_supplier_status",
        "kam_plan_horizon_years",
        "kam_plan_objectives",
        "kam_plan_objectives_reviewed",
        "kam_plan_customer_goals",
        "kam_plan_pain_points",
        "kam_plan_selection_criteria",
        "kam_plan_decision_process",
        "kam_plan_risk_reviewed",
        "kam_plan_risk_measures",
        "kam_plan_relationship_reviewed",
        "kam_plan_value_for_customer",
        "kam_plan_value_for_us",
        "kam_plan_value_reviewed",
        "kam_account_team",
        "kam_surveys",
        "kam_contract_start_date",
        "kam_contract_end_date",
        "kam_renewal_status",
    ],
    "contacts": ["kam_department", "kam_region", "kam_contact_status", "kam_stance", "kam_win_over_plan"],
    "deals": ["kam_deal_kind"],
    "notes": ["kam_gift_amount"],
    "tickets": ["kam_escalated"],
}
MODIFIED = {"contacts": "lastmodifieddate"}
PORTAL_ID = 4711123
# Custom objects load_portfolio can put plans, surveys and contracts in, instead of company
# properties: section -> (object name, plural label, its properties, the first is the display one).
CUSTOM_OBJECTS = {
    "plans": (
        "account_plans",
        "Account plans",
        [
            "plan_name",
            "horizon_years",
            "objectives",
            "objectives_reviewed",
            "customer_goals",
            "pain_points",
            "selection_criteria",
            "decision_process",
            "risk_reviewed",
            "risk_measures",
            "relationship_reviewed",
            "value_for_customer",
            "value_for_us",
            "value_reviewed",
        ],
    ),
    "surveys": (
        "customer_surveys",
        "Customer surveys",
        ["survey_name", "survey_date", "survey_kind", "survey_score"],
    ),
    "contracts": (
        "kam_contracts",
        "Contracts",
        ["contract_name", "start_date", "end_date", "renewal_status"],
    ),
}
# the standard properties HubSpot types as numbers (their values still arrive as text)
NUMBERS = {"hs_object_id", "annualrevenue", "amount"}
CUSTOM_STANDARD = ["hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hubspot_owner_id"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_stamp(day: Any) -> str | None:
    return None if day in (None, "") else f"{day}T10:00:00.000Z"


def _num(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }



def rate_limited(limit: str, policy: str, group: str | None = None) -> dict[str, Any]:
    """HubSpot's 429 body for one of its limits (`policyName` tells which)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": f"You have reached your {limit} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
    }
    if group is not None:
        body["groupName"] = group
    return body

def load_portfolio(
    fake: FakeHubSpot, records: dict[str, list[dict[str, Any]]], custom: tuple[str, ...] = ()
) -> dict[str, dict[str, str]]:
    """The canonical demo portfolio as HubSpot objects; returns canonical id -> HubSpot id maps.

    `custom` names sections (plans, surveys, contracts) loaded as records of custom objects
    (`CUSTOM_OBJECTS`, their ids under "objects") instead of company properties.
    """
    users = {u["id"]: str(101 + i) for i, u in enumerate(records["users"])}
    for u in records["users"]:
        first, _, last = u["name"].partition(" ")
        fake.owners.append(
            {
                "id": users[u["id"]],
                "email": u.get("email"),
                "firstName": first,
                "lastName": last,
                "userId": int(users[u["id"]]) + 9000,
                "archived": False,
                "createdAt": now_iso(),
                "updatedAt": now_iso(),
            }
        )

    def owner(uid: str | None) -> str:
        if uid is None:
            return ""
        if uid not in users:
            users[uid] = str(900 + len(users))  # a user HubSpot has no owner for
        return users[uid]

    plans = {p["account_id"]: p for p in records["plans"] if "plans" not in custom}
    team: dict[str, list[str]] = {}
    for t in records["team"]:
        team.setdefault(t["account_id"], []).append(
            ":".join([owner(t["user_id"]), t["role"]] + ([t["region"]] if t.get("region") else []))
        )
    surveys: dict[str, list[str]] = {}
    for s in records["surveys"] if "surveys" not in custom else []:
        surveys.setdefault(s["account_id"], []).append(
            f"{s['date']}:{s.get('kind', 'csat')}:{_num(s['score'])}"
        )
    contracts = {}
    for c in records["contracts"] if "contracts" not in custom else []:
        contracts.setdefault(c["account_id"], c)
    companies: dict[str, str] = {}
    for a in records["accounts"]:
        plan, contract = plans.get(a["id"], {}), contracts.get(a["id"], {})
        revenue = a.get("revenue") or []
        props = {
            "name": a["name"],
            "hubspot_owner_id": owner(a.get("owner_id")),
            "hs_is_target_account": "true" if a.get("is_key") else "false",
            "hs_ideal_customer_profile": TIER_OUT.get(a.get("tier") or "", a.get("tier")),
            "kam_key_reason": a.get("key_reason"),
            "industry": a.get("industry"),
            "kam_regions": ";".join(a.get("regions") or []),
            "annualrevenue": _num(revenue[-1]["amount"]) if revenue else "",
            "kam_revenue_history": ";".join(f"{p['year']}:{_num(p['amount'])}" for p in revenue),
            "kam_potential": _num(a.get("potential")),
            "kam_customer_since": a.get("customer_since"),
            "kam_supplier_status": a.get("preferred_supplier"),
            "kam_plan_horizon_years": _num(plan.get("horizon_years")),
            "kam_plan_objectives": plan.get("objectives"),
            "kam_plan_objectives_reviewed": plan.get("objectives_reviewed"),
            "kam_plan_customer_goals": plan.get("customer_goals"),
            "kam_plan_pain_points": plan.get("pain_points"),
            "kam_plan_selection_criteria": plan.get("selection_criteria"),
            "kam_plan_decision_process": plan.get("decision_process"),
            "kam_plan_risk_reviewed": plan.get("risk_reviewed"),
            "kam_plan_risk_measures": ";".join(
                f"{m['kind']}@{m.get('reviewed') or ''}" for m in plan.get("risk_measures") or []
            ),
            "kam_plan_relationship_reviewed": plan.get("relationship_reviewed"),
            "kam_plan_value_for_customer": plan.get("value_for_customer"),
            "kam_plan_value_for_us": plan.get("value_for_us"),
            "kam_plan_value_reviewed": plan.get("value_reviewed"),
            "kam_account_team": ";".join(team.get(a["id"], [])),
            "kam_surveys": ";".join(surveys.get(a["id"], [])),
            "kam_contract_start_date": contract.get("start_date"),
            "kam_contract_end_date": contract.get("end_date"),
            "kam_renewal_status": contract.get("renewal_status"),
        }
        companies[a["id"]] = fake.add("companies", props)
    contacts: dict[str, str] = {}
    for c in records["contacts"]:
        first, _, last = c["name"].partition(" ")
        cid = fake.add(
            "contacts",
            {
                "firstname": first,
                "lastname": last,
                "jobtitle": c.get("title"),
                "kam_department": c.get("department"),
                "hs_buying_role": ROLE_OUT.get(c.get("buying_role") or "", c.get("buying_role")),
                "kam_region": c.get("region"),
                "kam_contact_status": (c.get("status") or "active").upper(),
                "kam_stance": (c.get("stance") or "").upper() or None,
                "kam_win_over_plan": c.get("win_over_plan"),
                "createdate": day_stamp(c.get("created")),
            },
        )
        contacts[c["id"]] = cid
        types = [UNLABELED["contacts"]] + ([PRIMARY_COMPANY_TO_CONTACT] if c.get("is_primary") else [])
        fake.link("companies", companies[c["account_id"]], "contacts", cid, types)
    stage_of = {label: sid for sid, label, _, _ in DEAL_STAGES}
    for d in records["deals"]:
        did = fake.add(
            "deals",
            {
                "dealname": d.get("name"),
                "pipeline": "default",
                "dealstage": stage_of[d["stage"]],
                "amount": _num(d.get("amount")),
                "dealtype": DEALTYPE_OUT[d.get("type", "new")],
                "kam_deal_kind": (d.get("kind") or "").upper() or None,
                "hubspot_owner_id": owner(d.get("owner_id")) if d.get("owner_id") else None,
                "createdate": day_stamp(d["created"]),
                "closedate": day_stamp(d.get("close_date")),
            },
        )
        fake.link("companies", companies[d["account_id"]], "deals", did, [UNLABELED["deals"]])
    for a in records["activities"]:
        kind, props = _activity(a, owner)
        aid = fake.add(kind, props)
        fake.link("companies", companies[a["account_id"]], kind, aid, [UNLABELED[kind]])
        for c in a.get("contact_ids") or []:
            if c in contacts:
                fake.link(kind, aid, "contacts", contacts[c], [UNLABELED[kind] + 10])
    for c in records["cases"]:
        tid = fake.add(
            "tickets",
            {
                "subject": c.get("subject"),
                "hs_pipeline": "0",
                "hs_pipeline_stage": "4" if c.get("closed") else "1",
                "hs_ticket_priority": PRIORITY_OUT[c.get("priority", "medium")],
                "hs_ticket_category": CATEGORY_OUT.get(c.get("category") or "", c.get("category")),
                "createdate": day_stamp(c["opened"]),
                "closed_date": day_stamp(c.get("closed")),
                "hubspot_owner_id": owner(c.get("owner_id")),
                "kam_escalated": "true" if c.get("escalated") else "false",
            },
        )
        fake.link("companies", companies[c["account_id"]], "tickets", tid, [UNLABELED["tickets"]])
    objects = {section: _load_custom(fake, section, records[section], companies) for section in custom}
    return {"accounts": companies, "users": users, "contacts": contacts, "objects": objects}


def _load_custom(
    fake: FakeHubSpot, section: str, rows: list[dict[str, Any]], companies: dict[str, str]
) -> dict[str, str]:
    """One section's records as a new custom object's records; returns its name, id and type."""
    name, plural, props = CUSTOM_OBJECTS[section]
    type_id = fake.define_object(name, plural, props)
    for i, row in enumerate(rows):
        values = {props[0]: f"{plural[:-1]} {i + 1}", **_custom_values(section, row)}
        oid = fake.add(type_id, values)
        fake.link("companies", companies[row["account_id"]], type_id, oid)
    return {"type_id": type_id, "name": f"p_{name}", "fqn": f"p{PORTAL_ID}_{name}"}


def _activity(a: dict[str, Any], owner: Callable[[str | None], str]) -> tuple[str, dict[str, Any]]:
    when, who = day_stamp(a["date"]), owner(a.get("owner_id"))
    if a["type"] == "meeting":
        return "meetings", {
            "hs_meeting_start_time": when,
            "hs_timestamp": when,
            "hubspot_owner_id": who,
            "hs_meeting_title": a.get("subject"),
            "hs_meeting_body": a.get("body"),
        }
    if a["type"] == "call":
        return "calls", {
            "hs_timestamp": when,
            "hs_call_title": a.get("subject"),
            "hubspot_owner_id": who,
            "hs_call_body": a.get("body"),
            "hs_call_direction": "INBOUND" if a.get("direction") == "inbound" else "OUTBOUND",
        }
    if a["type"] == "email":
        return "emails", {
            "hs_timestamp": when,
            "hs_email_subject": a.get("subject"),
            "hubspot_owner_id": who,
            "hs_email_text": a.get("body"),
            "hs_email_direction": "INCOMING_EMAIL" if a.get("direction") == "inbound" else "EMAIL",
        }
    return "notes", {
        "hs_timestamp": when,
        "hs_note_body": a.get("body"),
        "hubspot_owner_id": who,
        "kam_gift_amount": _num(a.get("amount")) if a["type"] == "gift" else "",
    }


def _custom_values(section: str, row: dict[str, Any]) -> dict[str, Any]:
    """A canonical plan, survey or contract as the properties of its custom object."""
    if section == "surveys":
        return {
            "survey_date": row["date"],
            "survey_kind": str(row.get("kind", "csat")).upper(),
            "survey_score": _num(row["score"]),
        }
    if section == "contracts":
        return {
            "start_date": row.get("start_date"),
            "end_date": row["end_date"],
            "renewal_status": str(row.get("renewal_status") or "none").upper(),
        }
    plan = {k: v for k, v in row.items() if k != "account_id"}
    plan["horizon_years"] = _num(plan.get("horizon_years"))
    plan["risk_measures"] = ";".join(
        f"{m['kind']}@{m.get('reviewed') or ''}" for m in plan.get("risk_measures") or []
    )
    return plan


def user_edit(kind: str, props: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One user-like property edit of a record of `kind`."""
    if kind == "contacts":
        return {"hs_buying_role": rng.choice(["", *ROLE_OUT.values()])}
    if kind == "deals":
        return {"dealstage": rng.choice([sid for sid, *_ in DEAL_STAGES])}
    if kind == "tickets":
        return {"hs_ticket_priority": rng.choice(list(PRIORITY_OUT.values())), "kam_escalated": "false"}
    field = {"meetings": "hs_meeting_body", "calls": "hs_call_body", "emails": "hs_email_text"}
    return {field.get(kind, "hs_note_body"): f"edited {rng.randrange(1_000_000)}"}
