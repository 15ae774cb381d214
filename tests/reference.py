"""An independent, deliberately simple evaluator of the rule language, for checking the engine.

It walks the condition tree as written (no DNF, no durable_rules): a comparison on a missing
fact is false, `not` negates, `all`/`any` are Python's.
"""

from __future__ import annotations

from typing import Any

from kamrules.language.pack import AllCondition, AnyCondition, FactCondition, NotCondition, ParamRef


def holds(cond: Any, facts: dict[str, Any], params: dict[str, Any]) -> bool:
    if isinstance(cond, AllCondition):
        return all(holds(c, facts, params) for c in cond.all)
    if isinstance(cond, AnyCondition):
        return any(holds(c, facts, params) for c in cond.any)
    if isinstance(cond, NotCondition):
        return not holds(cond.not_, facts, params)
    assert isinstance(cond, FactCondition)
    value = facts.get(cond.fact)
    if cond.exists is not None:
        return (value is not None) == cond.exists
    if value is None:
        return False
    operand = cond.operand
    if isinstance(operand, ParamRef):
        operand = params[operand.param]
    return {
        "eq": lambda: value == operand,
        "ne": lambda: value != operand,
        "lt": lambda: value < operand,
        "le": lambda: value <= operand,
        "gt": lambda: value > operand,
        "ge": lambda: value >= operand,
        "in": lambda: value in operand,
        "not_in": lambda: value not in operand,
    }[cond.op]()
