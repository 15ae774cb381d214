"""The demo portfolio the local CRM is seeded with: deterministic, realistic, every rule exercised.

About 13% of accounts are key accounts. A healthy key account satisfies every kam-core rule;
the named story accounts and a seeded share of the others each carry the defects of a real
relationship in trouble (single-threaded, late delivery nobody escalated, revenue sliding...).
Dates are relative to `anchor`, so a run as of the anchor date reads the stories as written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from typing import Any

from kamrules.connectors.local.demo_defects import DEFECTS, STORIES, Bundle, day

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
        "customer_since": day(anchor, rng.randint(2 * 365, 4 * 365)),
        "preferred_supplier": "preferred",
    }
    contacts = []
    for i in range(7):
        contacts.append({
            "id": ids.next("CON"), "account_id": acc_id,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "title": DEPARTMENTS[i % 5].title() + " lead", "department": DEPARTMENTS[i % 5],
            "buying_role": ROLES[i], "is_primary": i == 0, "region": regions[i % 2],
            "stance": "champion" if i == 3 else None,
            "created": day(anchor, rng.randint(30, 90) if i == 6 else rng.randint(400, 1100)),
        })
    deals = [
        {"id": ids.next("OPP"), "account_id": acc_id, "name": "Framework order",
         "stage": "Closed Won", "amount": round(base / 3, -3), "type": "new",
         "kind": "new_product", "owner_id": owner,
         "created": day(anchor, 400), "close_date": day(anchor, 330), "is_closed": True,
         "is_won": True},
        {"id": ids.next("OPP"), "account_id": acc_id, "name": "New application pilot",
         "stage": "Proposal", "amount": round(base / 8, -3), "type": "upsell",
         "kind": "new_application", "owner_id": owner,
         "created": day(anchor, rng.randint(20, 80)), "close_date": None, "is_closed": False,
         "is_won": False},
    ]
    activities = []
    start = rng.randint(2, 8)
    for k in range(13):  # a meeting every two weeks for half a year, each confirmed in writing
        ago = start + 14 * k
        who = [contacts[(k + j) % 7]["id"] for j in range(2)]
        activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "meeting",
                           "date": day(anchor, ago), "direction": "outbound",
                           "subject": "Quarterly business review" if k % 6 == 0 else "Account review",
                           "owner_id": owner, "contact_ids": who})
        activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "email",
                           "date": day(anchor, max(ago - rng.randint(0, 1), 0)),
                           "direction": "outbound", "subject": "Summary of our meeting",
                           "body": "Thanks for the meeting; as agreed, next steps below.",
                           "owner_id": owner, "contact_ids": who[:1]})
    sponsor = rng.choice(SPONSORS)
    call_ago = rng.randint(20, 60)
    activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "call",
                       "date": day(anchor, call_ago), "direction": "outbound",
                       "subject": "Executive check-in", "owner_id": sponsor,
                       "contact_ids": [contacts[0]["id"]]})
    activities.append({"id": ids.next("ACT"), "account_id": acc_id, "type": "email",
                       "date": day(anchor, call_ago - rng.randint(0, 1)), "direction": "outbound",
                       "subject": "Follow-up from our call", "owner_id": sponsor,
                       "contact_ids": [contacts[0]["id"]]})
    service = rng.choice(SERVICE)
    cases = [{"id": ids.next("CAS"), "account_id": acc_id, "subject": "Invoice query",
              "priority": "low", "category": "billing", "opened": day(anchor, 120),
              "closed": day(anchor, 115), "owner_id": service, "escalated": False}]
    plan = {
        "account_id": acc_id, "horizon_years": 5.0,
        "objectives": "Become the sole supplier for two product lines by next year.",
        "objectives_reviewed": day(anchor, rng.randint(30, 170)),
        "customer_goals": "Cut inventory by 15%; expand into two new markets.",
        "pain_points": "Volatile lead times; too many suppliers to manage.",
        "selection_criteria": "Quality, delivery reliability, technical support, price.",
        "decision_process": "Plant managers propose, procurement board decides quarterly.",
        "risk_reviewed": day(anchor, rng.randint(20, 80)),
        "risk_measures": [{"kind": "delivery guarantee", "reviewed": day(anchor, 100)},
                          {"kind": "preventive maintenance", "reviewed": day(anchor, 150)}],
        "relationship_reviewed": day(anchor, rng.randint(10, 80)),
        "value_for_customer": "Inventory down 12% with consignment stock; fewer line stops.",
        "value_for_us": "Growing margin, a reference in the sector, joint development.",
        "value_reviewed": day(anchor, rng.randint(40, 300)),
    }
    team = [{"account_id": acc_id, "user_id": owner, "role": "account_manager"},
            {"account_id": acc_id, "user_id": sponsor, "role": "executive_sponsor"},
            {"account_id": acc_id, "user_id": service, "role": "service"}]
    team += [{"account_id": acc_id, "user_id": REPS[r], "role": "field_rep", "region": r}
             for r in regions]
    surveys = [{"account_id": acc_id, "date": day(anchor, 220), "kind": "csat", "score": 8.2},
               {"account_id": acc_id, "date": day(anchor, rng.randint(30, 60)), "kind": "csat",
                "score": round(rng.uniform(8.0, 9.4), 1)}]
    contracts = [{"account_id": acc_id, "start_date": day(anchor, 500),
                  "end_date": day(anchor, -rng.randint(200, 400)), "renewal_status": "none"}]
    return {"account": account, "contacts": contacts, "deals": deals, "activities": activities,
            "cases": cases, "plans": [plan], "team": team, "surveys": surveys,
            "contracts": contracts}


def _other_account(rng: random.Random, ids: _Ids, acc_id: str, name: str, anchor: date,
                   repeat_buyer: bool) -> Bundle:
    """A non-key customer: smaller, thinner data, a few orders and touches."""
    base = rng.lognormvariate(11.8, 0.9)
    revenue = [{"year": anchor.year - 2 + i, "amount": round(base * rng.uniform(0.8, 1.2), -2)}
               for i in range(2)]
    account = {"id": acc_id, "name": name, "owner_id": rng.choice(MANAGERS), "is_key": False,
               "industry": rng.choice(INDUSTRIES), "regions": [rng.choice(REGIONS)],
               "revenue": revenue, "customer_since": day(anchor, rng.randint(100, 3000))}
    contacts = [{"id": ids.next("CON"), "account_id": acc_id,
                 "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                 "department": rng.choice(DEPARTMENTS), "is_primary": i == 0,
                 "created": day(anchor, rng.randint(30, 1500))} for i in range(rng.randint(1, 3))]
    wins = 3 if repeat_buyer else rng.choice((0, 0, 1, 1, 2))
    deals = [{"id": ids.next("OPP"), "account_id": acc_id, "name": f"Order {i + 1}",
              "stage": "Closed Won", "amount": round(base / 4, -2), "type": "new", "kind": "reorder",
              "created": day(anchor, 60 + 90 * i), "close_date": day(anchor, 30 + 90 * i),
              "is_closed": True, "is_won": True} for i in range(wins)]
    activities = [{"id": ids.next("ACT"), "account_id": acc_id,
                   "type": rng.choice(("call", "email", "meeting")),
                   "date": day(anchor, rng.randint(1, 300)), "direction": "outbound",
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
