"""Per-account facts derived from a snapshot as of a date: the only values rules can read.

A fact is a small documented function of one account's records and the portfolio context, in
the module of its area (the rule groups). Facts take no parameters; rules compare them with
pack params. A fact with nothing to measure (no meeting ever, no plan) is None, which rules
test with `exists`.
"""

from __future__ import annotations

from collections.abc import Iterable

# The area modules register their facts on import, in this order.
from kamrules.evaluation.facts import (  # noqa: F401
    buying_centre,
    conduct,
    details,
    identification,
    outcomes,
    planning,
    relationship,
    service,
)
from kamrules.evaluation.facts.registry import REGISTRY, FactSpec, FactType, FactValue, facts_for
from kamrules.evaluation.facts.view import AccountView, Portfolio, account_views, portfolio_context
from kamrules.model import Snapshot

__all__ = [
    "REGISTRY", "AccountView", "FactSpec", "FactType", "FactValue", "Portfolio", "account_views",
    "derive", "facts_for", "portfolio_context",
]


def derive(snapshot: Snapshot, names: Iterable[str] | None = None) -> dict[str, dict[str, FactValue]]:
    """Facts of every account in the snapshot, keyed by account id."""
    wanted = None if names is None else sorted(set(names))
    return {v.account.id: facts_for(v, wanted) for v in account_views(snapshot)}
