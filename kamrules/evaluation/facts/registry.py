"""The fact registry: each fact's name, type, unit and meaning, and the decorator that adds one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from kamrules.model import Account

if TYPE_CHECKING:
    from kamrules.evaluation.facts.view import AccountView
    from kamrules.protocol.connector import AccountSummary

FactType = Literal["int", "float", "bool", "str"]
FactValue = int | float | bool | str | None

DECISION_ROLES = frozenset({"decision_maker", "economic_buyer"})
PROBLEM_CATEGORIES = frozenset({"delivery", "quality"})
WRITTEN = frozenset({"email", "note"})
TOUCHES = frozenset({"meeting", "call", "email"})
# an account view's record kinds (besides its account), as a snapshot names them, and the
# view's attribute for each
VIEW_ATTRIBUTES = {"contacts": "contacts", "deals": "deals", "activities": "activities",
                   "cases": "cases", "plans": "plan", "team": "team", "surveys": "surveys",
                   "contracts": "contracts"}
VIEW_KINDS = frozenset(VIEW_ATTRIBUTES)


@dataclass(frozen=True)
class FactSpec:
    """A fact's name, value type, unit and one-line meaning (what `kamrules facts` lists)."""

    name: str
    type: FactType
    unit: str
    meaning: str
    principles: tuple[str, ...]
    func: Callable[[AccountView], FactValue]
    # the record kinds of its account it reads besides the account itself (None: any of them);
    # a run pulls of an account that is not key only the kinds such facts read (issue #18)
    reads: frozenset[str] | None = None


WORD = re.compile(r"\w+")


def name_words(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.lower()))




REGISTRY: dict[str, FactSpec] = {}


def fact(
    name: str, type: FactType, unit: str, meaning: str, principles: Iterable[str] = (),
    reads: Iterable[str] | None = None,
) -> Callable[[Callable[[AccountView], FactValue]], Callable[[AccountView], FactValue]]:
    """Register a fact function under a stable name; duplicate names are a bug. `reads`: the
    record kinds of the view it reads besides the account and the portfolio (checked by
    tests/test_fact_reads.py); None when not declared (any kind)."""

    def register(func: Callable[[AccountView], FactValue]) -> Callable[[AccountView], FactValue]:
        if name in REGISTRY:
            raise ValueError(f"fact {name!r} registered twice")
        kinds = None if reads is None else frozenset(reads)
        if kinds is not None and not kinds <= VIEW_KINDS:
            raise ValueError(f"fact {name!r} reads unknown kinds {sorted(kinds - VIEW_KINDS)}")
        REGISTRY[name] = FactSpec(name, type, unit, meaning, tuple(principles), func, kinds)
        return func

    return register


def last_year_revenue(account: Account | AccountSummary, as_of: date) -> float | None:
    year, best = as_of.year, None
    for p in account.revenue:  # the latest year before as_of's (the first one of a tie)
        if p.year < year and (best is None or p.year > best.year):
            best = p
    return None if best is None else best.amount


def ratio(a: float, b: float) -> float | None:
    return None if b == 0 else round(a / b, 4)


def blank(text: str | None) -> bool:
    return text is None or not text.strip()



def facts_for(view: AccountView, names: Iterable[str] | None = None) -> dict[str, FactValue]:
    """The named facts (all by default) of one account."""
    specs = REGISTRY.values() if names is None else (REGISTRY[n] for n in names)
    return {s.name: s.func(view) for s in specs}

