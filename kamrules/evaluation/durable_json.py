"""Conditions and values in durable_rules' JSON ruleset form, without importing durable_rules:
the rule engine and the playbook charts (also interpreted where durable_rules is missing) share it.
"""

from __future__ import annotations

import math
from typing import Any

from kamrules.language.conditions import Leaf

# durable_rules' JSON reader rejects exponent notation (1e-05, 1e+30: "error code 204"), which
# Python writes for floats below 1e-4 or from 1e16 in magnitude. Numbers are brought into the
# range it reads: tiny ones to +-0.0001, huge ones to integers (which it reads at any size).
TINY, HUGE = 1e-4, 1e15
COMPARE = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


def engine_value(value: Any) -> Any:
    """A fact or constant as durable_rules can read it (see TINY, HUGE)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if abs(value) >= HUGE:
            return int(value)
        if 0 < abs(value) < TINY:
            return math.copysign(TINY, value)
    elif isinstance(value, list | tuple):
        return [engine_value(v) for v in value]
    return value


def leaf_tests(leaf: Leaf) -> list[dict[str, Any]]:
    """One condition leaf as the tests of a durable_rules conjunction (`in` is expanded before)."""
    value = engine_value(leaf.value)
    if leaf.op == "eq":
        return [{leaf.fact: value}]
    if leaf.op == "exists":
        return [{"$ex": {leaf.fact: 1}}]
    if leaf.op == "missing":
        return [{"$nex": {leaf.fact: 1}}]
    if leaf.op == "not_in":
        return [{"$ex": {leaf.fact: 1}}] + [{"$neq": {leaf.fact: x}} for x in value]
    return [{COMPARE[leaf.op]: {leaf.fact: value}}]
