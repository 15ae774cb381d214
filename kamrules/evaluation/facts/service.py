"""Service facts: open cases, their age and escalation (P22, P24)."""

from __future__ import annotations

from datetime import date

from kamrules.evaluation.facts.registry import (
    PROBLEM_CATEGORIES,
    FactValue,
    fact,
)
from kamrules.evaluation.facts.shared import open_cases, per_view, team_and_owner
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Case

_open_cases = open_cases


@per_view
def oldest_open_by_priority(v: AccountView) -> dict[str, date]:
    """The opening date of the oldest open case of each priority."""
    oldest: dict[str, date] = {}
    for c in open_cases(v):
        seen = oldest.get(c.priority)
        if seen is None or c.opened < seen:
            oldest[c.priority] = c.opened
    return oldest


def _oldest_open(v: AccountView, priority: str) -> FactValue:
    opened = oldest_open_by_priority(v).get(priority)
    return None if opened is None else (v.as_of - opened).days


@fact("open_cases", "int", "count", "Open service cases.", ["P22"])
def _open_case_count(v: AccountView) -> FactValue:
    return len(_open_cases(v))


for _priority, _principles in (
    ("critical", ["P22"]),
    ("high", ["P22"]),
    ("medium", ["P22", "P27"]),
    ("low", ["P27"]),
):
    fact(
        f"oldest_open_{_priority}_case_days", "int", "days",
        f"Age of the oldest open {_priority}-priority case.", _principles,
    )(lambda v, p=_priority: _oldest_open(v, p))


@fact(
    "unescalated_problem_cases", "int", "count",
    "Open delivery or quality cases never escalated and owned by nobody inside (no owner, or"
    " only the account owner).", ["P24"],
)
def _unescalated(v: AccountView) -> FactValue:
    return sum(
        1
        for c in _open_cases(v)
        if (c.category or "").lower() in PROBLEM_CATEGORIES and not c.escalated
        and (c.owner_id is None or c.owner_id == v.account.owner_id)
    )


@fact(
    "cases_manager_not_told", "int", "count",
    "Open high or critical cases owned outside the account team and never escalated.", ["P36"],
)
def _manager_not_told(v: AccountView) -> FactValue:
    team = team_and_owner(v)
    return sum(
        1
        for c in _open_cases(v)
        if c.priority in ("high", "critical") and not c.escalated and c.owner_id not in team
    )


@per_view
def unescalated_problems(v: AccountView) -> list[Case]:
    """Open delivery or quality cases never escalated, oldest first."""
    return sorted(
        (c for c in _open_cases(v)
         if (c.category or "").lower() in PROBLEM_CATEGORIES and not c.escalated),
        key=lambda c: (c.opened, c.id),
    )


@fact(
    "oldest_unescalated_problem_days", "int", "days",
    "Age of the oldest open delivery or quality case never escalated, whoever owns it.", ["P24"],
)
def _oldest_unescalated(v: AccountView) -> FactValue:
    cases = unescalated_problems(v)
    return (v.as_of - cases[0].opened).days if cases else None
