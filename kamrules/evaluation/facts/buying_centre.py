"""The buying centre mapped, not just counted: who decides, who pays, who champions us, who
blocks, and whether a champion has gone (P11, P18, P07).

A role is read from the contact's buying role or, for champion and blocker, from their stance
(a contact can be the decision maker and our champion at once). Only active contacts count.
"""

from __future__ import annotations

from kamrules.evaluation.facts.registry import FactValue, blank, fact
from kamrules.evaluation.facts.shared import active_contacts, per_view
from kamrules.evaluation.facts.view import AccountView
from kamrules.model import Contact

BUDGET_ROLES = frozenset({"economic_buyer", "budget_holder"})


def role(contact: Contact) -> str:
    return (contact.buying_role or "").strip().lower()


def is_champion(contact: Contact) -> bool:
    return contact.stance == "champion" or role(contact) == "champion"


def is_blocker(contact: Contact) -> bool:
    return contact.stance == "blocker" or role(contact) == "blocker"


_active = active_contacts


@per_view
def roles_filled(v: AccountView) -> tuple[bool, bool, bool]:
    """Whether an active contact is the decision maker, holds the budget, champions us."""
    people = _active(v)
    roles = {role(c) for c in people}
    return ("decision_maker" in roles, not BUDGET_ROLES.isdisjoint(roles),
            any(is_champion(c) for c in people))


@fact("has_decision_maker", "bool", "flag", "An active contact is a decision maker.", ["P11"])
def _has_dm(v: AccountView) -> FactValue:
    return roles_filled(v)[0]


@fact(
    "has_budget_holder", "bool", "flag",
    "An active contact holds the budget (economic buyer or budget holder).", ["P18"],
)
def _has_budget(v: AccountView) -> FactValue:
    return roles_filled(v)[1]


@fact("has_champion", "bool", "flag", "An active contact champions us.", ["P07", "P18"])
def _has_champion(v: AccountView) -> FactValue:
    return roles_filled(v)[2]


@fact(
    "buying_roles_missing", "int", "count",
    "Of decision maker, budget holder and champion, the roles no active contact fills.",
    ["P11", "P18"],
)
def _roles_missing(v: AccountView) -> FactValue:
    return sum(1 for f in roles_filled(v) if not f)


@per_view
def blockers_without_plan(v: AccountView) -> list[Contact]:
    return [c for c in _active(v) if is_blocker(c) and blank(c.win_over_plan)]


@fact(
    "blockers_without_plan", "int", "count",
    "Active contacts who block us, with no recorded plan to win them over.", ["P18"],
)
def _blockers(v: AccountView) -> FactValue:
    return len(blockers_without_plan(v))


@per_view
def champions_gone(v: AccountView) -> list[Contact]:
    """Champions marked inactive or gone, when no active champion is left."""
    if roles_filled(v)[2]:
        return []
    return [c for c in v.contacts if is_champion(c) and c.status != "active"]


@fact(
    "champion_left", "bool", "flag",
    "Every contact who championed us is marked inactive or gone.", ["P07"],
)
def _champion_left(v: AccountView) -> FactValue:
    return bool(champions_gone(v))
