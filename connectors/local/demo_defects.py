"""The demo portfolio's stories: named key accounts, each with the defects a rule should catch."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

Bundle = dict[str, Any]


def day(anchor: date, days_ago: int) -> str:
    """The ISO date `days_ago` days before the anchor (negative: after it)."""
    return (anchor - timedelta(days=days_ago)).isoformat()


# --- defects: each turns one healthy trait into a trouble a rule should catch -----------------


def _single_threaded(b: Bundle, rng: random.Random, anchor: date) -> None:
    keep = b["contacts"][0]
    keep["created"] = day(anchor, 700)
    b["contacts"] = [keep, {**b["contacts"][1], "department": keep["department"],
                            "created": day(anchor, 650)}]
    for a in b["activities"]:
        a["contact_ids"] = [keep["id"]]
        a["owner_id"] = b["account"]["owner_id"]


def _late_delivery(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["cases"].append({"id": f"{b['account']['id']}-C1", "account_id": b["account"]["id"],
                       "subject": "Late delivery: week 3 shipment", "priority": "high",
                       "category": "delivery", "opened": day(anchor, 12), "closed": None,
                       "owner_id": None, "escalated": False})


def _revenue_sliding(b: Bundle, rng: random.Random, anchor: date) -> None:
    rev = b["account"]["revenue"]
    rev[-1]["amount"] = round(rev[-2]["amount"] * 0.82, -3)
    for plan in b["plans"]:
        plan["risk_reviewed"] = day(anchor, 200)


def _disengaging(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["activities"] = [a for a in b["activities"]
                       if (anchor - date.fromisoformat(a["date"])).days > 75]


def _satisfaction_falling(b: Bundle, rng: random.Random, anchor: date) -> None:
    if b["surveys"]:
        b["surveys"][-1]["score"] = 6.1


def _renewal_missing(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["contracts"][0]["end_date"] = day(anchor, -60)


def _no_meeting_after_win(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["deals"].append({"id": f"{b['account']['id']}-W1", "account_id": b["account"]["id"],
                       "name": "Multi-site expansion", "stage": "Closed Won", "amount": 900000.0,
                       "type": "upsell", "created": day(anchor, 120), "close_date": day(anchor, 45),
                       "is_closed": True, "is_won": True})
    b["activities"] = [a for a in b["activities"]
                       if (anchor - date.fromisoformat(a["date"])).days > 45 or a["type"] != "meeting"]


def _inertia(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["customer_since"] = day(anchor, 9 * 365)
    for deal in b["deals"]:
        if not deal["is_closed"]:
            deal.update(is_closed=True, is_won=False, stage="Closed Lost", created=day(anchor, 500),
                        close_date=day(anchor, 420))


def _no_plan(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["plans"] = []


def _team_of_one(b: Bundle, rng: random.Random, anchor: date) -> None:
    owner = b["account"]["owner_id"]
    b["team"] = [t for t in b["team"] if t["user_id"] == owner]


def _sponsor_absent(b: Bundle, rng: random.Random, anchor: date) -> None:
    sponsors = {t["user_id"] for t in b["team"] if t["role"] == "executive_sponsor"}
    b["activities"] = [a for a in b["activities"] if a["owner_id"] not in sponsors]


def _national_uncoordinated(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["regions"] = ["north", "south", "east", "west"]


def _unconfirmed_meetings(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["activities"] = [a for a in b["activities"]
                       if not (a["type"] == "email" and a["subject"] == "Summary of our meeting"
                               and (anchor - date.fromisoformat(a["date"])).days < 40)]


def _confidential_leak(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["activities"].append({
        "id": f"{b['account']['id']}-L1", "account_id": b["account"]["id"], "type": "email",
        "date": day(anchor, 25), "direction": "outbound", "subject": "Pricing benchmark",
        "body": "Between us: Nordwind Logistics pays 8% less than you for the same volume.",
        "owner_id": b["account"]["owner_id"], "contact_ids": [b["contacts"][0]["id"]]})


def _gifts(b: Bundle, rng: random.Random, anchor: date) -> None:
    buyer = b["contacts"][0]["id"]
    for i, amount in enumerate((450.0, 380.0, 400.0)):
        b["activities"].append({
            "id": f"{b['account']['id']}-G{i}", "account_id": b["account"]["id"], "type": "gift",
            "date": day(anchor, 40 + 70 * i), "direction": "outbound",
            "subject": "Hospitality: season tickets", "owner_id": b["account"]["owner_id"],
            "contact_ids": [buyer], "amount": amount})


def _unqualified(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["key_reason"] = None
    b["account"]["potential"] = None


def _small_key(b: Bundle, rng: random.Random, anchor: date) -> None:
    for p in b["account"]["revenue"]:
        p["amount"] = round(p["amount"] / 60, -2)
    b["account"]["potential"] = 200000.0


def _supplier_lost(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["preferred_supplier"] = "lost"


def _no_feedback(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["surveys"] = []


def _small_cases_open(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid, owner = b["account"]["id"], b["team"][-1]["user_id"]
    b["cases"] += [
        {"id": f"{aid}-C2", "account_id": aid, "subject": "Label misprint", "priority": "medium",
         "category": "quality", "opened": day(anchor, 30), "owner_id": owner, "escalated": True},
        {"id": f"{aid}-C3", "account_id": aid, "subject": "Portal login", "priority": "low",
         "category": "it", "opened": day(anchor, 45), "owner_id": owner, "escalated": False},
    ]


def _critical_case(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid = b["account"]["id"]
    b["cases"].append({"id": f"{aid}-C4", "account_id": aid, "subject": "Line stopped",
                       "priority": "critical", "category": "quality", "opened": day(anchor, 4),
                       "owner_id": "U99", "escalated": False})


def _who_decides_unknown(b: Bundle, rng: random.Random, anchor: date) -> None:
    for c in b["contacts"]:
        c["is_primary"] = False
        if c["buying_role"] in ("decision_maker", "economic_buyer"):
            c["buying_role"] = None
    for c in b["contacts"][2:5]:
        c["buying_role"] = None


def _sparse_touches(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["activities"] = [a for i, a in enumerate(b["activities"])
                       if a["type"] not in ("meeting", "email") or (i // 2) % 3 == 0]


def _stale_objectives(b: Bundle, rng: random.Random, anchor: date) -> None:
    if b["plans"]:
        b["plans"][0].update(objectives_reviewed=day(anchor, 500), horizon_years=2.0,
                             customer_goals=None, decision_process=None)


def _review_overdue(b: Bundle, rng: random.Random, anchor: date) -> None:
    if b["plans"]:
        b["plans"][0].update(relationship_reviewed=day(anchor, 140), risk_reviewed=day(anchor, 260),
                             risk_measures=[])


def _no_new_contacts(b: Bundle, rng: random.Random, anchor: date) -> None:
    for c in b["contacts"]:
        c["created"] = day(anchor, 400 + len(c["id"]))
    b["contacts"] = [c for c in b["contacts"] if c["department"] != "management"]


def _champion_left(b: Bundle, rng: random.Random, anchor: date) -> None:
    for c in b["contacts"]:
        if c.get("stance") == "champion":
            c["status"] = "left"


def _reorders_only(b: Bundle, rng: random.Random, anchor: date) -> None:
    """Repeat orders typed "new" in the CRM: they are not something new (P10)."""
    aid = b["account"]["id"]
    b["deals"].append({"id": f"{aid}-R1", "account_id": aid, "name": "Reorder Q3 standard grade",
                       "stage": "Closed Won", "amount": 120000.0, "type": "new",
                       "created": day(anchor, 40), "close_date": day(anchor, 30),
                       "is_closed": True, "is_won": True})
    b["account"]["preferred_supplier"] = "approved"


def _stale_delivery_case(b: Bundle, rng: random.Random, anchor: date) -> None:
    """A high-priority delivery case a service agent has held for 45 days, never escalated."""
    aid = b["account"]["id"]
    agent = next((t["user_id"] for t in b["team"] if t["role"] == "service"), None)
    b["cases"].append({"id": f"{aid}-C5", "account_id": aid, "subject": "Partial deliveries, plant 2",
                       "priority": "high", "category": "delivery", "opened": day(anchor, 45),
                       "closed": None, "owner_id": agent, "escalated": False})


def _gone_silent(b: Bundle, rng: random.Random, anchor: date) -> None:
    """A year of fortnightly meetings, then nothing for 200 days."""
    b["activities"] = [a for a in b["activities"]
                       if (anchor - date.fromisoformat(a["date"])).days > 200]
    aid, owner = b["account"]["id"], b["account"]["owner_id"]
    for k in range(12):
        b["activities"].append({"id": f"{aid}-Y{k}", "account_id": aid, "type": "meeting",
                                "date": day(anchor, 210 + 14 * k), "direction": "outbound",
                                "subject": "Account review", "owner_id": owner,
                                "contact_ids": [b["contacts"][k % len(b["contacts"])]["id"]]})


def _blocker(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["contacts"][-1]["stance"] = "blocker"


def _deal_outside_team(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid = b["account"]["id"]
    b["deals"].append({"id": f"{aid}-X1", "account_id": aid, "name": "Spare parts framework",
                       "stage": "Proposal", "amount": 80000.0, "type": "new",
                       "kind": "new_product", "owner_id": "U50", "created": day(anchor, 20),
                       "close_date": None, "is_closed": False, "is_won": False})


def _promises_broken(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid = b["account"]["id"]
    b["deals"].append({"id": f"{aid}-W2", "account_id": aid, "name": "Second plant supply",
                       "stage": "Closed Won", "amount": 400000.0, "type": "upsell",
                       "created": day(anchor, 150), "close_date": day(anchor, 100),
                       "is_closed": True, "is_won": True})
    for i, (subject, ago) in enumerate((("Wrong grade delivered", 80), ("Shipment late", 40))):
        b["cases"].append({"id": f"{aid}-P{i}", "account_id": aid, "subject": subject,
                           "priority": "medium", "category": "delivery" if i else "quality",
                           "opened": day(anchor, ago), "closed": day(anchor, ago - 3),
                           "owner_id": None, "escalated": True})


def _detractor(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["surveys"].append({"account_id": b["account"]["id"], "date": day(anchor, 20), "kind": "nps",
                         "score": 5.0})


def _whitespace(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["potential"] = round(b["account"]["revenue"][-1]["amount"] * 4, -3)
    for deal in b["deals"]:
        if not deal["is_closed"]:
            deal.update(is_closed=True, is_won=True, stage="Closed Won", close_date=day(anchor, 10))


def _promoter(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["surveys"].insert(0, {"account_id": b["account"]["id"], "date": day(anchor, 70),
                            "kind": "nps", "score": 9.0})


def _referral(b: Bundle, rng: random.Random, anchor: date) -> None:
    """Referral selling (P20), not a disclosure (P29): another key account named as a reference."""
    b["activities"].append({
        "id": f"{b['account']['id']}-F1", "account_id": b["account"]["id"], "type": "email",
        "date": day(anchor, 15), "direction": "outbound", "subject": "A reference for you",
        "body": "Nordwind Logistics have used our coating line for three years and are happy to"
                " tell you about it.", "owner_id": b["account"]["owner_id"],
        "contact_ids": [b["contacts"][0]["id"]]})


Defect = Callable[[Bundle, random.Random, date], None]
# The story accounts: a name and what is wrong with it (nothing, for the flagship).
STORIES: list[tuple[str, tuple[Defect, ...]]] = [
    ("Nordwind Logistics", ()),
    ("Baltic Foods", (_single_threaded,)),
    ("Ural Steelworks", (_late_delivery,)),
    ("Adriatic Pharma", (_revenue_sliding, _disengaging, _satisfaction_falling)),
    ("Danube Chemicals", (_renewal_missing,)),
    ("Carpathia Energy", (_no_meeting_after_win, _promises_broken)),
    ("Pannonia Retail", (_inertia, _reorders_only)),
    ("Sava Machinery", (_no_plan,)),
    ("Volga Paper", (_team_of_one, _gone_silent)),
    ("Morava Textiles", (_sponsor_absent, _national_uncoordinated)),
    ("Tisza Foods", (_unconfirmed_meetings, _confidential_leak, _whitespace)),
    ("Drava Components", (_gifts, _unqualified, _detractor)),
    ("Neretva Packaging", (_small_key, _supplier_lost, _deal_outside_team)),
    ("Lika Instruments", (_no_feedback, _small_cases_open, _critical_case, _stale_delivery_case)),
    ("Istra Marine", (_who_decides_unknown, _sparse_touches, _blocker)),
    ("Krka Biotech", (_stale_objectives, _review_overdue)),
    ("Una Glassworks", (_no_new_contacts, _champion_left)),
    ("Alpine Dairy", (_referral, _promoter)),
]
DEFECTS: tuple[Defect, ...] = tuple(
    dict.fromkeys(d for _, defects in STORIES for d in defects)
)
