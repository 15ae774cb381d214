"""The rule engine behind one small interface: compile packs once, then findings per account.

Two backends evaluate the same rule language with the same semantics: durable_rules
(`engine_durable.py`, the default wherever it imports) and compiled Python predicates
(`engine_python.py`, used where durable_rules is not installed, e.g. Python 3.13, or chosen
with `engine: python` in the config). Both are checked against tests/reference.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from kamrules.errors import KamError
from kamrules.evaluation.facts import REGISTRY
from kamrules.evaluation.findings import Finding
from kamrules.language.conditions import facts_read, rule_condition, scope_condition
from kamrules.language.loader import LoadedPack
from kamrules.language.pack import Condition, Rule
from kamrules.language.textnames import placeholders

ENGINES = ("durable", "python")
CHOICES = ("auto", *ENGINES)
ENV_VAR = "KAMRULES_ENGINE"  # overrides `auto` (tests and CI run the suite on either engine)


class EngineUnavailable(KamError):
    """The configured engine cannot run on this Python (durable_rules not importable)."""


@dataclass(frozen=True)
class CompiledRule:
    """One active rule as a backend sees it: its key (`pack|rule`), full condition and params."""

    key: str
    condition: Condition
    params: Mapping[str, Any]


KEY_FACT = "is_key"  # rules scoped to key accounts test it first; other accounts skip them


def key_only(condition: Condition, params: Mapping[str, Any]) -> bool:
    """Whether a condition can only hold for a key account: `all` with `is_key` equal to true
    among its parts (every `scope: key_accounts` rule), so other accounts need not test it."""
    from kamrules.language.conditions import resolve as resolve_param
    from kamrules.language.pack import AllCondition, FactCondition

    if not isinstance(condition, AllCondition):
        return False
    return any(isinstance(c, FactCondition) and c.fact == KEY_FACT and c.op == "eq"
               and resolve_param(c.operand, dict(params)) is True for c in condition.all)


class Backend(Protocol):
    """What each engine implements: the keys of the rules that hold for one account's facts."""

    name: str

    def matches(self, facts: Mapping[str, Any]) -> list[str]: ...


class StatechartBackend(Protocol):
    """The hook for playbooks: a statechart per play, advanced for one account at a time.

    durable_rules runs statecharts natively; the python engine will implement this with a small
    state machine. `advance` takes the state rebuilt from the CRM and the account's facts, and
    returns the transitions taken as (from_state, to_state), in order.
    """

    name: str

    def load(self, charts: Mapping[str, Any]) -> None: ...

    def advance(self, chart: str, state: str, facts: Mapping[str, Any]) -> list[tuple[str, str]]: ...


STATECHARTS: dict[str, type[StatechartBackend]] = {}  # engine name -> implementation, when built


@cache
def durable_problem() -> str | None:
    """Why durable_rules does not import here (None when it does)."""
    try:
        import durable.engine  # noqa: F401
    except ImportError as exc:  # not installed (Python 3.13+), or its C extension does not load
        return f"durable_rules does not import on this Python ({exc})"
    return None


def resolve(choice: str | None = None) -> str:
    """The engine to use: the choice, else $KAMRULES_ENGINE, else durable where it imports."""
    choice = choice or "auto"
    if choice == "auto":
        choice = os.environ.get(ENV_VAR, "").strip() or "auto"
    if choice not in CHOICES:
        raise EngineUnavailable(f"unknown engine {choice!r} (from ${ENV_VAR}); engines: {', '.join(CHOICES)}")
    if choice == "auto":
        return "durable" if durable_problem() is None else "python"
    if choice == "durable" and durable_problem() is not None:
        raise EngineUnavailable(
            f"engine: durable was chosen but {durable_problem()}; use Python 3.11 or 3.12 with"
            " durable-rules installed, or set `engine: python` (or `auto`) in the config"
        )
    return choice


def describe_engines() -> str:
    """One line for `kamrules --version`: the engine that runs by default here, and why."""
    from importlib.metadata import PackageNotFoundError, version

    default = resolve()
    if durable_problem() is not None:
        return f"engine: {default} ({durable_problem()})"
    try:
        durable_version = version("durable-rules")
    except PackageNotFoundError:  # importable without metadata (a source checkout)
        durable_version = "(version unknown)"
    return (f"engine: {default} (durable_rules {durable_version} imports; `engine: durable | python`"
            " in kamrules.yaml chooses)")


def evidence_facts(rule: Rule) -> list[str]:
    """The facts a finding shows as evidence: what `when` (and a scope filter) read, then
    any other fact the task text names."""
    names = list(facts_read(rule.when))
    scope = scope_condition(rule.scope)
    if scope is not None and rule.scope != "key_accounts":
        names = list(facts_read(scope)) + names
    names += [n for n in placeholders(rule.task.subject + rule.task.body) if n in REGISTRY]
    return list(dict.fromkeys(names))


def _backend(kind: str, rules: list[CompiledRule]) -> Backend:
    if kind == "durable":
        from kamrules.evaluation.engine_durable import DurableBackend

        return DurableBackend(rules)
    from kamrules.evaluation.engine_python import PythonBackend

    return PythonBackend(rules)


class Engine:
    """The active rules of some packs, compiled once by the chosen backend."""

    def __init__(self, packs: Iterable[LoadedPack], kind: str | None = None):
        self._rules: dict[str, tuple[LoadedPack, Rule, list[str]]] = {}
        compiled: list[CompiledRule] = []
        for pack in packs:
            for rule in pack.active_rules:
                key = f"{pack.id}|{rule.id}"
                self._rules[key] = (pack, rule, evidence_facts(rule))
                compiled.append(CompiledRule(key, rule_condition(rule.scope, rule.when), pack.values))
        self.name = resolve(kind)
        self._backend = _backend(self.name, compiled)

    def matches(self, facts: Mapping[str, Any]) -> list[str]:
        """Keys (`pack|rule`) of the rules that hold for one account's facts, sorted."""
        return self._backend.matches(facts)

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
