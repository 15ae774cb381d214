"""The pure-Python backend: each rule's condition compiled once into nested Python predicates.

No durable_rules, no DNF, no `eval`: the condition tree becomes closures that test a dict of
the account's facts. Semantics are the language's (and durable_rules'): a comparison on an
unknown fact is false, `not` negates the whole test, and a non-finite number counts as unknown
(durable_rules cannot carry it, so both engines treat it alike).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from kamrules.evaluation.engine import KEY_FACT, CompiledRule, key_only
from kamrules.language.conditions import facts_read, resolve
from kamrules.language.pack import AllCondition, Condition, FactCondition, NotCondition

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
}


def _leaf(cond: FactCondition, params: Mapping[str, Any]) -> Predicate:
    fact = cond.fact
    if cond.op == "exists":
        want = bool(cond.exists)
        return lambda v: (v.get(fact) is not None) == want
    operand = resolve(cond.operand, dict(params))
    if cond.op in ("in", "not_in"):
        listed = frozenset(operand)
        if cond.op == "in":
            return lambda v: (x := v.get(fact)) is not None and x in listed
        return lambda v: (x := v.get(fact)) is not None and x not in listed
    compare = _COMPARE[cond.op]
    return lambda v: (x := v.get(fact)) is not None and compare(x, operand)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    def test(v: Facts) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop is faster than all() over a generator)
            if not part(v):
                return False
        return True

    return test


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    def test(v: Facts) -> bool:
        for part in parts:  # noqa: SIM110 (a plain loop is faster than any() over a generator)
            if part(v):
                return True
        return False

    return test


def compile_condition(cond: Condition, params: Mapping[str, Any]) -> Predicate:
    """One condition as a predicate over a dict of known facts (unknown ones absent or None)."""
    if isinstance(cond, FactCondition):
        return _leaf(cond, params)
    if isinstance(cond, NotCondition):
        inner = compile_condition(cond.not_, params)
        return lambda v: not inner(v)
    children = cond.all if isinstance(cond, AllCondition) else cond.any
    parts = tuple(compile_condition(c, params) for c in children)
    if len(parts) == 1:
        return parts[0]
    return _all(parts) if isinstance(cond, AllCondition) else _any(parts)


def known(value: Any) -> Any:
    """A fact's value, or None when it is unknown (None, NaN, infinite)."""
    if type(value) is float and not math.isfinite(value):
        return None
    return value


class PythonBackend:
    """Active rules as compiled predicates, tested in order for each account.

    Rules scoped to key accounts are tested only for key accounts (for any other account they
    are false by their scope), and only the facts the tested rules read are looked up, so
    facts computed on demand (`LazyFacts`) are computed only where a rule in scope reads them.
    """

    name = "python"

    def __init__(self, rules: list[CompiledRule]):
        compiled = [(r.key, compile_condition(r.condition, r.params), key_only(r.condition, r.params))
                    for r in rules]
        self._rules = [(key, test) for key, test, _ in compiled]
        self._reads = sorted({name for r in rules for name in facts_read(r.condition)})
        self._general = [(key, test) for key, test, only in compiled if not only]
        self._general_reads = sorted({name for r, (_, _, only) in zip(rules, compiled, strict=True)
                                      if not only for name in facts_read(r.condition)})

    def matches(self, facts: Mapping[str, Any]) -> list[str]:
        if facts.get(KEY_FACT) is True:
            rules, reads = self._rules, self._reads
        else:
            rules, reads = self._general, self._general_reads
        values = {name: known(facts.get(name)) for name in reads}
        return sorted({key for key, test in rules if test(values)})
