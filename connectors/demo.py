"""The demo portfolio the local CRM is seeded with: deterministic, realistic, every rule exercised.

About 13% of accounts are key accounts. A healthy key account satisfies every kam-core rule;
the named story accounts and a seeded share of the others each carry the defects of a real
relationship in trouble (single-threaded, late delivery nobody escalated, revenue sliding...).
Dates are relative to `anchor`, so a run as of the anchor date reads the stories as written.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

Bundle = dict[str, Any]
REGIONS = ("north", "south", "east", "west", "central", "export")
DEPARTMENTS = ("purchasing", "logistics", "finance", "management", "quality", "production", "it")
ROLES = ("decision_maker", "economic_buyer", "influencer", "user", "user", "influencer",
         "gatekeeper")
INDUSTRIES = ("chemicals", "food", "logistics", "machinery", "pharma", "retail", "energy",
              "paper", "textiles", "packaging")
FIRST = ("Ana", "Boris", "Chen", "Dara", "Elena", "Filip", "Greta", "Hugo", "Ines", "Jonas",
         "Katja", "Luka", "Mira", "Nikola", "Olga", "Petra", "Rade", "Sonja", "Tomas", "Vera")
LAST = ("Horvat", "Ivanova", "Jovanovic", "Kowalski", "Lindqvist", "Marin", "Novak", "Petrov",
        "Rossi", "Schmidt", "Tanaka", "Weber")
STEMS = ("Nord", "Sud", "Alpen", "Delta", "Orion", "Vega", "Polar", "Terra", "Astra", "Kappa",
         "Lumen", "Metro", "Nova", "Opal", "Prima", "Quanta", "Rhein", "Sigma", "Titan", "Ultra")
TRADES = ("Trading", "Holding", "Industries", "Supply", "Systems", "Works", "Group", "Partners")

MANAGERS = [f"U{i:02d}" for i in range(1, 11)]
SPONSORS = ["U21", "U22", "U23"]
REPS = {region: f"U{31 + i:02d}" for i, region in enumerate(REGIONS)}
SERVICE = ["U41", "U42", "U43"]
SALES_OPS = "U50"


def _users() -> list[dict[str, Any]]:
    people = [(uid, f"{FIRST[i % 20]} {LAST[i % 12]}") for i, uid in enumerate(MANAGERS)]
    people += [(uid, f"{n} (executive)") for uid, n in zip(SPONSORS, ("Irena Vuk", "Marco Bell",
                                                                       "Sara Lind"), strict=True)]
    people += [(uid, f"Field rep {region}") for region, uid in REPS.items()]
    people += [(uid, f"Service desk {i + 1}") for i, uid in enumerate(SERVICE)]
    people.append((SALES_OPS, "Sales Operations"))
    return [{"id": uid, "name": name, "email": f"{uid.lower()}@example.com"} for uid, name in people]


class _Ids:
    """Sequential record ids per kind, so the same portfolio always has the same ids."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]:06d}"


def _d(anchor: date, days_ago: int) -> str:
    return (anchor - timedelta(days=days_ago)).isoformat()


def _healthy_key(rng: random.Random, ids: _Ids, acc_id: str, name: str, anchor: date,
                 owner: str) -> Bundle:
    """A key account in good shape: every kam-core rule stays silent on it."""
    regions = rng.sample(REGIONS[:5], 2)
    base = rng.uniform(1.5e6, 6e6)
    revenue = [{"year": anchor.year - 3 + i, "amount": round(base * (1.08 ** i), -3)}
               for i in range(3)]
    account = {
        "id": acc_id, "name": name, "owner_id": owner, "is_key": True, "tier": "major",
        "key_reason": "Repeat orders, high potential and a complex buying centre",
        "industry": rng.choice(INDUSTRIES), "regions": regions, "revenue": revenue,
        "potential": round(base * rng.uniform(1.3, 2.0), -3),
        "customer_since": _d(anchor, rng.randint(2 * 365, 4 * 365)),
        "preferred_supplier": "preferred",
    }
    contacts = []
    for i in range(7):
        contacts.append({
            "id": ids.next("CON"), "account_id": acc_id,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "title": DEPARTMENTS[i % 5].title() + " lead", "department": DEPARTMENTS[i % 5],
            "buying_role": ROLES[i], "is_primary": i == 0, "region": regions[i % 2],
            "created": _d(anchor, rng.randint(30, 90) if i == 6 else rng.randint(400, 1100)),
        })
    deals = [
        {"id": ids.next("OPP"), "account_id": acc_id, "name": "Framework order",
         "stage": "Closed Won", "amount": round(base / 3, -3), "type": "new",
         "created": _d(anchor, 400), "close_date": _d(anchor, 330), "is_closed": True,
         "is_won": True},
        {"id": ids.next("OPP"), "account_id": acc_id, "name": "New application pilot",
         "stage": "Proposal", "amount": round(base / 8, -3), "type": "upsell",
         "created": _d(anchor, rng.randint(20, 100)), "close_date": None, "is_closed": False,
         "is_won": False},
    ]
    activities = []
    start = rng.randint(2, 8)
    for k in range(13):  # a meeting every two weeks for half a year, each confirmed in writing
        ago = start + 14 * k
        who = [contacts[(k + j) % 7]["id"] for j in range(2)]
        activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "meeting",
                           "date": _d(anchor, ago), "direction": "outbound",
                           "subject": "Account review", "owner_id": owner, "contact_ids": who})
        activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "email",
                           "date": _d(anchor, max(ago - rng.randint(0, 1), 0)),
                           "direction": "outbound", "subject": "Summary of our meeting",
                           "body": "Thanks for the meeting; as agreed, next steps below.",
                           "owner_id": owner, "contact_ids": who[:1]})
    sponsor = rng.choice(SPONSORS)
    call_ago = rng.randint(20, 60)
    activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "call",
                       "date": _d(anchor, call_ago), "direction": "outbound",
                       "subject": "Executive check-in", "owner_id": sponsor,
                       "contact_ids": [contacts[0]["id"]]})
    activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "email",
                       "date": _d(anchor, call_ago - rng.randint(0, 1)), "direction": "outbound",
                       "subject": "Follow-up from our call", "owner_id": sponsor,
                       "contact_ids": [contacts[0]["id"]]})
    service = rng.choice(SERVICE)
    cases = [{"id": ids.next("CAS"), "account_id": acc_id, "subject": "Invoice query",
              "priority": "low", "category": "billing", "opened": _d(anchor, 120),
              "closed": _d(anchor, 115), "owner_id": service, "escalated": False}]
    plan = {
        "account_id": acc_id, "horizon_years": 5.0,
        "objectives": "Become the sole supplier for two product lines by next year.",
        "objectives_reviewed": _d(anchor, rng.randint(60, 200)),
        "customer_goals": "Cut inventory by 15%; expand into two new markets.",
        "pain_points": "Volatile lead times; too many suppliers to manage.",
        "selection_criteria": "Quality, delivery reliability, technical support, price.",
        "decision_process": "Plant managers propose, procurement board decides quarterly.",
        "risk_reviewed": _d(anchor, rng.randint(20, 80)),
        "risk_measures": [{"kind": "delivery guarantee", "reviewed": _d(anchor, 100)},
                          {"kind": "preventive maintenance", "reviewed": _d(anchor, 150)}],
        "relationship_reviewed": _d(anchor, rng.randint(10, 80)),
    }
    team = [{"account_id": acc_id, "user_id": owner, "role": "account_manager"},
            {"account_id": acc_id, "user_id": sponsor, "role": "executive_sponsor"},
            {"account_id": acc_id, "user_id": service, "role": "service"}]
    team += [{"account_id": acc_id, "user_id": REPS[r], "role": "field_rep", "region": r}
             for r in regions]
    surveys = [{"account_id": acc_id, "date": _d(anchor, 220), "kind": "csat", "score": 8.2},
               {"account_id": acc_id, "date": _d(anchor, rng.randint(30, 60)), "kind": "csat",
                "score": round(rng.uniform(8.0, 9.4), 1)}]
    contracts = [{"account_id": acc_id, "start_date": _d(anchor, 500),
                  "end_date": _d(anchor, -rng.randint(200, 400)), "renewal_status": "none"}]
    return {"account": account, "contacts": contacts, "deals": deals, "activities": activities,
            "cases": cases, "plans": [plan], "team": team, "surveys": surveys,
            "contracts": contracts}


# --- defects: each turns one healthy trait into a trouble a rule should catch -----------------


def _single_threaded(b: Bundle, rng: random.Random, anchor: date) -> None:
    keep = b["contacts"][0]
    keep["created"] = _d(anchor, 700)
    b["contacts"] = [keep, {**b["contacts"][1], "department": keep["department"],
                            "created": _d(anchor, 650)}]
    for a in b["activities"]:
        a["contact_ids"] = [keep["id"]]
        a["owner_id"] = b["account"]["owner_id"]


def _late_delivery(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["cases"].append({"id": f"{b['account']['id']}-C1", "account_id": b["account"]["id"],
                       "subject": "Late delivery: week 3 shipment", "priority": "high",
                       "category": "delivery", "opened": _d(anchor, 12), "closed": None,
                       "owner_id": None, "escalated": False})


def _revenue_sliding(b: Bundle, rng: random.Random, anchor: date) -> None:
    rev = b["account"]["revenue"]
    rev[-1]["amount"] = round(rev[-2]["amount"] * 0.82, -3)
    for plan in b["plans"]:
        plan["risk_reviewed"] = _d(anchor, 200)


def _disengaging(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["activities"] = [a for a in b["activities"]
                       if (anchor - date.fromisoformat(a["date"])).days > 75]


def _satisfaction_falling(b: Bundle, rng: random.Random, anchor: date) -> None:
    if b["surveys"]:
        b["surveys"][-1]["score"] = 6.1


def _renewal_missing(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["contracts"][0]["end_date"] = _d(anchor, -60)


def _no_meeting_after_win(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["deals"].append({"id": f"{b['account']['id']}-W1", "account_id": b["account"]["id"],
                       "name": "Multi-site expansion", "stage": "Closed Won", "amount": 900000.0,
                       "type": "upsell", "created": _d(anchor, 120), "close_date": _d(anchor, 45),
                       "is_closed": True, "is_won": True})
    b["activities"] = [a for a in b["activities"]
                       if (anchor - date.fromisoformat(a["date"])).days > 45 or a["type"] != "meeting"]


def _inertia(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["customer_since"] = _d(anchor, 9 * 365)
    for deal in b["deals"]:
        if not deal["is_closed"]:
            deal.update(is_closed=True, is_won=False, stage="Closed Lost", created=_d(anchor, 500),
                        close_date=_d(anchor, 420))


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
        "date": _d(anchor, 25), "direction": "outbound", "subject": "Pricing benchmark",
        "body": "Between us: Nordwind Logistics pays 8% less than you for the same volume.",
        "owner_id": b["account"]["owner_id"], "contact_ids": [b["contacts"][0]["id"]]})


def _gifts(b: Bundle, rng: random.Random, anchor: date) -> None:
    buyer = b["contacts"][0]["id"]
    for i, amount in enumerate((450.0, 380.0, 400.0)):
        b["activities"].append({
            "id": f"{b['account']['id']}-G{i}", "account_id": b["account"]["id"], "type": "gift",
            "date": _d(anchor, 40 + 70 * i), "direction": "outbound",
            "subject": "Hospitality: season tickets", "owner_id": b["account"]["owner_id"],
            "contact_ids": [buyer], "amount": amount})


def _unqualified(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["key_reason"] = None
    b["account"]["potential"] = None


def _small_key(b: Bundle, rng: random.Random, anchor: date) -> None:
    for p in b["account"]["revenue"]:
        p["amount"] = round(p["amount"] / 60, -2)
    b["account"]["potential"] = 300000.0


def _supplier_lost(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["account"]["preferred_supplier"] = "lost"


def _no_feedback(b: Bundle, rng: random.Random, anchor: date) -> None:
    b["surveys"] = []


def _small_cases_open(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid, owner = b["account"]["id"], b["team"][-1]["user_id"]
    b["cases"] += [
        {"id": f"{aid}-C2", "account_id": aid, "subject": "Label misprint", "priority": "medium",
         "category": "quality", "opened": _d(anchor, 30), "owner_id": owner, "escalated": True},
        {"id": f"{aid}-C3", "account_id": aid, "subject": "Portal login", "priority": "low",
         "category": "it", "opened": _d(anchor, 45), "owner_id": owner, "escalated": False},
    ]


def _critical_case(b: Bundle, rng: random.Random, anchor: date) -> None:
    aid = b["account"]["id"]
    b["cases"].append({"id": f"{aid}-C4", "account_id": aid, "subject": "Line stopped",
                       "priority": "critical", "category": "quality", "opened": _d(anchor, 4),
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
        b["plans"][0].update(objectives_reviewed=_d(anchor, 500), horizon_years=2.0,
                             customer_goals=None, decision_process=None)


def _review_overdue(b: Bundle, rng: random.Random, anchor: date) -> None:
    if b["plans"]:
        b["plans"][0].update(relationship_reviewed=_d(anchor, 140), risk_reviewed=_d(anchor, 260),
                             risk_measures=[])


def _no_new_contacts(b: Bundle, rng: random.Random, anchor: date) -> None:
    for c in b["contacts"]:
        c["created"] = _d(anchor, 400 + len(c["id"]))
    b["contacts"] = [c for c in b["contacts"] if c["department"] != "management"]


Defect = Callable[[Bundle, random.Random, date], None]
# The story accounts: a name and what is wrong with it (nothing, for the flagship).
STORIES: list[tuple[str, tuple[Defect, ...]]] = [
    ("Nordwind Logistics", ()),
    ("Baltic Foods", (_single_threaded,)),
    ("Ural Steelworks", (_late_delivery,)),
    ("Adriatic Pharma", (_revenue_sliding, _disengaging, _satisfaction_falling)),
    ("Danube Chemicals", (_renewal_missing,)),
    ("Carpathia Energy", (_no_meeting_after_win,)),
    ("Pannonia Retail", (_inertia,)),
    ("Sava Machinery", (_no_plan,)),
    ("Volga Paper", (_team_of_one,)),
    ("Morava Textiles", (_sponsor_absent, _national_uncoordinated)),
    ("Tisza Foods", (_unconfirmed_meetings, _confidential_leak)),
    ("Drava Components", (_gifts, _unqualified)),
    ("Neretva Packaging", (_small_key, _supplier_lost)),
    ("Lika Instruments", (_no_feedback, _small_cases_open, _critical_case)),
    ("Istra Marine", (_who_decides_unknown, _sparse_touches)),
    ("Krka Biotech", (_stale_objectives, _review_overdue)),
    ("Una Glassworks", (_no_new_contacts,)),
    ("Alpine Dairy", ()),
]
DEFECTS: tuple[Defect, ...] = tuple(
    dict.fromkeys(d for _, defects in STORIES for d in defects)
)


def _other_account(rng: random.Random, ids: _Ids, acc_id: str, name: str, anchor: date,
                   repeat_buyer: bool) -> Bundle:
    """A non-key customer: smaller, thinner data, a few orders and touches."""
    base = rng.lognormvariate(11.8, 0.9)
    revenue = [{"year": anchor.year - 2 + i, "amount": round(base * rng.uniform(0.8, 1.2), -2)}
               for i in range(2)]
    account = {"id": acc_id, "name": name, "owner_id": rng.choice(MANAGERS), "is_key": False,
               "industry": rng.choice(INDUSTRIES), "regions": [rng.choice(REGIONS)],
               "revenue": revenue, "customer_since": _d(anchor, rng.randint(100, 3000))}
    contacts = [{"id": ids.next("CON"), "account_id": acc_id,
                 "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                 "department": rng.choice(DEPARTMENTS), "is_primary": i == 0,
                 "created": _d(anchor, rng.randint(30, 1500))} for i in range(rng.randint(1, 3))]
    wins = 3 if repeat_buyer else rng.choice((0, 0, 1, 1, 2))
    deals = [{"id": ids.next("OPP"), "account_id": acc_id, "name": f"Order {i + 1}",
              "stage": "Closed Won", "amount": round(base / 4, -2), "type": "new",
              "created": _d(anchor, 60 + 90 * i), "close_date": _d(anchor, 30 + 90 * i),
              "is_closed": True, "is_won": True} for i in range(wins)]
    activities = [{"id": ids.next("ACT"), "account_id": acc_id,
                   "type": rng.choice(("call", "email", "meeting")),
                   "date": _d(anchor, rng.randint(1, 300)), "direction": "outbound",
                   "subject": "Follow-up", "owner_id": account["owner_id"],
                   "contact_ids": [contacts[0]["id"]]} for _ in range(rng.randint(0, 4))]
    return {"account": account, "contacts": contacts, "deals": deals, "activities": activities,
            "cases": [], "plans": [], "team": [], "surveys": [], "contracts": []}


def _names(rng: random.Random) -> Iterator[str]:
    """Unique company names; past the 3,200 combinations, numbered ones (for big portfolios)."""
    seen = {n for n, _ in STORIES}
    tries = 0
    while True:
        name = f"{rng.choice(STEMS)}{rng.choice(STEMS).lower()} {rng.choice(TRADES)}"
        tries += 1
        if name in seen and tries > 50:
            name = f"{name} {len(seen) + 1}"
        if name not in seen:
            seen.add(name)
            tries = 0
            yield name


RELATED = ("contacts", "deals", "activities", "cases", "plans", "team", "surveys", "contracts")


def demo_batches(anchor: date, accounts: int = 300, seed: int = 7,
                 batch: int = 10_000) -> Iterator[dict[str, list[dict]]]:
    """The portfolio `batch` accounts at a time (users with the first), so a million-account
    portfolio can be written without holding it; together the batches are `demo_portfolio`."""
    rng = random.Random(seed)
    ids = _Ids()
    names = _names(random.Random(seed + 1))
    key_count = max(len(STORIES), round(accounts * 0.133)) if accounts >= 60 else accounts // 4
    out: dict[str, list[dict]] = {"users": _users(), "accounts": [], **{k: [] for k in RELATED}}
    for n in range(accounts):
        acc_id = f"ACC-{n + 1:06d}"
        if n < key_count:
            story = STORIES[n] if n < len(STORIES) else None
            name = story[0] if story else next(names)
            bundle = _healthy_key(rng, ids, acc_id, name, anchor, MANAGERS[n % len(MANAGERS)])
            if story is not None:
                defects = story[1]
            else:
                defects = tuple(rng.sample(DEFECTS, rng.choice((0, 1, 1, 2, 2, 3))))
            for defect in defects:
                defect(bundle, rng, anchor)
        else:
            bundle = _other_account(rng, ids, acc_id, next(names), anchor,
                                    repeat_buyer=(n - key_count) % 37 == 5)
        out["accounts"].append(bundle["account"])
        for kind in RELATED:
            out[kind].extend(bundle[kind])
        if len(out["accounts"]) == batch:
            yield out
            out = {"users": [], "accounts": [], **{k: [] for k in RELATED}}
    if out["accounts"] or out["users"]:
        yield out


def demo_portfolio(anchor: date, accounts: int = 300, seed: int = 7) -> dict[str, list[dict]]:
    """The whole portfolio as canonical record dicts keyed like kamrules.model.RECORD_KINDS."""
    merged: dict[str, list[dict]] = {}
    for part in demo_batches(anchor, accounts, seed):
        for kind, rows in part.items():
            merged.setdefault(kind, []).extend(rows)
    return merged
