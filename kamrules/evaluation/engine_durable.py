"""The durable_rules backend: rules compiled to JSON rulesets, one account fact at a time.

The measured pitfalls (design doc) decide the shape: every account is asserted as a *fact* (so
every rule sees it), one at a time, and retracted right after its actions ran (flat memory, no
spurious MessageObservedException); there is one Host per process with its dispatch timers
disabled, so every action runs synchronously in the caller's thread under one lock; a rule's
condition is compiled as one flat `$and` per DNF conjunction, since `$nex` under `$or` hangs,
and each conjunction starts with a test of a constant field (see ANCHOR_KEY).

durable_rules' fixed table sizes (src/rules/rules.h, state.h) decide the rest: an alpha node
links at most 256 rules (error 108) and at most 512 distinct next tests (106), a message holds
at most 255 properties. So `in`/`not_in` lists are not expanded into one conjunction per value
(512 values hung `plan`, three lists of 20 gave error 106): each list becomes a boolean
membership fact computed in Python before the assert; and the conjunctions are spread over
several rulesets of at most MAX_ENTRIES each, asserting only the facts each one reads.

What an account costs is mostly JSON (issue #18), so: conjunctions that hold only for key
accounts (`is_key` equal to true, every `scope: key_accounts` rule) live in rulesets of their
own that other accounts skip; each message is encoded once and that text is both asserted and
retracted through durable_rules' C API (its Host API encodes it again for the retract, and a
third time for the MessageNotHandledException of an account with no finding), and actions run
through durable_rules' own `do_actions` only for a message some rule matched.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import durable_rules_engine as native
from durable import engine as durable
from pydantic_core import to_json

from kamrules.evaluation.durable_json import engine_value, leaf_tests
from kamrules.evaluation.engine import KEY_FACT, CompiledRule
from kamrules.language.conditions import Conjunction, Leaf, dnf
from kamrules.memo import BoundedMemo

_LOCK = threading.Lock()
# Per ruleset: conjunctions (each an alpha path ending in one beta node; 256 per node is the
# hard limit) and message properties (255 is the hard limit; id and the anchor take two).
MAX_ENTRIES = 60
MAX_PROPERTIES = 200
_IDS = itertools.count()
# Every message carries this constant and every conjunction tests it first: a conjunction made
# only of `$nex` tests (or `$nex` beside `$ex` on `id`) never returns from assert_fact.
ANCHOR_KEY = "kamrules_fact"
MEMBER_PREFIX = "kamrules_in_"
MEMO_ENTRIES = 50_000  # a ruleset's memo is emptied when it holds as many (~20 MB)


class _Host(durable.Host):
    """A Host that holds the rulesets, without background dispatch threads: matches are read
    in the calling thread, inside assert_fact, through the C API (`_run_actions`)."""

    def _run(self) -> None:  # no background dispatch threads
        return

    def get_action(self, action_name: str) -> Any:
        # a Ruleset wants a function per action; `_run_actions` reads matches without them
        return _never


def _never(_closure: Any) -> None:
    raise AssertionError("durable_rules ran an action of a kamrules ruleset itself")


_HOST: _Host | None = None


def _host() -> _Host:
    global _HOST
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def compile_conjunction(conj: Conjunction) -> dict[str, Any]:
    tests = [{ANCHOR_KEY: 1}] + [t for leaf in conj for t in leaf_tests(leaf)]
    return {"$and": tests}


@dataclass
class _Members:
    """`in` lists as membership facts: absent when the fact is, else whether its value is listed."""

    names: dict[tuple[str, frozenset[Any]], str] = field(default_factory=dict)

    def leaf(self, leaf: Leaf) -> Leaf:
        """An `in`/`not_in` leaf as an equality test on its membership fact."""
        if leaf.op not in ("in", "not_in"):
            return leaf
        key = (leaf.fact, frozenset(leaf.value))
        name = self.names.setdefault(key, f"{MEMBER_PREFIX}{len(self.names)}")
        return Leaf(name, "eq", leaf.op == "in")

    def values(self, facts: Mapping[str, Any], only: set[str] | None = None) -> dict[str, bool]:
        """The membership facts (`only` those named, when given) of one account's facts."""
        out = {}
        for (fact, listed), name in self.names.items():
            if only is not None and name not in only:
                continue
            value = facts.get(fact)  # exact, as Python compares; non-finite counts as unknown
            if value is not None and engine_value(value) is not None:
                out[name] = value in listed
        return out


@dataclass
class _Ruleset:
    name: str
    definition: dict[str, Any] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)
    facts: tuple[str, ...] = ()  # the account facts its rules read
    members: tuple[str, ...] = ()  # and the membership facts (at most MAX_PROPERTIES in all)
    key_only: bool = False  # every conjunction tests is_key == true: other accounts skip it
    rules: Any = None  # durable_rules' Ruleset, once registered
    actions: dict[str, str] = field(default_factory=dict)  # conjunction's name -> its rule's key
    # The matches per message already asserted. Every rule matches one fact, asserted and
    # retracted at once, so what matches is a function of the message (less its id): most
    # accounts outside the key accounts send one of a few thousand messages (at 100,000
    # accounts, 15,076 distinct of 100,000). Keys carry each value's type (True, 1 and 1.0 are
    # equal in Python, not in JSON). None for key-only rulesets: the key accounts' long
    # messages are nearly all distinct (13,300 asserts, 12,132 distinct).
    memo: BoundedMemo[tuple[Any, ...], tuple[str, ...]] | None = None


def _reads(conj: Conjunction) -> set[str]:
    return {leaf.fact for leaf in conj}


KEY_LEAF = Leaf(KEY_FACT, "eq", True)


class DurableBackend:
    """Active rules compiled into as few durable_rules rulesets as its table sizes allow."""

    name = "durable"

    def __init__(self, rules: list[CompiledRule]):
        self._members = _Members()
        self._rulesets: list[_Ruleset] = []
        current = {False: None, True: None}  # the ruleset being filled, per key-only or not
        for rule in rules:
            for k, conj in enumerate(dnf(rule.condition, dict(rule.params))):
                conj = tuple(self._members.leaf(leaf) for leaf in conj)
                reads = _reads(conj)
                only = KEY_LEAF in conj
                ruleset = current[only]
                if (ruleset is None or len(ruleset.definition) >= MAX_ENTRIES
                        or len(ruleset.reads | reads) > MAX_PROPERTIES):
                    ruleset = current[only] = _Ruleset(f"kamrules_{next(_IDS)}", key_only=only,
                                                       memo=None if only else BoundedMemo(MEMO_ENTRIES))
                    self._rulesets.append(ruleset)
                ruleset.definition[f"{rule.key}|{k}"] = {
                    "all": [{"m": compile_conjunction(conj)}], "run": rule.key}
                ruleset.actions[f"{rule.key}|{k}"] = rule.key
                ruleset.reads |= reads
        for ruleset in self._rulesets:
            ruleset.facts = tuple(sorted(n for n in ruleset.reads if not n.startswith(MEMBER_PREFIX)))
            ruleset.members = tuple(sorted(n for n in ruleset.reads if n.startswith(MEMBER_PREFIX)))
        self._general = [r for r in self._rulesets if not r.key_only]
        self._member_facts = {n for r in self._general for n in r.members}
        with _LOCK:
            host = _host()
            for ruleset in self._rulesets:
                host.set_rulesets({ruleset.name: ruleset.definition})
                ruleset.rules = host.get_ruleset(ruleset.name)

    @property
    def rulesets(self) -> int:
        return len(self._rulesets)

    def matches(self, facts: Mapping[str, Any]) -> list[str]:
        key = facts.get(KEY_FACT) is True
        rulesets = self._rulesets if key else self._general
        if not rulesets:
            return []
        members = self._members.values(facts, None if key else self._member_facts)
        hits: list[str] = []
        with _LOCK:
            for ruleset in rulesets:
                self._assert(ruleset, facts, members, hits)
        return sorted(set(hits))

    @staticmethod
    def _assert(ruleset: _Ruleset, facts: Mapping[str, Any], members: dict[str, bool],
                hits: list[str]) -> None:
        message: dict[str, Any] = {m: members[m] for m in ruleset.members if m in members}
        for name in ruleset.facts:
            value = facts.get(name)
            if type(value) is float:  # only floats need mapping; facts are scalars
                value = engine_value(value)
            if value is not None:  # unknown facts are absent: `$nex` tests them
                message[name] = value
        memo = ruleset.memo
        key: tuple[Any, ...] | None = None
        if memo is not None:
            key = (*message.items(), *map(type, message.values()))
            try:
                known = memo.get(key)
            except TypeError:  # a list value: not hashable, asked every time
                key = None
            else:
                if known is not None:
                    hits += known
                    return
        found: list[str] = []
        message["id"] = f"a{next(_IDS)}"
        message[ANCHOR_KEY] = 1
        # once, for the assert and the retract; pydantic-core's encoder writes the same numbers
        # and strings as json.dumps (tests/test_durable_message.py), in a third of the time
        text = to_json(message).decode()
        rules = ruleset.rules
        try:
            _run_actions(ruleset, native.assert_fact(rules._handle, text), message, found)
        finally:
            _run_actions(ruleset, native.retract_fact(rules._handle, text), message, found)
        hits += found
        if key is not None and memo is not None:
            memo.remember(key, tuple(found))


def _run_actions(ruleset: _Ruleset, result: Any, message: dict[str, Any], hits: list[str]) -> None:
    """What durable_rules' `Ruleset.do_actions` does with the result of an assert or retract,
    through its C API alone: each matched conjunction's rule key into `hits`. Its Python path
    built a closure, parsed the state and the matched message and wrote the state back as JSON
    per action (~45 us each, a fifth of the engine's time at 100,000 accounts); only the
    conjunction's name, the first key of the action's JSON, is read here. No rule holding
    (code 1) is no exception (durable's Host raises and encodes MessageNotHandledException)."""
    code = result[0]
    if code == 1:
        return
    if code == 2:
        raise durable.MessageObservedException(message)
    handle, state = ruleset.rules._handle, 0 if code == 3 else result[1]  # noqa: SLF001
    started = native.start_action_for_state(handle, state)
    if not started:
        return
    text, action = started
    try:
        while action:
            name, _end = scanstring(action, action.index('"') + 1)
            hits.append(ruleset.actions[name])
            native.update_state(handle, text)  # the state as it was: our actions change nothing
            action = native.complete_and_start_action(handle, state)
    except BaseException:
        native.abandon_action(handle, state)
        raise
