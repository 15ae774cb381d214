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


@dataclass(frozen=True)
class FactSpec:
    """A fact's name, value type, unit and one-line meaning (what `kamrules facts` lists)."""

    name: str
    type: FactType
    unit: str
    meaning: str
    principles: tuple[str, ...]
    func: Callable[[AccountView], FactValue]


WORD = re.compile(r"\w+")


def name_words(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.lower()))




REGISTRY: dict[str, FactSpec] = {}


def fact(
    name: str, type: FactType, unit: str, meaning: str, principles: Iterable[str] = ()
) -> Callable[[Callable[[AccountView], FactValue]], Callable[[AccountView], FactValue]]:
    """Register a fact function under a stable name; duplicate names are a bug."""

    def register(func: Callable[[AccountView], FactValue]) -> Callable[[AccountView], FactValue]:
        if name in REGISTRY:
            raise ValueError(f"fact {name!r} registered twice")
        REGISTRY[name] = FactSpec(name, type, unit, meaning, tuple(principles), func)
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

