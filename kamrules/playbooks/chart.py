"""Plays compiled to durable_rules statecharts, which decide each run's transitions.

Per play: a phase chart (idle -> active -> complete | exited, with the trigger compiled into its
transitions as flat conjunctions) and one chart per step (waiting -> open, and a reflexive
`escalate` on open). Runs are separate processes, so a chart never keeps state between runs:
each evaluation starts a fresh session, restores the state rebuilt from the CRM with a
`restore` event, posts one `eval` event and reads which action ran. Sessions are never
deleted; decisions are made in a child process replaced every 1,000 of them, which frees
them (decider.py). As in the rule engine: one Host per module, timers off, actions run
synchronously under one lock.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections.abc import Callable
from typing import Any

try:
    from durable import engine as durable
except ImportError:  # Python 3.13: durable_rules does not build; the same charts are interpreted
    durable = None

from kamrules.evaluation.durable_json import engine_value, leaf_tests
from kamrules.language.conditions import Conjunction, Leaf, dnf, rule_condition
from kamrules.language.pack import AnyCondition, Condition, FactCondition
from kamrules.memo import BoundedMemo
from kamrules.playbooks.decider import Decider
from kamrules.playbooks.model import Playbook, Step
from kamrules.run.forking import can_fork

_LOCK = threading.Lock()
_IDS = itertools.count()
# Sessions are never deleted: `delete_state` crashed the process (SIGSEGV) in runs that also
# used the rule engine. A ruleset holds at most 1,024 live sessions, so where decisions are made
# in this process (no decider.py child) a chart moves to fresh rulesets before that.
MAX_SESSIONS = 1000
RULE_HIT = "rule_trigger"  # the event field: a trigger rule (or group rule) holds
PHASES = ("active", "exiting", "complete", "exited")
STEP_STATES = ("open", "done", "closed")


# True where durable_rules does not import (or a test asks): the charts' JSON is interpreted
# by `_interpret`, which reads the same definitions with the same semantics.
INTERPRET = durable is None
_HOST: Any = None


def _host() -> Any:
    global _HOST
    if _HOST is None:
        class _Host(durable.Host):  # type: ignore[union-attr,name-defined,misc]
            def __init__(self) -> None:
                self.sink: list[str] | None = None
                super().__init__()

            def _run(self) -> None:  # no background dispatch threads: actions run inside post()
                return

            def get_action(self, action_name: str) -> Any:
                def record(_closure: Any) -> None:
                    if self.sink is not None:
                        self.sink.append(action_name)

                return record

        _HOST = _Host()
    return _HOST


def _expand_in(conj: Conjunction) -> list[Conjunction]:
    out: list[Conjunction] = [()]
    for leaf in conj:
        if leaf.op == "in":
            out = [c + (Leaf(leaf.fact, "eq", x),) for c in out for x in leaf.value]
        else:
            out = [c + (leaf,) for c in out]
    return out


def trigger_condition(play: Playbook) -> Condition:
    """The trigger as one condition: the play's scope and (a trigger rule holds or `when`)."""
    parts: list[Condition] = []
    if play.trigger.rules or play.trigger.group:
        parts.append(FactCondition(fact=RULE_HIT, eq=True))
    if play.trigger.when is not None:
        parts.append(play.trigger.when)
    either: Condition = parts[0] if len(parts) == 1 else AnyCondition(any=parts)
    return rule_condition(play.scope, either)


def _match(*tests: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"m": {"$and": [{"kind": "eval"}, *tests]}}]}


def _conjunctions(cond: Condition, params: dict[str, Any], negate: bool) -> list[list[dict[str, Any]]]:
    return [[t for leaf in c for t in leaf_tests(leaf)]
            for conj in dnf(cond, params, negate) for c in _expand_in(conj)]


def _fields(chart: dict[str, Any]) -> tuple[str, ...]:
    """Every event field a chart's transitions test, sorted: its decisions read no other."""
    found: set[str] = set()

    def walk(test: dict[str, Any]) -> None:
        for key, arg in test.items():
            if key in ("$and", "$or"):
                for part in arg:
                    walk(part)
            elif key.startswith("$"):  # {"$gte": {"age": 3}}, {"$ex": {"won_deals_12m": 1}}
                found.update(arg)
            else:
                found.add(key)

    for transitions in chart.values():
        for transition in transitions.values():
            for part in transition["all"]:
                walk(part["m"])
    return tuple(sorted(found))


_UNKNOWN = object()
MEMO_ENTRIES = 50_000  # decisions a PlayChart remembers before it forgets them all


class PlayChart:
    """One play compiled: its phase chart and one chart per step.

    A decision starts a fresh session from the given state and posts one event, so it is a
    function of the chart, the state and which of that state's transition tests hold for the
    event (and the types of the fields tested): durable_rules' answer is remembered under those
    (`_memo`, bounded) and asked again only for a new combination. At 100,000 accounts a first
    run decides 4,130 times: keyed by the tested fields' values it asked durable_rules 574
    times (0.73 s of the plays' time, ~1.3 ms each on a decision child), by the tests that
    hold 10 times."""

    def __init__(self, play: Playbook, params: dict[str, Any]):
        self.play = play
        self.params = params
        self.sessions = 0
        self._memo: BoundedMemo[tuple[Any, ...], str | None] = BoundedMemo(MEMO_ENTRIES)
        self._compile()

    def _compile(self) -> None:
        """Register the charts under new names (also when a ruleset's sessions run out)."""
        play, params = self.play, self.params
        self.name = f"play_{next(_IDS)}"
        cond = trigger_condition(play)
        holds = _conjunctions(cond, params, negate=False)
        fails = _conjunctions(cond, params, negate=True)
        idle: dict[str, Any] = {f"restore_{p}": {"all": [{"m": {"restore": p}}], "to": p} for p in PHASES}
        waiting = {f"start_{k}": {**_match({"cooling": False}, *c), "to": "active", "run": "start"}
                   for k, c in enumerate(holds)}
        active: dict[str, Any] = {
            "complete": {**_match({"all_done": True}), "to": "complete", "run": "complete"}}
        active.update({f"exit_{k}": {**_match({"all_done": False}, *c), "to": "exited", "run": "exit"}
                       for k, c in enumerate(fails)})
        active.update({f"advance_{k}": {**_match({"all_done": False}, *c), "to": "active", "run": "advance"}
                       for k, c in enumerate(holds)})
        chart = {
            "idle": {**idle, **waiting},
            "active": active,
            "exiting": {"finish": {**_match(), "to": "exited", "run": "exit"}},
            "complete": copy.deepcopy(waiting),
            "exited": copy.deepcopy(waiting),
        }
        self.charts: dict[str, Any] = {self.name: chart}
        definitions = {f"{self.name}$state": chart}
        self.steps: dict[str, str] = {}
        for step in play.steps:
            step_name = f"{self.name}_{len(self.steps)}"
            self.steps[step.id] = step_name
            self.charts[step_name] = _step_chart(step)
            definitions[f"{step_name}$state"] = copy.deepcopy(self.charts[step_name])
        self.charts = copy.deepcopy(self.charts)  # durable rewrites the definitions it is given
        # the fields each chart tests, by a name that outlives a move to fresh rulesets
        self._reads: dict[str | None, tuple[str, ...]] = {None: _fields(self.charts[self.name])}
        self._reads.update({step_id: _fields(self.charts[name]) for step_id, name in self.steps.items()})
        if not INTERPRET:
            with _LOCK:
                _host().set_rulesets(definitions)
            DECIDER.generation += 1  # a decision child forked before does not have these

    def _session(self) -> str:
        self.sessions += 1
        if self.sessions >= MAX_SESSIONS:
            self.sessions = 1
            self._compile()
        return f"s{self.sessions}"

    def phase_action(self, phase: str, event: dict[str, Any]) -> str | None:
        """What the play does this run: start, advance, exit, complete, or nothing."""
        if INTERPRET:
            return _interpret(self.charts[self.name], phase, event)
        if phase == "idle" and _interpret(self.charts[self.name], phase, event) is None:
            # most accounts: no play, no trigger. A durable session per such decision is never
            # freed (see MAX_SESSIONS) and cost 24 GB at 100,000 accounts (issue #18), so the
            # chart's own interpretation answers; durable_rules decides every transition taken.
            return None
        return self._decided(None, lambda: self.name, phase, event)

    def step_action(self, step_id: str, state: str, event: dict[str, Any]) -> str | None:
        """What a step does this run: open, escalate, or nothing."""
        if INTERPRET:
            return _interpret(self.charts[self.steps[step_id]], state, event)
        if state == "waiting" and _interpret(self.charts[self.steps[step_id]], state, event) is None:
            return None  # a step not due yet: no session either (see phase_action)
        return self._decided(step_id, lambda: self.steps[step_id], state, event)

    def _decided(self, chart: str | None, ruleset: Callable[[], str], state: str,
                 event: dict[str, Any]) -> str | None:
        """`_durable`'s decision, remembered (see the class); `chart`: None for the phase
        chart, else the step's id."""
        message = {k: engine_value(v) for k, v in event.items() if v is not None}  # as sent
        message["kind"] = "eval"
        holds = _truths(self.charts[self.name if chart is None else self.steps[chart]].get(state), message)
        # the types too: True, 1 and 1.0 are not one JSON value
        types = tuple(type(message.get(name)) for name in self._reads[chart])
        key: tuple[Any, ...] = (chart, state, holds, types) if holds is not None else (
            chart, state, tuple(message.get(name) for name in self._reads[chart]), types)
        try:
            known = self._memo.get(key, _UNKNOWN)
        except TypeError:  # a list value tested: not remembered, asked every time
            return self._durable(ruleset, state, event)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        return self._memo.remember(key, self._durable(ruleset, state, event))

    def _durable(self, ruleset: Callable[[], str], state: str, event: dict[str, Any]) -> str | None:
        """durable_rules' decision: in the decision child where one can run, else here."""
        if DECIDER.enabled and can_fork():
            return DECIDER.ask(ruleset(), state, event)
        sid = self._session()  # first: it may move the charts to fresh rulesets
        return _decide(ruleset(), sid, state, event)


def _step_chart(step: Step) -> dict[str, Any]:
    restore = {f"restore_{s}": {"all": [{"m": {"restore": s}}], "to": s} for s in STEP_STATES}
    start: list[dict[str, Any]] = []
    if step.start.after is not None:
        start.append({"after_done": True})
    elif step.start.days_after_start:
        start.append({"$gte": {"age": step.start.days_after_start}})
    waiting = {**restore, "open": {**_match({"go": True}, *start), "to": "open", "run": "open"}}
    opened: dict[str, Any] = {}
    if step.escalate is not None:
        opened["escalate"] = {**_match({"pending": True}, {"$gte": {"overdue": step.escalate.overdue_days}}),
                              "to": "open", "run": "escalate"}
    return {"waiting": waiting, "open": opened, "done": {}, "closed": {}}


def _decide(ruleset: str, sid: str, state: str, event: dict[str, Any]) -> str | None:
    ran: list[str] = []
    message = {k: engine_value(v) for k, v in event.items() if v is not None}
    with _LOCK:
        host = _host()
        try:
            if state not in ("idle", "waiting"):
                host.post(ruleset, {"sid": sid, "id": "restore", "restore": state})
            host.sink = ran
            with contextlib.suppress(durable.MessageNotHandledException):  # no transition
                host.post(ruleset, {**message, "sid": sid, "id": "eval", "kind": "eval"})
        finally:
            host.sink = None
    return ran[0] if ran else None


DECIDER = Decider(_decide)


_ORDER = {"$gte": lambda a, b: a >= b, "$lte": lambda a, b: a <= b, "$gt": lambda a, b: a > b,
          "$lt": lambda a, b: a < b, "$neq": lambda a, b: a != b}


def _holds(test: dict[str, Any], event: dict[str, Any]) -> bool:
    (key, arg), = test.items()
    if key == "$ex":
        return next(iter(arg)) in event
    if key == "$nex":
        return next(iter(arg)) not in event
    if key in _ORDER:
        (name, bound), = arg.items()
        value = event.get(name)
        return value is not None and not isinstance(value, bool) and _ORDER[key](value, bound) \
            if key != "$neq" else value is not None and value != bound
    if key not in event:
        return False
    found = event[key]
    if isinstance(found, bool) or isinstance(arg, bool):
        return type(found) is type(arg) and found == arg
    return bool(found == arg)


def _truths(transitions: dict[str, Any] | None, message: dict[str, Any]) -> tuple[bool, ...] | None:
    """Which tests of a state's transitions hold for an eval `message`: what durable_rules'
    decision from that state depends on. None for a state the chart does not have, or a test
    `_holds` does not read (nested) or cannot compare: the decision is then remembered by the
    tested values."""
    if transitions is None:
        return None
    out: list[bool] = []
    for name, transition in transitions.items():
        if name.startswith("restore_"):
            continue
        for test in transition["all"][0]["m"]["$and"]:
            if "$and" in test or "$or" in test:
                return None
            try:
                out.append(_holds(test, message))
            except TypeError:  # a text against a number: durable_rules alone decides
                return None
    return tuple(out)


def _interpret(chart: dict[str, Any], state: str, event: dict[str, Any]) -> str | None:
    """The action a chart takes from `state` on an `eval` event (transitions are exclusive)."""
    message = {k: engine_value(v) for k, v in event.items() if v is not None}
    message["kind"] = "eval"
    for name, transition in chart[state].items():
        if name.startswith("restore_"):
            continue
        if all(_holds(t, message) for t in transition["all"][0]["m"]["$and"]):
            return transition.get("run")
    return None
