"""Outcome facts: deals won and open, offers, satisfaction and contracts (P06, P34, P39, P40)."""

from __future__ import annotations

from datetime import date

from kamrules.evaluation.facts.deals import offers_something_new
from kamrules.evaluation.facts.registry import (
    PROBLEM_CATEGORIES,
    FactValue,
    fact,
)
from kamrules.evaluation.facts.shared import (
    csat_by_date,
    last_win,
    per_view,
    revenue,
    team_and_owner,
    wins,
)
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Case, Deal


@fact("won_deals_12m", "int", "count", "Deals won in the last 365 days.", ["P01"], reads=("deals",))
def _won_12m(v: AccountView) -> FactValue:
    as_of = v.as_of
    return sum(
        1 for d in v.deals if d.is_won and d.close_date and 0 <= (as_of - d.close_date).days < 365
    )


@per_view
def open_deals(v: AccountView) -> list[Deal]:
    """Deals not closed by as_of (closed after it counts as open)."""
    as_of = v.as_of
    return [d for d in v.deals if not _closed_by(d, as_of)]


@per_view
def new_offers(v: AccountView) -> list[Deal]:
    """Deals that offer something new (a new product or application, an upsell)."""
    return [d for d in v.deals if offers_something_new(d)]


@fact("open_deals", "int", "count", "Open deals (not closed) of any type.", ["P34"])
def _open_deals(v: AccountView) -> FactValue:
    return len(open_deals(v))


@fact("open_renewal_deals", "int", "count", "Open deals of type renewal.", ["P40"])
def _open_renewals(v: AccountView) -> FactValue:
    return sum(1 for d in open_deals(v) if d.type == "renewal")


def _closed_by(deal: Deal, as_of: date) -> bool:
    return deal.is_closed and (deal.close_date is None or deal.close_date <= as_of)


@fact(
    "days_since_new_offer", "int", "days",
    "Days since an opportunity for a new product, a new application or an upsell was opened"
    " (repeat orders and renewals do not count).", ["P10", "P17"],
)
def _days_since_offer(v: AccountView) -> FactValue:
    dates = [d.created for d in new_offers(v)]
    return v.days_since(max(dates)) if dates else None


@fact(
    "open_cross_sell_deals", "int", "count",
    "Open opportunities for a new product, a new application or an upsell.", ["P41"],
)
def _open_cross_sell(v: AccountView) -> FactValue:
    return sum(1 for d in new_offers(v) if not _closed_by(d, v.as_of))


@fact(
    "revenue_share_of_potential", "float", "percent",
    "Last year's revenue as a percentage of the recorded yearly purchase potential.", ["P41"],
)
def _share_of_potential(v: AccountView) -> FactValue:
    potential = v.account.potential
    last_year = revenue(v)
    if not potential or potential <= 0 or last_year is None:
        return None
    return round(100.0 * last_year / potential, 2)


@fact(
    "open_deals_outside_team", "int", "count",
    "Open opportunities owned by someone who is neither the account owner nor on the account"
    " team (the sales effort running beside key-account management).", ["P34"],
)
def _deals_outside_team(v: AccountView) -> FactValue:
    team = team_and_owner(v)
    return sum(1 for d in open_deals(v) if d.owner_id is not None and d.owner_id not in team)


@per_view
def problems_after_wins(v: AccountView) -> list[tuple[Deal, Case]]:
    """Delivery or quality cases opened in the 90 days after a deal was won, within a year."""
    won_deals = wins(v)
    if not won_deals or not v.cases:
        return []
    out = []
    for c in sorted(v.cases, key=lambda c: c.opened):
        if (c.category or "").lower() not in PROBLEM_CATEGORIES or not v.within(c.opened, 365):
            continue
        won = [d for d in won_deals if d.close_date and 0 <= (c.opened - d.close_date).days <= 90]
        if won:
            out.append((max(won, key=lambda d: d.close_date or v.as_of), c))
    return out


@fact(
    "problem_cases_after_win", "int", "count",
    "Delivery or quality cases opened within 90 days after a won deal, in the last 365 days"
    " (promises not kept).", ["P22"],
)
def _problems_after_win(v: AccountView) -> FactValue:
    return len(problems_after_wins(v))


@fact("days_since_last_win", "int", "days", "Days since the last deal was won.", ["P06"], reads=("deals",))
def _days_since_win(v: AccountView) -> FactValue:
    return v.days_since(last_win(v))


_last_win = last_win


@fact(
    "meetings_since_last_win", "int", "count",
    "Meetings held since the last deal was won (None when none was ever won).", ["P06"],
)
def _meetings_since_win(v: AccountView) -> FactValue:
    won = _last_win(v)
    if won is None:
        return None
    return sum(1 for a in v.activities if a.type == "meeting" and a.date > won)


@fact("days_since_survey", "int", "days", "Days since the last CSAT or NPS survey.", ["P25"])
def _days_since_survey(v: AccountView) -> FactValue:
    dates = [s.date for s in v.surveys]
    return v.days_since(max(dates)) if dates else None


@fact(
    "nps", "float", "score",
    "Latest NPS answer (likelihood to recommend, 0-10; 0-6 is a detractor).", ["P39"],
)
def _nps(v: AccountView) -> FactValue:
    nps = sorted((s for s in v.surveys if s.kind == "nps"), key=lambda s: s.date)
    return nps[-1].score if nps else None


@fact("satisfaction", "float", "score", "Latest CSAT score (0-10).", ["P39"])
def _satisfaction(v: AccountView) -> FactValue:
    csat = csat_by_date(v)
    return csat[-1] if csat else None


@fact(
    "satisfaction_change", "float", "score",
    "Latest CSAT score minus the one before it.", ["P39"], reads=("surveys",),
)
def _satisfaction_change(v: AccountView) -> FactValue:
    csat = csat_by_date(v)
    return round(csat[-1] - csat[-2], 2) if len(csat) >= 2 else None


@fact(
    "days_to_contract_end", "int", "days",
    "Days until the next contract that is not yet renewed or lost ends (negative: lapsed).",
    ["P40"], reads=("contracts",),
)
def _contract_end(v: AccountView) -> FactValue:
    pending = [c.end_date for c in v.contracts if c.renewal_status in ("none", "in_progress")]
    return (min(pending) - v.as_of).days if pending else None
