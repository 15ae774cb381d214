"""Conduct facts: confidentiality and gifts, the don'ts a CRM can observe (P29, P33)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from kamrules.evaluation.facts.registry import (
    WRITTEN,
    FactValue,
    fact,
    name_words,
)
from kamrules.evaluation.facts.shared import own_name, per_view
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Activity


@fact(
    "confidential_mentions_365d", "int", "count",
    "Outbound emails and notes in the last 365 days that name another key account.", ["P29"],
)
def _confidential(v: AccountView) -> FactValue:
    portfolio = v.portfolio
    if not portfolio.key_account_names:
        return 0
    first, as_of = portfolio.first_words, v.as_of
    count = 0
    for a in v.activities:
        if a.type in WRITTEN and a.direction == "outbound" and 0 <= (as_of - a.date).days < 365:
            words = name_words(f"{a.subject}\n{a.body}")
            if not first.isdisjoint(words) and portfolio.names_in_words(words) - {own_name(v)}:
                count += 1
    return count


@fact(
    "max_gifts_to_one_contact_365d", "float", "money",
    "Largest total value of gifts and hospitality given to one contact in the last 365 days.",
    ["P33"], reads=("activities",),
)
def _gifts(v: AccountView) -> FactValue:
    totals: dict[str, float] = defaultdict(float)
    as_of = v.as_of
    for a in v.activities:
        if a.type == "gift" and 0 <= (as_of - a.date).days < 365:
            for c in a.contact_ids or ["(unnamed)"]:
                totals[c] += a.amount or 0.0
    return max(totals.values()) if totals else 0.0


# Commercial terms, as word stems, in the languages of the sources: English, Russian, Serbian
# (Latin and Cyrillic). Naming a customer as a reference is referral selling (P20); naming
# them beside their prices, discounts, volumes, contracts or plans is a disclosure (P29).
TERM_STEMS = (
    "price", "pricing", "discount", "rebate", "volume", "contract", "terms", "margin", "tender",
    "quote", "budget", "forecast", "plans", "roadmap", "tariff", "cost",
    "цен", "скидк", "объем", "объём", "контракт", "договор", "услови", "марж", "тендер", "бюджет",
    "план", "стоимост", "тариф",
    "cen", "popust", "rabat", "obim", "ugovor", "uslov", "marž", "budžet", "ponud", "tarif",
    "попуст", "рабат", "обим", "уговор", "услов", "буџет", "понуд",
)
NEAR_WORDS = 12


def _is_term(word: str) -> bool:
    return word.startswith(TERM_STEMS)


def disclosure(v: AccountView, text: str) -> tuple[str, ...] | None:
    """Another key account's name within NEAR_WORDS words of a commercial term, if any."""
    return _disclosure(v, name_words(text))


def _disclosure(v: AccountView, words: tuple[str, ...]) -> tuple[str, ...] | None:
    names = v.portfolio.names_in_words(words)
    if not names:
        return None
    for name in sorted(names - {own_name(v)}):
        for i in range(len(words)):
            if words[i:i + len(name)] == name:
                near = words[max(0, i - NEAR_WORDS):i + len(name) + NEAR_WORDS]
                if any(_is_term(w) for w in near):
                    return name
    return None


@per_view
def disclosures(v: AccountView) -> list[tuple[Activity, tuple[str, ...]]]:
    """Outbound emails of the last 365 days that name another key account with its terms,
    latest first."""
    if not v.portfolio.key_account_names:
        return []
    first, as_of = v.portfolio.first_words, v.as_of
    since = as_of - timedelta(days=365)  # 0 <= (as_of - date).days < 365, without a timedelta each
    out = []
    for a in v.activities:
        if a.type == "email" and a.direction == "outbound" and since < a.date <= as_of:
            words = name_words(f"{a.subject}\n{a.body}")
            if first.isdisjoint(words):  # no key-account name starts in it (most emails)
                continue
            name = _disclosure(v, words)
            if name is not None:
                out.append((a, name))
    out.sort(key=lambda hit: (hit[0].date, hit[0].id), reverse=True)
    return out


@fact(
    "confidential_disclosures_365d", "int", "count",
    "Outbound emails in the last 365 days that name another key account together with"
    " commercial terms (price, discount, volume, contract, plans) - in English, Russian or"
    " Serbian.", ["P29"], reads=("activities",),
)
def _disclosures(v: AccountView) -> FactValue:
    return len(disclosures(v))
