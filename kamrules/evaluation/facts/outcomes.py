"""Outcome facts: deals won and open, offers, satisfaction and contracts (P06, P34, P39, P40)."""

from __future__ import annotations

from datetime import date

from kamrules.evaluation.facts.registry import (
    FactValue,
    fact,
)
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Deal


@fact("won_deals_12m", "int", "count", "Deals won in the last 365 days.", ["P01"])
def _won_12m(v: AccountView) -> FactValue:
    return sum(
        1 for d in v.deals if d.is_won and d.close_date and v.within(d.close_date, 365)
    )


@fact("open_deals", "int", "count", "Open deals (not closed) of any type.", ["P34"])
def _open_deals(v: AccountView) -> FactValue:
    return sum(1 for d in v.deals if not _closed_by(d, v.as_of))


@fact("open_renewal_deals", "int", "count", "Open deals of type renewal.", ["P40"])
def _open_renewals(v: AccountView) -> FactValue:
    return sum(1 for d in v.deals if d.type == "renewal" and not _closed_by(d, v.as_of))


def _closed_by(deal: Deal, as_of: date) -> bool:
    return deal.is_closed and (deal.close_date is None or deal.close_date <= as_of)


@fact(
    "days_since_new_offer", "int", "days",
    "Days since the last new or upsell opportunity was opened.", ["P10", "P17"],
)
def _days_since_offer(v: AccountView) -> FactValue:
    dates = [d.created for d in v.deals if d.type in ("new", "upsell")]
    return v.days_since(max(dates)) if dates else None


@fact("days_since_last_win", "int", "days", "Days since the last deal was won.", ["P06"])
def _days_since_win(v: AccountView) -> FactValue:
    return v.days_since(_last_win(v))


def _last_win(v: AccountView) -> date | None:
    wins = [d.close_date for d in v.deals if d.is_won and d.close_date and d.close_date <= v.as_of]
    return max(wins) if wins else None


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


@fact("satisfaction", "float", "score", "Latest CSAT score (0-10).", ["P39"])
def _satisfaction(v: AccountView) -> FactValue:
    csat = sorted((s for s in v.surveys if s.kind == "csat"), key=lambda s: s.date)
    return csat[-1].score if csat else None


@fact(
    "satisfaction_change", "float", "score",
    "Latest CSAT score minus the one before it.", ["P39"],
)
def _satisfaction_change(v: AccountView) -> FactValue:
    csat = sorted((s for s in v.surveys if s.kind == "csat"), key=lambda s: s.date)
    return round(csat[-1].score - csat[-2].score, 2) if len(csat) >= 2 else None


@fact(
    "days_to_contract_end", "int", "days",
    "Days until the next contract that is not yet renewed or lost ends (negative: lapsed).",
    ["P40"],
)
def _contract_end(v: AccountView) -> FactValue:
    pending = [c.end_date for c in v.contracts if c.renewal_status in ("none", "in_progress")]
    return (min(pending) - v.as_of).days if pending else None
