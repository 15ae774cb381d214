"""Service facts: open cases, their age and escalation (P22, P24)."""

from __future__ import annotations

from collections.abc import Iterator

from kamrules.evaluation.facts.registry import (
    PROBLEM_CATEGORIES,
    FactValue,
    fact,
)
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Case


def _open_cases(v: AccountView) -> Iterator[Case]:
    return (c for c in v.cases if c.closed is None or c.closed > v.as_of)


def _oldest_open(v: AccountView, priority: str) -> FactValue:
    ages = [(v.as_of - c.opened).days for c in _open_cases(v) if c.priority == priority]
    return max(ages) if ages else None


@fact("open_cases", "int", "count", "Open service cases.", ["P22"])
def _open_case_count(v: AccountView) -> FactValue:
    return sum(1 for _ in _open_cases(v))


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
    team = {t.user_id for t in v.team} | {v.account.owner_id}
    return sum(
        1
        for c in _open_cases(v)
        if c.priority in ("high", "critical") and not c.escalated and c.owner_id not in team
    )


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
