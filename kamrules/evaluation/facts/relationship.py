"""Relationship facts: contacts, their roles, and the rhythm of touches (P09-P14, P18, P23, P35)."""

from __future__ import annotations

import bisect
import re

from kamrules.evaluation.facts.registry import (
    DECISION_ROLES,
    TOUCHES,
    FactValue,
    blank,
    fact,
    ratio,
)
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Activity, Contact


@fact("contacts", "int", "count", "Contacts at the account.", ["P09"])
def _contacts(v: AccountView) -> FactValue:
    return len(active(v))


def active(v: AccountView) -> list[Contact]:
    """Contacts still at the customer (not marked inactive or gone)."""
    return [c for c in v.contacts if c.status == "active"]


@fact(
    "departments", "int", "count",
    "Distinct departments or functions the contacts work in.", ["P08"],
)
def _departments(v: AccountView) -> FactValue:
    return len({c.department.strip().lower() for c in active(v) if not blank(c.department)})


@fact("has_primary_contact", "bool", "flag", "A contact is marked as primary.", ["P11"])
def _has_primary(v: AccountView) -> FactValue:
    return any(c.is_primary for c in active(v))


@fact(
    "decision_makers", "int", "count",
    "Contacts whose buying role is decision maker or economic buyer.", ["P11"],
)
def _decision_makers(v: AccountView) -> FactValue:
    return sum(1 for c in active(v) if (c.buying_role or "").lower() in DECISION_ROLES)


@fact(
    "primary_contact_decides", "bool", "flag",
    "The primary contact's buying role is decision maker or economic buyer (unknown when no"
    " contact is primary).", ["P11"],
)
def _primary_decides(v: AccountView) -> FactValue:
    primary = [c for c in active(v) if c.is_primary]
    if not primary:
        return None
    return any((c.buying_role or "").lower() in DECISION_ROLES for c in primary)


@fact("contacts_without_role", "int", "count", "Contacts with no buying role.", ["P18"])
def _contacts_without_role(v: AccountView) -> FactValue:
    return sum(1 for c in active(v) if blank(c.buying_role))


@fact("days_since_new_contact", "int", "days", "Days since a contact was last added.", ["P09"])
def _days_since_new_contact(v: AccountView) -> FactValue:
    dates = [c.created for c in v.contacts if c.created]
    return v.days_since(max(dates)) if dates else None


@fact(
    "engaged_contacts_90d", "int", "count",
    "Distinct contacts who took part in an activity in the last 90 days.", ["P07"],
)
def _engaged_contacts(v: AccountView) -> FactValue:
    return len({c for a in v.activities if v.within(a.date, 90) for c in a.contact_ids})


@fact(
    "activity_owners_90d", "int", "count",
    "Distinct people on our side who logged an activity in the last 90 days.", ["P07"],
)
def _activity_owners(v: AccountView) -> FactValue:
    return len({a.owner_id for a in v.activities if v.within(a.date, 90) and a.owner_id})


@fact("days_since_meeting", "int", "days", "Days since the last meeting.", ["P12"])
def _days_since_meeting(v: AccountView) -> FactValue:
    dates = [a.date for a in v.activities if a.type == "meeting"]
    return v.days_since(max(dates)) if dates else None


@fact(
    "days_since_touch", "int", "days",
    "Days since the last meeting or call (a meaningful touch).", ["P12"],
)
def _days_since_touch(v: AccountView) -> FactValue:
    dates = [a.date for a in v.activities if a.type in ("meeting", "call")]
    return v.days_since(max(dates)) if dates else None


@fact(
    "touches_90d", "int", "count",
    "Meetings, calls and emails in the last 90 days.", ["P12", "P14"],
)
def _touches_90d(v: AccountView) -> FactValue:
    return sum(1 for a in v.activities if a.type in TOUCHES and v.within(a.date, 90))


@fact(
    "touches_prev_90d", "int", "count",
    "Meetings, calls and emails in the 90 days before the last 90.", ["P14"],
)
def _touches_prev_90d(v: AccountView) -> FactValue:
    return sum(1 for a in v.activities if a.type in TOUCHES and v.within(a.date, 90, offset=90))


@fact(
    "engagement_ratio", "float", "ratio",
    "Touches in the last 90 days divided by touches in the 90 days before (None if none).",
    ["P14"],
)
def _engagement_ratio(v: AccountView) -> FactValue:
    prev = _touches_prev_90d(v)
    return ratio(float(_touches_90d(v) or 0), float(prev or 0))


@fact(
    "engagement_vs_year", "float", "ratio",
    "Touches in the last 90 days divided by the average per 90 days over the 270 days before"
    " (None if there were none then).", ["P14"],
)
def _engagement_vs_year(v: AccountView) -> FactValue:
    before = sum(1 for a in v.activities if a.type in TOUCHES and v.within(a.date, 270, offset=90))
    return ratio(float(_touches_90d(v) or 0), before / 3.0)


@fact(
    "longest_unconfirmed_meeting_days", "int", "days",
    "Of meetings in the last 90 days, the longest wait for a written follow-up (an outbound"
    " email to the customer on or after the meeting; internal notes do not count); still"
    " waiting counts until today.",
    ["P23"],
)
def _longest_unconfirmed(v: AccountView) -> FactValue:
    worst = unconfirmed_meeting(v)
    return None if worst is None else worst[1]


def unconfirmed_meeting(v: AccountView) -> tuple[Activity, int] | None:
    """The meeting of the last 90 days that waited longest for its written follow-up."""
    written = sorted(a.date for a in v.activities if a.type == "email" and a.direction == "outbound")
    worst: tuple[Activity, int] | None = None
    for a in sorted(v.activities, key=lambda a: (a.date, a.id)):
        if a.type == "meeting" and v.within(a.date, 90):
            i = bisect.bisect_left(written, a.date)
            follow = written[i] if i < len(written) else v.as_of
            wait = (min(follow, v.as_of) - a.date).days
            if worst is None or wait > worst[1]:
                worst = (a, wait)
    return worst


@fact(
    "days_since_sponsor_touch", "int", "days",
    "Days since the executive sponsor logged an activity with the account.", ["P35"],
)
def _sponsor_touch(v: AccountView) -> FactValue:
    sponsors = {t.user_id for t in v.team if t.role == "executive_sponsor"}
    dates = [a.date for a in v.activities if a.owner_id in sponsors]
    return v.days_since(max(dates)) if dates else None


# Meetings that raise care to the executive level (P43): the sponsor's, or a business review.
REVIEW_WORDS = re.compile(
    r"\b(business review|qbr|executive|steering|strategy|"
    r"бизнес-обзор\w*|стратеги\w*|руководств\w*|"
    r"poslovn\w* pregled\w*|strategij\w*|пословн\w* преглед\w*|стратегиј\w*)",
    re.IGNORECASE,
)


@fact(
    "days_since_executive_meeting", "int", "days",
    "Days since a meeting held by the executive sponsor or a business-review meeting.", ["P43"],
)
def _executive_meeting(v: AccountView) -> FactValue:
    sponsors = {t.user_id for t in v.team if t.role == "executive_sponsor"}
    dates = [a.date for a in v.activities if a.type == "meeting"
             and (a.owner_id in sponsors or REVIEW_WORDS.search(a.subject or ""))]
    return v.days_since(max(dates)) if dates else None
