"""durable_rules behind one small interface: compile packs, evaluate account facts, get findings.

The measured pitfalls (design doc) decide the shape: every account is asserted as a *fact* (so
every rule sees it), one at a time, and retracted right after its actions ran (flat memory, no
spurious MessageObservedException); there is one Host per process with its dispatch timers
disabled, so every action runs synchronously in the caller's thread under one lock; a rule's
condition is compiled as one flat `$and` per DNF conjunction, since `$nex` under `$or` hangs,
and each conjunction starts with a test of a constant field (see ANCHOR_KEY).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from durable import engine as durable

from kamrules.evaluation.facts import REGISTRY
from kamrules.evaluation.findings import Finding
from kamrules.language.conditions import Conjunction, Leaf, dnf, facts_read, rule_condition, scope_condition
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import Rule, placeholders

_LOCK = threading.Lock()
# durable_rules' JSON reader rejects exponent notation (1e-05, 1e+30: "error code 204"), which
# Python writes for floats below 1e-4 or from 1e16 in magnitude. Numbers are brought into the
# range it reads: tiny ones to +-0.0001, huge ones to integers (which it reads at any size).
TINY, HUGE = 1e-4, 1e15
_RULESET_IDS = itertools.count()
_COMPARE = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


class _Host(durable.Host):
    """A Host whose actions only run inside assert_fact, in the calling thread."""

    def __init__(self) -> None:
        self.sink: list[str] | None = None
        super().__init__()

    def _run(self) -> None:  # no background dispatch threads
        return

    def get_action(self, action_name: str) -> Any:
        def record(_closure: Any) -> None:
            if self.sink is not None:
                self.sink.append(action_name)

        return record


_HOST: _Host | None = None


def _host() -> _Host:
    global _HOST
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def _expand_in(conj: Conjunction) -> list[Conjunction]:
    """Split `in` leaves into one conjunction per value (durable has no set membership)."""
    out: list[Conjunction] = [()]
    for leaf in conj:
        if leaf.op == "in":
            out = [c + (Leaf(leaf.fact, "eq", v),) for c in out for v in leaf.value]
        else:
            out = [c + (leaf,) for c in out]
    return out


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


def _compile_leaf(leaf: Leaf) -> list[dict[str, Any]]:
    leaf = Leaf(leaf.fact, leaf.op, engine_value(leaf.value))
    if leaf.op == "eq":
        return [{leaf.fact: leaf.value}]
    if leaf.op == "exists":
        return [{"$ex": {leaf.fact: 1}}]
    if leaf.op == "missing":
        return [{"$nex": {leaf.fact: 1}}]
    if leaf.op == "not_in":
        # present and different from every value
        return [{"$ex": {leaf.fact: 1}}] + [{"$neq": {leaf.fact: v}} for v in leaf.value]
    return [{_COMPARE[leaf.op]: {leaf.fact: leaf.value}}]


# Every message carries this constant and every conjunction tests it first: a conjunction made
# only of `$nex` tests (or `$nex` beside `$ex` on `id`) never returns from assert_fact.
ANCHOR_KEY = "kamrules_fact"


def compile_conjunction(conj: Conjunction) -> dict[str, Any]:
    tests = [{ANCHOR_KEY: 1}] + [t for leaf in conj for t in _compile_leaf(leaf)]
    return {"$and": tests}


def evidence_facts(rule: Rule) -> list[str]:
    """The facts a finding shows as evidence: what `when` (and a scope filter) read, then
    any other fact the task text names."""
    names = list(facts_read(rule.when))
    scope = scope_condition(rule.scope)
    if scope is not None and rule.scope != "key_accounts":
        names = list(facts_read(scope)) + names
    names += [n for n in placeholders(rule.task.subject + rule.task.body) if n in REGISTRY]
    return list(dict.fromkeys(names))


class Engine:
    """The active rules of some packs, compiled once into one durable_rules ruleset."""

    def __init__(self, packs: Iterable[LoadedPack]):
        self._rules: dict[str, tuple[LoadedPack, Rule, list[str]]] = {}
        definition: dict[str, Any] = {}
        for pack in packs:
            for rule in pack.active_rules:
                key = f"{pack.id}|{rule.id}"
                self._rules[key] = (pack, rule, evidence_facts(rule))
                conjunctions = dnf(rule_condition(rule.scope, rule.when), pack.values)
                expanded = [c for conj in conjunctions for c in _expand_in(conj)]
                for k, conj in enumerate(expanded):
                    definition[f"{key}|{k}"] = {
                        "all": [{"m": compile_conjunction(conj)}],
                        "run": key,
                    }
        self._name = f"kamrules_{next(_RULESET_IDS)}"
        self._empty = not definition
        if definition:
            with _LOCK:
                _host().set_rulesets({self._name: definition})

    def matches(self, facts: dict[str, Any]) -> list[str]:
        """Keys (`pack|rule`) of the rules that hold for one account's facts."""
        if self._empty:
            return []
        message = {}
        for name, value in facts.items():
            if type(value) is float:  # only floats need mapping; facts are scalars
                value = engine_value(value)
            if value is not None:  # unknown facts are absent: `$nex` tests them
                message[name] = value
        message["id"] = f"a{next(_RULESET_IDS)}"
        message[ANCHOR_KEY] = 1
        hits: list[str] = []
        with _LOCK:
            host = _host()
            host.sink = hits
            try:
                host.assert_fact(self._name, message)
            except durable.MessageNotHandledException:
                pass  # no rule holds: no finding
            finally:
                host.sink = None
                with contextlib.suppress(durable.MessageNotHandledException):
                    host.retract_fact(self._name, message)
        return sorted(set(hits))

    def findings_for(self, account_id: str, facts: dict[str, Any]) -> Iterator[Finding]:
        for key in self.matches(facts):
            pack, rule, names = self._rules[key]
            yield Finding(
                pack_id=pack.id,
                rule_id=rule.id,
                account_id=account_id,
                severity=rule.severity,
                evidence={n: facts.get(n) for n in names},
            )
