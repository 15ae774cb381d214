"""Which accounts a play cannot start on, without interpreting its chart (issue #18).

Most accounts have no play history and a trigger that does not hold: the phase chart's `idle`
state takes no transition. `idle_filter` compiles that state's transitions once per play into
plain Python predicates over the raw fact values (the event fields a play without history
always has, `kind`, `cooling` and `all_done`, are settled when compiling), so a run asks the
chart (`_interpret`, durable_rules) only about accounts where a transition may happen. It says
no only where `chart._interpret(chart, "idle", event)` is None (tests/test_play_idle_filter.py
checks that it agrees with it on every demo account and a grid of events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kamrules.evaluation.durable_json import HUGE, TINY, engine_value
from kamrules.playbooks.chart import _ORDER, _holds

Check = Callable[[Mapping[str, Any]], bool]


def idle_filter(chart: dict[str, Any], settled: Mapping[str, Any]) -> tuple[Check, frozenset[str]]:
    """(whether some transition from `idle` may hold on an `eval` event, the fields it reads).

    `settled`: event fields with the same value for every account asked about (e.g.
    `cooling: False`); tests on them are decided here. The predicate reads the other fields
    from a mapping of raw values (as the event before durable_rules' encoding; None: absent)."""
    known = {k: engine_value(v) for k, v in settled.items() if v is not None}
    known["kind"] = "eval"
    conjunctions: list[list[Check]] = []
    reads: set[str] = set()
    for name, transition in chart["idle"].items():
        if name.startswith("restore_"):
            continue
        checks: list[Check] = []
        possible = True
        for test in transition["all"][0]["m"]["$and"]:
            field = _field(test)
            if field in known or field in settled:
                if not _holds(test, known):
                    possible = False
                    break
                continue
            checks.append(_check(test, field))
            reads.add(field)
        if possible:
            if not checks:
                return (lambda _event: True), frozenset()
            conjunctions.append(checks)

    def may_move(event: Mapping[str, Any]) -> bool:
        for checks in conjunctions:
            for check in checks:
                if not check(event):
                    break
            else:
                return True
        return False

    return may_move, frozenset(reads)


def _field(test: dict[str, Any]) -> str:
    """The event field a durable_rules test reads."""
    (key, arg), = test.items()
    return next(iter(arg)) if key.startswith("$") else key


def _check(test: dict[str, Any], field: str) -> Check:
    """One test as a predicate over raw event values, with `_holds`' semantics on the value
    durable_rules would get (`engine_value`; a None value is no field at all)."""
    (key, arg), = test.items()
    if not key.startswith("$") and isinstance(arg, bool):
        return lambda event: event.get(field) is arg  # only a bool is a bool's equal
    if key in _ORDER and key != "$neq":
        (_name, bound), = arg.items()
        compare = _ORDER[key]

        def ordered(event: Mapping[str, Any]) -> bool:
            value = event.get(field)
            if value is None or isinstance(value, bool):
                return False
            if isinstance(value, float) and not TINY <= abs(value) < HUGE:
                value = engine_value(value)  # the rare value durable_rules reads changed
                if value is None:
                    return False
            elif isinstance(value, list | tuple):
                value = engine_value(value)
            return bool(compare(value, bound))

        return ordered

    def general(event: Mapping[str, Any]) -> bool:
        value = event.get(field)
        return _holds(test, {} if value is None else {field: engine_value(value)})

    return general

