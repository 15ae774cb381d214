"""Relationship facts: contacts, their roles, and the rhythm of touches (P09-P14, P18, P23, P35)."""

from __future__ import annotations

import bisect
import re

from kamrules.evaluation.facts.registry import (
    DECISION_ROLES,
    FactValue,
    blank,
    fact,
    ratio,
)
from kamrules.evaluation.facts.shared import (
    active_contacts,
    latest_by_type,
    outbound_email_dates,
    per_view,
    recent_activities,
    sponsors,
    touch_counts,
)
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Activity, Contact


@fact("contacts", "int", "count", "Contacts at the account.", ["P09"])
def _contacts(v: AccountView) -> FactValue:
    return len(active(v))


def active(v: AccountView) -> list[Contact]:
    """Contacts still at the customer (not marked inactive or gone)."""
    return active_contacts(v)


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
    return len(engaged_ids(v))


@per_view
def engaged_ids(v: AccountView) -> set[str]:
    """Ids of the contacts who took part in an activity in the last 90 days."""
    return {c for a in recent_activities(v) for c in a.contact_ids}


@fact(
    "activity_owners_90d", "int", "count",
    "Distinct people on our side who logged an activity in the last 90 days.", ["P07"],
)
def _activity_owners(v: AccountView) -> FactValue:
    return len({a.owner_id for a in recent_activities(v) if a.owner_id})


@fact("days_since_meeting", "int", "days", "Days since the last meeting.", ["P12"])
def _days_since_meeting(v: AccountView) -> FactValue:
    return v.days_since(latest_by_type(v).get("meeting"))


@fact(
    "days_since_touch", "int", "days",
    "Days since the last meeting or call (a meaningful touch).", ["P12"],
)
def _days_since_touch(v: AccountView) -> FactValue:
    latest = latest_by_type(v)
    dates = [d for d in (latest.get("meeting"), latest.get("call")) if d is not None]
    return v.days_since(max(dates)) if dates else None


@fact(
    "touches_90d", "int", "count",
    "Meetings, calls and emails in the last 90 days.", ["P12", "P14"],
)
def _touches_90d(v: AccountView) -> FactValue:
    return touch_counts(v)[0]


@fact(
    "touches_prev_90d", "int", "count",
    "Meetings, calls and emails in the 90 days before the last 90.", ["P14"],
)
def _touches_prev_90d(v: AccountView) -> FactValue:
    return touch_counts(v)[1]


@fact(
    "engagement_ratio", "float", "ratio",
    "Touches in the last 90 days divided by touches in the 90 days before (None if none).",
    ["P14"], reads=("activities",),
)
def _engagement_ratio(v: AccountView) -> FactValue:
    last, prev, _ = touch_counts(v)
    return ratio(float(last), float(prev))


@fact(
    "engagement_vs_year", "float", "ratio",
    "Touches in the last 90 days divided by the average per 90 days over the 270 days before"
    " (None if there were none then).", ["P14"],
)
def _engagement_vs_year(v: AccountView) -> FactValue:
    last, _, before = touch_counts(v)
    return ratio(float(last), before / 3.0)


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


@per_view
def unconfirmed_meeting(v: AccountView) -> tuple[Activity, int] | None:
    """The meeting of the last 90 days that waited longest for its written follow-up."""
    meetings = [a for a in recent_activities(v) if a.type == "meeting"]
    if not meetings:
        return None
    written = outbound_email_dates(v)
    worst: tuple[Activity, int] | None = None
    for a in sorted(meetings, key=lambda a: (a.date, a.id)):
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
    ids = sponsors(v)
    if not ids:
        return None
    dates = [a.date for a in v.activities if a.owner_id in ids]
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
    ids = sponsors(v)
    latest = None
    for a in v.activities:  # the local CRM lists them newest first: few subjects to search
        if (a.type == "meeting" and (latest is None or a.date > latest)
                and (a.owner_id in ids or REVIEW_WORDS.search(a.subject or ""))):
            latest = a.date
    return v.days_since(latest)
