"""Intermediate results several facts read, computed once per account view (issue #18).

Many facts scan the same records the same way: the active contacts (11 facts), the open cases
(9), the touches of the last 90 and 180 days (4), the last win (2), the meeting that waited
longest for its follow-up (3), the disclosures (2). Each such scan is a function of the view
decorated with `per_view`: the first call computes it, the others read the view's memo. The
values are those the facts computed on their own before; callers must not mutate them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from kamrules.evaluation.facts.registry import TOUCHES, last_year_revenue, name_words

if TYPE_CHECKING:
    from kamrules.evaluation.facts.view import AccountView
    from kamrules.model import Activity, Case, Contact, Deal

T = TypeVar("T")
_MISSING = object()


def per_view(func: Callable[[AccountView], T]) -> Callable[[AccountView], T]:
    """`func(view)` computed once per view, kept in the view's memo."""

    @functools.wraps(func)
    def shared(v: AccountView) -> T:
        memo = v.memo
        value = memo.get(func, _MISSING)
        if value is _MISSING:
            value = memo[func] = func(v)
        return value  # type: ignore[return-value]

    return shared


@per_view
def active_contacts(v: AccountView) -> list[Contact]:
    """Contacts still at the customer (not marked inactive or gone)."""
    return [c for c in v.contacts if c.status == "active"]


@per_view
def open_cases(v: AccountView) -> list[Case]:
    """Cases not closed by as_of (closed after it counts as open)."""
    as_of = v.as_of
    return [c for c in v.cases if c.closed is None or c.closed > as_of]


@per_view
def team_and_owner(v: AccountView) -> set[str | None]:
    """The account team's user ids and the account owner's (None when it has none)."""
    return {t.user_id for t in v.team} | {v.account.owner_id}


@per_view
def sponsors(v: AccountView) -> set[str]:
    """User ids of the account team's executive sponsors."""
    return {t.user_id for t in v.team if t.role == "executive_sponsor"}


@dataclass(slots=True)
class Rhythm:
    """What one pass over an account's activities finds for the relationship facts."""

    recent: list[Activity]  # of the last 90 days (as_of included), in record order
    # meetings, calls and emails aged 0-89 days, 90-179, and 90-359 (the 270 days before)
    touches: tuple[int, int, int]
    latest: dict[str, date]  # activity type -> date of the latest one
    written: list[date]  # dates of every outbound email, sorted (written follow-ups)


@per_view
def rhythm(v: AccountView) -> Rhythm:
    """The account's activities scanned once (11 relationship and evidence facts read it)."""
    as_of = v.as_of
    recent: list[Activity] = []
    latest: dict[str, date] = {}
    written: list[date] = []
    last = prev = year = 0
    for a in v.activities:
        kind, day = a.type, a.date
        age = (as_of - day).days
        if 0 <= age < 90:
            recent.append(a)
        seen = latest.get(kind)
        if seen is None or day > seen:
            latest[kind] = day
        if kind in TOUCHES:
            if 0 <= age < 90:
                last += 1
            elif 90 <= age < 360:
                year += 1
                if age < 180:
                    prev += 1
            if kind == "email" and a.direction == "outbound":
                written.append(day)
    written.sort()
    return Rhythm(recent, (last, prev, year), latest, written)


def recent_activities(v: AccountView) -> list[Activity]:
    """Activities of the last 90 days (as_of included), in record order."""
    return rhythm(v).recent


def touch_counts(v: AccountView) -> tuple[int, int, int]:
    """Meetings, calls and emails in the last 90 days, in the 90 days before, and in the 270
    days before the last 90 (ages 0-89, 90-179 and 90-359 days)."""
    return rhythm(v).touches


def latest_by_type(v: AccountView) -> dict[str, date]:
    """The date of the latest activity of each type."""
    return rhythm(v).latest


def outbound_email_dates(v: AccountView) -> list[date]:
    """Dates of every outbound email, sorted (written follow-ups)."""
    return rhythm(v).written


@per_view
def wins(v: AccountView) -> list[Deal]:
    """Deals won with a close date on or before as_of."""
    as_of = v.as_of
    return [d for d in v.deals if d.is_won and d.close_date and d.close_date <= as_of]


@per_view
def last_win(v: AccountView) -> date | None:
    """The close date of the latest won deal."""
    dates = [d.close_date for d in wins(v) if d.close_date]
    return max(dates) if dates else None


@per_view
def revenue(v: AccountView) -> float | None:
    """Revenue in the last complete calendar year."""
    return last_year_revenue(v.account, v.as_of)


@per_view
def own_name(v: AccountView) -> tuple[str, ...]:
    """The account's own name as lower-case words (never a mention of another account)."""
    return name_words(v.account.name)


@per_view
def csat_by_date(v: AccountView) -> list[float]:
    """CSAT scores, oldest first."""
    return [s.score for s in sorted((s for s in v.surveys if s.kind == "csat"), key=lambda s: s.date)]
