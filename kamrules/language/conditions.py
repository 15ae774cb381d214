"""Conditions with params resolved, in negation-normal, disjunctive form.

durable_rules misbehaves on some nested expressions (a `$nex` inside `$or` never returns), so
the engine compiles each conjunction of the DNF as its own flat `$and` rule. The semantics here
are the language's: a comparison on a missing fact is false; `not` negates the whole test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kamrules.errors import KamError
from kamrules.language.pack import (
    AllCondition,
    Condition,
    FactCondition,
    NotCondition,
    ParamRef,
    ScopeFilter,
)

# The language's one size limit (`validate` checks it): a rule's condition, with `not` pushed
# down to the facts, may have at most this many alternatives (`in` lists count as one). Each is
# one durable_rules rule; the python engine has no such limit, but packs must run on both.
MAX_CONJUNCTIONS = 256
NEGATE = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le",
          "in": "not_in", "not_in": "in", "exists": "missing", "missing": "exists"}


@dataclass(frozen=True)
class Leaf:
    """One test of one fact: op is a language operator or `missing`."""

    fact: str
    op: str
    value: Any = None


Conjunction = tuple[Leaf, ...]


class TooComplex(KamError, ValueError):
    """The condition's DNF has more conjunctions than the engine should compile."""


def resolve(value: Any, params: dict[str, Any]) -> Any:
    return params[value.param] if isinstance(value, ParamRef) else value


def _leaf(cond: FactCondition, params: dict[str, Any]) -> Leaf:
    if cond.op == "exists":
        return Leaf(cond.fact, "exists" if cond.exists else "missing")
    value = resolve(cond.operand, params)
    return Leaf(cond.fact, cond.op, tuple(value) if isinstance(value, list) else value)


def dnf(cond: Condition, params: dict[str, Any], negate: bool = False) -> list[Conjunction]:
    """The condition as a list of conjunctions of leaves, negations pushed into the leaves."""
    if isinstance(cond, NotCondition):
        return dnf(cond.not_, params, not negate)
    if isinstance(cond, FactCondition):
        leaf = _leaf(cond, params)
        if not negate:
            return [(leaf,)]
        flipped = Leaf(leaf.fact, NEGATE[leaf.op], leaf.value)
        if leaf.op in ("exists", "missing"):
            return [(flipped,)]
        # not (x < 5) also holds when x is missing
        return [(flipped,), (Leaf(leaf.fact, "missing"),)]
    children = cond.all if isinstance(cond, AllCondition) else cond.any
    conjunctive = isinstance(cond, AllCondition) != negate
    parts = [dnf(c, params, negate) for c in children]
    if not conjunctive:
        out = [conj for part in parts for conj in part]
    else:
        out = [()]
        for part in parts:
            out = [a + b for a in out for b in part]
            if len(out) > MAX_CONJUNCTIONS:
                raise TooComplex(
                    f"condition expands to more than {MAX_CONJUNCTIONS} alternatives"
                )
    if len(out) > MAX_CONJUNCTIONS:
        raise TooComplex(f"condition expands to more than {MAX_CONJUNCTIONS} alternatives")
    return out


def alternatives(cond: Condition, negate: bool = False) -> int:
    """How many conjunctions `dnf` makes of a condition, counted without building them."""
    if isinstance(cond, NotCondition):
        return alternatives(cond.not_, not negate)
    if isinstance(cond, FactCondition):
        return 2 if negate and cond.op != "exists" else 1
    children = cond.all if isinstance(cond, AllCondition) else cond.any
    counts = [alternatives(c, negate) for c in children]
    if isinstance(cond, AllCondition) == negate:
        return sum(counts)
    product = 1
    for n in counts:
        product = min(product * n, MAX_CONJUNCTIONS + 1)  # past the limit the exact size is moot
    return product


def scope_condition(scope: Any) -> Condition | None:
    """The scope as a condition: key accounts only, a filter, or nothing for all accounts."""
    if scope == "key_accounts":
        return FactCondition(fact="is_key", eq=True)
    if isinstance(scope, ScopeFilter):
        return scope.filter
    return None


def rule_condition(scope: Any, when: Condition) -> Condition:
    """`when` narrowed to the rule's scope."""
    narrowed = scope_condition(scope)
    return when if narrowed is None else AllCondition(all=[narrowed, when])


def facts_read(cond: Condition) -> Iterator[str]:
    """Every fact a condition reads, in order of appearance (the finding's evidence)."""
    if isinstance(cond, FactCondition):
        yield cond.fact
    elif isinstance(cond, NotCondition):
        yield from facts_read(cond.not_)
    else:
        for child in cond.all if isinstance(cond, AllCondition) else cond.any:
            yield from facts_read(child)


def describe(cond: Condition, params: dict[str, Any] | None = None) -> str:
    """The condition in words, for generated docs and explanations."""
    if isinstance(cond, FactCondition):
        if cond.op == "exists":
            return f"{cond.fact} is {'known' if cond.exists else 'unknown'}"
        operand = cond.operand
        shown = (
            f"{operand.param}" if isinstance(operand, ParamRef) and params is None
            else json.dumps(resolve(operand, params or {}), ensure_ascii=False)
        )
        words = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥",
                 "in": "in", "not_in": "not in"}
        return f"{cond.fact} {words[cond.op]} {shown}"
    if isinstance(cond, NotCondition):
        return f"not ({describe(cond.not_, params)})"
    joiner = " and " if isinstance(cond, AllCondition) else " or "
    children = cond.all if isinstance(cond, AllCondition) else cond.any
    inner = joiner.join(
        describe(c, params) if isinstance(c, FactCondition) else f"({describe(c, params)})"
        for c in children
    )
    return inner

