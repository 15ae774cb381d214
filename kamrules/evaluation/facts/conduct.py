"""Conduct facts: confidentiality and gifts, the don'ts a CRM can observe (P29, P33)."""

from __future__ import annotations

from collections import defaultdict

from kamrules.evaluation.facts.registry import (
    WRITTEN,
    FactValue,
    fact,
    name_words,
)
from kamrules.evaluation.facts.view import AccountView


@fact(
    "confidential_mentions_365d", "int", "count",
    "Outbound emails and notes in the last 365 days that name another key account.", ["P29"],
)
def _confidential(v: AccountView) -> FactValue:
    names = v.portfolio.key_account_names
    if not names:
        return 0
    own = name_words(v.account.name)
    count = 0
    for a in v.activities:
        if a.type in WRITTEN and a.direction == "outbound" and v.within(a.date, 365):
            found = v.portfolio.names_in(f"{a.subject}\n{a.body}")
            if found - {own}:
                count += 1
    return count


@fact(
    "max_gifts_to_one_contact_365d", "float", "money",
    "Largest total value of gifts and hospitality given to one contact in the last 365 days.",
    ["P33"],
)
def _gifts(v: AccountView) -> FactValue:
    totals: dict[str, float] = defaultdict(float)
    for a in v.activities:
        if a.type == "gift" and v.within(a.date, 365):
            for c in a.contact_ids or ["(unnamed)"]:
                totals[c] += a.amount or 0.0
    return max(totals.values()) if totals else 0.0
