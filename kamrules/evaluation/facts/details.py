"""Evidence specifics for task text: which case, which meeting, which email, which person.

Text facts that rules do not compare but tasks show, so a task says "CAS-000123 “Late
delivery” (Service desk 1)" rather than "1 case". Each is language-neutral (ids, names,
subjects, ISO dates); the task template words them. None when there is nothing to show.
"""

from __future__ import annotations

import re

from kamrules.evaluation.facts.buying_centre import blockers_without_plan, champions_gone
from kamrules.evaluation.facts.conduct import disclosures
from kamrules.evaluation.facts.outcomes import problems_after_wins
from kamrules.evaluation.facts.registry import FactValue, fact, name_words
from kamrules.evaluation.facts.relationship import engaged_ids, unconfirmed_meeting
from kamrules.evaluation.facts.service import unescalated_problems
from kamrules.evaluation.facts.shared import open_cases
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Case, Contact

EXCERPT_CHARS = 120
DIGITS = re.compile(r"\d")


def _case(v: AccountView, c: Case) -> str:
    """A case as task texts name it in any language: id, subject, owner (those it has); it read
    "(no subject)" and "(nobody)" in English inside Russian and Serbian texts."""
    subject = c.subject.strip()
    named = f"{c.id} “{subject}”" if subject else c.id
    return named + (f" ({v.user_name(c.owner_id)})" if c.owner_id else "")


def _people(contacts: list[Contact]) -> str | None:
    return ", ".join(c.name + (f" ({c.title})" if c.title else "") for c in contacts) or None


_open = open_cases


@fact(
    "oldest_urgent_case", "str", "text",
    "The oldest open high or critical case: id, subject, owner.",
)
def _urgent(v: AccountView) -> FactValue:
    cases = sorted((c for c in _open(v) if c.priority in ("high", "critical")),
                   key=lambda c: (c.opened, c.id))
    return _case(v, cases[0]) if cases else None


@fact("oldest_small_case", "str", "text", "The oldest open low or medium case: id, subject, owner.")
def _small(v: AccountView) -> FactValue:
    cases = sorted((c for c in _open(v) if c.priority in ("low", "medium")),
                   key=lambda c: (c.opened, c.id))
    return _case(v, cases[0]) if cases else None


@fact(
    "oldest_unescalated_problem", "str", "text",
    "The oldest open, never-escalated delivery or quality case: id, subject, owner.",
)
def _unescalated(v: AccountView) -> FactValue:
    cases = unescalated_problems(v)
    return _case(v, cases[0]) if cases else None


@fact(
    "problem_after_win", "str", "text",
    "The latest delivery or quality case opened soon after a won deal: case, then the deal.",
)
def _after_win(v: AccountView) -> FactValue:
    found = problems_after_wins(v)
    if not found:
        return None
    deal, case = found[-1]
    return f"{_case(v, case)} ← {deal.name or deal.id}"


@fact(
    "unconfirmed_meeting_date", "str", "text",
    "Date of the meeting that waited longest for a written follow-up.",
)
def _meeting_date(v: AccountView) -> FactValue:
    worst = unconfirmed_meeting(v)
    return None if worst is None else worst[0].date.isoformat()


@fact("unconfirmed_meeting_subject", "str", "text", "Subject of that meeting.")
def _meeting_subject(v: AccountView) -> FactValue:
    worst = unconfirmed_meeting(v)
    return None if worst is None else (worst[0].subject.strip() or None)


@fact(
    "disclosure_excerpt", "str", "text",
    "A short excerpt, numbers masked, of the latest email that named another key account"
    " with commercial terms.", reads=("activities",),
)
def _excerpt(v: AccountView) -> FactValue:
    found = disclosures(v)
    if not found:
        return None
    email, name = found[0]
    text = " ".join(f"{email.subject}. {email.body}".split())
    words = name_words(text)
    # centre the excerpt on the other account's name
    first = name[0]
    at = text.lower().find(first) if first in words else 0
    start = max(0, at - EXCERPT_CHARS // 2)
    excerpt = text[start:start + EXCERPT_CHARS].strip()
    excerpt = DIGITS.sub("#", excerpt)
    return f"“{'…' if start else ''}{excerpt}…”"


@fact(
    "engaged_contact_names", "str", "text",
    "Who took part in activities in the last 90 days (when at most three people).",
)
def _engaged(v: AccountView) -> FactValue:
    ids = engaged_ids(v)
    people = [c for c in v.contacts if c.id in ids]
    return _people(people) if 0 < len(people) <= 3 else None


@fact("blocker_names", "str", "text", "Active contacts who block us with no plan to win them over.")
def _blockers(v: AccountView) -> FactValue:
    return _people(blockers_without_plan(v))


@fact("champion_left_names", "str", "text", "Champions marked inactive or gone.")
def _champions(v: AccountView) -> FactValue:
    return _people(champions_gone(v))
