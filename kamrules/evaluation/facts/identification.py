"""Identification facts: key-account status, revenue, potential, regions, tenure (P01-P05, P17)."""

from __future__ import annotations

import bisect

from kamrules.evaluation.facts.registry import (
    FactValue,
    blank,
    fact,
)
from kamrules.evaluation.facts.shared import revenue
from kamrules.evaluation.facts.view import AccountView


@fact("is_key", "bool", "flag", "The account is flagged as a key account.", ["P01", "P05"], reads=())
def _is_key(v: AccountView) -> FactValue:
    return v.account.is_key


@fact("has_key_reason", "bool", "flag", "A reason for key-account status is recorded.", ["P04"])
def _has_key_reason(v: AccountView) -> FactValue:
    return not blank(v.account.key_reason)


@fact("tier", "str", "text", "Key-account tier as recorded in the CRM.", ["P02"])
def _tier(v: AccountView) -> FactValue:
    return v.account.tier


@fact("industry", "str", "text", "The account's industry as recorded in the CRM (Salesforce's"
      " Industry, HubSpot's industry), for rules or scopes of one industry.", reads=())
def _industry(v: AccountView) -> FactValue:
    return v.account.industry


@fact("revenue_last_year", "float", "money", "Revenue in the last complete calendar year.", ["P05"], reads=())
def _revenue_last_year(v: AccountView) -> FactValue:
    return revenue(v)


@fact(
    "revenue_percentile", "float", "percent",
    "Share of accounts with lower last-year revenue (0-100); accounts with none count as 0.",
    ["P05"], reads=(),
)
def _revenue_percentile(v: AccountView) -> FactValue:
    last_year = revenue(v) or 0.0
    ranks = v.portfolio.sorted_revenue
    if not ranks:
        return None
    return round(100.0 * bisect.bisect_left(ranks, last_year) / len(ranks), 2)


@fact(
    "revenue_top_pct", "float", "percent",
    "Share of accounts with last-year revenue at or above this one's: 17 means the top 17%.",
    ["P05"], reads=(),
)
def _revenue_top(v: AccountView) -> FactValue:
    last_year = revenue(v) or 0.0
    ranks = v.portfolio.sorted_revenue
    if not ranks:
        return None
    return round(100.0 * (len(ranks) - bisect.bisect_left(ranks, last_year)) / len(ranks), 2)


@fact(
    "revenue_share_above", "float", "percent",
    "Share of the portfolio's last-year revenue brought by the accounts larger than this one"
    " (Pareto: an account is among those that bring 80% of revenue while this is below 80).",
    ["P05"], reads=(),
)
def _share_above(v: AccountView) -> FactValue:
    last_year = revenue(v) or 0.0
    ranks, above = v.portfolio.sorted_revenue, v.portfolio.revenue_at_or_above
    if not ranks or not above or above[0] <= 0:
        return None
    return round(100.0 * above[bisect.bisect_right(ranks, last_year)] / above[0], 2)


@fact(
    "revenue_trend_pct", "float", "percent",
    "Change of last year's revenue against the year before, in percent.", ["P16", "P39"], reads=(),
)
def _revenue_trend(v: AccountView) -> FactValue:
    by_year = {p.year: p.amount for p in v.account.revenue if p.year < v.as_of.year}
    if len(by_year) < 2:
        return None
    last = max(by_year)
    if last - 1 not in by_year or by_year[last - 1] == 0:
        return None
    return round(100.0 * (by_year[last] - by_year[last - 1]) / by_year[last - 1], 2)


@fact("potential", "float", "money", "Estimated yearly purchase potential.", ["P02"])
def _potential(v: AccountView) -> FactValue:
    return v.account.potential


@fact(
    "region_count", "int", "count",
    "Distinct regions of the account and its contacts.", ["P02", "P03"],
)
def _region_count(v: AccountView) -> FactValue:
    return len(_regions(v))


def _regions(v: AccountView) -> set[str]:
    regions = {r.strip().lower() for r in v.account.regions if r.strip()}
    regions.update(c.region.strip().lower() for c in v.contacts if c.region and c.region.strip())
    return regions


@fact("customer_years", "float", "years", "Years since the account became a customer.", ["P17"])
def _customer_years(v: AccountView) -> FactValue:
    since = v.account.customer_since
    return None if since is None else round((v.as_of - since).days / 365.25, 2)


@fact(
    "preferred_supplier", "str", "text",
    "Our supplier status at the account: preferred, approved, lost or unknown.", ["P21"],
)
def _preferred(v: AccountView) -> FactValue:
    return v.account.preferred_supplier
